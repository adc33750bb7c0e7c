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
