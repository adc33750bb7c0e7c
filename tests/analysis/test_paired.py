"""McNemar's test and the paired difference in accuracy.

Reference numbers:
- R ``mcnemar.test`` on the six tables of tests/reference_data/mcnemar_tables.csv, as
  recorded in statsmodels stats/tests/test_nonparametric.py::test_mcnemar_chisquare (with and
  without continuity correction); exact p-values from the same file's test_mcnemar_exact
  ("vassar college online computation", 6 decimals).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from analysis.metrics.classification import wilson_ci
from analysis.metrics.paired import (
    accuracy_difference,
    accuracy_difference_table,
    mcnemar,
    mcnemar_table,
    paired_table,
)
from tests.reference import REFERENCE_DATA

TABLES = {
    row["name"]: tuple(int(row[k]) for k in ("n11", "n12", "n21", "n22"))
    for row in csv.DictReader((REFERENCE_DATA / "mcnemar_tables.csv").open())
}


def printed(text: str) -> pytest.approx:
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    return pytest.approx(float(text), abs=0.5 * 10 ** (exponent - decimals) + 1e-15)


R_CORRECTED = {"f_obs1": ("2.067222e01", "5.450095e-06"), "f_obs2": ("0.7751938", "0.3786151"),
               "f_obs3": ("2.87769784", "0.08981434")}
R_UNCORRECTED = {"f_obs1": ("2.135556e01", "3.815136e-06"),
                 "f_obs2": ("0.9379845", "0.3327967"), "f_obs3": ("3.17266187", "0.07488031")}
EXACT = {"f_obs1": (59, "0.000004"), "f_obs2": (59, "0.378688"), "f_obs3": (59, "0.089452"),
         "f_obs4": (30, "0.00206"), "f_obs5": (10, "0.002221"), "f_obs6": (10, "1.0")}


@pytest.mark.parametrize("name", sorted(R_CORRECTED))
def test_it_reproduces_r_mcnemar_test_with_correction(name):
    stat, p = R_CORRECTED[name]
    res = mcnemar_table(*TABLES[name])
    assert res.statistic == printed(stat)
    assert res.p == printed(p)
    assert res.df == 1 and "with continuity correction" in res.method


@pytest.mark.parametrize("name", sorted(R_UNCORRECTED))
def test_it_reproduces_r_mcnemar_test_without_correction(name):
    stat, p = R_UNCORRECTED[name]
    res = mcnemar_table(*TABLES[name], correction=False)
    assert res.statistic == printed(stat)
    assert res.p == printed(p)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_it_reproduces_the_exact_binomial_p_values(name):
    stat, p = EXACT[name]
    res = mcnemar_table(*TABLES[name], exact=True)
    assert res.statistic == stat
    assert res.p == printed(p)
    assert res.df is None


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("exact,correction", [(False, True), (False, False), (True, True)])
def test_it_agrees_with_statsmodels_mcnemar(name, exact, correction):
    n11, n12, n21, n22 = TABLES[name]
    ours = mcnemar_table(n11, n12, n21, n22, exact=exact, correction=correction)
    sm = sm_mcnemar([[n11, n12], [n21, n22]], exact=exact, correction=correction)
    if n12 == n21 and correction and not exact:
        # R (and we) apply no correction to a symmetric table; statsmodels gives 1/(b + c).
        assert (ours.statistic, ours.p) == (0.0, 1.0)
    else:
        assert ours.statistic == pytest.approx(sm.statistic, rel=1e-12)
        assert ours.p == pytest.approx(sm.pvalue, rel=1e-10)


def test_it_builds_the_table_from_paired_correctness():
    a = [1, 1, 1, 0, 0, 1, 0]
    b = [1, 0, 0, 1, 0, 1, 0]
    assert paired_table(a, b) == (2, 2, 1, 2)
    assert mcnemar(a, b).to_dict() == mcnemar_table(2, 2, 1, 2).to_dict()
    json.dumps(mcnemar(a, b, exact=True).to_dict())
    assert "discordant" in mcnemar(a, b).summary()


def test_no_discordant_pairs_means_no_evidence():
    res = mcnemar_table(10, 0, 0, 5)
    assert (res.statistic, res.p) == (0.0, 1.0)
    assert mcnemar_table(10, 0, 0, 5, exact=True).p == 1.0


def test_it_refuses_negative_counts_and_bad_correctness():
    with pytest.raises(ValueError, match=r"table: negative count -3 at cell \(1, 0\)"):
        mcnemar_table(1, 2, -3, 4)
    with pytest.raises(ValueError, match="n12: expected a whole-number count"):
        mcnemar_table(1, 2.5, 3, 4)
    with pytest.raises(ValueError, match="correct_b: expected booleans or 0/1"):
        mcnemar([1, 0], [1, 2])
    with pytest.raises(ValueError, match="correct_a: contains NaN"):
        mcnemar([1.0, np.nan], [1, 0])
    with pytest.raises(ValueError, match="different lengths: correct_a has 3, correct_b has 2"):
        mcnemar([1, 0, 1], [1, 0])


def test_wald_difference_follows_newcombe_method_1():
    n11, n12, n21, n22 = TABLES["f_obs2"]
    n = n11 + n12 + n21 + n22
    res = accuracy_difference_table(n11, n12, n21, n22, method="wald")
    d = (n12 - n21) / n
    se = np.sqrt((n12 + n21) - (n12 - n21) ** 2 / n) / n
    assert res.difference == pytest.approx(d)
    assert res.ci == pytest.approx((d - 1.959963984540054 * se, d + 1.959963984540054 * se))


def test_newcombe_difference_reduces_to_square_and_add_without_correlation():
    # a*d - b*c = 0: phi = 0, so the limits combine the two Wilson intervals by squares.
    n11, n12, n21, n22 = 10, 20, 5, 10
    n = 45
    res = accuracy_difference_table(n11, n12, n21, n22)
    p1, p2 = (n11 + n12) / n, (n11 + n21) / n
    l1, u1 = wilson_ci(n11 + n12, n)
    l2, u2 = wilson_ci(n11 + n21, n)
    assert res.ci[0] == pytest.approx(p1 - p2 - np.hypot(p1 - l1, u2 - p2))
    assert res.ci[1] == pytest.approx(p1 - p2 + np.hypot(u1 - p1, p2 - l2))


@settings(max_examples=50, deadline=None)
@given(st.tuples(*[st.integers(0, 40)] * 4).filter(lambda t: sum(t) > 0))
def test_newcombe_interval_is_inside_bounds_and_contains_the_estimate(table):
    res = accuracy_difference_table(*table)
    assert -1.0 <= res.ci[0] <= res.difference <= res.ci[1] <= 1.0
    swapped = accuracy_difference_table(table[0], table[2], table[1], table[3])
    assert swapped.ci == pytest.approx((-res.ci[1], -res.ci[0]))


def test_accuracy_difference_from_correctness():
    a = [1] * 30 + [0] * 10
    b = [1] * 20 + [0] * 20
    res = accuracy_difference(a, b)
    assert res.difference == pytest.approx(0.25)
    assert res.accuracy_a == 0.75 and res.accuracy_b == 0.5
    assert "Newcombe" in res.summary()
    with pytest.raises(ValueError, match="method: expected 'newcombe' or 'wald'"):
        accuracy_difference(a, b, method="tango")
