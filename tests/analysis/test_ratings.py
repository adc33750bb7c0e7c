"""How a read becomes scores: the documented rule, computed by hand on small examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.roc.multiclass import Endpoint
from analysis.table.longtable import validate_long_table
from analysis.table.ratings import (
    combine,
    default_endpoints,
    endpoint_positive,
    endpoint_scores,
    make_endpoints,
    one_vs_rest_endpoints,
    probability_matrix,
    read_probabilities,
    rule_scores,
)

JIC = ["A", "B", "C1", "C2"]  # an example of an ordered scheme


def test_a_certain_read_puts_all_mass_on_its_class():
    p = read_probabilities(np.array([2]), np.array([100.0]), n_classes=4)
    assert p.tolist() == [[0.0, 0.0, 1.0, 0.0]]


def test_a_guess_gives_its_class_one_over_k():
    p = read_probabilities(np.array([0]), np.array([0.0]), n_classes=4)
    assert p[0, 0] == pytest.approx(0.25)


def test_the_rest_is_spread_towards_the_neighbours():
    # K = 4, class index 1, q = 50: p[1] = 1/4 + 3/4 * 1/2 = 0.625; the remaining 0.375 goes to
    # classes 0, 2, 3 with weights 1/2, 1/2, 1/3 (sum 4/3): 0.140625, 0.140625, 0.09375.
    p = read_probabilities(np.array([1]), np.array([50.0]), n_classes=4)[0]
    assert p == pytest.approx([0.140625, 0.625, 0.140625, 0.09375])


def test_a_read_without_confidence_is_its_class_alone():
    p = read_probabilities(np.array([3]), np.array([np.nan]), n_classes=4)
    assert p.tolist() == [[0.0, 0.0, 0.0, 1.0]]


def test_per_class_scores_are_used_normalised():
    scores = np.array([[2.0, 1.0, 1.0], [np.nan, np.nan, np.nan]])
    p = combine(scores, np.array([0, 2]), np.array([np.nan, 100.0]))
    assert p.tolist() == [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]


def test_it_refuses_a_confidence_outside_0_to_100():
    with pytest.raises(ValueError, match="confidence: expected values in 0-100"):
        read_probabilities(np.array([0]), np.array([101.0]), n_classes=3)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 8), c=st.integers(0, 7), q=st.floats(0, 100))
def test_every_probability_vector_sums_to_one_with_the_mode_at_the_read_class(k, c, q):
    c = c % k
    p = read_probabilities(np.array([c]), np.array([q]), n_classes=k)[0]
    assert p.sum() == pytest.approx(1.0)
    assert (p >= 0).all()
    assert p[c] == pytest.approx(1 / k + (1 - 1 / k) * q / 100)
    if q >= 50:  # a guess (q near 0) may leave a neighbour likelier than the class read
        assert p[c] == pytest.approx(p.max())


@settings(max_examples=80, deadline=None)
@given(q=st.floats(0, 99.9), k=st.integers(2, 5))
def test_cumulative_endpoint_scores_rise_with_the_class_read(q, k):
    # the monotonicity the module docstring states: K <= 3 above q = 0 (tested from 0.01, where
    # the difference is not lost in rounding), K = 4, 5 above q = 5
    if q < (0.01 if k <= 3 else 5.01):
        q += 5.01
    labels = [f"c{i}" for i in range(k)]
    probs = read_probabilities(np.arange(k), np.full(k, q), n_classes=k)
    for endpoint in default_endpoints(labels):
        s = endpoint_scores(probs, endpoint, labels)
        assert (np.diff(s) > 0).all()


def test_at_full_confidence_reads_on_the_same_side_of_an_endpoint_tie():
    labels = ["a", "b", "c"]
    probs = read_probabilities(np.arange(3), np.full(3, 100.0), n_classes=3)
    s = endpoint_scores(probs, default_endpoints(labels)[0], labels)  # >= b
    assert s.tolist() == [0.0, 1.0, 1.0]


def test_more_confidence_in_a_positive_class_raises_the_endpoint_score():
    ep = Endpoint(">= C1", frozenset({"C1", "C2"}))
    probs = read_probabilities(np.array([2, 2]), np.array([40.0, 90.0]), n_classes=4)
    lo, hi = endpoint_scores(probs, ep, JIC)
    assert hi > lo


def test_the_endpoint_score_sums_its_positive_classes():
    probs = np.array([[0.1, 0.2, 0.3, 0.4]])
    ep = Endpoint("collapse-prone", frozenset({"C1", "C2"}))
    assert endpoint_scores(probs, ep, JIC).tolist() == pytest.approx([0.7])


def test_default_endpoints_are_the_cumulative_ones():
    endpoints = default_endpoints(JIC)
    assert [e.name for e in endpoints] == [">= B", ">= C1", ">= C2"]
    assert [endpoint_positive(e, JIC) for e in endpoints] == [
        ("B", "C1", "C2"), ("C1", "C2"), ("C2",)]
    assert [e.name for e in default_endpoints(["low", "high"])] == [">= high"]


def test_make_endpoints_accepts_dicts_pairs_and_endpoints_and_validates_them():
    made = make_endpoints([{"name": "collapse-prone", "positive": ["C2", "C1"]},
                           ("C2 vs rest", "C2"), Endpoint("x", frozenset({"A"}))], JIC)
    assert [endpoint_positive(e, JIC) for e in made] == [("C1", "C2"), ("C2",), ("A",)]
    with pytest.raises(ValueError, match=r"names classes \['C3'\] not in labels"):
        make_endpoints([("bad", ["C3"])], JIC)
    with pytest.raises(ValueError, match="makes every class positive"):
        make_endpoints([("all", JIC)], JIC)
    with pytest.raises(ValueError, match="a name is used twice"):
        make_endpoints([("x", "A"), ("x", "B")], JIC)
    assert make_endpoints(None, JIC) == default_endpoints(JIC)


def test_one_vs_rest_endpoints_have_one_class_each():
    assert [e.name for e in one_vs_rest_endpoints(["x", "y"])] == ["x vs rest", "y vs rest"]


def test_a_long_table_is_turned_into_probabilities_row_by_row():
    df = pd.DataFrame({
        "reader": ["m", "h"], "reader_kind": ["model", "human"], "condition": "unaided",
        "session": 1, "case": ["c1", "c1"], "patient": "p1", "truth": "y", "label": ["y", "x"],
        "confidence": [np.nan, 0.0], "score_x": [1.0, np.nan], "score_y": [3.0, np.nan],
    })
    table = validate_long_table(df)
    probs = probability_matrix(table)
    by_reader = dict(zip(table.reads["reader"], probs.tolist(), strict=True))
    assert by_reader == {"m": [0.25, 0.75], "h": [0.5, 0.5]}


# --- Ties: scores equal in exact arithmetic are equal floats (ROC counts them as 1/2).


def _exact_rule(code: int, q, k: int) -> list:
    """The documented rule written out again in rational arithmetic, independently (the
    confidence as the decimal number it is written as)."""
    from fractions import Fraction

    rest = (1 - Fraction(1, k)) * (1 - Fraction(repr(float(q))) / 100)
    w = [Fraction(0) if i == code else Fraction(1, 1 + abs(i - code)) for i in range(k)]
    p = [rest * x / sum(w) for x in w]
    p[code] = 1 - rest
    return p


def test_b_at_44_and_c1_at_16_give_the_same_score_of_a():
    # 3/4 * 0.56 * 3/8 = 0.1575 and 3/4 * 0.84 * 1/4 = 0.1575: summed in floating point they
    # came out 0.15750000000000003 and 0.1575.
    a_vs_rest = [True, False, False, False]
    scores = rule_scores([1, 2], [44, 16], a_vs_rest, n_classes=4)
    assert scores[0] == scores[1] == 0.1575
    assert read_probabilities(np.array([1, 2]), np.array([44.0, 16.0]), n_classes=4)[:, 0] \
        .tolist() == [0.1575, 0.1575]


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_scores_equal_in_exact_arithmetic_are_equal_floats_for_every_read_and_endpoint(k):
    """Every read (class, integer confidence 0-100) and every set of positive classes: reads
    with the same exact score get one float, and the floats keep the exact order."""
    reads = [(c, q) for c in range(k) for q in range(101)]
    codes = np.array([c for c, _ in reads])
    conf = np.array([q for _, q in reads], dtype=float)
    exact_p = [_exact_rule(c, q, k) for c, q in reads]
    for bits in range(1, 2 ** k - 1):
        mask = np.array([(bits >> i) & 1 == 1 for i in range(k)])
        floats = rule_scores(codes, conf, mask, n_classes=k)
        exact = [sum(p[i] for i in np.flatnonzero(mask)) for p in exact_p]
        by_value: dict = {}
        for value, f in zip(exact, floats, strict=True):
            by_value.setdefault(value, set()).add(float(f))
        assert all(len(fs) == 1 for fs in by_value.values())
        order = np.argsort(np.array(exact, dtype=object), kind="stable")
        assert (np.diff(floats[order]) >= 0).all()


@settings(max_examples=200, deadline=None)
@given(k=st.integers(2, 7), data=st.data())
def test_two_reads_with_equal_exact_scores_rank_as_a_tie(k, data):
    """Confidences with three decimals (the long table's), any endpoint: equal exact scores give
    equal floats, unequal ones keep their order."""
    q = st.integers(0, 100_000).map(lambda x: x / 1000)
    (c1, q1), (c2, q2) = (data.draw(st.tuples(st.integers(0, k - 1), q)) for _ in range(2))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=k, max_size=k)))
    s1, s2 = rule_scores([c1, c2], [q1, q2], mask, n_classes=k)
    e1, e2 = (sum(p[i] for i in np.flatnonzero(mask)) if mask.any() else 0
              for p in (_exact_rule(c1, q1, k), _exact_rule(c2, q2, k)))
    assert (s1 == s2) if e1 == e2 else ((s1 <= s2) == (e1 < e2))


def test_a_consensus_scores_the_exact_mean_of_its_members():
    from fractions import Fraction

    from analysis.compare.raters import Rater, consensus

    k, mask = 4, np.array([False, False, True, True])
    rng = np.random.default_rng(3)
    members = []
    for name in ("a", "b", "c"):
        codes = rng.integers(0, k, 40)
        q = rng.integers(0, 101, 40).astype(float)
        members.append(Rater(name=name, kind="human", seniority="chief", condition="unaided",
                             codes=codes, probs=read_probabilities(codes, q, n_classes=k),
                             time_ms=np.zeros(40), rule=np.ones(40, bool), confidence=q))
    group = consensus("chief", members, k)
    expected = [float(sum((sum(_exact_rule(int(m.codes[j]), m.confidence[j], k)[i]
                                for i in (2, 3)) for m in members), Fraction(0)) / 3)
                for j in range(40)]
    assert group.endpoint_scores(mask).tolist() == expected
