"""How a read becomes scores: defined once here, used by every ROC of humans and of models.

ROC analysis needs a *rating* per case, a number that orders cases from "surely negative" to
"surely positive" for the question asked. A model gives per-class probabilities; a surgeon gives
a class and a confidence. This module turns both into the same thing, a probability vector
``p`` over the ordered classes, and derives every score from it.

The rule
--------
1. **Per-class scores present** (``score_<class>`` columns, e.g. a model's softmax output): they
   are used as given, normalised to sum to 1.
2. **Otherwise** (a human read of class ``c`` with confidence ``q`` in 0-100)::

       p[c] = 1/K + (1 - 1/K) * q / 100

   so that ``q = 0`` (guessing) gives the uniform ``1/K`` and ``q = 100`` (certain) gives 1. The
   remaining mass ``1 - p[c]`` goes to the other classes with weights proportional to
   ``1 / (1 + |i - c|)``: on the ordered scale a neighbouring class is the likelier alternative.
   A read without a confidence is taken as certain (``q = 100``): its rating is its class alone.
3. **Scores**: the one-vs-rest score of class ``k`` is ``p[k]``; the score of an endpoint with
   positive classes ``P`` is ``sum(p[k] for k in P)``.

Scores of rule 2 are computed in exact rational arithmetic (once per distinct class and
confidence, the confidence taken as the decimal number it is written as) and rounded to a float
once, at the end: two reads whose scores are equal in exact
arithmetic get the identical float, so an ROC counts them as a tie (1/2), as the rating scale
means. Summed in floating point, "B at 44" and "C1 at 16" (JIC, score of A: both 0.1575) came
out 0.15750000000000003 and 0.1575, a win instead of a tie. :func:`read_endpoint_scores` gives
the scores of any reads (rules 1 and 2); :func:`rule_scores` those of rule 2 alone.

Why this rule: (a) it follows what the reader said: more confidence in a class raises that
class's score, and for the cumulative endpoints a read of a higher class scores strictly higher
than a read of a lower class given with the same confidence below 100 (and not lower at 100,
where reads on the same side of the endpoint tie) -- for up to three classes at any confidence
above 0, for four or five classes at any confidence above 5. So class plus confidence act as
the ordinal rating scale of classical ROC reader studies (Metz 1986; Obuchowski & Rockette 1995
use such 1-5 or 0-100 ratings). With six or more classes the 1/(1+|i-c|) spread, being
normalised per class, can order two reads that lie on the same side of an endpoint and far from
its threshold the wrong way round by a small margin; the tests check the monotonicity stated
here. (b) Humans and models are scored
through the same function of a probability vector, so a reader's AUC and the model's AUC answer
the same question. (c) With ``q`` missing the rating reduces to the class itself, the "binary
reader" whose ROC curve has a single operating point per endpoint.

Endpoints are binary questions on the ordered classes: a name and a set of positive classes
(:class:`analysis.roc.multiclass.Endpoint`, shared with the ROC module). The
default for an ordered scheme ``labels`` is the cumulative set ``labels[i:]`` for ``i = 1..K-1``
(">= labels[i]"). For the JIC scheme ``A < B < C1 < C2`` this gives ">= B", ">= C1" (the
collapse-prone question C1, C2 vs A, B) and ">= C2" (C2 vs rest).

References
----------
Metz CE. ROC methodology in radiologic imaging. Invest Radiol 1986;21:720-733.
Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and
multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput
1995;24:285-308.

Examples
--------
>>> import numpy as np
>>> p = read_probabilities(np.array([1]), np.array([100.0]), n_classes=3)
>>> p.round(3).tolist()
[[0.0, 1.0, 0.0]]
>>> p = read_probabilities(np.array([0]), np.array([0.0]), n_classes=2)
>>> p.round(3).tolist()
[[0.5, 0.5]]
>>> [e.name for e in default_endpoints(["A", "B", "C1", "C2"])]
['>= B', '>= C1', '>= C2']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import lru_cache

import numpy as np

from analysis.roc.multiclass import Endpoint

RULE = (
    "Per-class scores, when the read has them, normalised to sum 1; otherwise class c with "
    "confidence q (0-100) gives p[c] = 1/K + (1 - 1/K) q/100 and the rest spread over the other "
    "classes in proportion to 1/(1+|i-c|); a missing confidence counts as q = 100. One-vs-rest "
    "score of class k = p[k]; endpoint score = sum of p over its positive classes. Class + "
    "confidence scores are computed in exact arithmetic and rounded once, so reads whose scores "
    "are equal count as ties in every ROC."
)


def endpoint_positive(endpoint: Endpoint, labels: Sequence[str]) -> tuple[str, ...]:
    """The positive classes of ``endpoint`` in the scheme's order."""
    return tuple(lab for lab in labels if lab in endpoint.positive)


def endpoint_mask(endpoint: Endpoint, labels: Sequence[str]) -> np.ndarray:
    """Boolean over ``labels``: True for the endpoint's positive classes."""
    return np.array([lab in endpoint.positive for lab in labels], dtype=bool)


def endpoint_to_dict(endpoint: Endpoint, labels: Sequence[str]) -> dict:
    return {"name": endpoint.name, "positive": list(endpoint_positive(endpoint, labels))}


def default_endpoints(labels: Sequence[str]) -> tuple[Endpoint, ...]:
    """The cumulative endpoints "class >= labels[i]" for i = 1..K-1 of an ordered scheme."""
    labels = [str(x) for x in labels]
    if len(labels) < 2:
        raise ValueError(f"labels: expected at least two classes, got {labels}")
    return tuple(Endpoint(name=f">= {labels[i]}", positive=frozenset(labels[i:]))
                 for i in range(1, len(labels)))


def make_endpoints(spec, labels: Sequence[str]) -> tuple[Endpoint, ...]:
    """Validate endpoints given as Endpoint objects, ``{"name", "positive"}`` dicts or
    ``(name, positive)`` pairs against ``labels``; None gives :func:`default_endpoints`."""
    labels = [str(x) for x in labels]
    if spec is None:
        return default_endpoints(labels)
    out: list[Endpoint] = []
    for i, item in enumerate(spec, start=1):
        if isinstance(item, Endpoint):
            name, positive = item.name, sorted(item.positive, key=str)
        elif isinstance(item, dict):
            name, positive = item.get("name"), item.get("positive")
        else:
            try:
                name, positive = item
            except (TypeError, ValueError):
                raise ValueError(
                    f"endpoints: item {i} is {item!r}; expected an Endpoint, a dict with "
                    "'name' and 'positive', or a (name, positive classes) pair"
                ) from None
        if isinstance(positive, str):
            positive = [positive]
        positive = tuple(str(x) for x in (positive or ()))
        if not name or not positive:
            raise ValueError(f"endpoints: item {i} needs a name and at least one positive class")
        unknown = [c for c in positive if c not in labels]
        if unknown:
            raise ValueError(
                f"endpoints: {name!r} names classes {unknown} not in labels {labels}"
            )
        if set(positive) == set(labels):
            raise ValueError(f"endpoints: {name!r} makes every class positive; nothing to compare")
        out.append(Endpoint(name=str(name), positive=frozenset(positive)))
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"endpoints: a name is used twice in {names}")
    if not out:
        raise ValueError("endpoints: expected at least one endpoint, got none")
    return tuple(out)


@lru_cache(maxsize=64)
def _exact_spread(n_classes: int) -> tuple[tuple[Fraction, ...], ...]:
    """Row c: the share of the leftover mass for each class i != c, as exact fractions."""
    rows = []
    for c in range(n_classes):
        w = [Fraction(0) if i == c else Fraction(1, 1 + abs(i - c)) for i in range(n_classes)]
        total = sum(w)
        rows.append(tuple(x / total for x in w))
    return tuple(rows)


@lru_cache(maxsize=65536)
def _exact_probabilities(code: int, confidence: float, n_classes: int) -> tuple[Fraction, ...]:
    """Rule 2 for one read, exactly, ``confidence`` (0-100) taken as the decimal number it is
    written as (the shortest repr of the float: 42.857 is 42857/1000)."""
    q = Fraction(repr(float(confidence)))
    rest = (1 - Fraction(1, n_classes)) * (1 - q / 100)
    p = [rest * share for share in _exact_spread(n_classes)[code]]
    p[code] = 1 - rest
    return tuple(p)


@lru_cache(maxsize=65536)
def _exact_score(code: int, confidence: float, positive: tuple[int, ...],
                 n_classes: int) -> Fraction:
    p = _exact_probabilities(code, confidence, n_classes)
    return sum((p[i] for i in positive), Fraction(0))


def _check_reads(codes: np.ndarray, q: np.ndarray, n_classes: int) -> None:
    if codes.shape != q.shape or codes.ndim != 1:
        raise ValueError(
            f"label_codes and confidence: expected two 1-D arrays of one length, got shapes "
            f"{codes.shape} and {q.shape}"
        )
    if n_classes < 2:
        raise ValueError(f"n_classes: expected at least 2, got {n_classes}")
    if codes.size and (codes.min() < 0 or codes.max() >= n_classes):
        raise ValueError(f"label_codes: expected values in 0..{n_classes - 1}")
    finite = q[~np.isnan(q)]
    if ((finite < 0) | (finite > 100)).any():
        raise ValueError("confidence: expected values in 0-100")


def distinct_reads(label_codes, confidence, *, n_classes: int):
    """The distinct (class, confidence) pairs of class + confidence reads and, per read, the
    index of its pair (a missing confidence, NaN, is certainty: 100). Arguments as
    :func:`rule_scores`."""
    codes = np.asarray(label_codes, dtype=np.intp)
    q = np.asarray(confidence, dtype=float)
    _check_reads(codes, q, n_classes)
    if not codes.size:
        return [], np.empty(0, dtype=np.intp)
    q = np.where(np.isnan(q), 100.0, q)
    pairs, inverse = np.unique(np.stack([codes.astype(float), q], axis=1), axis=0,
                               return_inverse=True)
    return [(int(c), float(k)) for c, k in pairs], inverse.ravel()


def pair_scores(pairs, mask, *, n_classes: int) -> list[Fraction]:
    """The exact score of each (class, confidence) pair for the positive classes ``mask``."""
    positive = tuple(int(i) for i in np.flatnonzero(np.asarray(mask, dtype=bool)))
    return [_exact_score(c, q, positive, n_classes) for c, q in pairs]


def rule_scores(label_codes, confidence, mask, *, n_classes: int) -> np.ndarray:
    """Scores of class + confidence reads (rule 2) for the positive classes ``mask``.

    Parameters
    ----------
    label_codes : array of int, shape (n,)
        Class position of each read, 0 = lowest class.
    confidence : array of float, shape (n,)
        0-100 (taken as the decimal number it is written as); NaN means no confidence given
        (taken as 100).
    mask : array of bool, shape (K,)
        The positive classes (one class: its one-vs-rest score).
    n_classes : int
        K, the number of ordered classes.

    Returns
    -------
    ndarray, shape (n,): ``sum(p[k] for k in mask)``, computed exactly and rounded once, so
    reads with equal exact scores get identical floats.

    Examples
    --------
    >>> a_vs_rest = [True, False, False, False]
    >>> rule_scores([1, 2], [44, 16], a_vs_rest, n_classes=4).tolist()  # B at 44, C1 at 16
    [0.1575, 0.1575]
    """
    pairs, inverse = distinct_reads(label_codes, confidence, n_classes=n_classes)
    table = np.array([float(v) for v in pair_scores(pairs, mask, n_classes=n_classes)])
    return table[inverse] if pairs else np.empty(0)


def read_probabilities(label_codes, confidence, *, n_classes: int) -> np.ndarray:
    """Probability vectors of class + confidence reads (rule 2 of the module docstring), each
    component computed exactly and rounded once (so one-vs-rest scores tie where they should).
    Arguments as :func:`rule_scores`.

    Returns
    -------
    ndarray, shape (n, K), rows summing to 1 (to rounding).
    """
    pairs, inverse = distinct_reads(label_codes, confidence, n_classes=n_classes)
    if not pairs:
        return np.empty((0, n_classes))
    table = np.array([[float(x) for x in _exact_probabilities(c, k, n_classes)]
                      for c, k in pairs], dtype=float)
    return table[inverse]


def probability_matrix(table, reads=None) -> np.ndarray:
    """Probability vector of every read of a :class:`~analysis.table.longtable.LongTable`.

    Rows with ``score_<class>`` values use them (normalised); the others use the class +
    confidence rule. ``reads``: a subset of ``table.reads`` (default: all of them).

    Returns
    -------
    ndarray, shape (n_reads, K), in label order.
    """
    reads = table.reads if reads is None else reads
    index = {lab: i for i, lab in enumerate(table.labels)}
    codes = reads["label"].map(index).to_numpy(dtype=np.intp)
    conf = reads["confidence"].to_numpy(dtype=float)
    scores = reads[list(table.score_columns)].to_numpy(dtype=float)
    return combine(scores, codes, conf)


def combine(scores: np.ndarray, label_codes, confidence) -> np.ndarray:
    """Rule 1 where a row of ``scores`` (n, K) is complete, rule 2 where it is all NaN."""
    scores = np.asarray(scores, dtype=float)
    n, k = scores.shape
    has = ~np.isnan(scores).any(axis=1)
    out = np.empty((n, k))
    if has.any():
        s = scores[has]
        out[has] = s / s.sum(axis=1, keepdims=True)
    if (~has).any():
        out[~has] = read_probabilities(np.asarray(label_codes)[~has],
                                       np.asarray(confidence, dtype=float)[~has], n_classes=k)
    return out


def endpoint_scores(probs: np.ndarray, endpoint: Endpoint, labels: Sequence[str]) -> np.ndarray:
    """Score of ``endpoint`` per row of probability vectors ``probs`` (n, K): the sum over its
    positive classes in floating point. For reads, use :func:`read_endpoint_scores`, which is
    exact for rule 2."""
    probs = np.asarray(probs, dtype=float)
    return probs[:, endpoint_mask(endpoint, labels)].sum(axis=1)


def rule_rows(table, reads=None) -> np.ndarray:
    """True for the reads of a :class:`~analysis.table.longtable.LongTable` scored by rule 2
    (no complete ``score_<class>`` values)."""
    reads = table.reads if reads is None else reads
    if not table.score_columns:
        return np.ones(len(reads), dtype=bool)
    return np.isnan(reads[list(table.score_columns)].to_numpy(dtype=float)).any(axis=1)


def read_endpoint_scores(table, mask, reads=None) -> np.ndarray:
    """Score of every read for the positive classes ``mask`` (K,): rule 1 rows from their
    normalised scores, rule 2 rows exactly (:func:`rule_scores`)."""
    reads = table.reads if reads is None else reads
    mask = np.asarray(mask, dtype=bool)
    rule = rule_rows(table, reads)
    out = np.empty(len(reads))
    if (~rule).any():
        out[~rule] = probability_matrix(table, reads.loc[~rule])[:, mask].sum(axis=1)
    if rule.any():
        index = {lab: i for i, lab in enumerate(table.labels)}
        rows = reads.loc[rule]
        out[rule] = rule_scores(rows["label"].map(index).to_numpy(dtype=np.intp),
                                rows["confidence"].to_numpy(dtype=float), mask,
                                n_classes=len(table.labels))
    return out


def one_vs_rest_endpoints(labels: Iterable[str]) -> tuple[Endpoint, ...]:
    """One endpoint per class: ``"<class> vs rest"``; its score is ``p[class]``."""
    return tuple(Endpoint(name=f"{lab} vs rest", positive=frozenset([str(lab)]))
                 for lab in labels)
