"""Covariance of the empirical AUCs of many rating vectors of the same cases, for the MRMC
analyses of :mod:`analysis.mrmc.obuchowski_rockette` and :mod:`analysis.mrmc.standalone`:
jackknife, DeLong, and the unbiased estimator of Gallas et al. (2007).

References
----------
Efron B (1982). The Jackknife, the Bootstrap and Other Resampling Plans. SIAM.
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
Gallas BD, Pennello GA, Myers KJ (2007). Multireader multicase variance analysis for binary
data. Journal of the Optical Society of America A 24:B70-B80.
"""

from __future__ import annotations

import numpy as np

from analysis._validation import as_binary_truth
from analysis.roc.auc import _delong_cov_from_placements, delong_placements

COV_METHODS = ("jackknife", "delong", "unbiased")

__all__ = ["COV_METHODS", "auc_covariance"]

# Cap on the float64 working set of the unbiased estimator's cross term (bytes).
_UNBIASED_CHUNK_BYTES = 32 * 2**20


def _check_cov(cov: str) -> str:
    key = str(cov).lower()
    if key not in COV_METHODS:
        raise ValueError(f"cov: expected one of {list(COV_METHODS)}, got {cov!r}")
    return key


def _jackknife_cov(aucs: np.ndarray, v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """Jackknife covariance of AUCs over cases, from placement values in closed form.

    Leaving out positive i gives ``(m A - V10_i) / (m - 1)``; leaving out negative j gives
    ``(n A - V01_j) / (n - 1)``: exact for the empirical AUC, O(g N) instead of N AUC refits.
    """
    m = v10.shape[1]
    n = v01.shape[1]
    if m < 2 or n < 2:
        raise ValueError(
            f"truth: the jackknife needs at least 2 positive and 2 negative cases, got {m} and {n}"
        )
    a = aucs[:, None]
    jk = np.hstack([(m * a - v10) / (m - 1), (n * a - v01) / (n - 1)])
    k = jk.shape[1]
    centred = jk - jk.mean(axis=1, keepdims=True)
    return (k - 1) / k * (centred @ centred.T)


def _unbiased_cov(truth: np.ndarray, ratings: np.ndarray, v10: np.ndarray, v01: np.ndarray):
    """Gallas et al. (2007) unbiased covariance of empirical AUCs, fully crossed design."""
    pos = ratings[:, truth]
    neg = ratings[:, ~truth]
    g, m = pos.shape
    n = neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(
            f"truth: the unbiased estimator needs at least 2 positive and 2 negative cases, "
            f"got {m} and {n}"
        )
    row_sums = v10 * n  # sum over negatives of psi, per positive
    col_sums = v01 * m  # sum over positives of psi, per negative
    total = row_sums.sum(axis=1)
    # cross term sum_ij psi_a(i, j) psi_b(i, j), in chunks of positives to bound memory
    cross = np.zeros((g, g))
    chunk = max(1, _UNBIASED_CHUNK_BYTES // (8 * g * n))
    for start in range(0, m, chunk):
        x = pos[:, start : start + chunk, None]
        y = neg[:, None, :]
        psi = (x > y).astype(float) + 0.5 * (x == y)
        flat = psi.reshape(g, -1)
        cross += flat @ flat.T
    mn = float(m) * float(n)
    delta = mn**2 / (n * (n - 1.0) * m * (m - 1.0))
    return (
        (1.0 - delta) * np.outer(total, total)
        + delta * (row_sums @ row_sums.T + col_sums @ col_sums.T - cross)
    ) / mn**2


def auc_covariance(truth, ratings, *, cov: str = "jackknife") -> tuple[np.ndarray, np.ndarray]:
    """Empirical AUCs of g rating vectors of the same cases and their covariance matrix.

    Parameters
    ----------
    truth : array of shape (N,)
        Binary truth.
    ratings : array of shape (g, N)
        g rating vectors (e.g. every reader x treatment) of the same N cases.
    cov : {"jackknife", "delong", "unbiased"}, keyword-only
        ``jackknife``: ``(N-1)/N * sum_k (A_(k) - mean)(A_(k) - mean)'`` over leave-one-case-out
        AUCs (Efron 1982; MRMCaov ``jackknife``, RJafroc). ``delong``: ``S10/m + S01/n``
        (DeLong et al. 1988; MRMCaov ``DeLong``). ``unbiased``: the unbiased U-statistic
        estimator of Gallas et al. (2007) for a fully crossed design (MRMCaov ``unbiased``).

    Returns
    -------
    auc : ndarray of shape (g,)
    cov : ndarray of shape (g, g)

    References
    ----------
    Efron B (1982). The Jackknife, the Bootstrap and Other Resampling Plans. SIAM.
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    Gallas BD, Pennello GA, Myers KJ (2007). Multireader multicase variance analysis for binary
    data. Journal of the Optical Society of America A 24:B70-B80.
    """
    method = _check_cov(cov)
    truth = as_binary_truth(truth, "truth")
    mat = np.atleast_2d(np.asarray(ratings, dtype=float))
    aucs, v10, v01 = delong_placements(truth, mat)
    if method == "jackknife":
        c = _jackknife_cov(aucs, v10, v01)
    elif method == "delong":
        c = _delong_cov_from_placements(v10, v01)
    else:
        c = _unbiased_cov(truth, mat, v10, v01)
    return aucs, c
