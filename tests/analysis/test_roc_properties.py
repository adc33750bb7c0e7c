"""Properties of the fast (midrank) DeLong implementation, checked with hypothesis against a
naive O(m n) implementation written straight from DeLong et al. (1988)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.roc.auc import auc, delong_covariance
from analysis.roc.compare_curves import delong_test

SETTINGS = settings(max_examples=100, deadline=None)


def naive_delong(y_true, scores):
    """DeLong's covariance from the full m x n kernel matrix: tests only."""
    y = np.asarray(y_true, dtype=bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    v10, v01, aucs = [], [], []
    for s in scores:
        x, z = s[y], s[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    a = np.array(aucs)[:, None]
    s10 = (v10 - a) @ (v10 - a).T / (m - 1)
    s01 = (v01 - a) @ (v01 - a).T / (n - 1)
    return np.array(aucs), s10 / m + s01 / n


@st.composite
def cases(draw, k=2, max_n=60, tie_heavy=None):
    """Binary truth with >= 2 of each class and k scores; integer scores on a small range
    give heavy ties, floats give few."""
    n = draw(st.integers(4, max_n))
    y = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    y = np.array(y)
    y[:2] = [True, False]
    y[2:4] = [True, False]
    ties = draw(st.booleans()) if tie_heavy is None else tie_heavy
    if ties:
        vals = st.integers(-3, 3)
        s = [draw(st.lists(vals, min_size=n, max_size=n)) for _ in range(k)]
    else:
        vals = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
        s = [draw(st.lists(vals, min_size=n, max_size=n)) for _ in range(k)]
    return y, np.array(s, dtype=float)


@SETTINGS
@given(cases(k=3))
def test_fast_delong_equals_naive_delong(data):
    y, s = data
    a_fast, c_fast = delong_covariance(y, s)
    a_naive, c_naive = naive_delong(y, s)
    np.testing.assert_allclose(a_fast, a_naive, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_fast, c_naive, rtol=0, atol=1e-12)


@SETTINGS
@given(cases(k=2, tie_heavy=True))
def test_fast_delong_equals_naive_delong_with_heavy_ties(data):
    y, s = data
    np.testing.assert_allclose(delong_covariance(y, s)[1], naive_delong(y, s)[1], atol=1e-12)


@SETTINGS
@given(cases(k=1))
def test_auc_equals_mann_whitney_u_over_mn(data):
    y, s = data
    pos, neg = s[0][y], s[0][~y]
    u = stats.mannwhitneyu(pos, neg).statistic
    assert abs(auc(y, s[0]) - u / (pos.size * neg.size)) < 1e-12


@SETTINGS
@given(cases(k=2, tie_heavy=True))
def test_auc_and_delong_are_invariant_to_increasing_transforms(data):
    y, s = data
    # exact on small integers: strictly increasing, keeps ties as ties
    transformed = s**3 + 5 * s + 7
    a1, c1 = delong_covariance(y, s)
    a2, c2 = delong_covariance(y, transformed)
    np.testing.assert_allclose(a1, a2, atol=1e-15)
    np.testing.assert_allclose(c1, c2, atol=1e-15)
    t1 = delong_test(y, s[0], s[1])
    assume(np.isfinite(t1.statistic))
    t2 = delong_test(y, np.exp(s[0] / 10), transformed[1])
    assert abs(t1.statistic - t2.statistic) < 1e-9
    assert abs(t1.pvalue - t2.pvalue) < 1e-9


@SETTINGS
@given(cases(k=2))
def test_swapping_the_scores_flips_the_statistic_and_keeps_p(data):
    y, s = data
    a = delong_test(y, s[0], s[1])
    b = delong_test(y, s[1], s[0])
    assume(np.isfinite(a.statistic))
    assert abs(a.statistic + b.statistic) < 1e-9
    assert abs(a.pvalue - b.pvalue) < 1e-12
    assert abs(a.difference + b.difference) < 1e-15
