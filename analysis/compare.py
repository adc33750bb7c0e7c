"""The human-vs-machine comparison of a long table: one call, one result object.

:func:`compare` computes everything DESIGN.md lists under "Statistics the comparison must
contain", for every reader, every seniority group, every model, and every site group
(all / internal / external cases), and returns a :class:`Comparison` that renders as text
(``summary()``) and serialises to JSON (``to_dict()``).

Choices, stated once (and repeated in ``Comparison.methods``)
------------------------------------------------------------
* **Primary reads.** The human-vs-machine comparison uses, for each human reader, the reads of
  the primary condition (``"unaided"`` when present, else the first condition in sorted order;
  ``condition=`` overrides) in that reader's first session of it. A model is read once per case:
  its rows of the primary condition when it has some, else its rows of its only condition.
  Second sessions serve intra-reader agreement only; other conditions (e.g. ``"AI-aided"``) serve
  the unaided-vs-aided MRMC analysis only.
* **Scores** for every ROC come from :mod:`analysis.ratings` (the documented class + confidence
  rule for humans, the per-class probabilities for models).
* **Cases a reader did not read** are left out of that reader's metrics and of each paired
  comparison that involves the reader (those use the cases both read); they are counted in
  ``exclusions``. MRMC needs a complete design: a reader who did not read every case of the site
  group is left out of it, and listed.
* **Seniority groups** are pooled into a consensus reader per case: its class is the most
  frequent class among the group's members who read the case (ties broken by the higher mean
  probability of the tied classes), and its scores are the members' mean probability vector.
  The consensus is analysed exactly like a reader (so CIs treat cases, not reads, as the
  independent units). The plain mean of the members' accuracy, macro F1, quadratic kappa and
  endpoint AUCs is reported next to it.
* **Bootstrap**: patients are resampled with replacement (both hips of a patient together)
  within strata of their most severe true class, as
  :func:`analysis.bootstrap.patient_bootstrap_weights` draws them; the same resamples serve
  every statistic of a site group, so differences model - reader are paired; percentile
  intervals. Resamples in which a statistic
  is undefined (e.g. no positive case for an AUC) are left out of its interval and counted.
* **Multiplicity**: the p-values of the model-vs-reader tests (DeLong per endpoint, McNemar) are
  Holm-adjusted across the human readers, separately for each model, test, endpoint and site
  group (and across seniority groups for the group comparisons); both raw and adjusted p are
  reported.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
Cohen J (1960, 1968); Fleiss JL (1971). McNemar Q (1947). Psychometrika 12:153-157.
Obuchowski NA, Rockette HE (1995); Hillis SL (2007). Statistics in Medicine 26:596-619.
Holm S (1979). Scand J Stat 6:65-70.
Field CA, Welsh AH (2007). Bootstrapping clustered data. J R Stat Soc B 69:369-390.
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap, ch. 13 (percentile intervals).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis.agreement import (
    PairwiseKappaResult,
    cohen_kappa_table,
    fleiss_kappa,
    intra_reader_agreement,
)
from analysis.bootstrap import patient_bootstrap_weights, statistics_from_confusion
from analysis.longtable import LongTable, load_long_table
from analysis.metrics import (
    AccuracyResult,
    ClassificationReport,
    accuracy,
    classification_report,
)
from analysis.mrmc import model_vs_readers, mrmc
from analysis.multiplicity import holm
from analysis.paired import mcnemar
from analysis.ratings import (
    RULE,
    endpoint_to_dict,
    make_endpoints,
    probability_matrix,
)
from analysis.roc import (
    AUCResult,
    DeLongTestResult,
    delong_covariance,
    delong_test,
    roc_auc_ci,
)

WEIGHTS = ("none", "linear", "quadratic")
SITE_GROUPS = ("all", "internal", "external")
BOOTSTRAP_STATISTICS = ("accuracy", "kappa", "kappa_linear", "kappa_quadratic", "macro_f1")


# =============================================================================================
# result objects
# =============================================================================================
def _clean(value):
    """JSON-safe copy: numpy scalars and arrays to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is pd.NA:
        return None
    return value


@dataclass(frozen=True)
class ReadingTime:
    """Time on case of one reader (seconds): median and interquartile range."""

    n: int
    median_s: float
    q1_s: float
    q3_s: float

    def to_dict(self) -> dict:
        return _clean(self.__dict__)


@dataclass(frozen=True)
class BootstrapDifference:
    """Patient-clustered bootstrap of a difference (model - reader): estimate on the data and a
    percentile interval over the resamples in which the statistic is defined."""

    statistic: str
    estimate: float
    ci: tuple[float, float]
    n_resamples: int
    n_valid: int

    def to_dict(self) -> dict:
        return _clean(self.__dict__)


@dataclass(frozen=True)
class RaterResult:
    """Every per-reader statistic of one reader, model or seniority-group consensus.

    ``auc_per_class`` and ``auc_endpoints`` hold one entry per binary question:
    ``{"name", "positive", "auc", "se", "ci", "n_positive", "n_negative"}``, or with ``auc``
    None and a ``reason`` when the question cannot be answered on these cases.
    """

    reader: str
    kind: str  # human | model | group
    seniority: str | None
    condition: str | None
    n_cases: int
    n_patients: int
    n_not_read: int
    accuracy: AccuracyResult
    report: ClassificationReport
    kappa: dict  # weights -> KappaResult
    auc_per_class: tuple
    macro_auc: float | None
    auc_endpoints: tuple
    reading_time: ReadingTime | None
    members: tuple = ()
    member_means: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _clean({
            "reader": self.reader, "kind": self.kind, "seniority": self.seniority,
            "condition": self.condition, "n_cases": self.n_cases, "n_patients": self.n_patients,
            "n_not_read": self.n_not_read,
            "accuracy": self.accuracy.to_dict(),
            "classification": self.report.to_dict(),
            "kappa": {w: k.to_dict() for w, k in self.kappa.items()},
            "auc_per_class": list(self.auc_per_class),
            "macro_auc": self.macro_auc,
            "auc_endpoints": list(self.auc_endpoints),
            "reading_time": None if self.reading_time is None else self.reading_time.to_dict(),
            "members": list(self.members),
            "member_means": self.member_means,
        })


@dataclass(frozen=True)
class ModelVsReader:
    """Paired comparison of one model with one reader (or seniority group) on the cases both
    read: DeLong per endpoint, McNemar on correctness, bootstrap differences (model - reader)."""

    model: str
    reader: str
    n_cases: int
    n_patients: int
    delong: tuple  # (endpoint name, DeLongTestResult | None, p_holm | None, reason | None)
    mcnemar: object  # McNemarResult
    mcnemar_p_holm: float | None
    bootstrap: tuple  # BootstrapDifference...

    def to_dict(self) -> dict:
        return _clean({
            "model": self.model, "reader": self.reader, "n_cases": self.n_cases,
            "n_patients": self.n_patients,
            "delong": [
                {"endpoint": name, **(res.to_dict() if res is not None else {}),
                 "p_holm": p_holm, "reason": reason}
                for name, res, p_holm, reason in self.delong
            ],
            "mcnemar": {**self.mcnemar.to_dict(), "p_holm": self.mcnemar_p_holm},
            "bootstrap": [b.to_dict() for b in self.bootstrap],
        })


@dataclass(frozen=True)
class SiteGroupResult:
    """All statistics of one site group (all, internal or external cases)."""

    name: str
    n_cases: int
    n_patients: int
    class_counts: dict
    readers: tuple  # RaterResult of human readers
    models: tuple  # RaterResult of models
    seniority_groups: tuple  # RaterResult of group consensus readers
    inter_reader: dict
    intra_reader: tuple  # dicts
    model_vs_readers: tuple  # ModelVsReader
    model_vs_groups: tuple  # ModelVsReader
    holm: tuple  # dicts: family, test, endpoint, HolmResult.to_dict()
    mrmc: tuple  # dicts
    notes: tuple

    def to_dict(self) -> dict:
        return _clean({
            "name": self.name, "n_cases": self.n_cases, "n_patients": self.n_patients,
            "class_counts": self.class_counts,
            "readers": [r.to_dict() for r in self.readers],
            "models": [r.to_dict() for r in self.models],
            "seniority_groups": [r.to_dict() for r in self.seniority_groups],
            "inter_reader": self.inter_reader,
            "intra_reader": list(self.intra_reader),
            "model_vs_readers": [c.to_dict() for c in self.model_vs_readers],
            "model_vs_groups": [c.to_dict() for c in self.model_vs_groups],
            "holm": list(self.holm),
            "mrmc": list(self.mrmc),
            "notes": list(self.notes),
        })


@dataclass(frozen=True)
class Comparison:
    """The whole human-vs-machine comparison (see :func:`compare`)."""

    labels: tuple
    endpoints: tuple  # dicts {name, positive}
    level: float
    n_bootstrap: int
    seed: int
    primary_condition: str
    conditions: tuple
    data: dict
    exclusions: tuple  # dicts
    methods: dict
    site_groups: tuple  # SiteGroupResult

    def group(self, name: str) -> SiteGroupResult:
        for g in self.site_groups:
            if g.name == name:
                return g
        raise KeyError(
            f"site group {name!r} not in this comparison; it has "
            f"{[g.name for g in self.site_groups]}"
        )

    def to_dict(self) -> dict:
        return _clean({
            "labels": list(self.labels), "endpoints": list(self.endpoints),
            "level": self.level, "n_bootstrap": self.n_bootstrap, "seed": self.seed,
            "primary_condition": self.primary_condition, "conditions": list(self.conditions),
            "data": self.data, "exclusions": list(self.exclusions), "methods": self.methods,
            "site_groups": [g.to_dict() for g in self.site_groups],
        })

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self) -> str:
        from analysis.cli.compare import render_text

        return render_text(self.to_dict())


# =============================================================================================
# the panel of one site group: aligned arrays of every rater
# =============================================================================================
@dataclass
class _Rater:
    name: str
    kind: str
    seniority: str | None
    condition: str | None
    codes: np.ndarray  # (n,) label index, -1 where not read
    probs: np.ndarray  # (n, K), NaN where not read
    time_ms: np.ndarray  # (n,), NaN where not read or unknown
    members: tuple = ()

    @property
    def read(self) -> np.ndarray:
        return self.codes >= 0


@dataclass
class _Panel:
    cases: np.ndarray  # (n,) case ids
    truth: np.ndarray  # (n,) label index
    patients: np.ndarray  # (n,) patient codes 0..P-1
    raters: list


def _rater_from_reads(reads: pd.DataFrame, probs: np.ndarray, case_index: pd.Index,
                      labels: Sequence[str], *, name, kind, seniority, condition) -> _Rater:
    n, k = len(case_index), len(labels)
    pos = case_index.get_indexer(reads["case"])
    codes = np.full(n, -1, dtype=np.intp)
    codes[pos] = reads["label"].map({lab: i for i, lab in enumerate(labels)}).to_numpy(np.intp)
    p = np.full((n, k), np.nan)
    p[pos] = probs
    t = np.full(n, np.nan)
    t[pos] = reads["time_ms"].to_numpy(dtype=float)
    return _Rater(name=name, kind=kind, seniority=seniority, condition=condition, codes=codes,
                  probs=p, time_ms=t)


def _consensus(name: str, members: list, n_classes: int) -> _Rater:
    """Seniority-group consensus per case: the modal class among the members who read it
    (ties: the tied class with the higher mean probability, then the lower class) and the
    members' mean probability vector."""
    codes = np.stack([m.codes for m in members])  # (g, n)
    probs = np.stack([m.probs for m in members])  # (g, n, K)
    read = codes >= 0
    counts = np.zeros((codes.shape[1], n_classes))
    for j in range(codes.shape[0]):
        counts[np.flatnonzero(read[j]), codes[j, read[j]]] += 1
    any_read = read.any(axis=0)
    mean_p = _nanmean_safe(probs, read)
    tied = counts == counts.max(axis=1, keepdims=True)
    label = np.argmax(np.where(tied, np.nan_to_num(mean_p, nan=0.0), -1.0), axis=1)
    return _Rater(name=name, kind="group", seniority=members[0].seniority,
                  condition=members[0].condition,
                  codes=np.where(any_read, label, -1).astype(np.intp), probs=mean_p,
                  time_ms=np.full(codes.shape[1], np.nan),
                  members=tuple(m.name for m in members))


def _nanmean_safe(probs: np.ndarray, read: np.ndarray) -> np.ndarray:
    total = np.where(read[:, :, None], probs, 0.0).sum(axis=0)
    count = read.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


# =============================================================================================
# vectorised patient-clustered bootstrap
# =============================================================================================
class _Bootstrap:
    """Patient-clustered, class-stratified resamples shared by every statistic of a site group.

    The resamples are those of :func:`analysis.bootstrap.patient_bootstrap_weights` (patients
    drawn with replacement within strata of their most severe true class; Field & Welsh 2007).
    Every case of a patient carries its patient's weight, so the resamples are kept as
    ``counts_t[p, b]``: copies of patient p in resample b. Each statistic is a weighted statistic
    of the original cases, for all resamples at once: the weight sums per cell (confusion-matrix
    cell, or rating level among positives / negatives) are one sparse product
    ``indicator (cells x patients) @ counts_t``, exact in float32 (small integers); totals are
    accumulated in float64. Results are laid out (cells, B).
    """

    def __init__(self, patients: np.ndarray, n_resamples: int, seed, strata=None):
        self.patients = patients
        n_patients = int(patients.max()) + 1
        if n_resamples == 0:  # the original sample: every patient once (point estimates)
            self.counts_t = np.ones((n_patients, 1), dtype=np.float32)
            self.n_resamples = 1
            return
        weights = patient_bootstrap_weights(patients, strata, n_resamples=n_resamples,
                                            seed=seed, dtype=np.float32)
        first_case = np.unique(patients, return_index=True)[1]  # patient codes 0..P-1
        self.counts_t = np.ascontiguousarray(weights[:, first_case].T)
        self.n_resamples = n_resamples

    def _sums(self, case_rows: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
        """(n_cells, B): per resample, the weight of the cases ``case_rows`` in ``cells``."""
        ind = sparse.csr_matrix(
            (np.ones(case_rows.size, dtype=np.float32), (cells, self.patients[case_rows])),
            shape=(n_cells, self.counts_t.shape[0]))
        return np.asarray(ind @ self.counts_t)

    def confusion(self, truth: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
        """(B, R, K, K) weighted confusion matrices of R raters (codes (R, n), -1 unread)."""
        r, n = codes.shape
        cells = np.arange(r)[:, None] * k * k + truth[None, :] * k + codes
        ok = codes >= 0
        rows = np.broadcast_to(np.arange(n), (r, n))
        sums = self._sums(rows[ok], cells[ok], r * k * k).astype(np.float64)
        return np.moveaxis(sums.reshape(r, k, k, -1), -1, 0)

    def auc(self, positive: np.ndarray, scores: np.ndarray, read: np.ndarray) -> np.ndarray:
        """(B, R) weighted empirical AUC (ties 1/2) of R scores (R, n) on the cases read.

        Scores with few distinct values (human ratings) go through the per-level weight sums;
        the others (a model's probabilities) through a sort and cumulative sums over the cases.
        NaN where a resample has no positive or no negative case.
        """
        out = np.empty((self.n_resamples, scores.shape[0]))
        small = []
        for j in range(scores.shape[0]):
            idx = np.flatnonzero(read[j])
            levels, inverse = np.unique(scores[j, idx], return_inverse=True)
            if levels.size <= 160:
                small.append((j, levels.size, idx, inverse))
            else:
                out[:, j] = self._auc_sorted(positive, scores[j], idx)
        if not small:
            return out
        # cells: [levels of score 1 | levels of score 2 | ...] for the positives, then the
        # same layout again for the negatives
        sizes = np.array([m for _, m, _, _ in small])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        width = int(sizes.sum())
        rows = np.concatenate([idx for _, _, idx, _ in small])
        cells = np.concatenate([start + np.where(positive[idx], 0, width) + inverse
                                for start, (_, _, idx, inverse) in zip(starts, small,
                                                                       strict=True)])
        sums = self._sums(rows, cells, 2 * width)
        p, q = sums[:width], sums[width:]  # (levels, B)
        cq = np.cumsum(q, axis=0, dtype=np.float64)
        # negatives below a level of score j = cq - q - (cq at the end of score j-1)
        before = np.where(starts[:, None] > 0, cq[np.maximum(starts - 1, 0)], 0.0)
        p_total = np.add.reduceat(p, starts, axis=0, dtype=np.float64)
        num = np.add.reduceat(p * (cq - 0.5 * q), starts, axis=0) - before * p_total
        den = p_total * np.add.reduceat(q, starts, axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, [j for j, _, _, _ in small]] = np.where(den > 0, num / den, np.nan).T
        return out

    def _auc_sorted(self, positive, score, idx) -> np.ndarray:
        order = idx[np.argsort(score[idx], kind="mergesort")]
        s = score[order]
        pos = positive[order]
        w = self.counts_t[self.patients[order]]  # (n, B) float32, exact integers
        n = s.size
        start = np.ones(n, dtype=bool)
        start[1:] = s[1:] != s[:-1]
        block = np.cumsum(start) - 1
        starts = np.flatnonzero(start)
        ends = np.append(starts[1:], n)
        # cneg[i] = weight of the negatives among the first i sorted cases
        neg_before = np.concatenate([[0], np.cumsum(~pos)])
        cneg = np.zeros((int(neg_before[-1]) + 1, w.shape[1]), dtype=np.float32)
        np.cumsum(w[~pos], axis=0, out=cneg[1:])
        lo = neg_before[starts[block[pos]]]
        hi = neg_before[ends[block[pos]]]
        # twice (negatives below + half the ties) = cneg[lo] + cneg[hi]: integers, exact
        twice = cneg[lo] + cneg[hi]
        w_pos = w[pos]
        num = np.einsum("ib,ib->b", w_pos, twice, dtype=np.float64)
        den = 2.0 * w_pos.sum(axis=0, dtype=np.float64) * cneg[-1].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


def _percentile(values: np.ndarray, level: float) -> tuple[tuple[float, float], int]:
    ok = values[np.isfinite(values)]
    if ok.size == 0:
        return (float("nan"), float("nan")), 0
    lo, hi = np.quantile(ok, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi)), int(ok.size)


# =============================================================================================
# ROC pieces
# =============================================================================================
def _auc_result(a: float, var: float, n_pos: int, n_neg: int, level: float) -> AUCResult:
    """The AUCResult :func:`analysis.roc.roc_auc_ci` gives, from a joint DeLong covariance."""
    se = float(np.sqrt(var))
    z = stats.norm.ppf(0.5 + level / 2.0)
    return AUCResult(auc=float(a), var=float(var), se=se,
                     ci=(float(max(0.0, a - z * se)), float(min(1.0, a + z * se))),
                     level=level, n_positive=n_pos, n_negative=n_neg)


def _delong_from_cov(aucs, cov, i: int, j: int, level: float) -> DeLongTestResult:
    """Paired DeLong test of scores i and j from their joint covariance, exactly as
    :func:`analysis.roc.delong_test` computes it (two-sided)."""
    d = float(aucs[i] - aucs[j])
    var_d = float(cov[i, i] + cov[j, j] - 2.0 * cov[i, j])
    se = float(np.sqrt(max(var_d, 0.0)))
    if se == 0.0:
        if d != 0.0:
            raise ValueError("the AUCs differ but the DeLong variance of the difference is zero")
        z = 0.0
    else:
        z = d / se
    crit = stats.norm.ppf(0.5 + level / 2.0)
    return DeLongTestResult(
        statistic=float(z), pvalue=float(min(1.0, 2.0 * stats.norm.sf(abs(z)))), difference=d,
        se=se, ci=(float(d - crit * se), float(d + crit * se)),
        aucs=(float(aucs[i]), float(aucs[j])), alternative="two-sided", level=level,
        method="DeLong's test for two correlated ROC curves", paired=True,
    )


class _ROC:
    """DeLong AUCs of every rater for one binary question, one joint covariance for the raters
    who read every case (one DeLong for all scores of the question)."""

    def __init__(self, name, positive, y, *, raters, labels, level):
        self.name, self.positive, self.y, self.level = name, positive, y, level
        self.mask = np.array([lab in positive for lab in labels])
        self.scores = {r.name: r.probs[:, self.mask].sum(axis=1) for r in raters}
        self.read = {r.name: r.read for r in raters}
        self.reason = _roc_reason(y)
        self.index, self.aucs, self.cov = {}, None, None
        complete = [r.name for r in raters if r.read.all()]
        if self.reason is None and complete:
            self.aucs, self.cov = delong_covariance(y, np.vstack([self.scores[c]
                                                                  for c in complete]))
            self.index = {c: i for i, c in enumerate(complete)}

    def entry(self, rater: str) -> dict:
        head = {"name": self.name, "positive": list(self.positive)}
        if rater in self.index:
            i = self.index[rater]
            n_pos = int(self.y.sum())
            res = _auc_result(self.aucs[i], self.cov[i, i], n_pos, self.y.size - n_pos,
                              self.level)
            return {**head, **res.to_dict()}
        read = self.read[rater]
        reason = self.reason if self.reason else _roc_reason(self.y[read])
        if reason:
            return {**head, "auc": None, "reason": reason}
        return {**head, **roc_auc_ci(self.y[read], self.scores[rater][read],
                                     level=self.level).to_dict()}

    def paired(self, a: str, b: str) -> tuple[DeLongTestResult | None, str | None]:
        """DeLong test of rater a vs rater b on the cases both read."""
        try:
            if a in self.index and b in self.index:
                return _delong_from_cov(self.aucs, self.cov, self.index[a], self.index[b],
                                        self.level), None
            common = self.read[a] & self.read[b]
            reason = _roc_reason(self.y[common])
            if reason:
                return None, reason
            return delong_test(self.y[common], self.scores[a][common], self.scores[b][common],
                               level=self.level), None
        except ValueError as exc:
            return None, str(exc)


def _roc_reason(y: np.ndarray) -> str | None:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos < 2 or n_neg < 2:
        return (f"DeLong needs at least 2 positive and 2 negative cases; these cases have "
                f"{n_pos} positive and {n_neg} negative")
    return None


# =============================================================================================
# the comparison
# =============================================================================================
def compare(long_table, *, labels: Sequence[str] | None = None, endpoints=None,
            n_bootstrap: int = 2000, seed: int = 0, level: float = 0.95,
            condition: str | None = None, external_sites: Sequence[str] | None = None,
            ) -> Comparison:
    """The human-vs-machine comparison of a long table (see the module docstring).

    Parameters
    ----------
    long_table : LongTable, pandas.DataFrame, or path of a CSV
        One row per reader x case x condition x session (:mod:`analysis.longtable`).
    labels : sequence of str, optional
        Ordered classes, lowest first; default from the ``score_<class>`` columns.
    endpoints : sequence, optional
        Binary endpoints (``Endpoint``, ``{"name", "positive"}`` or ``(name, positive)``);
        default the cumulative ones of :func:`analysis.ratings.default_endpoints`.
    n_bootstrap : int
        Patient-clustered bootstrap resamples (0: no bootstrap intervals).
    seed : int
        Seed of the bootstrap; the same seed gives the same result.
    level : float
        Confidence level of every interval.
    condition : str, optional
        The primary reading condition (default ``"unaided"`` when present).
    external_sites : sequence of str, optional
        Sites whose cases are external in addition to the ``partition == "external"`` ones.

    Returns
    -------
    Comparison

    References
    ----------
    See the module docstring (DeLong 1988; Cohen 1960/1968; Fleiss 1971; McNemar 1947;
    Obuchowski & Rockette 1995; Hillis 2007; Holm 1979; Field & Welsh 2007).

    Examples
    --------
    >>> from analysis.simulate import simulate_long_table
    >>> df = simulate_long_table(labels=["lo", "mid", "hi"], n_cases=60, n_readers=3, seed=2)
    >>> result = compare(df, n_bootstrap=50)
    >>> [g.name for g in result.site_groups]
    ['all', 'internal', 'external']
    """
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a confidence level between 0 and 1, got {level}")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap: expected a whole number >= 0, got {n_bootstrap!r}")
    n_bootstrap = int(n_bootstrap)
    table = _as_table(long_table, labels)
    labels = table.labels
    eps = make_endpoints(endpoints, labels)
    reads = table.reads.assign(_row=np.arange(len(table.reads)))
    probs = probability_matrix(table)
    primary, primary_rows, exclusions = _primary_reads(table, reads, condition)
    seniority = table.seniority_of()

    groups = []
    external = table.external_mask(external_sites=external_sites)
    n_external = int(reads.loc[external, "case"].nunique())
    for gi, name in enumerate(SITE_GROUPS):
        if name == "all":
            mask = np.ones(len(reads), dtype=bool)
        elif n_external in (0, table.n_cases):
            continue
        else:
            mask = external if name == "external" else ~external
        groups.append(_site_group(
            name, reads.loc[mask], primary_rows, probs=probs, labels=labels, eps=eps,
            seniority=seniority, primary=primary, level=level, n_bootstrap=n_bootstrap,
            seed=(seed, gi), exclusions=exclusions,
        ))

    summary_rows = reads.groupby("reader", sort=True).agg(
        kind=("reader_kind", "first"), seniority=("seniority", "first"),
        n_reads=("case", "size"),
        conditions=("condition", lambda s: sorted(set(s))),
        sessions=("session", lambda s: sorted(set(int(x) for x in s))),
    )
    data = {
        "n_rows": len(reads), "n_superseded_rows": table.n_superseded,
        "n_cases": table.n_cases, "n_patients": table.n_patients,
        "n_external_cases": n_external,
        "n_human_readers": len(table.human_readers), "n_models": len(table.model_readers),
        "n_rows_primary": int(primary_rows.size),
        "readers": [{"reader": r, **{k: _clean(v) for k, v in row.items()}}
                    for r, row in summary_rows.iterrows()],
        "site_groups": [g.name for g in groups],
    }
    if not groups[1:]:
        data["site_group_note"] = (
            "no internal/external split: every case is "
            + ("external" if n_external else "internal") + "; only 'all' is reported")
    return Comparison(
        labels=labels, endpoints=tuple(endpoint_to_dict(e, labels) for e in eps), level=level,
        n_bootstrap=n_bootstrap, seed=seed, primary_condition=primary,
        conditions=table.conditions, data=data, exclusions=tuple(exclusions),
        methods=_methods(primary, level, n_bootstrap), site_groups=tuple(groups),
    )


def _as_table(long_table, labels) -> LongTable:
    if isinstance(long_table, LongTable):
        if labels is not None and tuple(str(x) for x in labels) != long_table.labels:
            raise ValueError(
                f"labels: {list(labels)} differ from the long table's {list(long_table.labels)}"
            )
        return long_table
    return load_long_table(long_table, labels=labels)


def _methods(primary: str, level: float, n_bootstrap: int) -> dict:
    pct = f"{100 * level:g}%"
    return {
        "primary_reads": (
            f"Human readers: reads of condition {primary!r}, first session; models: their "
            "reads of that condition (or of their only condition)."),
        "ratings": RULE,
        "accuracy": f"Proportion correct with a {pct} Wilson score interval (Clopper-Pearson "
                    "also given).",
        "precision_recall_f1": "Per class and macro (unweighted mean over every class of the "
                               "scheme; an undefined value counts 0).",
        "kappa": "Cohen's kappa against truth, unweighted, linear and quadratic weights, with "
                 "the large-sample SE of Fleiss, Cohen & Everitt (1969) and a Wald interval.",
        "auc": f"Empirical ROC AUC with DeLong variance and {pct} normal interval, one-vs-rest "
               "per class (macro = mean over classes present) and per endpoint.",
        "delong": "Paired DeLong test (two-sided) of model vs reader per endpoint on the cases "
                  "both read.",
        "mcnemar": "McNemar's chi-squared test with continuity correction on per-case "
                   "correctness (model vs reader, cases both read).",
        "bootstrap": (
            f"{n_bootstrap} patient-clustered bootstrap resamples, stratified by the "
            "patient's most severe true class (the same resamples for every "
            f"statistic of a site group); {pct} percentile intervals of model - reader "
            "differences in accuracy, kappa (unweighted, linear, quadratic), macro F1 and "
            "endpoint AUC." if n_bootstrap else "No bootstrap (n_bootstrap = 0)."),
        "seniority_groups": (
            "Consensus reader per group: modal class of the members who read the case (ties: "
            "higher mean probability, then the lower class); scores = mean of the members' "
            "probability vectors. member_means = plain mean of members' statistics."),
        "inter_reader": "Fleiss' kappa of the human readers on the cases all of them read; "
                        "mean pairwise Cohen kappa (Light's, and linear/quadratic weighted for "
                        "the ordinal scale).",
        "intra_reader": "Cohen's kappa (unweighted, linear, quadratic) between a reader's first "
                        "two sessions of the same condition, on the cases read in both.",
        "mrmc": "Obuchowski-Rockette with jackknife covariance and Hillis (2007) df: the model "
                "as a fixed reader vs the random human readers (1T-RRRC), and each other "
                f"condition vs {primary!r} as two modalities (RRRC, FRRC, RRFC); readers who "
                "did not read every case are left out.",
        "multiplicity": "Holm's step-down adjustment across the human readers (and separately "
                        "across seniority groups), per model, test, endpoint and site group; "
                        "raw and adjusted p-values are both reported.",
    }


def _primary_reads(table: LongTable, reads: pd.DataFrame, condition: str | None):
    """Row positions of the primary reads, the primary condition, and exclusions."""
    humans = reads["reader_kind"] == "human"
    human_conditions = sorted(reads.loc[humans, "condition"].unique()) or list(table.conditions)
    if condition is not None:
        if condition not in table.conditions:
            raise ValueError(
                f"condition: {condition!r} is not in the long table; its conditions are "
                f"{list(table.conditions)}"
            )
        primary = condition
    else:
        primary = "unaided" if "unaided" in human_conditions else human_conditions[0]
    exclusions = []
    keep = []
    for (reader, kind), rows in reads.groupby(["reader", "reader_kind"], sort=True):
        conds = sorted(rows["condition"].unique())
        if kind == "model":
            if primary in conds:
                chosen = primary
            elif len(conds) == 1:
                chosen = conds[0]
            else:
                raise ValueError(
                    f"long table: model {reader!r} has reads in conditions {conds} but not in "
                    f"the primary condition {primary!r}; expected its reads in {primary!r}"
                )
        else:
            if primary not in conds:
                exclusions.append({"reader": reader, "site_group": "all", "what": "reader",
                                   "n_cases": int(rows["case"].nunique()),
                                   "reason": f"no reads in the primary condition {primary!r}"})
                continue
            chosen = primary
        in_cond = rows[rows["condition"] == chosen]
        first = in_cond["session"].min()
        keep.append(in_cond.loc[in_cond["session"] == first, "_row"].to_numpy())
    rows = np.sort(np.concatenate(keep)) if keep else np.array([], dtype=np.intp)
    return primary, rows, exclusions


def _site_group(name, reads, primary_rows, *, probs, labels, eps, seniority, primary, level,
                n_bootstrap, seed, exclusions) -> SiteGroupResult:
    """Every statistic of one site group (``reads``: all rows of its cases)."""
    k = len(labels)
    label_index = {lab: i for i, lab in enumerate(labels)}
    cases = reads.drop_duplicates("case").sort_values("case")
    case_index = pd.Index(cases["case"].to_numpy())
    truth = cases["truth"].map(label_index).to_numpy(np.intp)
    patients = pd.factorize(cases["patient"])[0]
    n = case_index.size
    notes = []

    in_primary = np.isin(reads["_row"].to_numpy(), primary_rows)
    prim = reads.loc[in_primary]

    def rater_of(rows, reader, kind, cond):
        return _rater_from_reads(rows, probs[rows["_row"].to_numpy()], case_index, labels,
                                 name=reader, kind=kind, seniority=seniority.get(reader),
                                 condition=cond)

    models, humans = [], []
    for (reader, kind), rows in prim.groupby(["reader", "reader_kind"], sort=True):
        r = rater_of(rows, reader, kind, rows["condition"].iloc[0])
        (models if kind == "model" else humans).append(r)
        missing = int(n - r.read.sum())
        if missing:
            exclusions.append({"reader": reader, "site_group": name, "what": "cases",
                               "n_cases": missing,
                               "reason": "not read: left out of this reader's metrics and of "
                                         "the paired comparisons with this reader"})
    by_seniority: dict[str, list] = {}
    for r in humans:
        if r.seniority is None:
            notes.append(f"reader {r.name!r} has no seniority: in no seniority group")
        else:
            by_seniority.setdefault(r.seniority, []).append(r)
    groups = [_consensus(f"group: {s}", members, k) for s, members in by_seniority.items()]
    raters = models + humans + groups

    # ---- ROC: one DeLong per binary question for all complete raters
    questions = [(f"{lab} vs rest", (lab,)) for lab in labels]
    questions += [(e.name, tuple(lab for lab in labels if lab in e.positive)) for e in eps]
    rocs = {}
    for qname, positive in questions:
        y = np.isin(truth, [label_index[p] for p in positive])
        rocs[qname] = _ROC(qname, positive, y, raters=raters, labels=labels, level=level)

    def result(r: _Rater) -> RaterResult:
        read = r.read
        t_lab = np.asarray(labels, dtype=object)[truth[read]]
        r_lab = np.asarray(labels, dtype=object)[r.codes[read]]
        report = classification_report(t_lab, r_lab, labels=labels)
        per_class = tuple(rocs[f"{lab} vs rest"].entry(r.name) for lab in labels)
        defined = [e["auc"] for e in per_class if e.get("auc") is not None]
        times = r.time_ms[read & np.isfinite(r.time_ms)] / 1000.0
        rt = None
        if times.size:
            q1, med, q3 = np.percentile(times, [25, 50, 75])
            rt = ReadingTime(n=int(times.size), median_s=float(med), q1_s=float(q1),
                             q3_s=float(q3))
        return RaterResult(
            reader=r.name, kind=r.kind, seniority=r.seniority, condition=r.condition,
            n_cases=int(read.sum()), n_patients=int(np.unique(patients[read]).size),
            n_not_read=int(n - read.sum()),
            accuracy=accuracy(t_lab, r_lab, labels=labels, confidence=level), report=report,
            kappa={w: cohen_kappa_table(report.confusion.matrix, weights=w, labels=labels,
                                        confidence=level) for w in WEIGHTS},
            auc_per_class=per_class, macro_auc=float(np.mean(defined)) if defined else None,
            auc_endpoints=tuple(rocs[e.name].entry(r.name) for e in eps),
            reading_time=rt, members=r.members,
        )

    model_results = tuple(result(r) for r in models)
    human_results = tuple(result(r) for r in humans)
    by_name = {r.reader: r for r in human_results}
    group_results = []
    for g in groups:
        res = result(g)
        members = [by_name[m] for m in g.members]
        means = {
            "accuracy": float(np.mean([m.accuracy.accuracy for m in members])),
            "macro_f1": float(np.mean([m.report.macro_f1 for m in members])),
            "kappa_quadratic": float(np.nanmean([m.kappa["quadratic"].kappa for m in members])),
        }
        for e in eps:
            values = [a["auc"] for m in members for a in m.auc_endpoints
                      if a["name"] == e.name and a.get("auc") is not None]
            means[f"auc {e.name}"] = float(np.mean(values)) if values else None
        group_results.append(RaterResult(**{**res.__dict__, "member_means": means}))

    # ---- paired comparisons model vs readers and vs groups
    boot = _Bootstrap(patients, n_bootstrap, seed, strata=truth) if n_bootstrap else None
    # one pass for readers and groups: the model's resampled statistics are computed once
    paired = _paired(models, humans + groups, truth, patients=patients, rocs=rocs, eps=eps,
                     boot=boot, k=k, level=level)
    group_names = {g.name for g in groups}
    paired_h = [p for p in paired if p["reader"] not in group_names]
    paired_g = [p for p in paired if p["reader"] in group_names]
    holm_h, vs_readers = _with_holm(paired_h, eps, "readers", name)
    holm_g, vs_groups = _with_holm(paired_g, eps, "seniority groups", name)

    return SiteGroupResult(
        name=name, n_cases=n, n_patients=int(patients.max()) + 1,
        class_counts={lab: int((truth == i).sum()) for i, lab in enumerate(labels)},
        readers=human_results, models=model_results, seniority_groups=tuple(group_results),
        inter_reader=_inter_reader(humans, by_seniority, labels, name, exclusions),
        intra_reader=_intra_reader(reads, labels, level),
        model_vs_readers=vs_readers, model_vs_groups=vs_groups, holm=holm_h + holm_g,
        mrmc=_mrmc(primary, models, humans,
                   others=_other_conditions(reads, primary, rater_of), truth=truth,
                   labels=labels, eps=eps, level=level, group=name, exclusions=exclusions),
        notes=tuple(notes),
    )


def _paired(models, others, truth, *, patients, rocs, eps, boot, k, level) -> list[dict]:
    """Raw (un-adjusted) paired comparisons of every model with every rater of ``others``."""
    pairs = []
    series: dict[tuple, int] = {}
    rows: list[tuple] = []  # (rater, common mask)

    def series_of(rater, common) -> int:
        key = (rater.name, common.tobytes())
        if key not in series:
            series[key] = len(rows)
            rows.append((rater, common))
        return series[key]

    for m in models:
        for o in others:
            common = m.read & o.read
            correct_m = m.codes[common] == truth[common]
            correct_o = o.codes[common] == truth[common]
            pairs.append({
                "model": m.name, "reader": o.name, "n_cases": int(common.sum()),
                "n_patients": int(np.unique(patients[common]).size),
                "delong": [(e.name, *rocs[e.name].paired(m.name, o.name)) for e in eps],
                "mcnemar": mcnemar(correct_m, correct_o),
                "series": (series_of(m, common), series_of(o, common)),
            })
    if not pairs:
        return pairs

    codes = np.stack([np.where(c, r.codes, -1) for r, c in rows])
    reads = np.stack([c for _, c in rows])
    names = list(BOOTSTRAP_STATISTICS)

    def statistics(b: _Bootstrap) -> dict[str, np.ndarray]:
        out = statistics_from_confusion(b.confusion(truth, codes, k))  # each (B, S)
        for e in eps:
            roc = rocs[e.name]
            scores = np.stack([np.nan_to_num(roc.scores[r.name]) for r, _ in rows])
            out[f"auc {e.name}"] = b.auc(roc.y, scores, reads)
        return out

    point = statistics(_Bootstrap(patients, 0, None))
    resampled = statistics(boot) if boot is not None else None
    for pair in pairs:
        i, j = pair.pop("series")
        diffs = []
        for stat in names + [f"auc {e.name}" for e in eps]:
            estimate = float(point[stat][0, i] - point[stat][0, j])
            if resampled is None:
                ci, n_valid, n_res = (float("nan"), float("nan")), 0, 0
            else:
                ci, n_valid = _percentile(resampled[stat][:, i] - resampled[stat][:, j], level)
                n_res = boot.n_resamples
            diffs.append(BootstrapDifference(statistic=stat, estimate=estimate, ci=ci,
                                             n_resamples=n_res, n_valid=n_valid))
        pair["bootstrap"] = tuple(diffs)
    return pairs


def _with_holm(pairs: list[dict], eps, family: str, group: str):
    """Holm-adjust DeLong (per endpoint) and McNemar p-values across readers, per model."""
    summaries = []
    adjusted: dict[tuple, float] = {}
    for model in dict.fromkeys(p["model"] for p in pairs):
        mine = [p for p in pairs if p["model"] == model]
        tests = [("McNemar", None, [(p["reader"], p["mcnemar"].p) for p in mine])]
        for e_i, e in enumerate(eps):
            tests.append(("DeLong", e.name, [(p["reader"], p["delong"][e_i][1].pvalue)
                                             for p in mine if p["delong"][e_i][1] is not None]))
        for test, endpoint, values in tests:
            if not values:
                continue
            res = holm([v for _, v in values], names=[r for r, _ in values], family=family)
            summaries.append({"site_group": group, "model": model, "test": test,
                              "endpoint": endpoint, **res.to_dict()})
            for reader, p_adj in zip(res.names, res.p_adjusted, strict=True):
                adjusted[(model, reader, test, endpoint)] = float(p_adj)
    out = []
    for p in pairs:
        key = (p["model"], p["reader"])
        out.append(ModelVsReader(
            model=p["model"], reader=p["reader"], n_cases=p["n_cases"],
            n_patients=p["n_patients"],
            delong=tuple((name, res, adjusted.get((*key, "DeLong", name)), reason)
                         for name, res, reason in p["delong"]),
            mcnemar=p["mcnemar"], mcnemar_p_holm=adjusted.get((*key, "McNemar", None)),
            bootstrap=p["bootstrap"],
        ))
    return tuple(summaries), tuple(out)


def _inter_reader(humans, by_seniority, labels, group, exclusions) -> dict:
    """Fleiss' kappa and mean pairwise (weighted) kappa of the human readers."""
    if len(humans) < 2:
        return {"note": f"{len(humans)} human reader(s): no inter-reader agreement"}
    out = _agreement(humans, labels, weighted=True)
    n_left = int((~np.logical_and.reduce([h.read for h in humans])).sum())
    if n_left:
        exclusions.append({"reader": None, "site_group": group, "what": "inter-reader cases",
                           "n_cases": n_left,
                           "reason": "not read by every human reader: left out of the "
                                     "inter-reader agreement"})
    out["seniority_groups"] = {
        s: _agreement(members, labels, weighted=False)
        for s, members in by_seniority.items() if len(members) >= 2
    }
    return out


def _agreement(raters, labels, *, weighted: bool) -> dict:
    common = np.logical_and.reduce([r.read for r in raters])
    names = [r.name for r in raters]
    out = {"readers": names, "n_cases": int(common.sum())}
    if common.sum() < 2:
        return {**out, "note": "fewer than 2 cases read by all of these readers"}
    mat = np.asarray(labels, dtype=object)[np.stack([r.codes[common] for r in raters], axis=1)]
    out["fleiss"] = fleiss_kappa(mat, labels=labels, names=names).to_dict()
    if weighted:
        codes = np.stack([r.codes[common] for r in raters])
        out["pairwise"] = {w: res.to_dict() for w, res in
                           _pairwise_kappa(codes, labels, names).items()}
    return out


def _pairwise_kappa(codes: np.ndarray, labels, names) -> dict:
    """:func:`analysis.agreement.pairwise_kappa` for the three weightings at once.

    The same quantity (mean over pairs of Cohen's kappa, undefined pairs left out), computed
    from all the pairs' contingency tables in one pass: pairwise_kappa validates and tabulates
    each pair separately, which for 20 readers (190 pairs) costs more than the rest of the
    comparison. The tests check that both agree.
    """
    k = len(labels)
    first, second = np.triu_indices(codes.shape[0], 1)
    cells = codes[first] * k + codes[second] + (np.arange(first.size) * k * k)[:, None]
    tables = np.bincount(cells.ravel(), minlength=first.size * k * k)
    kappas = statistics_from_confusion(tables.reshape(first.size, k, k).astype(float))
    out = {}
    for w, key in zip(WEIGHTS, ("kappa", "kappa_linear", "kappa_quadratic"), strict=True):
        values = kappas[key]
        finite = values[np.isfinite(values)]
        out[w] = PairwiseKappaResult(
            mean_kappa=float(finite.mean()) if finite.size else float("nan"), weights=w,
            labels=tuple(labels), raters=tuple(names),
            pairs=tuple((names[a], names[b], float(v))
                        for a, b, v in zip(first, second, values, strict=True)),
        )
    return out


def _intra_reader(reads: pd.DataFrame, labels, level) -> tuple:
    """Kappa between the first two sessions of a human reader in the same condition."""
    humans = reads[reads["reader_kind"] == "human"]
    out = []
    for (reader, condition), rows in humans.groupby(["reader", "condition"], sort=True):
        sessions = sorted(rows["session"].unique())
        if len(sessions) < 2:
            continue
        s1, s2 = sessions[:2]
        both = rows[rows["session"] == s1].merge(rows[rows["session"] == s2], on="case",
                                                 suffixes=("_1", "_2"))
        entry = {"reader": reader, "condition": condition, "sessions": [int(s1), int(s2)],
                 "n_cases": len(both)}
        if len(both) < 2:
            out.append({**entry, "note": "fewer than 2 cases read in both sessions"})
            continue
        entry["kappa"] = {w: intra_reader_agreement(
            both["label_1"].to_numpy(object), both["label_2"].to_numpy(object), labels=labels,
            weights=w, confidence=level).to_dict() for w in WEIGHTS}
        out.append(entry)
    return tuple(out)


def _other_conditions(reads: pd.DataFrame, primary: str, rater_of) -> dict[str, list]:
    """Human raters of every non-primary condition (first session of each reader)."""
    out: dict[str, list] = {}
    humans = reads[(reads["reader_kind"] == "human") & (reads["condition"] != primary)]
    for (cond, reader), rows in humans.groupby(["condition", "reader"], sort=True):
        first = rows[rows["session"] == rows["session"].min()]
        out.setdefault(cond, []).append(rater_of(first, reader, "human", cond))
    return out


def _mrmc(primary, models, humans, *, others: dict, truth, labels, eps, level, group,
          exclusions) -> tuple:
    """Model vs random readers per endpoint; each other condition vs the primary one."""
    out = []
    complete = [h for h in humans if h.read.all()]
    left_out = [h.name for h in humans if not h.read.all()]
    if left_out:
        exclusions.append({"reader": None, "site_group": group, "what": "MRMC readers",
                           "n_cases": None, "readers": left_out,
                           "reason": "did not read every case of the site group; MRMC needs "
                                     "a complete design"})
    label_index = {lab: i for i, lab in enumerate(labels)}
    for e in eps:
        mask = np.array([lab in e.positive for lab in labels])
        y = np.isin(truth, [label_index[p] for p in labels if p in e.positive])
        reason = _roc_reason(y)
        names = [h.name for h in complete]
        scores = np.stack([h.probs[:, mask].sum(axis=1) for h in complete]) if complete \
            else None
        for m in models:
            entry = {"analysis": "model vs readers", "endpoint": e.name, "model": m.name,
                     "readers": names, "left_out": left_out}
            why = reason or (None if len(complete) >= 2 else
                             f"{len(complete)} reader(s) read every case; at least 2 needed")
            if why is None and not m.read.all():
                why = "the model did not read every case"
            if why:
                out.append({**entry, "result": None, "reason": why})
                continue
            res = model_vs_readers(y, m.probs[:, mask].sum(axis=1), scores, level=level,
                                   readers=names)
            out.append({**entry, "result": res.to_dict(), "reason": None})
        for cond, raters in others.items():
            theirs = {r.name: r for r in raters if r.read.all()}
            both = [h for h in complete if h.name in theirs]
            entry = {"analysis": "conditions", "endpoint": e.name,
                     "treatments": [primary, cond], "readers": [h.name for h in both],
                     "left_out": sorted({h.name for h in humans} - {h.name for h in both})}
            why = reason or (None if len(both) >= 2 else
                             f"{len(both)} reader(s) read every case in both conditions; "
                             "at least 2 needed")
            if why:
                out.append({**entry, "result": None, "reason": why})
                continue
            ratings = np.stack([
                np.stack([h.probs[:, mask].sum(axis=1) for h in both]),
                np.stack([theirs[h.name].probs[:, mask].sum(axis=1) for h in both]),
            ])
            res = mrmc(y, ratings, level=level, treatments=(primary, cond),
                       readers=[h.name for h in both])
            out.append({**entry, "result": res.to_dict(), "reason": None})
    return tuple(out)
