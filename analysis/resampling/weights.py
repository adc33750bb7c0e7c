"""Resampling weights and the vectorised weighted statistics evaluated on them.

A patient-clustered bootstrap draws *patients* with replacement within each stratum and keeps
every case (image, hip) of a drawn patient, so that the correlation between a patient's cases is
respected. A resample is a vector of integer case weights (``weights[b, i]`` = copies of case i
in resample b); since every case of a patient carries its patient's weight, the B resamples are
kept as :class:`ResampleWeights`: ``counts_t[p, b]`` = copies of cluster (patient) p in resample
b, plus the cluster of each case. Every statistic is a weighted statistic of the original cases,
for all B resamples at once, never a Python loop over resamples:

* weight sums per cell (confusion-matrix cell, or rating level among positives / negatives) are
  one sparse product ``indicator (cells x clusters) @ counts_t``;
* the weighted Mann-Whitney AUC goes through those per-level sums for scores with few distinct
  values (human ratings), through one sort and cumulative sums for the others.

Bootstrap counts are kept in float32 (small integers: exact); totals are accumulated in
float64. Any other case weights (a (B, n) array, e.g. the leave-one-patient-out jackknife) are
handled by the same code with each case its own cluster.

Stratum of a patient: by default the *highest* stratum code among its cases
(``patient_stratum="max"``). Pass integer class indices in the study's order (e.g. from
``analysis._validation.check_labels``) so that "highest" means the most severe class: a patient
with a C2 hip and a B hip is a C2 patient. ``patient_stratum="first"`` uses the stratum of the
patient's first case in input order instead.

References
----------
Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. Cambridge University
Press, sec. 3.8 (resampling clusters, stratified resampling). Field CA, Welsh AH (2007).
Bootstrapping clustered data. J R Stat Soc B 69:369-390. Bamber D (1975). J Math Psychol
12:387-415 (AUC as the Mann-Whitney statistic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from analysis._validation import as_1d, check_same_length
from analysis.agreement.kappa import kappa_of_tables

__all__ = [
    "CLASSIFICATION_STATISTICS",
    "ResampleWeights",
    "classification_replicates",
    "patient_bootstrap_weights",
    "patient_jackknife_weights",
    "statistics_from_confusion",
    "weighted_auc",
    "weighted_confusion_matrices",
    "weighted_macro_auc",
]

CLASSIFICATION_STATISTICS = ("accuracy", "macro_f1", "kappa", "kappa_linear", "kappa_quadratic")

# Scores with at most this many distinct values take the per-level weight-sum path of the AUC.
_FEW_LEVELS = 160


# --------------------------------------------------------------------------------------------
# Resampling weights


def patient_bootstrap_weights(
    patients,
    strata=None,
    *,
    n_resamples: int = 2000,
    seed: int | None = 0,
    patient_stratum: str = "max",
    dtype=np.int32,
) -> np.ndarray:
    """Case weights of a patient-clustered bootstrap, stratified by a patient-level stratum.

    Parameters
    ----------
    patients : array_like, shape (n_cases,)
        Patient id of every case. All cases of a patient are drawn together.
    strata : array_like, shape (n_cases,), optional
        Stratum of every case, e.g. the truth's class index. Each resample draws, within each
        stratum, as many patients as the stratum has, with replacement. Default: one stratum.
    n_resamples : int
        Number of resamples B.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same weights.
    patient_stratum : {"max", "first"}
        How a patient's stratum is derived from its cases' strata (see the module docstring).
    dtype : numpy dtype
        Dtype of the result; ``float`` saves a conversion in every weighted statistic.

    Returns
    -------
    ndarray, shape (n_resamples, n_cases)
        ``weights[b, i]`` = number of copies of case i in resample b (= the number of times
        its patient was drawn). :meth:`ResampleWeights.patient_bootstrap` draws the same
        resamples and keeps them per patient.

    References
    ----------
    Davison & Hinkley (1997), sec. 3.8; Field & Welsh (2007).

    Examples
    --------
    >>> w = patient_bootstrap_weights(["p1", "p1", "p2"], n_resamples=3, seed=1)
    >>> w.shape, bool((w[:, 0] == w[:, 1]).all())
    ((3, 3), True)
    """
    pid, counts = _patient_counts(patients, strata, n_resamples, seed, patient_stratum)
    # Built case-major and returned as its transpose (a Fortran-ordered (B, n) view): the AUC
    # works on cases x resamples and then needs no copy, and matrix products do not care.
    weights = counts.T[pid].T
    return weights if weights.dtype == np.dtype(dtype) else weights.astype(dtype)


def patient_jackknife_weights(patients, *, dtype=float) -> np.ndarray:
    """Leave-one-patient-out case weights, shape (n_patients, n_cases): row p is 0 on the cases
    of patient p (in sorted order of patient ids) and 1 elsewhere. Used for the BCa
    acceleration (Efron & Tibshirani 1993, eq. 14.15)."""
    pid, n_patients = _patient_codes(patients)
    return (pid[None, :] != np.arange(n_patients)[:, None]).astype(dtype)


def _patient_counts(patients, strata, n_resamples, seed, rule) -> tuple[np.ndarray, np.ndarray]:
    """Patient code of every case (sorted order of ids) and the draws ``counts[b, p]``."""
    pid, n_patients = _patient_codes(patients)
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    B = int(n_resamples)
    pstrat = _patient_strata(pid, n_patients, strata, rule)
    rng = np.random.default_rng(seed)
    counts = np.zeros((B, n_patients), dtype=np.int32)
    for s in np.unique(pstrat):
        members = np.flatnonzero(pstrat == s)
        k = members.size
        draws = rng.integers(0, k, size=(B, k))
        flat = (draws + (np.arange(B) * k)[:, None]).ravel()
        counts[:, members] = np.bincount(flat, minlength=B * k).reshape(B, k)
    return pid, counts


def _patient_codes(patients) -> tuple[np.ndarray, int]:
    arr = as_1d(patients, "patients")
    try:
        _, pid = np.unique(arr, return_inverse=True)
    except TypeError:
        _, pid = np.unique(arr.astype(str), return_inverse=True)
    return pid.ravel(), int(pid.max()) + 1


def _patient_strata(pid, n_patients, strata, rule) -> np.ndarray:
    if strata is None:
        return np.zeros(n_patients, dtype=np.intp)
    s = as_1d(strata, "strata")
    check_same_length(patients=pid, strata=s)
    try:
        _, scode = np.unique(s, return_inverse=True)
    except TypeError:
        _, scode = np.unique(s.astype(str), return_inverse=True)
    scode = scode.ravel()
    if rule == "max":
        out = np.full(n_patients, -1, dtype=np.intp)
        np.maximum.at(out, pid, scode)
        return out
    if rule == "first":
        _, first = np.unique(pid, return_index=True)
        return scode[first]
    raise ValueError(f"patient_stratum: expected 'max' or 'first', got {rule!r}")


# --------------------------------------------------------------------------------------------
# The engine: B resamples as cluster weights


class ResampleWeights:
    """B resamples of n cases, kept as weights of their clusters (patients).

    ``counts_t[p, b]`` is the weight of cluster p in resample b and ``clusters[i]`` the cluster
    of case i, so case i weighs ``counts_t[clusters[i], b]``. Build it with
    :meth:`patient_bootstrap` (the resamples of :func:`patient_bootstrap_weights`),
    :meth:`original` (every patient once: the point estimates) or :meth:`from_case_weights`
    (any (B, n) case weights). Statistics are laid out (B, ...).

    References
    ----------
    Davison & Hinkley (1997), sec. 3.8; Field & Welsh (2007); Bamber (1975).

    Examples
    --------
    >>> rw = ResampleWeights.patient_bootstrap([1, 1, 2, 3], n_resamples=4, seed=0)
    >>> rw.case_weights().shape
    (4, 4)
    """

    def __init__(self, clusters: np.ndarray, counts_t: np.ndarray):
        self.clusters = np.asarray(clusters, dtype=np.intp)
        self.counts_t = counts_t
        self.n_resamples = int(counts_t.shape[1])

    @classmethod
    def patient_bootstrap(cls, patients, strata=None, *, n_resamples: int = 2000,
                          seed: int | None = 0, patient_stratum: str = "max") -> ResampleWeights:
        """The patient-clustered stratified bootstrap of :func:`patient_bootstrap_weights`
        (same arguments, same seed, same resamples), kept per patient in float32."""
        pid, counts = _patient_counts(patients, strata, n_resamples, seed, patient_stratum)
        return cls(pid, np.ascontiguousarray(counts.T, dtype=np.float32))

    @classmethod
    def original(cls, patients) -> ResampleWeights:
        """One "resample": the original sample, every patient once (point estimates)."""
        pid, n_patients = _patient_codes(patients)
        return cls(pid, np.ones((n_patients, 1), dtype=np.float32))

    @classmethod
    def from_case_weights(cls, weights, n_cases: int) -> ResampleWeights:
        """Any case weights, shape (B, n_cases) or (n_cases,): each case its own cluster."""
        w = np.asarray(weights, dtype=float)
        if w.ndim == 1:
            w = w[None, :]
        if w.ndim != 2 or w.shape[1] != n_cases:
            raise ValueError(
                f"weights: expected shape (n_resamples, {n_cases}) or ({n_cases},), "
                f"got {np.shape(weights)}"
            )
        return cls(np.arange(n_cases), np.ascontiguousarray(w.T))

    def case_weights(self) -> np.ndarray:
        """The (B, n) case weights these resamples stand for."""
        return self.counts_t[self.clusters].T

    def _sums(self, case_rows: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
        """(n_cells, B): per resample, the weight of the cases ``case_rows`` in ``cells``."""
        ind = sparse.csr_matrix(
            (np.ones(case_rows.size, dtype=np.float32), (cells, self.clusters[case_rows])),
            shape=(n_cells, self.counts_t.shape[0]))
        return np.asarray(ind @ self.counts_t)

    def confusion(self, truth: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
        """(B, R, k, k) weighted confusion matrices (rows = truth) of R raters.

        ``truth``: (n,) class indices; ``codes``: (R, n) class indices, -1 where not read.
        """
        r, n = codes.shape
        cells = np.arange(r)[:, None] * k * k + truth[None, :] * k + codes
        ok = codes >= 0
        rows = np.broadcast_to(np.arange(n), (r, n))
        sums = self._sums(rows[ok], cells[ok], r * k * k).astype(np.float64)
        return np.moveaxis(sums.reshape(r, k, k, -1), -1, 0)

    def auc(self, positive: np.ndarray, scores: np.ndarray, read: np.ndarray | None = None,
            ) -> np.ndarray:
        """(B, R) weighted empirical AUC (ties 1/2) of R scores (R, n) on the cases read.

        AUC_b = sum_{i pos, j neg} w_bi w_bj [s_i > s_j + 1/2 (s_i = s_j)]
        / (sum_pos w_bi * sum_neg w_bj). Scores with few distinct values (human ratings) go
        through the per-level weight sums; the others (a model's probabilities) through a sort
        and cumulative sums over the cases. NaN where a resample has no positive or no negative
        case. ``read``: (R, n) booleans, default every case.
        """
        if read is None:
            read = np.ones(scores.shape, dtype=bool)
        out = np.empty((self.n_resamples, scores.shape[0]))
        small = []
        for j in range(scores.shape[0]):
            idx = np.flatnonzero(read[j])
            levels, inverse = np.unique(scores[j, idx], return_inverse=True)
            if levels.size <= _FEW_LEVELS:
                small.append((j, levels.size, idx, inverse))
            else:
                out[:, j] = self._auc_sorted(positive, scores[j], idx)
        if not small:
            return out
        # cells: [levels of score 1 | levels of score 2 | ...] for the positives, then the
        # same layout again for the negatives
        sizes = np.array([m for _, m, _, _ in small])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        width = int(sizes.sum())
        rows = np.concatenate([idx for _, _, idx, _ in small])
        cells = np.concatenate([start + np.where(positive[idx], 0, width) + inverse
                                for start, (_, _, idx, inverse) in zip(starts, small,
                                                                       strict=True)])
        sums = self._sums(rows, cells, 2 * width)
        p, q = sums[:width], sums[width:]  # (levels, B)
        cq = np.cumsum(q, axis=0, dtype=np.float64)
        # negatives below a level of score j = cq - q - (cq at the end of score j-1)
        before = np.where(starts[:, None] > 0, cq[np.maximum(starts - 1, 0)], 0.0)
        p_total = np.add.reduceat(p, starts, axis=0, dtype=np.float64)
        num = np.add.reduceat(p * (cq - 0.5 * q), starts, axis=0) - before * p_total
        den = p_total * np.add.reduceat(q, starts, axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, [j for j, _, _, _ in small]] = np.where(den > 0, num / den, np.nan).T
        return out

    def _auc_sorted(self, positive, score, idx) -> np.ndarray:
        order = idx[np.argsort(score[idx], kind="mergesort")]
        s = score[order]
        pos = positive[order]
        w = self.counts_t[self.clusters[order]]  # (n, B)
        n = s.size
        start = np.ones(n, dtype=bool)
        start[1:] = s[1:] != s[:-1]
        block = np.cumsum(start) - 1
        starts = np.flatnonzero(start)
        ends = np.append(starts[1:], n)
        # cneg[i] = weight of the negatives among the first i sorted cases
        neg_before = np.concatenate([[0], np.cumsum(~pos)])
        cneg = np.zeros((int(neg_before[-1]) + 1, w.shape[1]), dtype=w.dtype)
        np.cumsum(w[~pos], axis=0, out=cneg[1:])
        lo = neg_before[starts[block[pos]]]
        hi = neg_before[ends[block[pos]]]
        # twice (negatives below + half the ties) = cneg[lo] + cneg[hi]: integers, exact
        twice = cneg[lo] + cneg[hi]
        w_pos = w[pos]
        num = np.einsum("ib,ib->b", w_pos, twice, dtype=np.float64)
        den = 2.0 * w_pos.sum(axis=0, dtype=np.float64) * cneg[-1].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


def _engine(weights, n: int) -> tuple[ResampleWeights, bool]:
    """A :class:`ResampleWeights` from ``weights`` (itself, or (B, n) / (n,) case weights) and
    whether the caller gave one weight vector (1-D: squeeze the result)."""
    if isinstance(weights, ResampleWeights):
        if weights.clusters.size != n:
            raise ValueError(f"weights: expected resamples of {n} cases, got "
                             f"{weights.clusters.size}")
        return weights, False
    return ResampleWeights.from_case_weights(weights, n), np.ndim(weights) == 1


# --------------------------------------------------------------------------------------------
# Vectorised weighted statistics


def weighted_confusion_matrices(weights, y_true, y_pred, n_classes: int) -> np.ndarray:
    """Weighted confusion matrices for every resample.

    Parameters
    ----------
    weights : array, shape (B, n) or (n,), or ResampleWeights
    y_true, y_pred : int arrays, shape (n,), class indices in ``0..n_classes-1``
    n_classes : int

    Returns
    -------
    ndarray, shape (B, k, k) (or (k, k) for 1-D weights); rows = truth, columns = prediction.
    """
    t = np.asarray(y_true, dtype=np.intp)
    p = np.asarray(y_pred, dtype=np.intp)
    engine, single = _engine(weights, t.size)
    # contiguous: the kappa sums of statistics_from_confusion then run in the same order
    cm = np.ascontiguousarray(engine.confusion(t, p[None, :], int(n_classes))[:, 0])
    return cm[0] if single else cm


def statistics_from_confusion(cm, *, which: Sequence[str] = CLASSIFICATION_STATISTICS) -> dict:
    """Accuracy, macro F1 and Cohen's kappa (unweighted, linear, quadratic) from (..., k, k)
    confusion matrices.

    Macro F1 is the mean over all k classes of 2 TP / (n_true + n_predicted), 0 for a class
    neither true nor predicted in the resample (the ``zero_division=0`` convention of
    :func:`analysis.metrics.classification.classification_report`). Kappa
    (:func:`analysis.agreement.kappa.kappa_of_tables`) is NaN where the expected agreement is 1.
    References: Cohen (1960, 1968).
    """
    cm = np.asarray(cm, dtype=float)
    n = cm.sum(axis=(-2, -1))
    rows = cm.sum(axis=-1)
    cols = cm.sum(axis=-2)
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in which:
            if name == "accuracy":
                out[name] = diag.sum(axis=-1) / n
            elif name == "macro_f1":
                denom = rows + cols
                f1 = np.where(denom > 0, 2 * diag / np.where(denom > 0, denom, 1), 0.0)
                out[name] = f1.mean(axis=-1)
            elif name in _KAPPA_SCHEMES:
                out[name] = kappa_of_tables(cm, weights=_KAPPA_SCHEMES[name])
            else:
                raise ValueError(
                    f"which: unknown statistic {name!r}; expected {list(CLASSIFICATION_STATISTICS)}"
                )
    return out


_KAPPA_SCHEMES = {"kappa": "none", "kappa_linear": "linear", "kappa_quadratic": "quadratic"}


def classification_replicates(weights, y_true, y_pred, n_classes: int,
                              *, which: Sequence[str] = CLASSIFICATION_STATISTICS) -> dict:
    """The statistics of :func:`statistics_from_confusion` for every resample at once:
    ``{name: array (B,)}``. ``y_true``/``y_pred`` are class indices."""
    return statistics_from_confusion(
        weighted_confusion_matrices(weights, y_true, y_pred, n_classes), which=which
    )


def weighted_auc(weights, y_true, score) -> np.ndarray:
    """Weighted Mann-Whitney AUC (ties count 1/2) for every resample.

    AUC_b = sum_{i pos, j neg} w_bi w_bj [s_i > s_j + 1/2 (s_i = s_j)]
            / (sum_pos w_bi * sum_neg w_bj),
    computed by :meth:`ResampleWeights.auc`. With integer weights it equals the empirical AUC
    of the resampled data set. NaN where a resample has no positive or no negative case.

    Parameters
    ----------
    weights : array, shape (B, n) or (n,), or ResampleWeights
    y_true : bool array, shape (n,)
    score : float array, shape (n,); higher = more likely positive.

    References
    ----------
    Bamber D (1975). The area above the ordinal dominance graph and the area below the receiver
    operating characteristic graph. J Math Psychol 12:387-415. Hanley JA, McNeil BJ (1982).
    Radiology 143:29-36.
    """
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    engine, single = _engine(weights, y.size)
    auc = engine.auc(y, s[None, :])[:, 0]
    return auc[0] if single else auc


def weighted_macro_auc(weights, y_true, scores) -> np.ndarray:
    """Macro one-vs-rest AUC: mean over classes of :func:`weighted_auc` of class j's score
    against "truth == j". ``y_true``: class indices (n,); ``scores``: (n, k). Classes without
    positives or negatives in a resample are left out of that resample's mean."""
    t = np.asarray(y_true, dtype=np.intp)
    sc = np.asarray(scores, dtype=float)
    if sc.ndim != 2 or sc.shape[0] != t.size:
        raise ValueError(f"scores: expected shape ({t.size}, n_classes), got {sc.shape}")
    engine, single = _engine(weights, t.size)
    per = np.stack([engine.auc(t == j, sc[None, :, j])[:, 0] for j in range(sc.shape[1])], -1)
    if single:
        per = per[0]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(per)
        total = np.where(valid, per, 0.0).sum(axis=-1)
        count = valid.sum(axis=-1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
