"""Agreement among many raters: Fleiss' kappa (with category-wise kappas) and the mean
pairwise Cohen kappa (Light's kappa when unweighted; linear or quadratic weights for an ordinal
scale). Two-rater Cohen's kappa is in :mod:`analysis.agreement.kappa`.

References
----------
Fleiss JL (1971). Measuring nominal scale agreement among many raters. Psychol Bull 76:378-382.
Light RJ (1971). Measures of response agreement for qualitative data. Psychol Bull 76:365-377.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis._format import format_p as _fmt_p
from analysis._format import jsonable as _jsonable
from analysis._format import num_or_none as _num
from analysis._validation import as_count_table, check_labels, resolve_levels
from analysis.agreement.kappa import kappa_of_tables, kappa_weights

__all__ = [
    "CategoryKappa",
    "FleissKappaResult",
    "PairwiseKappaResult",
    "fleiss_kappa",
    "fleiss_kappa_counts",
    "pairwise_kappa",
]


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

    Notes
    -----
    The m (m - 1) / 2 contingency tables are tabulated in one ``bincount`` and their kappas
    computed together (:func:`analysis.agreement.kappa.kappa_of_tables`): for 20 readers (190 pairs)
    this is what keeps the inter-reader agreement of a comparison cheap.

    References
    ----------
    Light RJ (1971). Measures of response agreement for qualitative data. Psychol Bull
    76:365-377. Cohen (1968); Fleiss, Cohen & Everitt (1969).

    Examples
    --------
    >>> res = pairwise_kappa([["A", "A", "B"], ["B", "B", "B"], ["A", "A", "A"]])
    >>> [round(k, 2) for _, _, k in res.pairs], round(res.mean_kappa, 2)
    ([1.0, 0.4, 0.4], 0.6)
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
    k = len(levels)
    w = kappa_weights(k, weights)
    codes = np.stack([check_labels(arr[:, r], levels, str(names[r])) for r in range(m)])
    first, second = np.triu_indices(m, 1)
    cells = codes[first] * k + codes[second] + (np.arange(first.size) * k * k)[:, None]
    tables = np.bincount(cells.ravel(), minlength=first.size * k * k)
    values = kappa_of_tables(tables.reshape(first.size, k, k), weights=w)
    finite = values[np.isfinite(values)]
    return PairwiseKappaResult(
        mean_kappa=float(finite.mean()) if finite.size else float("nan"),
        weights=weights if isinstance(weights, str) else "custom",
        labels=tuple(levels), raters=names,
        pairs=tuple((names[a], names[b], float(v))
                    for a, b, v in zip(first, second, values, strict=True)),
        labels_observed=observed,
    )
