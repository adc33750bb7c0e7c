"""DeLong's tests of two ROC curves: paired (the same cases, correlated AUCs) and unpaired (two
independent samples of cases), with the conventions of :mod:`analysis.roc.auc` (a higher score means
"more likely positive"; pROC ``direction = "<"``).

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach. Biometrics 44:837-845.
Robin X, Turck N, Hainard A, et al. (2011). pROC. BMC Bioinformatics 12:77 (unpaired test).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analysis._validation import as_binary_truth, as_scores, check_confidence, check_same_length
from analysis.roc.auc import DeLongTestResult, delong_covariance

ALTERNATIVES = ("two-sided", "greater", "less")

__all__ = ["ALTERNATIVES", "delong_test", "delong_test_unpaired"]


def _check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative: expected one of {list(ALTERNATIVES)}, got {alternative!r}")
    return alternative


def _pvalue(stat: float, alternative: str, dist) -> float:
    """p-value of ``stat`` under ``dist`` (a frozen scipy distribution symmetric about 0)."""
    if alternative == "two-sided":
        return float(min(1.0, 2.0 * dist.sf(abs(stat))))
    if alternative == "greater":
        return float(dist.sf(stat))
    return float(dist.cdf(stat))


def delong_test(
    y_true, score1, score2, *, alternative: str = "two-sided", level: float = 0.95
) -> DeLongTestResult:
    """DeLong's test for two correlated AUCs (two scores of the same cases).

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary truth.
    score1, score2 : arrays of shape (N,)
        Two scores of the same cases; higher = more likely positive.
    alternative : {"two-sided", "greater", "less"}, keyword-only
        "greater": AUC1 > AUC2 under the alternative.
    level : float, keyword-only
        Confidence level of the interval of the difference.

    Returns
    -------
    DeLongTestResult
        ``statistic`` Z = (AUC1 - AUC2) / sqrt(L S L'), ``pvalue`` from the standard normal,
        ``difference`` AUC1 - AUC2 with its two-sided normal ``ci`` (pROC reports the same
        interval whatever the alternative). Identical curves give Z = 0 and p = 1 (pROC's
        special case of 0/0); a nonzero difference with zero variance gives an infinite Z.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    Sun X, Xu W (2014). IEEE Signal Processing Letters 21(11):1389-1393.
    Robin X et al. (2011). BMC Bioinformatics 12:77 (``roc.test(..., method = "delong")``).

    Examples
    --------
    >>> r = delong_test([0, 0, 0, 1, 1, 1], [1, 2, 3, 2, 4, 5], [3, 1, 2, 6, 5, 4])
    >>> round(r.difference, 4)
    -0.1667
    """
    alternative = _check_alternative(alternative)
    level = check_confidence(level, "level")
    truth = as_binary_truth(y_true, "y_true")
    s1 = as_scores(score1, "score1")
    s2 = as_scores(score2, "score2")
    check_same_length(y_true=truth, score1=s1, score2=s2)
    aucs, cov = delong_covariance(truth, np.vstack([s1, s2]))
    d = float(aucs[0] - aucs[1])
    var_d = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var_d, 0.0)))
    if se == 0.0:
        # pROC: 0/0 (identical curves) is Z = 0; d/0 stays an infinite Z with p = 0 or 1
        z = 0.0 if d == 0.0 else float(np.copysign(np.inf, d))
    else:
        z = d / se
    p = _pvalue(z, alternative, stats.norm)
    crit = stats.norm.ppf(0.5 + level / 2.0)
    return DeLongTestResult(
        statistic=float(z),
        pvalue=p,
        difference=d,
        se=se,
        ci=(float(d - crit * se), float(d + crit * se)),
        aucs=(float(aucs[0]), float(aucs[1])),
        alternative=alternative,
        level=level,
        method="DeLong's test for two correlated ROC curves",
        paired=True,
    )


def delong_test_unpaired(
    y_true1,
    score1,
    y_true2,
    score2,
    *,
    alternative: str = "two-sided",
    level: float = 0.95,
) -> DeLongTestResult:
    """DeLong's test for two AUCs measured on independent samples of cases (pROC's unpaired test).

    Parameters
    ----------
    y_true1, score1 : arrays of shape (N1,)
        Truth and score of the first sample.
    y_true2, score2 : arrays of shape (N2,)
        Truth and score of the second, independent sample.
    alternative : {"two-sided", "greater", "less"}, keyword-only
    level : float, keyword-only
        Confidence level of the interval of the difference.

    Returns
    -------
    DeLongTestResult
        With ``S_R = S10_R / m_R + S01_R / n_R`` (DeLong variance of sample R, likewise S_S):
        ``D = (AUC_R - AUC_S) / sqrt(S_R + S_S)`` and Welch-type
        ``df = (S_R + S_S)^2 / (S_R^2 / (N_R - 1) + S_S^2 / (N_S - 1))`` with N the number of
        cases of each sample; p from Student's t with df (pROC ``delong.unpaired.test``). pROC
        reports no interval here; ``ci`` is ``difference +/- t_df se`` on the same footing.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    Robin X et al. (2011). BMC Bioinformatics 12:77; pROC source R/delong.R
    (``delong.unpaired.test``) and R/roc.test.R.

    Examples
    --------
    >>> r = delong_test_unpaired([0, 0, 0, 1, 1, 1], [1, 2, 3, 2, 4, 5],
    ...                          [0, 0, 1, 1, 1], [1, 3, 2, 5, 4])
    >>> r.paired
    False
    """
    alternative = _check_alternative(alternative)
    level = check_confidence(level, "level")
    t1 = as_binary_truth(y_true1, "y_true1")
    s1 = as_scores(score1, "score1")
    check_same_length(y_true1=t1, score1=s1)
    t2 = as_binary_truth(y_true2, "y_true2")
    s2 = as_scores(score2, "score2")
    check_same_length(y_true2=t2, score2=s2)
    a1, c1 = delong_covariance(t1, s1)
    a2, c2 = delong_covariance(t2, s2)
    sr = float(c1[0, 0])
    ss = float(c2[0, 0])
    d = float(a1[0] - a2[0])
    se = float(np.sqrt(sr + ss))
    if se == 0.0:
        raise ValueError(
            "score1, score2: both DeLong variances are zero (perfect or constant scores); "
            "the unpaired test is undefined"
        )
    stat = d / se
    df = (sr + ss) ** 2 / (sr**2 / (t1.size - 1) + ss**2 / (t2.size - 1))
    dist = stats.t(df)
    p = _pvalue(stat, alternative, dist)
    crit = dist.ppf(0.5 + level / 2.0)
    return DeLongTestResult(
        statistic=float(stat),
        pvalue=p,
        difference=d,
        se=se,
        ci=(float(d - crit * se), float(d + crit * se)),
        aucs=(float(a1[0]), float(a2[0])),
        alternative=alternative,
        level=level,
        method="DeLong's test for two ROC curves (unpaired)",
        paired=False,
        df=float(df),
    )
