"""Classification metrics for one reader (or model) against truth: accuracy with binomial
confidence intervals, the confusion matrix, per-class and macro precision, recall and F1.

Every function takes the label arrays positionally and the ordered label set as ``labels=``.
Levels of ``labels`` absent from the data still get their row and column (and their per-class
entry); a value outside ``labels`` is an error naming the argument. When ``labels`` is omitted the
sorted union of the observed values is used (``labels_observed=True`` on the result says so).

Zero division: a per-class precision (recall) whose denominator is zero -- the class was never
predicted (never true) -- is undefined. It is reported as ``zero_division`` (default 0.0, the
scikit-learn convention, so that macro averages run over every level of ``labels``); pass
``zero_division=float("nan")`` to leave undefined entries out of the macro averages instead.
F1 is 2PR/(P+R) per class, ``zero_division`` when P+R = 0; macro F1 is the mean of the per-class
F1 values (not the F1 of macro precision and recall).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from analysis._format import jsonable as _jsonable
from analysis._format import num_or_none as _num
from analysis._validation import (
    check_confidence,
    check_labels,
    check_same_length,
    resolve_levels,
)

__all__ = [
    "AccuracyResult",
    "ClassificationReport",
    "ConfusionMatrix",
    "accuracy",
    "classification_report",
    "clopper_pearson_ci",
    "confusion_matrix",
    "wilson_ci",
]


def wilson_ci(successes: float, n: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, without continuity correction.

    Equals R ``prop.test(x, n, correct = FALSE)$conf.int`` and statsmodels
    ``proportion_confint(x, n, method="wilson")``.

    Parameters
    ----------
    successes, n : number of successes and of trials (0 <= successes <= n, n > 0).
    confidence : two-sided confidence level.

    Returns
    -------
    (lower, upper) : tuple of float

    References
    ----------
    Wilson EB (1927). Probable inference, the law of succession, and statistical inference.
    JASA 22:209-212. Newcombe RG (1998). Two-sided confidence intervals for the single
    proportion: comparison of seven methods. Stat Med 17:857-872 (method 3).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_ci(18, 20)]
    [0.699, 0.9721]
    """
    x, n = _check_binomial(successes, n)
    z = stats.norm.ppf(0.5 + check_confidence(confidence) / 2)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The bounds are exactly 0 (x = 0) and 1 (x = n); say so rather than round to 1 - 1e-16.
    lower = 0.0 if x == 0 else float(max(0.0, centre - half))
    upper = 1.0 if x == n else float(min(1.0, centre + half))
    return lower, upper


def clopper_pearson_ci(
    successes: float, n: float, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Clopper-Pearson ("exact") interval for a binomial proportion, from beta quantiles.

    Equals R ``binom.test(x, n)$conf.int`` and statsmodels ``proportion_confint(method="beta")``.

    References
    ----------
    Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits illustrated in the
    case of the binomial. Biometrika 26:404-413.

    Examples
    --------
    >>> [round(v, 7) for v in clopper_pearson_ci(682, 925)]
    [0.7076683, 0.7654066]
    """
    x, n = _check_binomial(successes, n)
    alpha = 1 - check_confidence(confidence)
    lower = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    upper = 1.0 if x == n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lower, upper


def _check_binomial(successes, n) -> tuple[float, float]:
    x, n = float(successes), float(n)
    if not np.isfinite(n) or n <= 0:
        raise ValueError(f"n: expected a positive number of trials, got {n!r}")
    if not np.isfinite(x) or x < 0 or x > n:
        raise ValueError(f"successes: expected a count between 0 and n={n:g}, got {x!r}")
    return x, n


# --------------------------------------------------------------------------------------------
# Confusion matrix


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (truth, prediction) pairs: ``matrix[i, j]`` = cases of true class ``labels[i]``
    predicted as ``labels[j]``."""

    matrix: np.ndarray = field(repr=False)
    labels: tuple
    labels_observed: bool = False

    @property
    def n(self) -> int:
        return int(self.matrix.sum())

    def summary(self) -> str:
        names = [str(lv) for lv in self.labels]
        width = max(6, *(len(s) for s in names)) + 1
        lines = ["Confusion matrix (rows: truth, columns: prediction)"]
        lines.append(" " * width + "".join(f"{s:>{width}}" for s in names) + f"{'total':>{width}}")
        for name, row in zip(names, self.matrix, strict=True):
            lines.append(
                f"{name:<{width}}" + "".join(f"{int(v):>{width}d}" for v in row)
                + f"{int(row.sum()):>{width}d}"
            )
        cols = self.matrix.sum(axis=0)
        lines.append(
            f"{'total':<{width}}" + "".join(f"{int(v):>{width}d}" for v in cols)
            + f"{self.n:>{width}d}"
        )
        if self.labels_observed:
            lines.append("labels: sorted union of observed values (pass labels= to fix the set)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "labels": [_jsonable(lv) for lv in self.labels],
            "matrix": self.matrix.astype(int).tolist(),
            "n": self.n,
            "labels_observed": self.labels_observed,
        }


def confusion_matrix(y_true, y_pred, *, labels: Sequence | None = None) -> ConfusionMatrix:
    """Confusion matrix of predictions against truth over an ordered label set.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
        True and predicted labels (any hashable values in ``labels``).
    labels : sequence, optional
        The study's ordered label set, e.g. ``["A", "B", "C1", "C2"]``. Levels absent from the
        data still get a row and a column. Default: the sorted union of observed values.

    Returns
    -------
    ConfusionMatrix
        ``matrix`` has shape (k, k), rows = truth, columns = prediction.

    Examples
    --------
    >>> confusion_matrix(["A", "B"], ["A", "A"], labels=["A", "B", "C"]).matrix.tolist()
    [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    """
    levels, observed = resolve_levels(labels, y_true, y_pred)
    t = check_labels(y_true, levels, "y_true")
    p = check_labels(y_pred, levels, "y_pred")
    check_same_length(y_true=t, y_pred=p)
    k = len(levels)
    matrix = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    return ConfusionMatrix(matrix=matrix, labels=tuple(levels), labels_observed=observed)


# --------------------------------------------------------------------------------------------
# Accuracy


@dataclass(frozen=True)
class AccuracyResult:
    """Accuracy (proportion of correct cases) with Wilson and Clopper-Pearson intervals."""

    accuracy: float
    n_correct: int
    n: int
    confidence: float
    wilson_ci: tuple[float, float]
    clopper_pearson_ci: tuple[float, float]

    @property
    def ci(self) -> tuple[float, float]:
        """The reported interval (Wilson)."""
        return self.wilson_ci

    def summary(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        rows = [
            ("correct / n", f"{self.n_correct} / {self.n}"),
            ("accuracy", f"{self.accuracy:.4f}"),
            (f"{pct} CI (Wilson)", f"{self.wilson_ci[0]:.4f} to {self.wilson_ci[1]:.4f}"),
            (f"{pct} CI (Clopper-Pearson)",
             f"{self.clopper_pearson_ci[0]:.4f} to {self.clopper_pearson_ci[1]:.4f}"),
        ]
        return "\n".join(["Accuracy"] + [f"  {k:<28}{v}" for k, v in rows])

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "n_correct": self.n_correct,
            "n": self.n,
            "confidence": self.confidence,
            "ci": list(self.wilson_ci),
            "wilson_ci": list(self.wilson_ci),
            "clopper_pearson_ci": list(self.clopper_pearson_ci),
        }


def accuracy(
    y_true, y_pred, *, labels: Sequence | None = None, confidence: float = 0.95
) -> AccuracyResult:
    """Accuracy with a Wilson score interval (reported) and a Clopper-Pearson interval.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
    labels : sequence, optional
        Ordered label set; values outside it are an error.
    confidence : float
        Two-sided confidence level of both intervals.

    References
    ----------
    Wilson (1927); Clopper & Pearson (1934); see :func:`wilson_ci`, :func:`clopper_pearson_ci`.

    Examples
    --------
    >>> accuracy([1, 1, 2, 2], [1, 2, 2, 2]).accuracy
    0.75
    """
    levels, _ = resolve_levels(labels, y_true, y_pred)
    t = check_labels(y_true, levels, "y_true")
    p = check_labels(y_pred, levels, "y_pred")
    n = check_same_length(y_true=t, y_pred=p)
    correct = int((t == p).sum())
    return AccuracyResult(
        accuracy=correct / n,
        n_correct=correct,
        n=n,
        confidence=check_confidence(confidence),
        wilson_ci=wilson_ci(correct, n, confidence=confidence),
        clopper_pearson_ci=clopper_pearson_ci(correct, n, confidence=confidence),
    )


# --------------------------------------------------------------------------------------------
# Precision, recall, F1


@dataclass(frozen=True)
class ClassificationReport:
    """Per-class and macro precision, recall and F1, with support and the confusion matrix."""

    labels: tuple
    precision: np.ndarray = field(repr=False)
    recall: np.ndarray = field(repr=False)
    f1: np.ndarray = field(repr=False)
    support: np.ndarray = field(repr=False)
    macro_precision: float
    macro_recall: float
    macro_f1: float
    accuracy: float
    confusion: ConfusionMatrix = field(repr=False)
    zero_division: float = 0.0

    def summary(self) -> str:
        names = [str(lv) for lv in self.labels]
        w = max(9, *(len(s) + 1 for s in names))
        lines = [
            f"{'class':<{w}}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
        ]
        for i, name in enumerate(names):
            lines.append(
                f"{name:<{w}}{_fmt(self.precision[i]):>10}{_fmt(self.recall[i]):>10}"
                f"{_fmt(self.f1[i]):>10}{int(self.support[i]):>10d}"
            )
        lines.append(
            f"{'macro':<{w}}{_fmt(self.macro_precision):>10}{_fmt(self.macro_recall):>10}"
            f"{_fmt(self.macro_f1):>10}{int(self.support.sum()):>10d}"
        )
        lines.append(f"accuracy {self.accuracy:.4f}")
        if self.confusion.labels_observed:
            lines.append("labels: sorted union of observed values (pass labels= to fix the set)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "labels": [_jsonable(lv) for lv in self.labels],
            "precision": [_num(v) for v in self.precision],
            "recall": [_num(v) for v in self.recall],
            "f1": [_num(v) for v in self.f1],
            "support": [int(v) for v in self.support],
            "macro_precision": _num(self.macro_precision),
            "macro_recall": _num(self.macro_recall),
            "macro_f1": _num(self.macro_f1),
            "accuracy": self.accuracy,
            "zero_division": _num(self.zero_division),
            "confusion_matrix": self.confusion.to_dict(),
        }


def classification_report(
    y_true, y_pred, *, labels: Sequence | None = None, zero_division: float = 0.0
) -> ClassificationReport:
    """Per-class and macro-averaged precision, recall and F1 over the ordered label set.

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,)
    labels : sequence, optional
        Ordered label set; every level gets an entry even when absent from the data.
    zero_division : float
        Value of a precision/recall/F1 whose denominator is zero (see the module docstring).
        ``nan`` excludes such entries from the macro averages.

    Returns
    -------
    ClassificationReport

    References
    ----------
    Sokolova M, Lapalme G (2009). A systematic analysis of performance measures for
    classification tasks. Inf Process Manag 45:427-437 (macro averaging).

    Examples
    --------
    >>> r = classification_report(["A", "A", "B"], ["A", "B", "B"], labels=["A", "B"])
    >>> [round(float(v), 3) for v in r.f1]
    [0.667, 0.667]
    """
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1 = per_class_prf(cm.matrix, zero_division=zero_division)
    m = cm.matrix
    return ClassificationReport(
        labels=cm.labels,
        precision=precision,
        recall=recall,
        f1=f1,
        support=m.sum(axis=1),
        macro_precision=_macro(precision),
        macro_recall=_macro(recall),
        macro_f1=_macro(f1),
        accuracy=float(np.trace(m) / m.sum()),
        confusion=cm,
        zero_division=float(zero_division),
    )


def per_class_prf(matrix, *, zero_division: float = 0.0):
    """Per-class precision, recall and F1 from a (k, k) confusion matrix (rows = truth)."""
    m = np.asarray(matrix, dtype=float)
    tp = np.diag(m)
    predicted = m.sum(axis=0)
    actual = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, zero_division)
        recall = np.where(actual > 0, tp / actual, zero_division)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, zero_division)
    # An undefined precision or recall makes F1 undefined too when zero_division is nan.
    f1 = np.where(np.isnan(precision) | np.isnan(recall), zero_division, f1)
    return precision, recall, f1


def _macro(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _fmt(v: float) -> str:
    return "n/a" if np.isnan(v) else f"{v:.4f}"


