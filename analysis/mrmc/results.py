"""Result objects of the Obuchowski-Rockette analyses
(:func:`analysis.mrmc.obuchowski_rockette.mrmc`), and the small
formatting and t / F helpers shared by the MRMC modules.

References
----------
Obuchowski NA, Rockette HE (1995). Communications in Statistics - Simulation and Computation
24:285-308. Hillis SL (2007). Statistics in Medicine 26:596-619.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = ["MRMCResult", "ORAnalysis", "ORComparison", "TreatmentEstimate"]


def _finite_or_none(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _fmt(x, digits: int = 6) -> str:
    if x is None:
        return "-"
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    return f"{x:.{digits}f}"


def _fmt_p(p) -> str:
    if p is None or not np.isfinite(p):
        return "-"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"



def _t_crit(level: float, df: float) -> float:
    if not np.isfinite(df):
        return float(stats.norm.ppf(0.5 + level / 2.0))
    return float(stats.t.ppf(0.5 + level / 2.0, df))


def _t_two_sided_p(t: float, df: float) -> float:
    if not np.isfinite(t):
        return float("nan")
    if not np.isfinite(df):
        return float(2.0 * stats.norm.sf(abs(t)))
    return float(2.0 * stats.t.sf(abs(t), df))


def _f_sf(f: float, df1: float, df2: float) -> float:
    if not np.isfinite(f):
        return float("nan")
    if not np.isfinite(df2):
        return float(stats.chi2.sf(f * df1, df1))
    return float(stats.f.sf(f, df1, df2))


def _safe_div(a: float, b: float) -> float:
    if b == 0.0:
        return float("inf") if a > 0 else float("nan")
    return a / b


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class ORComparison:
    """A difference of reader-averaged AUCs, ``treatment1 - treatment2`` (optionally one
    reader's). ``df`` is None where the reference distribution is normal (z)."""

    treatment1: object
    treatment2: object
    estimate: float
    se: float
    statistic: float
    pvalue: float
    ci: tuple[float, float]
    df: float | None = None
    reader: object = None

    @property
    def label(self) -> str:
        return f"{self.treatment1} - {self.treatment2}"

    def to_dict(self) -> dict:
        d = {
            "comparison": self.label,
            "treatment1": str(self.treatment1),
            "treatment2": str(self.treatment2),
            "estimate": self.estimate,
            "se": self.se,
            "df": _finite_or_none(self.df),
            "statistic": _finite_or_none(self.statistic),
            "pvalue": _finite_or_none(self.pvalue),
            "ci": [self.ci[0], self.ci[1]],
        }
        if self.reader is not None:
            d["reader"] = str(self.reader)
        return d


@dataclass(frozen=True)
class TreatmentEstimate:
    """Reader-averaged AUC of one treatment from the analysis of that treatment's data alone;
    ``ci`` clipped to [0, 1] as MRMCaov does. ``df`` None means a normal interval."""

    treatment: object
    estimate: float
    se: float
    ci: tuple[float, float]
    df: float | None = None

    def to_dict(self) -> dict:
        return {
            "treatment": str(self.treatment),
            "estimate": self.estimate,
            "se": self.se,
            "df": _finite_or_none(self.df),
            "ci": [self.ci[0], self.ci[1]],
        }


@dataclass(frozen=True)
class ORAnalysis:
    """One Obuchowski-Rockette analysis: RRRC (F, Hillis df), FRRC (chi-square) or RRFC (F).

    ``statistic`` is F (RRRC, RRFC) or X2 (FRRC, distribution "chi2", ``df2`` None).
    ``denominator`` is the error term of the global test: MS(T:R) + r max(Cov2 - Cov3, 0)
    (RRRC), Var - Cov1 + (r - 1)(Cov2 - Cov3) (FRRC), MS(T:R) (RRFC).
    """

    factors: str
    statistic: float
    distribution: str
    df1: float
    df2: float | None
    pvalue: float
    denominator: float
    comparisons: tuple[ORComparison, ...]
    treatment_estimates: tuple[TreatmentEstimate, ...]
    reader_comparisons: tuple[ORComparison, ...] = ()

    def to_dict(self) -> dict:
        d = {
            "factors": self.factors,
            "distribution": self.distribution,
            "statistic": _finite_or_none(self.statistic),
            "df1": self.df1,
            "df2": _finite_or_none(self.df2),
            "pvalue": _finite_or_none(self.pvalue),
            "denominator": self.denominator,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "treatment_estimates": [e.to_dict() for e in self.treatment_estimates],
        }
        if self.reader_comparisons:
            d["reader_comparisons"] = [c.to_dict() for c in self.reader_comparisons]
        return d


_FACTOR_NAMES = {
    "RRRC": "random readers, random cases",
    "FRRC": "fixed readers, random cases",
    "RRFC": "random readers, fixed cases",
}


@dataclass(frozen=True, eq=False)
class MRMCResult:
    """Obuchowski-Rockette MRMC analysis of empirical AUC (see :func:`mrmc`)."""

    treatments: tuple
    readers: tuple
    n_positive: int
    n_negative: int
    cov_method: str
    level: float
    auc: np.ndarray  # (t, r)
    treatment_auc: tuple
    cov_matrix: np.ndarray  # (t*r, t*r), index i * r + j
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    ms_t: float
    ms_r: float
    ms_tr: float
    var_reader: float
    var_treatment_reader: float
    rrrc: ORAnalysis
    frrc: ORAnalysis
    rrfc: ORAnalysis
    analyses: tuple = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "analyses", (self.rrrc, self.frrc, self.rrfc))

    @property
    def difference(self) -> float:
        """First treatment minus second (reader-averaged AUC)."""
        return float(self.treatment_auc[0] - self.treatment_auc[1])

    def summary(self) -> str:
        t_names = [str(x) for x in self.treatments]
        lines = [
            "Obuchowski-Rockette MRMC analysis of empirical AUC",
            f"  {len(self.readers)} readers x {len(self.treatments)} treatments x "
            f"{self.n_positive + self.n_negative} cases ({self.n_positive} positive, "
            f"{self.n_negative} negative); covariance: {self.cov_method}",
            "",
            "Reader AUCs:",
            "  " + f"{'reader':>10}" + "".join(f"{n:>12}" for n in t_names),
        ]
        for j, rd in enumerate(self.readers):
            lines.append(
                "  "
                + f"{str(rd):>10}"
                + "".join(f"{self.auc[i, j]:12.6f}" for i in range(len(self.treatments)))
            )
        lines.append("  " + f"{'mean':>10}" + "".join(f"{a:12.6f}" for a in self.treatment_auc))
        lines += [
            "",
            "Variance components:",
            f"  reader {_fmt(self.var_reader, 8)}  treatment:reader "
            f"{_fmt(self.var_treatment_reader, 8)}",
            f"  Error {_fmt(self.var_error, 8)}  Cov1 {_fmt(self.cov1, 8)}  "
            f"Cov2 {_fmt(self.cov2, 8)}  Cov3 {_fmt(self.cov3, 8)}",
            f"  MS(T) {_fmt(self.ms_t, 8)}  MS(R) {_fmt(self.ms_r, 8)}  "
            f"MS(T:R) {_fmt(self.ms_tr, 8)}",
        ]
        pct = f"{100 * self.level:g}%"
        for a in self.analyses:
            lines += ["", f"{a.factors} ({_FACTOR_NAMES[a.factors]}):"]
            if a.distribution == "F":
                lines.append(
                    f"  F = {_fmt(a.statistic, 4)}, df = ({_fmt(a.df1, 0)}, {_fmt(a.df2, 2)}), "
                    f"p = {_fmt_p(a.pvalue)}"
                )
            else:
                lines.append(
                    f"  X2 = {_fmt(a.statistic, 4)}, df = {_fmt(a.df1, 0)}, p = {_fmt_p(a.pvalue)}"
                )
            for c in a.comparisons:
                df = "" if c.df is None else f", df {_fmt(c.df, 2)}"
                lines.append(
                    f"  {c.label}: {_fmt(c.estimate)} (SE {_fmt(c.se)}{df}) "
                    f"{pct} CI [{_fmt(c.ci[0])}, {_fmt(c.ci[1])}], p = {_fmt_p(c.pvalue)}"
                )
            for e in a.treatment_estimates:
                lines.append(
                    f"  treatment {e.treatment}: AUC {_fmt(e.estimate)} (SE {_fmt(e.se)}) "
                    f"{pct} CI [{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]"
                )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        t_names = [str(x) for x in self.treatments]
        r_names = [str(x) for x in self.readers]
        return {
            "treatments": t_names,
            "readers": r_names,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "cov_method": self.cov_method,
            "level": self.level,
            "auc": {
                t: {r: float(self.auc[i, j]) for j, r in enumerate(r_names)}
                for i, t in enumerate(t_names)
            },
            "treatment_auc": {
                t: float(a) for t, a in zip(t_names, self.treatment_auc, strict=True)
            },
            "difference": self.difference,
            "covariance": {
                "var_error": self.var_error,
                "cov1": self.cov1,
                "cov2": self.cov2,
                "cov3": self.cov3,
            },
            "mean_squares": {"T": self.ms_t, "R": self.ms_r, "T:R": self.ms_tr},
            "variance_components": {
                "reader": self.var_reader,
                "treatment_reader": self.var_treatment_reader,
            },
            "rrrc": self.rrrc.to_dict(),
            "frrc": self.frrc.to_dict(),
            "rrfc": self.rrfc.to_dict(),
        }
