"""The raters of one site group of a comparison, as aligned arrays, and the ROC questions asked
of all of them at once (one DeLong covariance per question for every rater who read every case).
Internal to :mod:`analysis.compare.comparison`.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import stats

from analysis.roc.auc import AUCResult, DeLongTestResult, delong_covariance, roc_auc_ci
from analysis.roc.compare_curves import delong_test
from analysis.table.ratings import distinct_reads, pair_scores


@dataclass
class Rater:
    name: str
    kind: str
    seniority: str | None
    condition: str | None
    codes: np.ndarray  # (n,) label index, -1 where not read
    probs: np.ndarray  # (n, K), NaN where not read
    time_ms: np.ndarray  # (n,), NaN where not read or unknown
    members: tuple = ()
    indeterminate: np.ndarray | None = None  # (n,) True where the read was indeterminate
    rule: np.ndarray | None = None  # (n,) True where the read is scored by class + confidence
    confidence: np.ndarray | None = None  # (n,) its confidence (0-100, NaN: certain)
    parts: tuple = ()  # a consensus: the member raters

    _scores: dict = field(default_factory=dict, repr=False, compare=False)  # memo per mask
    _pairs: tuple | None = field(default=None, repr=False, compare=False)  # distinct reads

    def endpoint_scores(self, mask) -> np.ndarray:
        """Score of each case for the positive classes ``mask`` (K,), NaN where not read
        (read-only; computed once per mask).

        Class + confidence reads are scored exactly (:func:`analysis.table.ratings.rule_scores`)
        and a consensus takes the exact mean of its members' scores where every member who
        read the case was scored so: scores equal in exact arithmetic are equal floats, so the
        ROC counts them as ties."""
        mask = np.asarray(mask, dtype=bool)
        key = mask.tobytes()
        if key not in self._scores:
            out = self.probs[:, mask].sum(axis=1)
            numerators, denominator, exact = self._exact_numerators(mask)
            if exact.any():
                out[exact] = _exact_floats(numerators[exact], denominator)
            out.flags.writeable = False
            self._scores[key] = out
        return self._scores[key]

    def _exact_numerators(self, mask: np.ndarray):
        """``(numerators, D, exact)``: the exact score of case j is numerators[j] / D where
        ``exact[j]`` (class + confidence reads); numerators is an object array of ints."""
        if self.parts:
            return self._consensus_numerators(mask)
        n, k = self.probs.shape
        numerators = np.zeros(n, dtype=object)
        exact = np.zeros(n, dtype=bool) if self.rule is None else self.read & self.rule
        if not exact.any():
            return numerators, 1, exact
        if self._pairs is None:
            self._pairs = distinct_reads(self.codes[exact], self.confidence[exact], n_classes=k)
        pairs, inverse = self._pairs
        values = pair_scores(pairs, mask, n_classes=k)
        denominator = math.lcm(*(v.denominator for v in values))
        numerators[exact] = np.array([v.numerator * (denominator // v.denominator)
                                      for v in values], dtype=object)[inverse]
        return numerators, denominator, exact

    def _consensus_numerators(self, mask: np.ndarray):
        n = self.probs.shape[0]
        parts = [m._exact_numerators(mask) for m in self.parts]
        denominator = math.lcm(*(d for _, d, _ in parts))
        total = np.zeros(n, dtype=object)
        count = np.zeros(n, dtype=np.int64)
        exact = np.ones(n, dtype=bool)
        for m, (num, d, known) in zip(self.parts, parts, strict=True):
            total = total + np.where(known, num * (denominator // d), 0)
            count += m.read
            exact &= known | ~m.read  # every member who read the case was scored exactly
        exact &= count > 0
        numerators = np.zeros(n, dtype=object)
        numerators[exact] = total[exact]
        # the mean: numerators / (count * D); kept as a fraction with one denominator
        scale = math.lcm(*(int(c) for c in np.unique(count[exact]))) if exact.any() else 1
        numerators[exact] = numerators[exact] * (scale // count[exact]).astype(object)
        return numerators, denominator * scale, exact

    @property
    def read(self) -> np.ndarray:
        return self.codes >= 0

    @property
    def answered(self) -> np.ndarray:
        """Graded or indeterminate: the cases this rater gave a result on."""
        if self.indeterminate is None:
            return self.read
        return self.read | self.indeterminate


def _exact_floats(numerators: np.ndarray, denominator: int) -> np.ndarray:
    """``numerators / denominator`` (integers), each correctly rounded to a float, so equal
    exact values give equal floats: in float64 when both are exact there (below 2**53; IEEE
    division rounds correctly), else through :class:`fractions.Fraction`."""
    limit = 2**53
    if denominator < limit and all(abs(int(x)) < limit for x in numerators):
        return numerators.astype(np.int64).astype(float) / float(denominator)
    return np.array([float(Fraction(int(x), denominator)) for x in numerators])


def rater_from_reads(reads: pd.DataFrame, probs: np.ndarray, case_index: pd.Index,
                     labels: Sequence[str], *, name, kind, seniority, condition,
                     rule: np.ndarray | None = None) -> Rater:
    """A rater from its reads (one per case) and their probability vectors; ``rule`` marks the
    reads scored by class + confidence (:func:`analysis.table.ratings.rule_rows`)."""
    n, k = len(case_index), len(labels)
    pos = case_index.get_indexer(reads["case"])
    codes = np.full(n, -1, dtype=np.intp)
    codes[pos] = reads["label"].map({lab: i for i, lab in enumerate(labels)}).to_numpy(np.intp)
    p = np.full((n, k), np.nan)
    p[pos] = probs
    t = np.full(n, np.nan)
    t[pos] = reads["time_ms"].to_numpy(dtype=float)
    by_rule = np.zeros(n, dtype=bool)
    q = np.full(n, np.nan)
    if rule is not None:
        by_rule[pos] = rule
        q[pos] = reads["confidence"].to_numpy(dtype=float)
    return Rater(name=name, kind=kind, seniority=seniority, condition=condition, codes=codes,
                  probs=p, time_ms=t, rule=by_rule, confidence=q)


def consensus(name: str, members: list, n_classes: int) -> Rater:
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
    return Rater(name=name, kind="group", seniority=members[0].seniority,
                  condition=members[0].condition,
                  codes=np.where(any_read, label, -1).astype(np.intp), probs=mean_p,
                  time_ms=np.full(codes.shape[1], np.nan),
                  members=tuple(m.name for m in members), parts=tuple(members))


def _nanmean_safe(probs: np.ndarray, read: np.ndarray) -> np.ndarray:
    total = np.where(read[:, :, None], probs, 0.0).sum(axis=0)
    count = read.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _auc_result(a: float, var: float, n_pos: int, n_neg: int, level: float) -> AUCResult:
    """The AUCResult :func:`analysis.roc.auc.roc_auc_ci` gives, from a joint DeLong covariance."""
    se = float(np.sqrt(var))
    z = stats.norm.ppf(0.5 + level / 2.0)
    return AUCResult(auc=float(a), var=float(var), se=se,
                     ci=(float(max(0.0, a - z * se)), float(min(1.0, a + z * se))),
                     level=level, n_positive=n_pos, n_negative=n_neg)


def _delong_from_cov(aucs, cov, i: int, j: int, level: float) -> DeLongTestResult:
    """Paired DeLong test of scores i and j from their joint covariance, exactly as
    :func:`analysis.roc.compare_curves.delong_test` computes it (two-sided)."""
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


class ROCQuestion:
    """DeLong AUCs of every rater for one binary question, one joint covariance for the raters
    who read every case (one DeLong for all scores of the question)."""

    def __init__(self, name, positive, y, *, raters, labels, level):
        self.name, self.positive, self.y, self.level = name, positive, y, level
        self.mask = np.array([lab in positive for lab in labels])
        self.scores = {r.name: r.endpoint_scores(self.mask) for r in raters}
        self.read = {r.name: r.read for r in raters}
        self.reason = roc_reason(y)
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
        reason = self.reason if self.reason else roc_reason(self.y[read])
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
            reason = roc_reason(self.y[common])
            if reason:
                return None, reason
            return delong_test(self.y[common], self.scores[a][common], self.scores[b][common],
                               level=self.level), None
        except ValueError as exc:
            return None, str(exc)


def roc_reason(y: np.ndarray) -> str | None:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos < 2 or n_neg < 2:
        return (f"DeLong needs at least 2 positive and 2 negative cases; these cases have "
                f"{n_pos} positive and {n_neg} negative")
    return None

