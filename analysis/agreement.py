"""Agreement between raters: Cohen's kappa (unweighted, linear, quadratic) with the large-sample
standard errors of Fleiss, Cohen & Everitt (1969), Fleiss' kappa for many raters, intra-reader
agreement, and the mean pairwise (weighted) kappa for many readers on an ordinal scale.

Weights always come from the study's full ordered label set (``labels=``), not from the levels
that happen to be observed: on the JIC scale A < B < C1 < C2 a linear weight for A vs C1 is 1/3
whether or not anyone answered C2 in this sample. (R irr ``kappa2`` builds its weights from the
observed levels only; pass ``labels=`` = the observed levels to reproduce it.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from analysis._validation import (
    as_count_table,
    check_confidence,
    check_labels,
    check_same_length,
    resolve_levels,
)

__all__ = [
    "FleissKappaResult",
    "KappaResult",
    "PairwiseKappaResult",
    "cohen_kappa",
    "cohen_kappa_table",
    "fleiss_kappa",
    "fleiss_kappa_counts",
    "intra_reader_agreement",
    "kappa_weights",
    "pairwise_kappa",
]

WEIGHTS = ("none", "linear", "quadratic")


def kappa_weights(k: int, weights: str | np.ndarray = "none") -> np.ndarray:
    """Agreement weights (1 on the diagonal) for ``k`` ordered categories.

    ``"none"``: identity; ``"linear"`` (Cicchetti-Allison, SAS default, irr ``"equal"``):
    ``1 - |i-j|/(k-1)``; ``"quadratic"`` (Fleiss-Cohen, irr ``"squared"``):
    ``1 - (i-j)^2/(k-1)^2``. A (k, k) array is used as given (agreement weights in [0, 1]).

    References
    ----------
    Cohen J (1968). Weighted kappa. Psychol Bull 70:213-220. Cicchetti DV, Allison T (1971).
    Am J EEG Technol 11:101-109. Fleiss JL, Cohen J (1973). Educ Psychol Meas 33:613-619.
    """
    if not isinstance(weights, str):
        w = np.asarray(weights, dtype=float)
        if w.shape != (k, k):
            raise ValueError(f"weights: expected a ({k}, {k}) matrix, got shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or (w > 1).any():
            raise ValueError("weights: expected agreement weights between 0 and 1")
        if not np.allclose(np.diag(w), 1):
            raise ValueError("weights: expected 1 on the diagonal (full agreement)")
        return w
    if weights not in WEIGHTS:
        raise ValueError(f"weights: expected one of {list(WEIGHTS)}, got {weights!r}")
    i, j = np.indices((k, k))
    if weights == "none" or k == 1:
        return (i == j).astype(float)
    d = np.abs(i - j) / (k - 1)
    return 1 - d if weights == "linear" else 1 - d**2


# --------------------------------------------------------------------------------------------
# Cohen's kappa


@dataclass(frozen=True)
class KappaResult:
    """Cohen's (weighted) kappa with its non-null SE (for the CI) and null SE (for z, p)."""

    kappa: float
    se: float
    se0: float
    z: float
    p: float
    ci: tuple[float, float]
    confidence: float
    weights: str
    labels: tuple
    n: float
    observed_agreement: float
    expected_agreement: float
    method: str = "Cohen's kappa"
    labels_observed: bool = False
    table: np.ndarray = field(default=None, repr=False)

    def summary(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        title = f"{self.method} (weights: {self.weights})"
        lines = [
            title,
            "-" * len(title),
            f"  Kappa                     {self.kappa:.4f}",
            f"  ASE                       {self.se:.4f}",
            f"  {pct} Lower Conf Limit      {self.ci[0]:.4f}",
            f"  {pct} Upper Conf Limit      {self.ci[1]:.4f}",
            "  Test of H0: Kappa = 0",
            f"  ASE under H0              {self.se0:.4f}",
            f"  Z                         {self.z:.4f}",
            f"  Two-sided Pr > |Z|        {_fmt_p(self.p)}",
            f"  n = {self.n:g}; observed agreement {self.observed_agreement:.4f}, "
            f"expected {self.expected_agreement:.4f}",
            "  levels: " + ", ".join(str(v) for v in self.labels)
            + (" (sorted union of observed values)" if self.labels_observed else ""),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kappa": _num(self.kappa),
            "se": _num(self.se),
            "se0": _num(self.se0),
            "z": _num(self.z),
            "p": _num(self.p),
            "ci": [_num(self.ci[0]), _num(self.ci[1])],
            "confidence": self.confidence,
            "weights": self.weights,
            "labels": [_jsonable(v) for v in self.labels],
            "labels_observed": self.labels_observed,
            "n": _num(self.n),
            "observed_agreement": _num(self.observed_agreement),
            "expected_agreement": _num(self.expected_agreement),
            "method": self.method,
        }


def cohen_kappa_table(
    table,
    *,
    weights: str | np.ndarray = "none",
    labels: Sequence | None = None,
    confidence: float = 0.95,
    method: str = "Cohen's kappa",
) -> KappaResult:
    """Cohen's (weighted) kappa from a k x k contingency table of two raters.

    Parameters
    ----------
    table : array_like, shape (k, k)
        Counts; rows = rater 1, columns = rater 2, both in the order of the label set.
    weights : {"none", "linear", "quadratic"} or array (k, k)
        Agreement weights, see :func:`kappa_weights`.
    labels : sequence, optional
        Names of the k levels (for the summary); default ``0..k-1``.
    confidence : float
        Level of the Wald interval ``kappa +/- z * se``.

    Returns
    -------
    KappaResult
        ``se`` is the non-null asymptotic SE (used for the CI), ``se0`` the SE under
        H0: kappa = 0 (used for ``z = kappa / se0`` and the two-sided ``p``). When the expected
        agreement is 1 (a single level used by both raters) kappa is undefined and all fields
        are NaN.

    Notes
    -----
    With p_ij = n_ij / n, margins p_i. and p_.j, agreement weights w_ij,
    po = sum w p, pe = sum w p_i. p_.j, kappa = (po - pe) / (1 - pe),
    wbar_i = sum_j p_.j w_ij, wbar_j = sum_i p_i. w_ij:

    var = [sum p_ij (w_ij - (wbar_i + wbar_j)(1 - kappa))^2 - (kappa - pe (1 - kappa))^2]
          / (n (1 - pe)^2)
    var0 = [sum p_i. p_.j (w_ij - (wbar_i + wbar_j))^2 - pe^2] / (n (1 - pe)^2)

    These are the formulas SAS PROC FREQ (AGREE) and statsmodels ``cohens_kappa`` use.

    References
    ----------
    Cohen J (1960). A coefficient of agreement for nominal scales. Educ Psychol Meas 20:37-46.
    Cohen J (1968). Weighted kappa. Psychol Bull 70:213-220.
    Fleiss JL, Cohen J, Everitt BS (1969). Large sample standard errors of kappa and weighted
    kappa. Psychol Bull 72:323-327.

    Examples
    --------
    >>> round(cohen_kappa_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]]).kappa, 4)
    0.4842
    """
    t = as_count_table(table, "table")
    k = t.shape[0]
    if labels is None:
        levels = tuple(range(k))
    else:
        levels = tuple(labels)
        if len(levels) != k:
            raise ValueError(f"labels: expected {k} labels for a {k}x{k} table, got {len(levels)}")
    w = kappa_weights(k, weights)
    conf = check_confidence(confidence)
    n = float(t.sum())
    p = t / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(rows, cols)).sum())
    wname = weights if isinstance(weights, str) else "custom"
    if np.isclose(1 - pe, 0):
        nan = float("nan")
        return KappaResult(nan, nan, nan, nan, nan, (nan, nan), conf, wname, levels, n, po, pe,
                           method, False, t)
    kappa = (po - pe) / (1 - pe)
    wbar_i = w @ cols  # row i: sum_j p_.j w_ij
    wbar_j = rows @ w  # column j: sum_i p_i. w_ij
    spread = wbar_i[:, None] + wbar_j[None, :]
    var = ((p * (w - spread * (1 - kappa)) ** 2).sum() - (kappa - pe * (1 - kappa)) ** 2) / (
        n * (1 - pe) ** 2
    )
    var0 = ((np.outer(rows, cols) * (w - spread) ** 2).sum() - pe**2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    se0 = float(np.sqrt(max(var0, 0.0)))
    z = kappa / se0 if se0 > 0 else float("nan")
    pval = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")
    q = stats.norm.ppf(0.5 + conf / 2)
    return KappaResult(
        kappa=float(kappa), se=se, se0=se0, z=float(z), p=pval,
        ci=(float(kappa - q * se), float(kappa + q * se)), confidence=conf, weights=wname,
        labels=levels, n=n, observed_agreement=po, expected_agreement=pe, method=method,
        labels_observed=False, table=t,
    )


def cohen_kappa(
    rater1,
    rater2,
    *,
    labels: Sequence | None = None,
    weights: str | np.ndarray = "none",
    confidence: float = 0.95,
    method: str = "Cohen's kappa",
    names: tuple[str, str] = ("rater1", "rater2"),
) -> KappaResult:
    """Cohen's (weighted) kappa of two raters who rated the same cases.

    Parameters
    ----------
    rater1, rater2 : array_like, shape (n,)
        Labels given by each rater (e.g. a reader and the truth), in ``labels``.
    labels : sequence, optional
        The study's full ordered label set; weights are built from it, and levels nobody used
        still count. Default: the sorted union of observed values (``labels_observed``).
    weights : {"none", "linear", "quadratic"} or array (k, k)
    confidence : float
    names : the argument names used in error messages (e.g. CSV column names).

    Returns
    -------
    KappaResult
        See :func:`cohen_kappa_table` for the formulas.

    References
    ----------
    Cohen (1960); Cohen (1968); Fleiss, Cohen & Everitt (1969).

    Examples
    --------
    >>> cohen_kappa(["A", "B", "C"], ["A", "B", "C"]).kappa
    1.0
    """
    levels, observed = resolve_levels(labels, rater1, rater2)
    a = check_labels(rater1, levels, names[0])
    b = check_labels(rater2, levels, names[1])
    check_same_length(**{names[0]: a, names[1]: b})
    k = len(levels)
    table = np.bincount(a * k + b, minlength=k * k).reshape(k, k)
    res = cohen_kappa_table(table, weights=weights, labels=levels, confidence=confidence,
                            method=method)
    return _replace(res, labels_observed=observed)


def intra_reader_agreement(
    session1,
    session2,
    *,
    labels: Sequence | None = None,
    weights: str | np.ndarray = "none",
    confidence: float = 0.95,
) -> KappaResult:
    """Intra-reader agreement: Cohen's kappa between two reading sessions of the same reader on
    the same cases (test-retest), e.g. before and after a washout.

    Parameters are those of :func:`cohen_kappa`; ``session1[i]`` and ``session2[i]`` must be
    the same case. References: Cohen (1960); Fleiss, Cohen & Everitt (1969).

    Examples
    --------
    >>> intra_reader_agreement([1, 2, 2], [1, 2, 2]).method
    'Intra-reader agreement (Cohen kappa, session 1 vs session 2)'
    """
    return cohen_kappa(
        session1, session2, labels=labels, weights=weights, confidence=confidence,
        method="Intra-reader agreement (Cohen kappa, session 1 vs session 2)",
        names=("session1", "session2"),
    )


# --------------------------------------------------------------------------------------------
# Fleiss' kappa


@dataclass(frozen=True)
class CategoryKappa:
    """Fleiss' kappa of one category against all others (Fleiss 1971, eq. 20-21)."""

    label: object
    kappa: float
    se: float
    z: float
    p: float

    def to_dict(self) -> dict:
        return {"label": _jsonable(self.label), "kappa": _num(self.kappa), "se": _num(self.se),
                "z": _num(self.z), "p": _num(self.p)}


@dataclass(frozen=True)
class FleissKappaResult:
    """Fleiss' kappa with the SE under H0 (as R irr ``kappam.fleiss`` reports), z and p."""

    kappa: float
    se: float
    z: float
    p: float
    n_subjects: int
    n_raters: int
    labels: tuple
    observed_agreement: float
    expected_agreement: float
    per_category: tuple[CategoryKappa, ...]
    labels_observed: bool = False

    def summary(self) -> str:
        lines = [
            "Fleiss' kappa for m raters",
            "--------------------------",
            f"  subjects = {self.n_subjects}, raters = {self.n_raters}",
            f"  Kappa                     {self.kappa:.4f}",
            f"  SE under H0               {self.se:.4f}",
            f"  z                         {self.z:.4f}",
            f"  Two-sided p               {_fmt_p(self.p)}",
            "  levels: " + ", ".join(str(v) for v in self.labels)
            + (" (sorted union of observed values)" if self.labels_observed else ""),
            "",
            f"  {'category':<12}{'kappa':>9}{'z':>10}{'p':>10}",
        ]
        for c in self.per_category:
            kap = "n/a" if np.isnan(c.kappa) else f"{c.kappa:.4f}"
            z = "n/a" if np.isnan(c.z) else f"{c.z:.3f}"
            lines.append(f"  {str(c.label):<12}{kap:>9}{z:>10}{_fmt_p(c.p):>10}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kappa": _num(self.kappa),
            "se": _num(self.se),
            "z": _num(self.z),
            "p": _num(self.p),
            "n_subjects": self.n_subjects,
            "n_raters": self.n_raters,
            "labels": [_jsonable(v) for v in self.labels],
            "labels_observed": self.labels_observed,
            "observed_agreement": _num(self.observed_agreement),
            "expected_agreement": _num(self.expected_agreement),
            "per_category": [c.to_dict() for c in self.per_category],
        }


def fleiss_kappa_counts(counts, *, labels: Sequence | None = None) -> FleissKappaResult:
    """Fleiss' kappa from a subjects x categories table of counts (raters per category).

    Parameters
    ----------
    counts : array_like, shape (n_subjects, k)
        ``counts[i, j]`` = number of raters who put subject i in category j; every row must
        sum to the same number of raters m >= 2.
    labels : sequence, optional
        Names of the k categories.

    Returns
    -------
    FleissKappaResult
        ``se`` is the asymptotic SE under H0: kappa = 0 of Fleiss, Nee & Landis (1979), the one
        R irr ``kappam.fleiss`` uses for ``z``; it is not meant for a confidence interval.
        ``per_category`` holds the category-wise kappas (irr ``detail = TRUE``); a category
        nobody used has NaN there.

    Notes
    -----
    P_i = (sum_j n_ij^2 - m) / (m (m - 1)), P = mean P_i, p_j = sum_i n_ij / (N m),
    Pe = sum p_j^2, kappa = (P - Pe) / (1 - Pe);
    var0 = 2 [(sum p_j q_j)^2 - sum p_j q_j (q_j - p_j)] / [N m (m - 1) (sum p_j q_j)^2];
    kappa_j = 1 - sum_i n_ij (m - n_ij) / [N m (m - 1) p_j q_j], var0_j = 2 / [N m (m - 1)].

    References
    ----------
    Fleiss JL (1971). Measuring nominal scale agreement among many raters. Psychol Bull
    76:378-382. Fleiss JL, Nee JCM, Landis JR (1979). Large sample variance of kappa in the
    case of different sets of raters. Psychol Bull 86:974-977.

    Examples
    --------
    >>> round(fleiss_kappa_counts([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6],
    ...     [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0],
    ...     [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]).kappa, 3)
    0.21
    """
    x = as_count_table(counts, "counts", square=False)
    n_subj, k = x.shape
    if labels is None:
        levels = tuple(range(k))
    else:
        levels = tuple(labels)
        if len(levels) != k:
            raise ValueError(
                f"labels: expected {k} labels for {k} count columns, got {len(levels)}"
            )
    m_per_row = x.sum(axis=1)
    m = m_per_row[0]
    if not np.allclose(m_per_row, m):
        bad = int(np.flatnonzero(~np.isclose(m_per_row, m))[0])
        raise ValueError(
            f"counts: every subject needs the same number of raters; row 0 has {m:g}, "
            f"row {bad} has {m_per_row[bad]:g}"
        )
    if m < 2:
        raise ValueError(f"counts: Fleiss' kappa needs at least 2 raters per subject, got {m:g}")
    return _fleiss(x, m, levels, observed=False)


def fleiss_kappa(
    ratings, *, labels: Sequence | None = None, names: Sequence[str] | None = None
) -> FleissKappaResult:
    """Fleiss' kappa of m raters from a subjects x raters matrix of labels.

    Parameters
    ----------
    ratings : array_like, shape (n_subjects, m)
        ``ratings[i, r]`` = the label rater r gave subject i. At least two raters (columns).
    labels : sequence, optional
        The full label set; default the sorted union of observed values.
    names : sequence of str, optional
        Names of the rater columns, used in error messages.

    Returns
    -------
    FleissKappaResult — see :func:`fleiss_kappa_counts`.

    References
    ----------
    Fleiss (1971); Fleiss, Nee & Landis (1979).
    """
    arr = np.asarray(ratings, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"ratings: expected a subjects x raters matrix, got shape {arr.shape}")
    n_subj, n_raters = arr.shape
    names = list(names) if names is not None else [f"ratings[:, {r}]" for r in range(n_raters)]
    if n_raters < 2:
        raise ValueError(
            f"ratings: Fleiss' kappa needs at least 2 raters (columns), got {n_raters}"
            + (f" ({names[0]})" if n_raters == 1 else "")
        )
    levels, observed = resolve_levels(labels, arr)
    k = len(levels)
    codes = np.column_stack([check_labels(arr[:, r], levels, names[r]) for r in range(n_raters)])
    counts = np.zeros((n_subj, k))
    np.add.at(counts, (np.repeat(np.arange(n_subj), n_raters), codes.ravel()), 1)
    return _fleiss(counts, float(n_raters), tuple(levels), observed=observed)


def _fleiss(x: np.ndarray, m: float, levels: tuple, *, observed: bool) -> FleissKappaResult:
    n_subj = x.shape[0]
    p_i = ((x**2).sum(axis=1) - m) / (m * (m - 1))
    p_bar = float(p_i.mean())
    pj = x.sum(axis=0) / (n_subj * m)
    qj = 1 - pj
    pe = float((pj**2).sum())
    nan = float("nan")
    kappa = (p_bar - pe) / (1 - pe) if not np.isclose(pe, 1) else nan
    spq = float((pj * qj).sum())
    if spq > 0:
        var0 = 2 / (spq**2 * n_subj * m * (m - 1)) * (spq**2 - float((pj * qj * (qj - pj)).sum()))
        se = float(np.sqrt(var0))
    else:
        se = nan
    z = kappa / se if se > 0 else nan
    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else nan
    se_j = float(np.sqrt(2 / (n_subj * m * (m - 1))))
    per = []
    for j, lv in enumerate(levels):
        if 0 < pj[j] < 1:
            kj = float(1 - (x[:, j] * (m - x[:, j])).sum() / (n_subj * m * (m - 1) * pj[j] * qj[j]))
            zj = kj / se_j
            per.append(CategoryKappa(lv, kj, se_j, zj, float(2 * stats.norm.sf(abs(zj)))))
        else:
            per.append(CategoryKappa(lv, nan, se_j, nan, nan))
    return FleissKappaResult(
        kappa=float(kappa), se=se, z=float(z), p=p, n_subjects=int(n_subj), n_raters=int(m),
        labels=tuple(levels), observed_agreement=p_bar, expected_agreement=pe,
        per_category=tuple(per), labels_observed=observed,
    )


# --------------------------------------------------------------------------------------------
# Many readers on an ordinal scale


@dataclass(frozen=True)
class PairwiseKappaResult:
    """Mean of Cohen's (weighted) kappa over all pairs of raters (Light's kappa when
    unweighted)."""

    mean_kappa: float
    weights: str
    labels: tuple
    raters: tuple
    pairs: tuple  # ((rater_a, rater_b, kappa), ...)
    labels_observed: bool = False

    def summary(self) -> str:
        lines = [
            f"Mean pairwise Cohen kappa (weights: {self.weights}) over {len(self.pairs)} pairs "
            f"of {len(self.raters)} raters: {self.mean_kappa:.4f}",
            "  levels: " + ", ".join(str(v) for v in self.labels)
            + (" (sorted union of observed values)" if self.labels_observed else ""),
        ]
        for a, b, kap in self.pairs:
            lines.append(f"  {a!s:>12} vs {b!s:<12} {kap:.4f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "mean_kappa": _num(self.mean_kappa),
            "weights": self.weights,
            "labels": [_jsonable(v) for v in self.labels],
            "labels_observed": self.labels_observed,
            "raters": [_jsonable(r) for r in self.raters],
            "pairs": [
                {"rater_a": _jsonable(a), "rater_b": _jsonable(b), "kappa": _num(k)}
                for a, b, k in self.pairs
            ],
        }


def pairwise_kappa(
    ratings,
    *,
    labels: Sequence | None = None,
    weights: str | np.ndarray = "none",
    raters: Sequence | None = None,
) -> PairwiseKappaResult:
    """Mean pairwise Cohen's kappa between many raters, weighted for an ordinal scale.

    Parameters
    ----------
    ratings : array_like, shape (n_subjects, m)
        Labels of m >= 2 raters (columns) on the same subjects.
    labels : sequence, optional
        The study's full ordered label set (weights are built from it).
    weights : {"none", "linear", "quadratic"} or array
    raters : sequence, optional
        Rater names for the result; default ``0..m-1``.

    Returns
    -------
    PairwiseKappaResult
        With ``weights="none"`` the mean is Light's (1971) kappa (R irr ``kappam.light``).
        Pairs whose kappa is undefined are left out of the mean.

    References
    ----------
    Light RJ (1971). Measures of response agreement for qualitative data. Psychol Bull
    76:365-377. Cohen (1968); Fleiss, Cohen & Everitt (1969).
    """
    arr = np.asarray(ratings, dtype=object)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(
            f"ratings: expected a subjects x raters matrix with at least 2 raters, "
            f"got shape {arr.shape}"
        )
    m = arr.shape[1]
    names = tuple(raters) if raters is not None else tuple(range(m))
    if len(names) != m:
        raise ValueError(f"raters: expected {m} names, got {len(names)}")
    levels, observed = resolve_levels(labels, arr)
    pairs = []
    for a, b in itertools.combinations(range(m), 2):
        res = cohen_kappa(arr[:, a], arr[:, b], labels=levels, weights=weights,
                          names=(str(names[a]), str(names[b])))
        pairs.append((names[a], names[b], res.kappa))
    values = np.array([k for _, _, k in pairs], dtype=float)
    finite = values[np.isfinite(values)]
    return PairwiseKappaResult(
        mean_kappa=float(finite.mean()) if finite.size else float("nan"),
        weights=weights if isinstance(weights, str) else "custom",
        labels=tuple(levels), raters=names, pairs=tuple(pairs), labels_observed=observed,
    )


# --------------------------------------------------------------------------------------------


def _replace(res: KappaResult, **changes) -> KappaResult:
    from dataclasses import replace

    return replace(res, **changes)


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def _num(v):
    v = float(v)
    return None if np.isnan(v) else v


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    return v
