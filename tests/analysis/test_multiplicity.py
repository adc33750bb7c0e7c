"""Holm's step-down adjustment.

Reference: Holm S (1979), Scand J Stat 6:65-70 (the definition, worked by hand below) and
statsmodels ``multipletests(method="holm")`` (same as R ``p.adjust(p, "holm")``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from analysis.metrics.multiplicity import holm


def test_it_adjusts_a_worked_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    res = holm([0.01, 0.04, 0.03, 0.005], names=["r1", "r2", "r3", "r4"])
    assert res.p_adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert res.reject.tolist() == [True, False, False, True]
    assert res.method == "Holm-adjusted across 4 readers"
    assert "Holm-adjusted across 4 readers" in res.summary()
    assert json.loads(json.dumps(res.to_dict()))["names"] == ["r1", "r2", "r3", "r4"]


def test_it_caps_adjusted_p_at_one_and_names_the_family():
    res = holm([0.6, 0.7, 0.9], family="comparisons")
    assert res.p_adjusted.max() == 1.0
    assert res.method == "Holm-adjusted across 3 comparisons"
    assert holm([0.2]).method == "Holm-adjusted across 1 reader"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=25), st.sampled_from([0.01, 0.05, 0.1]))
def test_it_agrees_with_statsmodels_multipletests(pvalues, alpha):
    res = holm(pvalues, alpha=alpha)
    reject, adjusted, _, _ = multipletests(pvalues, alpha=alpha, method="holm")
    assert res.p_adjusted == pytest.approx(adjusted, abs=1e-12)
    # Rejections agree except where an adjusted p sits on alpha within rounding.
    clear = np.abs(adjusted - alpha) > 1e-9
    assert (res.reject[clear] == reject[clear]).all()


def test_twelve_readers_against_statsmodels():
    p = np.array([0.001, 0.0004, 0.03, 0.2, 0.049, 0.8, 0.011, 0.07, 0.0099, 0.5, 0.02, 0.004])
    res = holm(p)
    assert res.method == "Holm-adjusted across 12 readers"
    assert res.p_adjusted == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)


def test_it_refuses_invalid_p_values():
    with pytest.raises(ValueError, match="pvalues: contains NaN"):
        holm([0.1, float("nan")])
    with pytest.raises(ValueError, match=r"pvalues: expected values in \[0, 1\], got 1.5"):
        holm([0.1, 1.5])
    with pytest.raises(ValueError, match="names: expected 2 names"):
        holm([0.1, 0.2], names=["a"])
    with pytest.raises(ValueError, match="alpha"):
        holm([0.1], alpha=5)
