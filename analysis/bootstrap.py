"""Patient-clustered, truth-stratified bootstrap with vectorised weighted statistics.

A resample draws *patients* with replacement within each stratum and keeps every case (image,
hip) of a drawn patient, so that the correlation between a patient's cases is respected. A
resample is represented as integer case weights: ``weights[b, i]`` = how many times case i is in
resample b. All B resamples are then evaluated at once from weighted confusion matrices
(``weights @ one_hot``) and a weighted Mann-Whitney AUC (one sort per score, cumulative weight
sums), never by a Python loop over resamples. :func:`bootstrap_ci` is the slow, generic path for
any statistic; with the same ``seed`` it draws exactly the same resamples.

Stratum of a patient: by default the *highest* stratum code among its cases
(``patient_stratum="max"``). Pass integer class indices in the study's order (e.g. from
``analysis._validation.check_labels``) so that "highest" means the most severe class: a patient
with a C2 hip and a B hip is a C2 patient. ``patient_stratum="first"`` uses the stratum of the
patient's first case in input order instead.

Typical use (one weight matrix shared by every reader and the model)::

    W = patient_bootstrap_weights(patients, truth_codes, n_resamples=2000, seed=0, dtype=float)
    res = bootstrap_classification_difference(truth, model_pred, reader_pred,
                                              labels=levels, weights=W)
    res["kappa_quadratic"].ci

References
----------
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall (percentile
interval, ch. 13; BCa, ch. 14). Davison AC, Hinkley DV (1997). Bootstrap Methods and their
Application. Cambridge University Press, sec. 3.8 (resampling clusters, stratified resampling).
Field CA, Welsh AH (2007). Bootstrapping clustered data. J R Stat Soc B 69:369-390.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis._validation import (
    as_1d,
    as_binary_truth,
    as_scores,
    check_confidence,
    check_labels,
    check_same_length,
    resolve_levels,
)
from analysis.agreement import kappa_weights

__all__ = [
    "CLASSIFICATION_STATISTICS",
    "BootstrapCI",
    "bootstrap_auc",
    "bootstrap_auc_difference",
    "bootstrap_ci",
    "bootstrap_classification",
    "bootstrap_classification_difference",
    "bootstrap_interval",
    "bootstrap_weighted",
    "classification_replicates",
    "patient_bootstrap_weights",
    "patient_jackknife_weights",
    "statistics_from_confusion",
    "weighted_auc",
    "weighted_confusion_matrices",
    "weighted_macro_auc",
]

CLASSIFICATION_STATISTICS = ("accuracy", "macro_f1", "kappa", "kappa_linear", "kappa_quadratic")


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
        its patient was drawn).

    References
    ----------
    Davison & Hinkley (1997), sec. 3.8; Field & Welsh (2007).

    Examples
    --------
    >>> w = patient_bootstrap_weights(["p1", "p1", "p2"], n_resamples=3, seed=1)
    >>> w.shape, bool((w[:, 0] == w[:, 1]).all())
    ((3, 3), True)
    """
    pid, n_patients = _patient_codes(patients)
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    B = int(n_resamples)
    pstrat = _patient_strata(pid, n_patients, strata, patient_stratum)
    rng = np.random.default_rng(seed)
    counts = np.zeros((B, n_patients), dtype=np.int32)
    for s in np.unique(pstrat):
        members = np.flatnonzero(pstrat == s)
        k = members.size
        draws = rng.integers(0, k, size=(B, k))
        flat = (draws + (np.arange(B) * k)[:, None]).ravel()
        counts[:, members] = np.bincount(flat, minlength=B * k).reshape(B, k)
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


def _as_weights(weights, n: int) -> tuple[np.ndarray, bool]:
    w = np.asarray(weights, dtype=float)
    single = w.ndim == 1
    if single:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(
            f"weights: expected shape (n_resamples, {n}) or ({n},), got {np.shape(weights)}"
        )
    return w, single


# --------------------------------------------------------------------------------------------
# Vectorised weighted statistics


def weighted_confusion_matrices(weights, y_true, y_pred, n_classes: int) -> np.ndarray:
    """Weighted confusion matrices for every row of ``weights``.

    Parameters
    ----------
    weights : array, shape (B, n) or (n,)
    y_true, y_pred : int arrays, shape (n,), class indices in ``0..n_classes-1``
    n_classes : int

    Returns
    -------
    ndarray, shape (B, k, k) (or (k, k) for 1-D weights); rows = truth, columns = prediction.
    """
    t = np.asarray(y_true, dtype=np.intp)
    p = np.asarray(y_pred, dtype=np.intp)
    k = int(n_classes)
    w, single = _as_weights(weights, t.size)
    one_hot = np.zeros((t.size, k * k))
    one_hot[np.arange(t.size), t * k + p] = 1.0
    cm = (w @ one_hot).reshape(-1, k, k)
    return cm[0] if single else cm


def statistics_from_confusion(cm, *, which: Sequence[str] = CLASSIFICATION_STATISTICS) -> dict:
    """Accuracy, macro F1 and Cohen's kappa (unweighted, linear, quadratic) from (..., k, k)
    confusion matrices.

    Macro F1 is the mean over all k classes of 2 TP / (n_true + n_predicted), 0 for a class
    neither true nor predicted in the resample (the ``zero_division=0`` convention of
    :func:`analysis.metrics.classification_report`). Kappa is NaN where the expected agreement
    is 1. References: Cohen (1960, 1968); see :mod:`analysis.agreement`.
    """
    cm = np.asarray(cm, dtype=float)
    k = cm.shape[-1]
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
            elif name.startswith("kappa"):
                scheme = {"kappa": "none", "kappa_linear": "linear",
                          "kappa_quadratic": "quadratic"}.get(name)
                if scheme is None:
                    raise ValueError(f"which: unknown statistic {name!r}")
                w = kappa_weights(k, scheme)
                po = (cm * w).sum(axis=(-2, -1)) / n
                pe = np.einsum("...i,ij,...j->...", rows, w, cols) / n**2
                out[name] = np.where(np.isclose(pe, 1.0), np.nan, (po - pe) / (1 - pe))
            else:
                raise ValueError(
                    f"which: unknown statistic {name!r}; expected {list(CLASSIFICATION_STATISTICS)}"
                )
    return out


def classification_replicates(weights, y_true, y_pred, n_classes: int,
                              *, which: Sequence[str] = CLASSIFICATION_STATISTICS) -> dict:
    """The statistics of :func:`statistics_from_confusion` for every resample at once:
    ``{name: array (B,)}``. ``y_true``/``y_pred`` are class indices."""
    return statistics_from_confusion(
        weighted_confusion_matrices(weights, y_true, y_pred, n_classes), which=which
    )


def weighted_auc(weights, y_true, score) -> np.ndarray:
    """Weighted Mann-Whitney AUC (ties count 1/2) for every row of ``weights``.

    AUC_b = sum_{i pos, j neg} w_bi w_bj [s_i > s_j + 1/2 (s_i = s_j)]
            / (sum_pos w_bi * sum_neg w_bj),
    computed with one sort of ``score`` and cumulative sums of the negatives' weights per tie
    group: O(B n) after an O(n log n) sort. With integer weights it equals the empirical AUC of
    the resampled data set. NaN where a resample has no positive or no negative case.

    Parameters
    ----------
    weights : array, shape (B, n) or (n,)
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
    w, single = _as_weights(weights, y.size)
    auc = _auc_cases_by_resamples(np.ascontiguousarray(w.T), y, s)
    return auc[0] if single else auc


def _auc_cases_by_resamples(wt: np.ndarray, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    # wt has shape (n, B): gathering cases is then a contiguous row copy, and the cumulative
    # sums run down the rows for all resamples at once.
    order = np.argsort(s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    new_group = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], s_sorted.size]
    # Number of negatives before each sorted position -> rows of the cumulative negative weight.
    neg_before = np.r_[0, np.cumsum(~y_sorted)]
    cum_neg = np.zeros((int(neg_before[-1]) + 1, wt.shape[1]))
    np.cumsum(wt[order[~y_sorted]], axis=0, out=cum_neg[1:])
    pos_group = group[y_sorted]
    # Credit of a positive = negatives strictly below + half the negatives tied with it
    # = (cum at its group's start + cum at its group's end) / 2.
    credit = cum_neg[neg_before[starts[pos_group]]]
    credit += cum_neg[neg_before[ends[pos_group]]]
    w_pos = wt[order[y_sorted]]
    num = 0.5 * np.einsum("ib,ib->b", w_pos, credit)
    denom = w_pos.sum(axis=0) * cum_neg[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1), np.nan)


def weighted_macro_auc(weights, y_true, scores) -> np.ndarray:
    """Macro one-vs-rest AUC: mean over classes of :func:`weighted_auc` of class j's score
    against "truth == j". ``y_true``: class indices (n,); ``scores``: (n, k). Classes without
    positives or negatives in a resample are left out of that resample's mean."""
    t = np.asarray(y_true, dtype=np.intp)
    sc = np.asarray(scores, dtype=float)
    if sc.ndim != 2 or sc.shape[0] != t.size:
        raise ValueError(f"scores: expected shape ({t.size}, n_classes), got {sc.shape}")
    w, single = _as_weights(weights, t.size)
    wt = np.ascontiguousarray(w.T)
    per = np.stack(
        [_auc_cases_by_resamples(wt, t == j, sc[:, j]) for j in range(sc.shape[1])], -1
    )
    if single:
        per = per[0]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(per)
        total = np.where(valid, per, 0.0).sum(axis=-1)
        count = valid.sum(axis=-1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# --------------------------------------------------------------------------------------------
# Intervals


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval for one statistic (or a difference of two)."""

    statistic: str
    estimate: float
    ci: tuple[float, float]
    se: float
    confidence: float
    method: str
    n_resamples: int
    n_valid: int

    def summary(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        return (
            f"{self.statistic}: {self.estimate:.4f}  {pct} CI {self.ci[0]:.4f} to "
            f"{self.ci[1]:.4f}  (bootstrap SE {self.se:.4f}; {self.method}, "
            f"{self.n_valid}/{self.n_resamples} resamples)"
        )

    def to_dict(self) -> dict:
        return {
            "statistic": self.statistic,
            "estimate": _num(self.estimate),
            "ci": [_num(self.ci[0]), _num(self.ci[1])],
            "se": _num(self.se),
            "confidence": self.confidence,
            "method": self.method,
            "n_resamples": self.n_resamples,
            "n_valid": self.n_valid,
        }


def bootstrap_interval(
    estimate: float,
    replicates,
    *,
    confidence: float = 0.95,
    method: str = "percentile",
    jackknife=None,
    statistic: str = "statistic",
) -> BootstrapCI:
    """Percentile or BCa interval from bootstrap replicates of a statistic.

    Parameters
    ----------
    estimate : float
        The statistic on the original data.
    replicates : array, shape (B,)
        The statistic on each resample; non-finite values (statistic undefined in that
        resample) are left out and counted in ``n_valid``.
    method : {"percentile", "bca"}
        ``"bca"`` needs ``jackknife``: the statistic with each patient left out in turn.
    jackknife : array, shape (n_patients,), optional

    References
    ----------
    Efron & Tibshirani (1993): percentile interval eq. 13.5; BCa eq. 14.9-14.15.
    """
    conf = check_confidence(confidence)
    reps = np.asarray(replicates, dtype=float).ravel()
    valid = reps[np.isfinite(reps)]
    nan = float("nan")
    if valid.size < 2 or not np.isfinite(estimate):
        return BootstrapCI(statistic, float(estimate), (nan, nan), nan, conf, method,
                           reps.size, int(valid.size))
    alpha = 1 - conf
    probs = np.array([alpha / 2, 1 - alpha / 2])
    if method == "percentile":
        label = "percentile"
    elif method == "bca":
        if jackknife is None:
            raise ValueError("jackknife: BCa needs the leave-one-patient-out values of the "
                             "statistic (see patient_jackknife_weights)")
        jk = np.asarray(jackknife, dtype=float)
        jk = jk[np.isfinite(jk)]
        prop = (np.sum(valid < estimate) + 0.5 * np.sum(valid == estimate)) / valid.size
        z0 = stats.norm.ppf(np.clip(prop, 1 / (2 * valid.size), 1 - 1 / (2 * valid.size)))
        d = jk.mean() - jk
        ss = float((d**2).sum())
        a = float((d**3).sum() / (6 * ss**1.5)) if ss > 0 else 0.0
        zq = stats.norm.ppf(probs)
        probs = stats.norm.cdf(z0 + (z0 + zq) / (1 - a * (z0 + zq)))
        label = "BCa"
    else:
        raise ValueError(f"method: expected 'percentile' or 'bca', got {method!r}")
    lo, hi = np.quantile(valid, probs)
    return BootstrapCI(
        statistic=statistic, estimate=float(estimate), ci=(float(lo), float(hi)),
        se=float(valid.std(ddof=1)), confidence=conf, method=label,
        n_resamples=int(reps.size), n_valid=int(valid.size),
    )


# --------------------------------------------------------------------------------------------
# High-level: classification statistics, AUC, and differences


def bootstrap_classification(
    y_true,
    y_pred,
    *,
    weights,
    labels: Sequence | None = None,
    confidence: float = 0.95,
    method: str = "percentile",
    patients=None,
) -> dict[str, BootstrapCI]:
    """Bootstrap CIs of accuracy, macro F1 and Cohen's kappa (unweighted, linear, quadratic).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n,), labels in ``labels``
    weights : array, shape (B, n)
        From :func:`patient_bootstrap_weights` (the same matrix for every reader).
    labels : sequence, optional
        The study's full ordered label set (kappa weights and macro F1 run over it).
    method : {"percentile", "bca"}; ``"bca"`` needs ``patients`` for the jackknife.

    Returns
    -------
    dict mapping each name of :data:`CLASSIFICATION_STATISTICS` to a :class:`BootstrapCI`.
    """
    levels, _ = resolve_levels(labels, y_true, y_pred)
    t = check_labels(y_true, levels, "y_true")
    p = check_labels(y_pred, levels, "y_pred")
    check_same_length(y_true=t, y_pred=p)
    k = len(levels)
    est = classification_replicates(np.ones(t.size), t, p, k)
    reps = classification_replicates(weights, t, p, k)
    jk = _jackknife(patients, method, lambda w: classification_replicates(w, t, p, k), t.size)
    return {
        name: bootstrap_interval(
            float(est[name]), reps[name], confidence=confidence, method=method,
            jackknife=None if jk is None else jk[name], statistic=name,
        )
        for name in CLASSIFICATION_STATISTICS
    }


def bootstrap_classification_difference(
    y_true,
    pred_a,
    pred_b,
    *,
    weights,
    labels: Sequence | None = None,
    confidence: float = 0.95,
    method: str = "percentile",
    patients=None,
) -> dict[str, BootstrapCI]:
    """Bootstrap CIs of the paired differences A - B (e.g. model - reader) in accuracy, macro
    F1 and kappa; both are evaluated on the same resamples, so the pairing is kept.

    Parameters as in :func:`bootstrap_classification`; returns ``{name: BootstrapCI}`` where
    ``estimate`` is statistic(A) - statistic(B).
    """
    levels, _ = resolve_levels(labels, y_true, pred_a, pred_b)
    t = check_labels(y_true, levels, "y_true")
    a = check_labels(pred_a, levels, "pred_a")
    b = check_labels(pred_b, levels, "pred_b")
    check_same_length(y_true=t, pred_a=a, pred_b=b)
    k = len(levels)

    def diff(w):
        ra = classification_replicates(w, t, a, k)
        rb = classification_replicates(w, t, b, k)
        return {name: ra[name] - rb[name] for name in CLASSIFICATION_STATISTICS}

    est = diff(np.ones(t.size))
    reps = diff(weights)
    jk = _jackknife(patients, method, diff, t.size)
    return {
        name: bootstrap_interval(
            float(est[name]), reps[name], confidence=confidence, method=method,
            jackknife=None if jk is None else jk[name], statistic=f"{name} difference (A - B)",
        )
        for name in CLASSIFICATION_STATISTICS
    }


def bootstrap_weighted(
    statistic_fn: Callable[[np.ndarray], np.ndarray],
    *,
    weights,
    n_cases: int,
    confidence: float = 0.95,
    method: str = "percentile",
    patients=None,
    statistic: str = "statistic",
) -> BootstrapCI:
    """Bootstrap CI of any *vectorised* weighted statistic.

    ``statistic_fn(w)`` takes case weights of shape (R, n_cases) and returns R values; it is
    called once with unit weights (the estimate), once with ``weights`` (the replicates) and,
    for BCa, once with the leave-one-patient-out weights. For example the paired difference in
    macro AUC::

        bootstrap_weighted(lambda w: weighted_macro_auc(w, t, s_model)
                           - weighted_macro_auc(w, t, s_reader), weights=W, n_cases=t.size)
    """
    jk = _jackknife(patients, method, statistic_fn, n_cases)
    estimate = float(np.asarray(statistic_fn(np.ones((1, n_cases)))).ravel()[0])
    return bootstrap_interval(estimate, statistic_fn(weights), confidence=confidence,
                              method=method, jackknife=jk, statistic=statistic)


def bootstrap_auc(
    y_true, score, *, weights, confidence: float = 0.95, method: str = "percentile",
    patients=None,
) -> BootstrapCI:
    """Bootstrap CI of the empirical AUC of ``score`` for binary ``y_true`` (1 = positive).
    References: Bamber (1975); Efron & Tibshirani (1993)."""
    y = as_binary_truth(y_true)
    s = as_scores(score, "score")
    check_same_length(y_true=y, score=s)
    return bootstrap_weighted(lambda w: weighted_auc(w, y, s), weights=weights, n_cases=y.size,
                              confidence=confidence, method=method, patients=patients,
                              statistic="AUC")


def bootstrap_auc_difference(
    y_true, score_a, score_b, *, weights, confidence: float = 0.95, method: str = "percentile",
    patients=None,
) -> BootstrapCI:
    """Bootstrap CI of the paired difference AUC(A) - AUC(B) on the same cases and resamples."""
    y = as_binary_truth(y_true)
    sa = as_scores(score_a, "score_a")
    sb = as_scores(score_b, "score_b")
    check_same_length(y_true=y, score_a=sa, score_b=sb)
    return bootstrap_weighted(
        lambda w: weighted_auc(w, y, sa) - weighted_auc(w, y, sb), weights=weights,
        n_cases=y.size, confidence=confidence, method=method, patients=patients,
        statistic="AUC difference (A - B)",
    )


def _jackknife(patients, method, fn, n):
    if method != "bca":
        return None
    if patients is None:
        raise ValueError("patients: BCa needs the patient id of every case (for the jackknife)")
    jw = patient_jackknife_weights(patients)
    if jw.shape[1] != n:
        raise ValueError(f"patients: expected {n} patient ids (one per case), got {jw.shape[1]}")
    return fn(jw)


# --------------------------------------------------------------------------------------------
# Generic slow path


def bootstrap_ci(
    statistic_fn: Callable[..., float],
    *arrays,
    patients,
    strata=None,
    n_resamples: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
    method: str = "percentile",
    patient_stratum: str = "max",
    name: str = "statistic",
) -> BootstrapCI:
    """Patient-clustered stratified bootstrap CI of any statistic (slow path: one call per
    resample).

    Parameters
    ----------
    statistic_fn : callable
        ``statistic_fn(*arrays) -> float`` on per-case arrays (first axis = cases).
    *arrays : array_like, each with n cases along the first axis
    patients, strata, n_resamples, seed, patient_stratum
        As in :func:`patient_bootstrap_weights`; the same seed gives the same resamples as the
        vectorised functions.
    method : {"percentile", "bca"}
        BCa uses the leave-one-patient-out jackknife for the acceleration.

    References
    ----------
    Efron & Tibshirani (1993); Davison & Hinkley (1997), sec. 3.8.

    Examples
    --------
    >>> ci = bootstrap_ci(np.mean, np.array([0.0, 1, 1, 0, 1, 1]),
    ...                   patients=[1, 1, 2, 3, 4, 5], n_resamples=200)
    >>> ci.n_valid
    200
    """
    if not arrays:
        raise ValueError("arrays: expected at least one per-case array for statistic_fn")
    data = [np.asarray(a) for a in arrays]
    n = data[0].shape[0]
    for i, a in enumerate(data):
        if a.shape[0] != n:
            raise ValueError(f"arrays: array {i} has {a.shape[0]} cases, array 0 has {n}")
    weights = patient_bootstrap_weights(patients, strata, n_resamples=n_resamples, seed=seed,
                                        patient_stratum=patient_stratum)
    if weights.shape[1] != n:
        raise ValueError(f"patients: expected {n} patient ids (one per case), got "
                         f"{weights.shape[1]}")
    cases = np.arange(n)
    reps = np.empty(weights.shape[0])
    for b, row in enumerate(weights):
        idx = np.repeat(cases, row)
        reps[b] = statistic_fn(*(a[idx] for a in data))
    estimate = float(statistic_fn(*data))
    jk = None
    if method == "bca":
        pid, n_patients = _patient_codes(patients)
        jk = np.array([statistic_fn(*(a[pid != q] for a in data)) for q in range(n_patients)])
    return bootstrap_interval(estimate, reps, confidence=confidence, method=method,
                              jackknife=jk, statistic=name)


def _num(v):
    v = float(v)
    return None if np.isnan(v) else v
