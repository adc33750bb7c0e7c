"""ROC analysis of an ordered label set: one-vs-rest AUC of every class (and their macro mean),
and the AUC of binary endpoints derived from the labels (e.g. "C1 or C2" vs the rest), each with
DeLong's variance (:func:`analysis.roc.auc.roc_auc_ci`).

References
----------
Fawcett T (2006). An introduction to ROC analysis. Pattern Recognition Letters 27:861-874
(one-vs-rest AUC). DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis._validation import as_1d, as_scores, check_confidence, check_labels, check_same_length
from analysis.roc.auc import AUCResult, _fmt, roc_auc_ci

__all__ = [
    "Endpoint",
    "EndpointAUCResult",
    "OneVsRestResult",
    "endpoint_auc",
    "endpoint_truth",
    "one_vs_rest_auc",
]


@dataclass(frozen=True)
class Endpoint:
    """A binary question derived from an ordered label set: ``positive`` classes vs the rest.

    Example: ``Endpoint("collapse-prone", frozenset({"C1", "C2"}))``.
    """

    name: str
    positive: frozenset

    def __post_init__(self):
        object.__setattr__(self, "positive", frozenset(self.positive))
        if not self.positive:
            raise ValueError(f"endpoint {self.name!r}: expected at least one positive class")

    def check(self, labels: Sequence) -> None:
        """Refuse positive classes outside ``labels`` and an endpoint with no negative class."""
        unknown = sorted(str(c) for c in self.positive if c not in set(labels))
        if unknown:
            raise ValueError(
                f"endpoint {self.name!r}: unknown positive classes {unknown}; "
                f"expected a subset of {list(labels)}"
            )
        if set(labels) <= self.positive:
            raise ValueError(
                f"endpoint {self.name!r}: every class of {list(labels)} is positive; "
                f"expected at least one negative class"
            )


def endpoint_truth(y_labels, endpoint: Endpoint, *, labels: Sequence) -> np.ndarray:
    """Boolean truth of ``endpoint`` for class labels ``y_labels`` drawn from ``labels``."""
    endpoint.check(labels)
    idx = check_labels(y_labels, labels, "y_labels")
    positive_idx = np.array([i for i, c in enumerate(labels) if c in endpoint.positive])
    return np.isin(idx, positive_idx)


def _class_score_matrix(scores, n_cases: int, n_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(scores, dtype=float) if not isinstance(scores, np.ndarray) else scores
    if arr.ndim != 2 or arr.shape != (n_cases, n_classes):
        raise ValueError(
            f"{name}: expected a 2-D array of shape (n_cases, n_classes) = "
            f"({n_cases}, {n_classes}), got shape {np.shape(arr)}"
        )
    return np.vstack([as_scores(arr[:, c], f"{name}[:, {c}]") for c in range(n_classes)])


@dataclass(frozen=True)
class EndpointAUCResult:
    """AUC of one binary endpoint (or one class vs the rest)."""

    name: str
    positive: tuple
    result: AUCResult

    def summary(self) -> str:
        lo, hi = self.result.ci
        return (
            f"{self.name} (positive: {', '.join(map(str, self.positive))}): "
            f"AUC {_fmt(self.result.auc)} [{_fmt(lo)}, {_fmt(hi)}] "
            f"(m = {self.result.n_positive}, n = {self.result.n_negative})"
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "positive": [str(c) for c in self.positive],
            **self.result.to_dict(),
        }


@dataclass(frozen=True)
class OneVsRestResult:
    """One-vs-rest AUC per class (DeLong CI each) and their unweighted mean (macro AUC).

    Classes absent from the truth (or present in every case) have no AUC and are listed in
    ``skipped``; ``macro_auc`` averages the classes that have one. No CI is given for the macro
    AUC: the one-vs-rest AUCs use different splits of the same cases, so DeLong's covariance
    does not apply; use a case (or patient) bootstrap for it.
    """

    labels: tuple
    per_class: tuple[EndpointAUCResult, ...]
    macro_auc: float
    skipped: tuple

    def summary(self) -> str:
        lines = ["One-vs-rest ROC AUC (DeLong CI)"]
        lines += ["  " + r.summary() for r in self.per_class]
        if self.skipped:
            lines.append(f"  no AUC (class absent or universal): {list(self.skipped)}")
        lines.append(f"  macro AUC = {_fmt(self.macro_auc)}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "labels": [str(c) for c in self.labels],
            "per_class": [r.to_dict() for r in self.per_class],
            "macro_auc": self.macro_auc,
            "skipped": [str(c) for c in self.skipped],
        }


def one_vs_rest_auc(y_labels, scores, *, labels: Sequence, level: float = 0.95) -> OneVsRestResult:
    """One-vs-rest ROC AUC of each class of an ordered label set, and the macro AUC.

    Parameters
    ----------
    y_labels : array of shape (N,)
        True class of each case, values from ``labels``.
    scores : array of shape (N, C)
        Per-class scores (e.g. probabilities), column c for ``labels[c]``; higher = more likely
        that class.
    labels : sequence of C classes, keyword-only
        The ordered label set (the study's scheme; nothing here assumes a particular one).
    level : float, keyword-only

    Returns
    -------
    OneVsRestResult
        For each class c: AUC of ``scores[:, c]`` for "class c" vs "any other class", with
        DeLong CI; ``macro_auc`` is their unweighted mean (as scikit-learn's
        ``roc_auc_score(..., multi_class="ovr", average="macro")``).

    References
    ----------
    Fawcett T (2006). An introduction to ROC analysis. Pattern Recognition Letters 27:861-874.
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.

    Examples
    --------
    >>> y = ["a", "b", "c", "a", "b", "c"]
    >>> p = [[.8, .1, .1], [.2, .7, .1], [.1, .2, .7], [.5, .4, .1], [.3, .6, .1], [.1, .1, .8]]
    >>> one_vs_rest_auc(y, p, labels=["a", "b", "c"]).macro_auc
    1.0
    """
    level = check_confidence(level, "level")
    labels = list(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"labels: expected at least two distinct classes, got {labels}")
    idx = check_labels(y_labels, labels, "y_labels")
    mat = _class_score_matrix(scores, idx.size, len(labels), "scores")
    per_class = []
    skipped = []
    for c, label in enumerate(labels):
        truth = idx == c
        if truth.all() or not truth.any():
            skipped.append(label)
            continue
        res = roc_auc_ci(truth, mat[c], level=level)
        per_class.append(EndpointAUCResult(name=str(label), positive=(label,), result=res))
    if not per_class:
        raise ValueError("y_labels: a single class in truth; no one-vs-rest AUC can be computed")
    macro = float(np.mean([r.result.auc for r in per_class]))
    return OneVsRestResult(
        labels=tuple(labels), per_class=tuple(per_class), macro_auc=macro, skipped=tuple(skipped)
    )


def endpoint_auc(
    y_labels, scores, endpoint: Endpoint, *, labels: Sequence, level: float = 0.95
) -> EndpointAUCResult:
    """ROC AUC (DeLong CI) of a binary endpoint derived from an ordered label set.

    Parameters
    ----------
    y_labels : array of shape (N,)
        True class of each case, values from ``labels``.
    scores : array of shape (N,) or (N, C)
        Either an endpoint score already (higher = more likely positive for the endpoint), or
        per-class scores (column c for ``labels[c]``), in which case the endpoint score is the
        sum over the endpoint's positive classes (e.g. P(C1) + P(C2)).
    endpoint : Endpoint
        Name and set of positive classes.
    labels : sequence, keyword-only
        The ordered label set.
    level : float, keyword-only

    Returns
    -------
    EndpointAUCResult

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.

    Examples
    --------
    >>> ep = Endpoint("high", {"c"})
    >>> endpoint_auc(["a", "b", "c", "c"], [0.1, 0.5, 0.4, 0.9], ep,
    ...              labels=["a", "b", "c"]).result.auc
    0.75
    """
    labels = list(labels)
    truth = endpoint_truth(y_labels, endpoint, labels=labels)
    arr = np.asarray(scores)
    if arr.ndim == 2:
        mat = _class_score_matrix(arr, truth.size, len(labels), "scores")
        cols = [c for c, lab in enumerate(labels) if lab in endpoint.positive]
        score = mat[cols].sum(axis=0)
    else:
        score = as_scores(as_1d(arr, "scores"), "scores")
        check_same_length(y_labels=truth, scores=score)
    if truth.all() or not truth.any():
        raise ValueError(
            f"y_labels: a single class in truth for endpoint {endpoint.name!r} "
            f"(all {truth.size} cases are {'positive' if truth.any() else 'negative'})"
        )
    res = roc_auc_ci(truth, score, level=level)
    positive = tuple(c for c in labels if c in endpoint.positive)
    return EndpointAUCResult(name=endpoint.name, positive=positive, result=res)
