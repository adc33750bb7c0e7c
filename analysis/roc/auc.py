"""ROC analysis: empirical AUC, DeLong variance and covariance, and the AUC with its confidence
interval. DeLong's tests of two ROC curves are in :mod:`analysis.roc.compare_curves`; one-vs-rest
AUC for an ordered label set and AUC of binary endpoints in :mod:`analysis.roc.multiclass`.

Convention used everywhere in this module: **a higher score means "more likely positive"**. This
is pROC's ``direction = "<"`` (controls lower than cases). pROC's default ``direction = "auto"``
instead flips a score whose controls have the higher median; we never flip, so an AUC below 0.5
is reported as such (negate the score to reverse it).

The DeLong computations use the midrank algorithm of Sun & Xu (2014): O(k N log N) time and O(k N)
memory for k scores on N cases; no m x n comparison matrix is ever formed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analysis._validation import (
    as_binary_truth,
    as_scores,
    check_confidence,
    check_same_length,
)

__all__ = [
    "AUCResult",
    "DeLongTestResult",
    "auc",
    "delong_covariance",
    "delong_placements",
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
# confidence interval



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
    level = check_confidence(level, "level")
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
