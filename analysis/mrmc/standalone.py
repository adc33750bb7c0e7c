"""A standalone model (a fixed reader) against a random sample of readers on the same cases:
single-modality Obuchowski-Rockette analysis of the differences model - reader (Hillis 2007,
section 5.3; RJafroc ``StCadVsRad``).

References
----------
Hillis SL (2007). Statistics in Medicine 26:596-619 (section 5.3).
Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis._validation import as_binary_truth, as_scores, check_confidence, check_same_length
from analysis.mrmc.covariance import _check_cov, auc_covariance
from analysis.mrmc.results import (
    ORComparison,
    _fmt,
    _fmt_p,
    _safe_div,
    _t_crit,
    _t_two_sided_p,
)

__all__ = ["ModelVsReadersResult", "model_vs_readers"]


@dataclass(frozen=True, eq=False)
class ModelVsReadersResult:
    """A standalone model (fixed reader) against a random sample of readers, one modality.

    ``difference`` is model AUC minus the readers' mean AUC (RJafroc's ``StCadVsRad`` reports
    the opposite sign, readers minus CAD). ``rrrc`` is the 1T-RRRC analysis (random readers and
    cases, t statistic with Hillis df); ``rrfc`` the 1T-RRFC analysis (Student's t on the
    per-reader differences, df = r - 1, cases fixed).
    """

    readers: tuple
    n_positive: int
    n_negative: int
    cov_method: str
    level: float
    model_auc: float
    reader_auc: np.ndarray
    mean_reader_auc: float
    difference: float
    ms_r: float
    var_error: float
    cov2: float
    rrrc: ORComparison
    rrfc: ORComparison

    def summary(self) -> str:
        pct = f"{100 * self.level:g}%"
        lines = [
            "Standalone model vs readers (one modality; Hillis 2007 sec. 5.3 / Chakraborty 1T)",
            f"  {len(self.readers)} readers, {self.n_positive} positive and {self.n_negative} "
            f"negative cases; covariance: {self.cov_method}",
            f"  model AUC {_fmt(self.model_auc)}; readers' mean AUC {_fmt(self.mean_reader_auc)}",
            "  reader AUCs: "
            + ", ".join(
                f"{rd}: {a:.4f}" for rd, a in zip(self.readers, self.reader_auc, strict=True)
            ),
            f"  Var(diff) {_fmt(self.var_error, 8)}  Cov2(diff) {_fmt(self.cov2, 8)}  "
            f"MS(R)(diff) {_fmt(self.ms_r, 8)}",
        ]
        for name, c in (("RRRC", self.rrrc), ("RRFC", self.rrfc)):
            lines.append(
                f"  {name}: model - readers = {_fmt(c.estimate)} (SE {_fmt(c.se)}, df "
                f"{_fmt(c.df, 2)}) {pct} CI [{_fmt(c.ci[0])}, {_fmt(c.ci[1])}], "
                f"t = {_fmt(c.statistic, 4)}, p = {_fmt_p(c.pvalue)}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "readers": [str(x) for x in self.readers],
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "cov_method": self.cov_method,
            "level": self.level,
            "model_auc": self.model_auc,
            "reader_auc": {
                str(rd): float(a) for rd, a in zip(self.readers, self.reader_auc, strict=True)
            },
            "mean_reader_auc": self.mean_reader_auc,
            "difference": self.difference,
            "ms_r": self.ms_r,
            "var_error": self.var_error,
            "cov2": self.cov2,
            "rrrc": self.rrrc.to_dict(),
            "rrfc": self.rrfc.to_dict(),
        }


def model_vs_readers(
    truth,
    model_score,
    reader_scores,
    *,
    cov: str = "jackknife",
    level: float = 0.95,
    readers: Sequence | None = None,
) -> ModelVsReadersResult:
    """Compare a standalone model (a fixed reader) with a random sample of readers.

    Single-modality Obuchowski-Rockette analysis of the differences
    ``psi_j = AUC_model - AUC_j`` (Hillis 2007, section 5.3; Chakraborty's 1T-RRRC, RJafroc
    ``StCadVsRad(method = "1T-RRRC")``). With MS(R) the sample variance of the psi_j, and Var and
    Cov2 the mean variance and mean between-reader covariance of the psi_j (from the covariance
    of the AUCs: ``Cov(psi_j, psi_j') = C_00 - C_0j - C_0j' + C_jj'``)::

        t  = mean(psi) / sqrt((MS(R) + r max(Cov2, 0)) / r)
        df = (MS(R) + r max(Cov2, 0))^2 / (MS(R)^2 / (r - 1))

    This equals the two-treatment RRRC analysis in which the model's ratings are copied to
    every reader as a second modality (Kooi et al. 2016; RJafroc's "2T-RRRC": same F = t^2,
    df and p). The RRFC variant is Student's one-sample t-test of the psi_j.

    Parameters
    ----------
    truth : array of shape (c,)
        Binary truth.
    model_score : array of shape (c,)
        The model's score of each case (higher = more likely positive).
    reader_scores : array of shape (r, c)
        Each reader's rating of the same cases (r >= 2).
    cov : {"jackknife", "delong", "unbiased"}, keyword-only
        Estimator of the covariance of the AUCs (RJafroc uses the jackknife).
    level : float, keyword-only
    readers : sequence of r names, keyword-only

    Returns
    -------
    ModelVsReadersResult

    References
    ----------
    Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple
    observer ROC analysis. Statistics in Medicine 26:596-619 (section 5.3).
    Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press
    (chapter "Standalone CAD vs. radiologists"); RJafroc ``StCadVsRad``.
    Hupse R, Samulski M, Lobbes M, et al. (2013). Standalone computer-aided detection compared to
    radiologists' performance for the detection of mammographic masses. Eur Radiol 23:93-100.
    Kooi T, et al. (2016). A comparison between a deep convolutional neural network and
    radiologists for classifying regions of interest in mammography. IWDM 2016.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = np.r_[np.zeros(30), np.ones(30)]
    >>> res = model_vs_readers(y, y + rng.normal(size=60), y + rng.normal(size=(4, 60)))
    >>> res.rrfc.df
    3.0
    """
    method = _check_cov(cov)
    level = check_confidence(level, "level")
    y = as_binary_truth(truth, "truth")
    model = as_scores(model_score, "model_score")
    check_same_length(truth=y, model_score=model)
    rs = np.asarray(reader_scores, dtype=float)
    if rs.ndim != 2:
        raise ValueError(
            f"reader_scores: expected a 2-D array (readers x cases), got shape {rs.shape}"
        )
    r = rs.shape[0]
    if rs.shape[1] != y.size:
        raise ValueError(
            f"inputs of different lengths: truth has {y.size} cases, reader_scores has "
            f"{rs.shape[1]} per reader"
        )
    if r < 2:
        raise ValueError(f"reader_scores: expected at least 2 readers, got {r}")
    for j in range(r):
        as_scores(rs[j], f"reader_scores[{j}]")
    readers = tuple(range(1, r + 1)) if readers is None else tuple(readers)
    if len(readers) != r:
        raise ValueError(f"readers: expected {r} names, got {len(readers)}")

    aucs, cmat = auc_covariance(y, np.vstack([model, rs]), cov=method)
    # contrast psi_j = A_0 - A_j
    L = np.hstack([np.ones((r, 1)), -np.eye(r)])
    psi = L @ aucs
    cpsi = L @ cmat @ L.T
    off = ~np.eye(r, dtype=bool)
    var_e = float(np.diag(cpsi).mean())
    cov2 = float(cpsi[off].mean())
    ms_r = float(psi.var(ddof=1))
    d = float(psi.mean())

    den = ms_r + r * max(cov2, 0.0)
    se = float(np.sqrt(den / r))
    df = _safe_div(den**2, ms_r**2 / (r - 1))
    stat = _safe_div(d, se) if d != 0 else 0.0
    crit = _t_crit(level, df)
    rrrc = ORComparison(
        treatment1="model",
        treatment2="readers",
        estimate=d,
        se=se,
        statistic=stat,
        pvalue=_t_two_sided_p(stat, df),
        ci=(d - crit * se, d + crit * se),
        df=df,
    )
    se_f = float(np.sqrt(ms_r / r))
    stat_f = _safe_div(d, se_f) if d != 0 else 0.0
    crit_f = _t_crit(level, r - 1)
    rrfc = ORComparison(
        treatment1="model",
        treatment2="readers",
        estimate=d,
        se=se_f,
        statistic=stat_f,
        pvalue=_t_two_sided_p(stat_f, r - 1),
        ci=(d - crit_f * se_f, d + crit_f * se_f),
        df=float(r - 1),
    )
    return ModelVsReadersResult(
        readers=readers,
        n_positive=int(y.sum()),
        n_negative=int((~y).sum()),
        cov_method=method,
        level=level,
        model_auc=float(aucs[0]),
        reader_auc=aucs[1:].copy(),
        mean_reader_auc=float(aucs[1:].mean()),
        difference=d,
        ms_r=ms_r,
        var_error=var_e,
        cov2=cov2,
        rrrc=rrrc,
        rrfc=rrfc,
    )
