"""ROC analysis: empirical AUC, DeLong variance and covariance, paired and unpaired DeLong tests,
one-vs-rest AUC for an ordered label set and AUC of binary endpoints derived from it.

Convention used everywhere in this module: **a higher score means "more likely positive"**. This
is pROC's ``direction = "<"`` (controls lower than cases). pROC's default ``direction = "auto"``
instead flips a score whose controls have the higher median; we never flip, so an AUC below 0.5
is reported as such (negate the score to reverse it).

The DeLong computations use the midrank algorithm of Sun & Xu (2014): O(k N log N) time and O(k N)
memory for k scores on N cases; no m x n comparison matrix is ever formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analysis._validation import (
    as_1d,
    as_binary_truth,
    as_scores,
    check_labels,
    check_same_length,
)

ALTERNATIVES = ("two-sided", "greater", "less")

__all__ = [
    "AUCResult",
    "DeLongTestResult",
    "Endpoint",
    "EndpointAUCResult",
    "OneVsRestResult",
    "auc",
    "delong_covariance",
    "delong_placements",
    "delong_test",
    "delong_test_unpaired",
    "endpoint_auc",
    "endpoint_truth",
    "one_vs_rest_auc",
    "roc_auc_ci",
]


# --------------------------------------------------------------------------------------------
# result objects


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return f"{x:.{digits}f}"


def _json_float(x: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return float(x) if np.isfinite(x) else None


def _fmt_p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


@dataclass(frozen=True)
class AUCResult:
    """Empirical AUC of one score with its DeLong variance and confidence interval.

    ``ci`` is the normal interval ``auc +/- z * se`` clipped to [0, 1], as pROC's
    ``ci.auc(method = "delong")``.
    """

    auc: float
    var: float
    se: float
    ci: tuple[float, float]
    level: float
    n_positive: int
    n_negative: int
    method: str = "DeLong"

    def summary(self) -> str:
        lo, hi = self.ci
        return "\n".join(
            [
                f"Empirical ROC AUC ({self.method} {100 * self.level:g}% CI)",
                f"  positives = {self.n_positive}, negatives = {self.n_negative}",
                f"  AUC = {_fmt(self.auc)}  SE = {_fmt(self.se)}  CI = [{_fmt(lo)}, {_fmt(hi)}]",
            ]
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = [_json_float(x) for x in self.ci]
        d["var"] = _json_float(self.var)
        d["se"] = _json_float(self.se)
        return d


@dataclass(frozen=True)
class DeLongTestResult:
    """DeLong test of two AUCs. ``difference`` is AUC(score1) - AUC(score2).

    Paired (same cases): ``statistic`` is Z, ``df`` is None, ``ci`` is the normal interval of
    the difference. Unpaired: ``statistic`` is pROC's D with Welch-type ``df``, p from Student's
    t, and ``ci`` is ``difference +/- t(df) * se``.
    """

    statistic: float
    pvalue: float
    difference: float
    se: float
    ci: tuple[float, float]
    aucs: tuple[float, float]
    alternative: str
    level: float
    method: str
    paired: bool
    df: float | None = None

    def summary(self) -> str:
        stat_name = "Z" if self.paired else "D"
        df = "" if self.df is None else f", df = {_fmt(self.df, 2)}"
        lo, hi = self.ci
        return "\n".join(
            [
                self.method,
                f"  AUC 1 = {_fmt(self.aucs[0])}, AUC 2 = {_fmt(self.aucs[1])}",
                f"  difference (1 - 2) = {_fmt(self.difference)}  SE = {_fmt(self.se)}  "
                f"{100 * self.level:g}% CI = [{_fmt(lo)}, {_fmt(hi)}]",
                f"  {stat_name} = {_fmt(self.statistic)}{df}, p = {_fmt_p(self.pvalue)} "
                f"({self.alternative})",
            ]
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["statistic"] = _json_float(self.statistic)
        d["ci"] = [_json_float(x) for x in self.ci]
        d["aucs"] = list(self.aucs)
        return d


# --------------------------------------------------------------------------------------------
# core: empirical AUC and DeLong structural components


def _placements_one(s: np.ndarray, pos: np.ndarray, m: int, n: int) -> np.ndarray:
    """Placement value of every case of one score, from a single sort.

    In sorted order the cases fall in runs of tied values. For a positive in run g,
    ``T_Z - T_X`` (its midrank among all cases minus its midrank among the positives, Sun & Xu
    2014) equals the number of negatives below run g plus half the negatives in run g; for a
    negative, ``T_Z - T_Y`` is the same count of positives. Returns V10 at the positives and
    V01 at the negatives, in the original case order.
    """
    order = np.argsort(s)
    xs = s[order]
    lab = pos[order]
    size = xs.size
    new_run = np.empty(size, dtype=bool)
    new_run[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new_run[1:])
    run = np.cumsum(new_run) - 1
    n_runs = int(run[-1]) + 1
    pos_in_run = np.bincount(run[lab], minlength=n_runs).astype(float)
    neg_in_run = np.bincount(run, minlength=n_runs) - pos_in_run
    pos_below = np.cumsum(pos_in_run) - pos_in_run
    neg_below = np.cumsum(neg_in_run) - neg_in_run
    placed = np.where(
        lab,
        (neg_below + 0.5 * neg_in_run)[run] / n,
        1.0 - (pos_below + 0.5 * pos_in_run)[run] / m,
    )
    out = np.empty(size)
    out[order] = placed
    return out


def _as_score_matrix(scores, n_cases: int | None = None) -> np.ndarray:
    arr = np.asarray(scores)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ValueError(
            f"scores: expected a 1-D array (one score) or a 2-D array (k scores x N cases), "
            f"got shape {arr.shape}"
        )
    rows = [as_scores(row, f"scores[{i}]") for i, row in enumerate(arr)]
    mat = np.vstack(rows)
    if n_cases is not None and mat.shape[1] != n_cases:
        raise ValueError(
            f"inputs of different lengths: y_true has {n_cases}, scores has {mat.shape[1]} "
            f"cases per row"
        )
    return mat


def delong_placements(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical AUCs and DeLong structural components (placement values) of k scores.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary truth (0/1 or booleans); both classes must be present.
    scores : array of shape (N,) or (k, N)
        One or k scores of the same N cases; higher means more likely positive.

    Returns
    -------
    auc : ndarray of shape (k,)
        Empirical (Mann-Whitney) AUC, ties counted 1/2.
    v10 : ndarray of shape (k, m)
        For each of the m positives, the fraction of negatives it outranks (ties 1/2):
        ``V10(X_i) = mean_j psi(X_i, Y_j)``. Positives in their original order.
    v01 : ndarray of shape (k, n)
        For each of the n negatives, the fraction of positives that outrank it (ties 1/2):
        ``V01(Y_j) = mean_i psi(X_i, Y_j)``. Negatives in their original order.

    Notes
    -----
    With ``T_Z`` the midranks of all N cases, ``T_X`` those of the positives among themselves and
    ``T_Y`` those of the negatives among themselves (Sun & Xu 2014)::

        V10_i = (T_Z,i - T_X,i) / n,   V01_j = 1 - (T_Z,j - T_Y,j) / m,
        AUC = mean(V10) = mean(V01).

    ``T_Z - T_X`` is read off one sort of all N cases (negatives below the case's run of ties
    plus half those tied with it), so each score costs one O(N log N) sort and O(N) passes;
    memory is O(k N).

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated receiver operating characteristic curves: a nonparametric approach.
    Biometrics 44:837-845.

    Sun X, Xu W (2014). Fast implementation of DeLong's algorithm for comparing the areas under
    correlated receiver operating characteristic curves. IEEE Signal Processing Letters
    21(11):1389-1393.

    Examples
    --------
    >>> auc, v10, v01 = delong_placements([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> float(auc[0]), v10[0].tolist(), v01[0].tolist()
    (0.75, [0.5, 1.0], [1.0, 0.5])
    """
    truth = as_binary_truth(y_true, "y_true")
    mat = _as_score_matrix(scores, truth.size)
    pos = truth
    neg = ~truth
    m = int(pos.sum())
    n = int(neg.sum())
    k = mat.shape[0]
    v10 = np.empty((k, m))
    v01 = np.empty((k, n))
    for r in range(k):
        placed = _placements_one(mat[r], pos, m, n)
        v10[r] = placed[pos]
        v01[r] = placed[neg]
    aucs = v10.mean(axis=1)
    return aucs, v10, v01


def _delong_cov_from_placements(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong covariance ``S10 / m + S01 / n`` (sample covariances with m-1, n-1)."""
    m = v10.shape[1]
    n = v01.shape[1]
    if m < 2 or n < 2:
        raise ValueError(
            f"y_true: DeLong's variance needs at least 2 positives and 2 negatives, "
            f"got {m} positive(s) and {n} negative(s)"
        )
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return s10 / m + s01 / n


def delong_covariance(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """Empirical AUCs of k scores on the same cases and their DeLong covariance matrix.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary truth (0/1 or booleans).
    scores : array of shape (N,) or (k, N)
        Higher score = more likely positive.

    Returns
    -------
    auc : ndarray of shape (k,)
    cov : ndarray of shape (k, k)
        ``S10 / m + S01 / n`` where ``S10`` and ``S01`` are the sample covariance matrices
        (denominators m - 1 and n - 1) of the placement values (DeLong et al. 1988, eq. 4-5);
        identical to pROC's ``var()`` and ``cov()`` for ``method = "delong"``.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    Sun X, Xu W (2014). IEEE Signal Processing Letters 21(11):1389-1393.

    Examples
    --------
    >>> a, c = delong_covariance([0, 0, 0, 1, 1, 1], [[1, 2, 3, 2, 4, 5], [3, 1, 2, 6, 5, 4]])
    >>> a.round(4).tolist()
    [0.8333, 1.0]
    """
    aucs, v10, v01 = delong_placements(y_true, scores)
    return aucs, _delong_cov_from_placements(v10, v01)


def auc(y_true, score) -> float:
    """Empirical ROC AUC: the Mann-Whitney probability P(score_pos > score_neg), ties 1/2.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary truth (0/1 or booleans), both classes present.
    score : array of shape (N,)
        Higher = more likely positive.

    Returns
    -------
    float
        ``U / (m n)`` where U is the Mann-Whitney statistic of the positives.

    References
    ----------
    Hanley JA, McNeil BJ (1982). The meaning and use of the area under a receiver operating
    characteristic (ROC) curve. Radiology 143:29-36.

    Examples
    --------
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    truth = as_binary_truth(y_true, "y_true")
    s = as_scores(score, "score")
    check_same_length(y_true=truth, score=s)
    return float(delong_placements(truth, s)[0][0])


# --------------------------------------------------------------------------------------------
# confidence interval and tests


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(
            f"level: expected a confidence level strictly between 0 and 1, got {level}"
        )
    return level


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


def roc_auc_ci(y_true, score, *, level: float = 0.95) -> AUCResult:
    """Empirical AUC with DeLong's variance and a normal confidence interval.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary truth (0/1 or booleans); at least 2 positives and 2 negatives.
    score : array of shape (N,)
        Higher = more likely positive.
    level : float, keyword-only
        Confidence level (default 0.95).

    Returns
    -------
    AUCResult
        ``auc``, DeLong ``var`` and ``se``, and ``ci = auc +/- z_{(1+level)/2} se`` clipped to
        [0, 1] (pROC ``ci.auc(..., method = "delong")``). With a single positive or a single
        negative case, ``var``, ``se`` and ``ci`` are NaN (pROC returns NA).

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    Robin X et al. (2011). pROC: an open-source package for R and S+ to analyze and compare ROC
    curves. BMC Bioinformatics 12:77.

    Examples
    --------
    >>> r = roc_auc_ci([0, 0, 0, 1, 1, 1], [1, 2, 3, 2, 4, 5])
    >>> round(r.auc, 4), round(r.se, 4)
    (0.8333, 0.1925)
    """
    level = _check_level(level)
    truth = as_binary_truth(y_true, "y_true")
    s = as_scores(score, "score")
    check_same_length(y_true=truth, score=s)
    m = int(truth.sum())
    aucs, v10, v01 = delong_placements(truth, s)
    a = float(aucs[0])
    if m < 2 or truth.size - m < 2:
        # pROC's ci_auc_delong returns NA here: one case of a class has no sample variance
        var = se = float("nan")
        ci = (float("nan"), float("nan"))
    else:
        var = float(_delong_cov_from_placements(v10, v01)[0, 0])
        se = float(np.sqrt(var))
        z = stats.norm.ppf(0.5 + level / 2.0)
        ci = (float(max(0.0, a - z * se)), float(min(1.0, a + z * se)))
    return AUCResult(
        auc=a, var=var, se=se, ci=ci, level=level, n_positive=m, n_negative=truth.size - m
    )


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
    level = _check_level(level)
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
    level = _check_level(level)
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


# --------------------------------------------------------------------------------------------
# ordered label sets: one-vs-rest and endpoints


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
    level = _check_level(level)
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
