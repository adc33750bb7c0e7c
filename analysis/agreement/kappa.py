"""Agreement between two raters: Cohen's kappa (unweighted, linear, quadratic) with the
large-sample standard errors of Fleiss, Cohen & Everitt (1969), intra-reader agreement, and the
kappa of many contingency tables at once. Agreement among many raters (Fleiss' kappa, mean
pairwise kappa) is in :mod:`analysis.agreement.many_raters`.

Weights always come from the study's full ordered label set (``labels=``), not from the levels
that happen to be observed: on the JIC scale A < B < C1 < C2 a linear weight for A vs C1 is 1/3
whether or not anyone answered C2 in this sample. (R irr ``kappa2`` builds its weights from the
observed levels only; pass ``labels=`` = the observed levels to reproduce it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from analysis._format import format_p as _fmt_p
from analysis._format import jsonable as _jsonable
from analysis._format import num_or_none as _num
from analysis._validation import (
    as_count_table,
    check_confidence,
    check_labels,
    check_same_length,
    resolve_levels,
)

__all__ = [
    "KappaResult",
    "cohen_kappa",
    "cohen_kappa_table",
    "intra_reader_agreement",
    "kappa_of_tables",
    "kappa_weights",
]

WEIGHTS = ("none", "linear", "quadratic")

def kappa_weights(k: int, weights: str | np.ndarray = "none") -> np.ndarray:
    """Agreement weights (1 on the diagonal) for ``k`` ordered categories.

    ``"none"``: identity; ``"linear"`` (Cicchetti-Allison, SAS default, irr ``"equal"``):
    ``1 - |i-j|/(k-1)``; ``"quadratic"`` (Fleiss-Cohen, irr ``"squared"``):
    ``1 - (i-j)^2/(k-1)^2``. A (k, k) array is used as given (agreement weights in [0, 1]).

    References
    ----------
    Cohen J (1968). Weighted kappa. Psychol Bull 70:213-220. Cicchetti DV, Allison T (1971).
    Am J EEG Technol 11:101-109. Fleiss JL, Cohen J (1973). Educ Psychol Meas 33:613-619.
    """
    if not isinstance(weights, str):
        w = np.asarray(weights, dtype=float)
        if w.shape != (k, k):
            raise ValueError(f"weights: expected a ({k}, {k}) matrix, got shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or (w > 1).any():
            raise ValueError("weights: expected agreement weights between 0 and 1")
        if not np.allclose(np.diag(w), 1):
            raise ValueError("weights: expected 1 on the diagonal (full agreement)")
        return w
    if weights not in WEIGHTS:
        raise ValueError(f"weights: expected one of {list(WEIGHTS)}, got {weights!r}")
    i, j = np.indices((k, k))
    if weights == "none" or k == 1:
        return (i == j).astype(float)
    d = np.abs(i - j) / (k - 1)
    return 1 - d if weights == "linear" else 1 - d**2


# --------------------------------------------------------------------------------------------
# Cohen's kappa


@dataclass(frozen=True)
class KappaResult:
    """Cohen's (weighted) kappa with its non-null SE (for the CI) and null SE (for z, p)."""

    kappa: float
    se: float
    se0: float
    z: float
    p: float
    ci: tuple[float, float]
    confidence: float
    weights: str
    labels: tuple
    n: float
    observed_agreement: float
    expected_agreement: float
    method: str = "Cohen's kappa"
    labels_observed: bool = False
    table: np.ndarray = field(default=None, repr=False)

    def summary(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        title = f"{self.method} (weights: {self.weights})"
        lines = [
            title,
            "-" * len(title),
            f"  Kappa                     {self.kappa:.4f}",
            f"  ASE                       {self.se:.4f}",
            f"  {pct} Lower Conf Limit      {self.ci[0]:.4f}",
            f"  {pct} Upper Conf Limit      {self.ci[1]:.4f}",
            "  Test of H0: Kappa = 0",
            f"  ASE under H0              {self.se0:.4f}",
            f"  Z                         {self.z:.4f}",
            f"  Two-sided Pr > |Z|        {_fmt_p(self.p)}",
            f"  n = {self.n:g}; observed agreement {self.observed_agreement:.4f}, "
            f"expected {self.expected_agreement:.4f}",
            "  levels: " + ", ".join(str(v) for v in self.labels)
            + (" (sorted union of observed values)" if self.labels_observed else ""),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kappa": _num(self.kappa),
            "se": _num(self.se),
            "se0": _num(self.se0),
            "z": _num(self.z),
            "p": _num(self.p),
            "ci": [_num(self.ci[0]), _num(self.ci[1])],
            "confidence": self.confidence,
            "weights": self.weights,
            "labels": [_jsonable(v) for v in self.labels],
            "labels_observed": self.labels_observed,
            "n": _num(self.n),
            "observed_agreement": _num(self.observed_agreement),
            "expected_agreement": _num(self.expected_agreement),
            "method": self.method,
        }


def cohen_kappa_table(
    table,
    *,
    weights: str | np.ndarray = "none",
    labels: Sequence | None = None,
    confidence: float = 0.95,
    method: str = "Cohen's kappa",
) -> KappaResult:
    """Cohen's (weighted) kappa from a k x k contingency table of two raters.

    Parameters
    ----------
    table : array_like, shape (k, k)
        Counts; rows = rater 1, columns = rater 2, both in the order of the label set.
    weights : {"none", "linear", "quadratic"} or array (k, k)
        Agreement weights, see :func:`kappa_weights`.
    labels : sequence, optional
        Names of the k levels (for the summary); default ``0..k-1``.
    confidence : float
        Level of the Wald interval ``kappa +/- z * se``.

    Returns
    -------
    KappaResult
        ``se`` is the non-null asymptotic SE (used for the CI), ``se0`` the SE under
        H0: kappa = 0 (used for ``z = kappa / se0`` and the two-sided ``p``). When the expected
        agreement is 1 (a single level used by both raters) kappa is undefined and all fields
        are NaN.

    Notes
    -----
    With p_ij = n_ij / n, margins p_i. and p_.j, agreement weights w_ij,
    po = sum w p, pe = sum w p_i. p_.j, kappa = (po - pe) / (1 - pe),
    wbar_i = sum_j p_.j w_ij, wbar_j = sum_i p_i. w_ij:

    var = [sum p_ij (w_ij - (wbar_i + wbar_j)(1 - kappa))^2 - (kappa - pe (1 - kappa))^2]
          / (n (1 - pe)^2)
    var0 = [sum p_i. p_.j (w_ij - (wbar_i + wbar_j))^2 - pe^2] / (n (1 - pe)^2)

    These are the formulas SAS PROC FREQ (AGREE) and statsmodels ``cohens_kappa`` use.

    References
    ----------
    Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
    Cohen J (1968). Weighted kappa. Psychol Bull 70:213-220.
    Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and weighted
    kappa. Psychol Bull 72:323-327.

    Examples
    --------
    >>> round(cohen_kappa_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]]).kappa, 4)
    0.4842
    """
    t = as_count_table(table, "table")
    k = t.shape[0]
    if labels is None:
        levels = tuple(range(k))
    else:
        levels = tuple(labels)
        if len(levels) != k:
            raise ValueError(f"labels: expected {k} labels for a {k}x{k} table, got {len(levels)}")
    w = kappa_weights(k, weights)
    conf = check_confidence(confidence)
    n = float(t.sum())
    p = t / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(rows, cols)).sum())
    wname = weights if isinstance(weights, str) else "custom"
    if np.isclose(1 - pe, 0):
        nan = float("nan")
        return KappaResult(nan, nan, nan, nan, nan, (nan, nan), conf, wname, levels, n, po, pe,
                           method, False, t)
    kappa = (po - pe) / (1 - pe)
    wbar_i = w @ cols  # row i: sum_j p_.j w_ij
    wbar_j = rows @ w  # column j: sum_i p_i. w_ij
    spread = wbar_i[:, None] + wbar_j[None, :]
    var = ((p * (w - spread * (1 - kappa)) ** 2).sum() - (kappa - pe * (1 - kappa)) ** 2) / (
        n * (1 - pe) ** 2
    )
    var0 = ((np.outer(rows, cols) * (w - spread) ** 2).sum() - pe**2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    se0 = float(np.sqrt(max(var0, 0.0)))
    z = kappa / se0 if se0 > 0 else float("nan")
    pval = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    q = stats.norm.ppf(0.5 + conf / 2)
    return KappaResult(
        kappa=float(kappa), se=se, se0=se0, z=float(z), p=pval,
        ci=(float(kappa - q * se), float(kappa + q * se)), confidence=conf, weights=wname,
        labels=levels, n=n, observed_agreement=po, expected_agreement=pe, method=method,
        labels_observed=False, table=t,
    )


def cohen_kappa(
    rater1,
    rater2,
    *,
    labels: Sequence | None = None,
    weights: str | np.ndarray = "none",
    confidence: float = 0.95,
    method: str = "Cohen's kappa",
    names: tuple[str, str] = ("rater1", "rater2"),
) -> KappaResult:
    """Cohen's (weighted) kappa of two raters who rated the same cases.

    Parameters
    ----------
    rater1, rater2 : array_like, shape (n,)
        Labels given by each rater (e.g. a reader and the truth), in ``labels``.
    labels : sequence, optional
        The study's full ordered label set; weights are built from it, and levels nobody used
        still count. Default: the sorted union of observed values (``labels_observed``).
    weights : {"none", "linear", "quadratic"} or array (k, k)
    confidence : float
    names : the argument names used in error messages (e.g. CSV column names).

    Returns
    -------
    KappaResult
        See :func:`cohen_kappa_table` for the formulas.

    References
    ----------
    Cohen (1960); Cohen (1968); Fleiss, Cohen & Everitt (1969).

    Examples
    --------
    >>> cohen_kappa(["A", "B", "C"], ["A", "B", "C"]).kappa
    1.0
    """
    levels, observed = resolve_levels(labels, rater1, rater2)
    a = check_labels(rater1, levels, names[0])
    b = check_labels(rater2, levels, names[1])
    check_same_length(**{names[0]: a, names[1]: b})
    k = len(levels)
    table = np.bincount(a * k + b, minlength=k * k).reshape(k, k)
    res = cohen_kappa_table(table, weights=weights, labels=levels, confidence=confidence,
                            method=method)
    return _replace(res, labels_observed=observed)


def intra_reader_agreement(
    session1,
    session2,
    *,
    labels: Sequence | None = None,
    weights: str | np.ndarray = "none",
    confidence: float = 0.95,
) -> KappaResult:
    """Intra-reader agreement: Cohen's kappa between two reading sessions of the same reader on
    the same cases (test-retest), e.g. before and after a washout.

    Parameters are those of :func:`cohen_kappa`; ``session1[i]`` and ``session2[i]`` must be
    the same case. References: Cohen (1960); Fleiss, Cohen & Everitt (1969).

    Examples
    --------
    >>> intra_reader_agreement([1, 2, 2], [1, 2, 2]).method
    'Intra-reader agreement (Cohen kappa, session 1 vs session 2)'
    """
    return cohen_kappa(
        session1, session2, labels=labels, weights=weights, confidence=confidence,
        method="Intra-reader agreement (Cohen kappa, session 1 vs session 2)",
        names=("session1", "session2"),
    )


def kappa_of_tables(tables, *, weights: str | np.ndarray = "none") -> np.ndarray:
    """Cohen's (weighted) kappa of many k x k contingency tables at once (no standard errors).

    Parameters
    ----------
    tables : array_like, shape (..., k, k)
        Counts or weights; rows = rater 1 (or truth), columns = rater 2.
    weights : {"none", "linear", "quadratic"} or array (k, k)
        Agreement weights, see :func:`kappa_weights`.

    Returns
    -------
    ndarray, shape (...)
        ``(po - pe) / (1 - pe)`` with ``po = sum w n_ij / n`` and
        ``pe = sum w n_i. n_.j / n^2``; NaN where the expected agreement is 1. The kappa of
        :func:`cohen_kappa_table` (which adds the standard errors) for every table; used by the
        bootstrap and by :func:`analysis.agreement.many_raters.pairwise_kappa`.

    References
    ----------
    Cohen (1960); Cohen (1968).

    Examples
    --------
    >>> kappa_of_tables([[[0, 4, 1], [0, 8, 0], [0, 1, 5]]]).round(4)
    array([0.4842])
    """
    cm = np.asarray(tables, dtype=float)
    w = kappa_weights(cm.shape[-1], weights)
    n = cm.sum(axis=(-2, -1))
    rows = cm.sum(axis=-1)
    cols = cm.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        po = (cm * w).sum(axis=(-2, -1)) / n
        pe = np.einsum("...i,ij,...j->...", rows, w, cols) / n**2
        return np.where(np.isclose(pe, 1.0), np.nan, (po - pe) / (1 - pe))


# --------------------------------------------------------------------------------------------


def _replace(res: KappaResult, **changes) -> KappaResult:
    return replace(res, **changes)


