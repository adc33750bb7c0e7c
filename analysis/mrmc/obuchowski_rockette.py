"""Multi-reader multi-case (MRMC) analysis of empirical ROC AUC by the Obuchowski-Rockette model
with Hillis' denominator degrees of freedom, as MRMCaov and OR-DBM MRMC compute it; and the
comparison of a standalone model (a fixed reader) with a random sample of readers.

Inputs are a complete reader x treatment x case design: ``ratings[t, r, c]`` is reader r's
rating of case c under treatment (modality) t, and ``truth[c]`` is the case's binary truth.
Unaided vs AI-aided reading is simply two treatments. A higher rating means "more likely
positive" (see :mod:`analysis.roc.auc`).

Layout: :mod:`analysis.mrmc.covariance` (covariance of the AUCs), :mod:`analysis.mrmc.data`
(the design from a long table), :mod:`analysis.mrmc.results` (result objects),
:mod:`analysis.mrmc.standalone` (model vs readers); this module holds the OR analysis of two or
more treatments.

References
----------
Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for multiple readers
and multiple tests: an ANOVA approach with dependent observations. Communications in Statistics -
Simulation and Computation 24:285-308.

Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple observer
ROC analysis. Statistics in Medicine 26:596-619.

Hillis SL, Berbaum KS, Metz CE (2008). Recent developments in the Dorfman-Berbaum-Metz procedure
for multireader ROC study analysis. Academic Radiology 15:647-661.

Hillis SL (2014). A marginal-mean ANOVA approach for analyzing multireader multicase radiological
imaging data. Statistics in Medicine 33:330-360.

Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of variance software for diagnostic
performance comparison of imaging modalities. Proc. SPIE 11316:113160K (R package MRMCaov).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy import stats

from analysis._validation import as_binary_truth, check_confidence
from analysis.mrmc.covariance import _check_cov, auc_covariance
from analysis.mrmc.results import (
    MRMCResult,
    ORAnalysis,
    ORComparison,
    TreatmentEstimate,
    _f_sf,
    _safe_div,
    _t_crit,
    _t_two_sided_p,
)

__all__ = [
    "mrmc",
]


# --------------------------------------------------------------------------------------------
# Obuchowski-Rockette analysis


def _or_cov_components(cov: np.ndarray, t: int, r: int) -> tuple[float, float, float, float]:
    """Var, Cov1 (same reader, different treatments), Cov2 (same treatment, different readers),
    Cov3 (both different): averages of the (t*r x t*r) covariance, index i * r + j."""
    ti = np.repeat(np.arange(t), r)
    ri = np.tile(np.arange(r), t)
    same_t = ti[:, None] == ti[None, :]
    same_r = ri[:, None] == ri[None, :]

    def avg(mask):
        return float(cov[mask].mean()) if mask.any() else 0.0

    return (
        float(np.diag(cov).mean()),
        avg(~same_t & same_r),
        avg(same_t & ~same_r),
        avg(~same_t & ~same_r),
    )


def _clip01(lo: float, hi: float) -> tuple[float, float]:
    return (float(min(max(lo, 0.0), 1.0)), float(min(max(hi, 0.0), 1.0)))


def mrmc(
    truth,
    ratings,
    *,
    cov: str = "jackknife",
    level: float = 0.95,
    treatments: Sequence | None = None,
    readers: Sequence | None = None,
) -> MRMCResult:
    """Obuchowski-Rockette MRMC analysis of empirical AUC with Hillis' degrees of freedom.

    Parameters
    ----------
    truth : array of shape (c,)
        Binary truth of each case (0/1 or booleans).
    ratings : array of shape (t, r, c)
        Complete design: rating of case c by reader r under treatment t (t >= 2, r >= 2).
    cov : {"jackknife", "delong", "unbiased"}, keyword-only
        Estimator of the covariance of the reader x treatment AUCs (see :func:`auc_covariance`).
    level : float, keyword-only
        Confidence level of the intervals.
    treatments, readers : sequences, keyword-only
        Names of the treatments and readers (default 1..t, 1..r).

    Returns
    -------
    MRMCResult
        Reader AUCs; Var, Cov1, Cov2, Cov3 (averages of the covariance matrix over same-reader
        different-treatment, same-treatment different-reader and both-different pairs); mean
        squares MS(T), MS(R), MS(T:R); and three analyses:

        * RRRC: ``F = MS(T) / [MS(T:R) + r max(Cov2 - Cov3, 0)]`` with ``df1 = t - 1`` and
          Hillis' ``df2 = [MS(T:R) + r max(Cov2 - Cov3, 0)]^2 / [MS(T:R)^2 / ((t-1)(r-1))]``;
          difference SE ``sqrt(2/r * denominator)``, t CI with df2. Per treatment (its data
          alone): SE ``sqrt(MS(R)_i / r + max(Cov2_i, 0))``, Hillis df
          ``(MS(R)_i + r max(Cov2_i, 0))^2 / (MS(R)_i^2 / (r - 1))``.
        * FRRC: ``X2 = (t-1) MS(T) / [Var - Cov1 + (r-1)(Cov2 - Cov3)]`` ~ chi-square(t-1);
          z intervals; per treatment SE ``sqrt((Var_i + (r-1) max(Cov2_i, 0)) / r)``; and
          per-reader differences with SE ``sqrt(2 (Var_j - Cov1_j))``.
        * RRFC: ``F = MS(T) / MS(T:R)`` with df ``(t-1, (t-1)(r-1))``; SE
          ``sqrt(2/r MS(T:R))``; per treatment SE ``sqrt(MS(R)_i / r)``, df r - 1.

        These are the formulas of MRMCaov's ``summary.mrmc`` (Smith & Hillis 2020).

    References
    ----------
    Obuchowski NA, Rockette HE (1995). Commun Stat Simul Comput 24:285-308.
    Hillis SL (2007). Statistics in Medicine 26:596-619.
    Hillis SL, Berbaum KS, Metz CE (2008). Academic Radiology 15:647-661.
    Hillis SL (2014). Statistics in Medicine 33:330-360.
    Smith BJ, Hillis SL (2020). Proc. SPIE 11316:113160K.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.zeros(20), np.ones(20)]
    >>> x = y + rng.normal(size=(2, 3, 40))
    >>> res = mrmc(y, x)
    >>> res.rrrc.df1
    1
    """
    method = _check_cov(cov)
    level = check_confidence(level, "level")
    y = as_binary_truth(truth, "truth")
    arr = np.asarray(ratings, dtype=float)
    if arr.ndim != 3:
        raise ValueError(
            f"ratings: expected a 3-D array (treatments x readers x cases), got shape {arr.shape}"
        )
    t, r, c = arr.shape
    if arr.shape[2] != y.size:
        raise ValueError(
            f"inputs of different lengths: truth has {y.size} cases, ratings has {c} per "
            f"reader and treatment"
        )
    if t < 2:
        raise ValueError(f"ratings: expected at least 2 treatments to compare, got {t}")
    if r < 2:
        raise ValueError(f"ratings: expected at least 2 readers, got {r}")
    if np.isnan(arr).any():
        i, j, k = (int(a[0]) for a in np.nonzero(np.isnan(arr)))
        raise ValueError(
            f"ratings: missing rating (treatment index {i}, reader index {j}, case index {k}); "
            f"the analysis needs a complete reader x treatment x case design"
        )
    treatments = tuple(range(1, t + 1)) if treatments is None else tuple(treatments)
    readers = tuple(range(1, r + 1)) if readers is None else tuple(readers)
    if len(treatments) != t or len(readers) != r:
        raise ValueError(
            f"treatments/readers: expected {t} treatment and {r} reader names, got "
            f"{len(treatments)} and {len(readers)}"
        )

    flat_aucs, cmat = auc_covariance(y, arr.reshape(t * r, c), cov=method)
    theta = flat_aucs.reshape(t, r)
    var_e, cov1, cov2, cov3 = _or_cov_components(cmat, t, r)

    t_mean = theta.mean(axis=1)
    r_mean = theta.mean(axis=0)
    grand = float(theta.mean())
    ms_t = float(r * ((t_mean - grand) ** 2).sum() / (t - 1))
    ms_r = float(t * ((r_mean - grand) ** 2).sum() / (r - 1))
    inter = theta - t_mean[:, None] - r_mean[None, :] + grand
    ms_tr = float((inter**2).sum() / ((t - 1) * (r - 1)))
    var_reader = (ms_r - ms_tr) / t - cov1 + cov3
    var_tr = ms_tr - var_e + cov1 + (cov2 - cov3)

    # per-treatment pieces (each treatment's data alone)
    per_t = []
    for i in range(t):
        block = cmat[i * r : (i + 1) * r, i * r : (i + 1) * r]
        off = ~np.eye(r, dtype=bool)
        per_t.append(
            {
                "ms_r": float(theta[i].var(ddof=1)),
                "var": float(np.diag(block).mean()),
                "cov2": float(block[off].mean()),
            }
        )

    pairs = list(combinations(range(t), 2))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    df_tr = (t - 1) * (r - 1)

    def comparisons(se: float, df: float | None) -> tuple[ORComparison, ...]:
        out = []
        crit = z if df is None else _t_crit(level, df)
        for a, b in pairs:
            est = float(t_mean[a] - t_mean[b])
            stat = _safe_div(est, se) if est != 0 else 0.0
            p = float(2.0 * stats.norm.sf(abs(stat))) if df is None else _t_two_sided_p(stat, df)
            out.append(
                ORComparison(
                    treatment1=treatments[a],
                    treatment2=treatments[b],
                    estimate=est,
                    se=se,
                    statistic=stat,
                    pvalue=p,
                    ci=(est - crit * se, est + crit * se),
                    df=df,
                )
            )
        return tuple(out)

    # RRRC
    den_rrrc = ms_tr + r * max(cov2 - cov3, 0.0)
    df2_rrrc = _safe_div(den_rrrc**2, ms_tr**2 / df_tr)
    f_rrrc = _safe_div(ms_t, den_rrrc)
    est_rrrc = []
    for i, pt in enumerate(per_t):
        se = float(np.sqrt(pt["ms_r"] / r + max(pt["cov2"], 0.0)))
        df = _safe_div((pt["ms_r"] + r * max(pt["cov2"], 0.0)) ** 2, pt["ms_r"] ** 2 / (r - 1))
        crit = _t_crit(level, df)
        est_rrrc.append(
            TreatmentEstimate(
                treatments[i],
                float(t_mean[i]),
                se,
                _clip01(t_mean[i] - crit * se, t_mean[i] + crit * se),
                df,
            )
        )
    rrrc = ORAnalysis(
        factors="RRRC",
        statistic=f_rrrc,
        distribution="F",
        df1=t - 1,
        df2=df2_rrrc,
        pvalue=_f_sf(f_rrrc, t - 1, df2_rrrc),
        denominator=den_rrrc,
        comparisons=comparisons(float(np.sqrt(2.0 / r * den_rrrc)), df2_rrrc),
        treatment_estimates=tuple(est_rrrc),
    )

    # FRRC
    den_frrc = var_e - cov1 + (r - 1) * (cov2 - cov3)
    x2 = _safe_div((t - 1) * ms_t, den_frrc) if den_frrc > 0 else float("nan")
    est_frrc = []
    for i, pt in enumerate(per_t):
        se = float(np.sqrt((pt["var"] + (r - 1) * max(pt["cov2"], 0.0)) / r))
        est_frrc.append(
            TreatmentEstimate(
                treatments[i], float(t_mean[i]), se, _clip01(t_mean[i] - z * se, t_mean[i] + z * se)
            )
        )
    reader_cmp = []
    for j in range(r):
        idx = np.arange(t) * r + j
        block = cmat[np.ix_(idx, idx)]
        off = ~np.eye(t, dtype=bool)
        se_j = float(np.sqrt(max(2.0 * (np.diag(block).mean() - block[off].mean()), 0.0)))
        for a, b in pairs:
            est = float(theta[a, j] - theta[b, j])
            stat = _safe_div(est, se_j) if est != 0 else 0.0
            reader_cmp.append(
                ORComparison(
                    treatment1=treatments[a],
                    treatment2=treatments[b],
                    estimate=est,
                    se=se_j,
                    statistic=stat,
                    pvalue=float(2.0 * stats.norm.sf(abs(stat))),
                    ci=(est - z * se_j, est + z * se_j),
                    reader=readers[j],
                )
            )
    frrc = ORAnalysis(
        factors="FRRC",
        statistic=x2,
        distribution="chi2",
        df1=t - 1,
        df2=None,
        pvalue=float(stats.chi2.sf(x2, t - 1)) if np.isfinite(x2) else float("nan"),
        denominator=den_frrc,
        comparisons=comparisons(float(np.sqrt(max(2.0 / r * den_frrc, 0.0))), None),
        treatment_estimates=tuple(est_frrc),
        reader_comparisons=tuple(reader_cmp),
    )

    # RRFC
    f_rrfc = _safe_div(ms_t, ms_tr)
    crit_r = _t_crit(level, r - 1)
    est_rrfc = []
    for i, pt in enumerate(per_t):
        se = float(np.sqrt(pt["ms_r"] / r))
        est_rrfc.append(
            TreatmentEstimate(
                treatments[i],
                float(t_mean[i]),
                se,
                _clip01(t_mean[i] - crit_r * se, t_mean[i] + crit_r * se),
                float(r - 1),
            )
        )
    rrfc = ORAnalysis(
        factors="RRFC",
        statistic=f_rrfc,
        distribution="F",
        df1=t - 1,
        df2=float(df_tr),
        pvalue=_f_sf(f_rrfc, t - 1, df_tr),
        denominator=ms_tr,
        comparisons=comparisons(float(np.sqrt(2.0 / r * ms_tr)), float(df_tr)),
        treatment_estimates=tuple(est_rrfc),
    )

    return MRMCResult(
        treatments=treatments,
        readers=readers,
        n_positive=int(y.sum()),
        n_negative=int((~y).sum()),
        cov_method=method,
        level=level,
        auc=theta,
        treatment_auc=tuple(float(a) for a in t_mean),
        cov_matrix=cmat,
        var_error=var_e,
        cov1=cov1,
        cov2=cov2,
        cov3=cov3,
        ms_t=ms_t,
        ms_r=ms_r,
        ms_tr=ms_tr,
        var_reader=float(var_reader),
        var_treatment_reader=float(var_tr),
        rrrc=rrrc,
        frrc=frrc,
        rrfc=rrfc,
    )
