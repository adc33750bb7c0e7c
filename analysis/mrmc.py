"""Multi-reader multi-case (MRMC) analysis of empirical ROC AUC by the Obuchowski-Rockette model
with Hillis' denominator degrees of freedom, as MRMCaov and OR-DBM MRMC compute it; and the
comparison of a standalone model (a fixed reader) with a random sample of readers.

Inputs are a complete reader x treatment x case design: ``ratings[t, r, c]`` is reader r's
rating of case c under treatment (modality) t, and ``truth[c]`` is the case's binary truth.
Unaided vs AI-aided reading is simply two treatments. A higher rating means "more likely
positive" (see :mod:`analysis.roc`).

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
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats

from analysis._validation import as_1d, as_binary_truth, as_scores, check_same_length
from analysis.roc import _delong_cov_from_placements, delong_placements

COV_METHODS = ("jackknife", "delong", "unbiased")

__all__ = [
    "COV_METHODS",
    "MRMCData",
    "MRMCResult",
    "ModelVsReadersResult",
    "ORAnalysis",
    "ORComparison",
    "TreatmentEstimate",
    "auc_covariance",
    "model_vs_readers",
    "mrmc",
    "ratings_from_long_table",
]

# Cap on the float64 working set of the unbiased estimator's cross term (bytes).
_UNBIASED_CHUNK_BYTES = 32 * 2**20


# --------------------------------------------------------------------------------------------
# helpers


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


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(
            f"level: expected a confidence level strictly between 0 and 1, got {level}"
        )
    return level


def _check_cov(cov: str) -> str:
    key = str(cov).lower()
    if key not in COV_METHODS:
        raise ValueError(f"cov: expected one of {list(COV_METHODS)}, got {cov!r}")
    return key


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


def _level_key(values) -> list:
    """Sorted distinct values: numerically when every value reads as a number, else as text."""
    distinct = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(distinct, key=lambda v: (float(v), str(v)))
    except (TypeError, ValueError):
        return sorted(distinct, key=str)


# --------------------------------------------------------------------------------------------
# data: complete reader x treatment x case arrays


@dataclass(frozen=True, eq=False)
class MRMCData:
    """A complete MRMC design: ``ratings[t, r, c]`` and ``truth[c]`` with their level names."""

    treatments: tuple
    readers: tuple
    cases: tuple
    truth: np.ndarray
    ratings: np.ndarray


def ratings_from_long_table(reader, treatment, case, truth, rating) -> MRMCData:
    """Build the complete treatment x reader x case rating array from a long table.

    Parameters
    ----------
    reader, treatment, case : arrays of shape (n_rows,)
        Identifiers of each row (any hashable values).
    truth : array of shape (n_rows,)
        Binary truth of the row's case (0/1 or booleans); must be the same on every row of a case.
    rating : array of shape (n_rows,)
        Numeric rating (higher = more likely positive).

    Returns
    -------
    MRMCData
        Treatments, readers and cases in sorted order (numeric order when all identifiers read as
        numbers), ``truth`` of shape (c,) and ``ratings`` of shape (t, r, c).

    Raises
    ------
    ValueError
        On missing values, a duplicated reader/treatment/case row, a case whose truth differs
        between rows, or an incomplete design (a reader without a rating of some case in some
        treatment), naming the reader, treatment and case.

    Examples
    --------
    >>> d = ratings_from_long_table([1, 1, 1, 1], ["A", "A", "B", "B"], [1, 2, 1, 2],
    ...                             [0, 1, 0, 1], [1, 3, 2, 2])
    >>> d.ratings.shape
    (2, 1, 2)
    """
    reader = as_1d(reader, "reader", dtype=object)
    treatment = as_1d(treatment, "treatment", dtype=object)
    case = as_1d(case, "case", dtype=object)
    truth_arr = as_1d(truth, "truth")
    rating_arr = as_scores(rating, "rating")
    check_same_length(
        reader=reader, treatment=treatment, case=case, truth=truth_arr, rating=rating_arr
    )
    row_truth = as_binary_truth(truth_arr, "truth")

    levels = {}
    codes = {}
    for name, values in (("treatment", treatment), ("reader", reader), ("case", case)):
        lv = _level_key(values)
        index = {v: i for i, v in enumerate(lv)}
        levels[name] = lv
        codes[name] = np.fromiter((index[v] for v in values.tolist()), np.intp, values.size)
    t, r, c = (len(levels[k]) for k in ("treatment", "reader", "case"))
    ti, ri, ci = codes["treatment"], codes["reader"], codes["case"]

    flat = (ti * r + ri) * c + ci
    uniq, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if (counts > 1).any():
        row = int(first[np.flatnonzero(counts > 1)[0]])
        raise ValueError(
            f"rating: reader {reader[row]!r} rated case {case[row]!r} more than once in "
            f"treatment {treatment[row]!r}; expected one rating per reader, treatment and case"
        )

    case_truth = np.zeros(c, dtype=bool)
    case_truth[ci] = row_truth
    bad = np.flatnonzero(case_truth[ci] != row_truth)
    if bad.size:
        k = case[bad[0]]
        raise ValueError(f"truth: case {k!r} has different truth values on different rows")

    ratings = np.full(t * r * c, np.nan)
    ratings[flat] = rating_arr
    ratings = ratings.reshape(t, r, c)
    missing = np.isnan(ratings)
    if missing.any():
        i, j, k = (int(a[0]) for a in np.nonzero(missing))
        n_missing = int(missing[i, j].sum())
        raise ValueError(
            f"incomplete design: reader {levels['reader'][j]!r} has no rating of "
            f"{n_missing} case(s) in treatment {levels['treatment'][i]!r} "
            f"(e.g. case {levels['case'][k]!r}); {int(missing.sum())} of {t * r * c} "
            f"reader x treatment x case ratings are missing. The Obuchowski-Rockette analysis "
            f"here needs every reader to rate every case in every treatment"
        )
    if case_truth.all() or not case_truth.any():
        raise ValueError("truth: a single class in truth across cases")
    return MRMCData(
        treatments=tuple(levels["treatment"]),
        readers=tuple(levels["reader"]),
        cases=tuple(levels["case"]),
        truth=case_truth,
        ratings=ratings,
    )


# --------------------------------------------------------------------------------------------
# covariance of reader x treatment AUCs


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
    level = _check_level(level)
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


# --------------------------------------------------------------------------------------------
# standalone model vs readers


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
    level = _check_level(level)
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
