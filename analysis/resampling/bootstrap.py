"""Bootstrap confidence intervals: percentile and BCa intervals from replicates, and the
patient-clustered bootstrap of classification statistics, AUC and their paired differences.

The resamples and the vectorised weighted statistics are in :mod:`analysis.resampling.weights`:
all B resamples are evaluated at once from weighted
confusion matrices and a weighted Mann-Whitney AUC, never by a Python loop over resamples.
:func:`bootstrap_ci` is the slow, generic path for any statistic; with the same ``seed`` it draws
exactly the same resamples.

Typical use (one set of resamples shared by every reader and the model)::

    W = ResampleWeights.patient_bootstrap(patients, truth_codes, n_resamples=2000, seed=0)
    res = bootstrap_classification_difference(truth, model_pred, reader_pred,
                                              labels=levels, weights=W)
    res["kappa_quadratic"].ci

``weights`` may also be a (B, n) array of case weights, e.g. from
:func:`patient_bootstrap_weights`.

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

from analysis._format import num_or_none as _num
from analysis._validation import (
    as_binary_truth,
    as_scores,
    check_confidence,
    check_labels,
    check_same_length,
    resolve_levels,
)
from analysis.resampling.weights import (
    CLASSIFICATION_STATISTICS,
    _patient_codes,
    classification_replicates,
    patient_bootstrap_weights,
    patient_jackknife_weights,
    weighted_auc,
)

__all__ = [
    "BootstrapCI",
    "bootstrap_auc",
    "bootstrap_auc_difference",
    "bootstrap_ci",
    "bootstrap_classification",
    "bootstrap_classification_difference",
    "bootstrap_interval",
    "bootstrap_weighted",
]


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
    weights : ResampleWeights, or array of shape (B, n)
        From :meth:`ResampleWeights.patient_bootstrap` or :func:`patient_bootstrap_weights`
        (the same resamples for every reader).
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


