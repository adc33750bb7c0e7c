"""ROC/DeLong against pROC's published results on its aSAH data.

Reference numbers come from pROC's own test suite (github.com/xrobin/pROC, tests/testthat):
test-roc.test.R (paired, unpaired and one-sided DeLong tests), test-var.R (DeLong variances),
test-cov.R (DeLong covariances) and test-ci.auc.R (DeLong CI of ndka), and from the reference
README (tests/reference_data/README.md). pROC's r.wfns, r.s100b and r.ndka are
``roc(aSAH$outcome, aSAH$<marker>)``: controls "Good", cases "Poor", direction "<" (controls
lower), which is our fixed convention "higher score = positive".
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats

from analysis.roc.auc import auc, delong_covariance, delong_placements, roc_auc_ci
from analysis.roc.compare_curves import delong_test, delong_test_unpaired
from analysis.roc.multiclass import Endpoint, endpoint_auc, endpoint_truth, one_vs_rest_auc
from tests.reference import REFERENCE_DATA

ASAH = REFERENCE_DATA / "aSAH.csv"


def printed(text: str) -> pytest.approx:
    """Equality to the digits a reference printed: half a unit in the last printed place, but
    no tighter than 1e-12 relative (R prints 15 significant digits, beyond what two different
    floating-point summation orders agree on; pROC's own tests use a tolerance of 1.5e-8)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    x = float(text)
    return pytest.approx(x, abs=max(0.51 * 10.0 ** (-decimals), 1e-12 * abs(x)))


@pytest.fixture(scope="module")
def asah():
    with ASAH.open() as fh:
        rows = list(csv.DictReader(fh))
    y = np.array([r["outcome"] == "Poor" for r in rows])
    cols = {k: np.array([float(r[k]) for r in rows]) for k in ("wfns", "s100b", "ndka")}
    female = np.array([r["gender"] == "Female" for r in rows])
    return y, cols, female


# --- AUC, variance, covariance, CI --------------------------------------------------------


def test_it_reproduces_the_aucs_of_the_reference_readme(asah):
    y, x, _ = asah
    assert auc(y, x["wfns"]) == printed("0.823678861788618")
    assert auc(y, x["s100b"]) == printed("0.731368563685637")
    # pROC test-ci.auc.R: the middle value of ci.auc(r.ndka)
    assert auc(y, x["ndka"]) == printed("0.611957994579946")


def test_it_reproduces_procs_delong_variances(asah):
    # pROC tests/testthat/test-var.R
    y, x, _ = asah
    assert roc_auc_ci(y, x["wfns"]).var == printed("0.00146991470882363")
    assert roc_auc_ci(y, x["ndka"]).var == printed("0.0031908105493913")
    assert roc_auc_ci(y, x["s100b"]).var == printed("0.00266868245717244")


def test_it_reproduces_procs_delong_covariances(asah):
    # pROC tests/testthat/test-cov.R: cov(r.wfns, r.ndka), cov(r.ndka, r.s100b), cov(r.s100b,
    # r.wfns)
    y, x, _ = asah
    _, c = delong_covariance(y, np.vstack([x["wfns"], x["ndka"], x["s100b"]]))
    assert c[0, 1] == printed("-0.000532967856762438")
    assert c[1, 2] == printed("-0.000756164938056579")
    assert c[2, 0] == printed("0.00119615567376754")
    assert np.allclose(c, c.T)


def test_it_reproduces_procs_delong_ci_of_ndka(asah):
    # pROC tests/testthat/test-ci.auc.R: expected.ci.auc
    y, x, _ = asah
    r = roc_auc_ci(y, x["ndka"])
    assert r.ci[0] == printed("0.501244999271703")
    assert r.auc == printed("0.611957994579946")
    assert r.ci[1] == printed("0.722670989888189")
    assert (r.n_positive, r.n_negative) == (41, 72)


def test_it_reproduces_procs_ci_on_the_female_subset(asah):
    # pROC test-ci.auc.R: ci.auc(outcome ~ ndka, data = aSAH, subset = (gender == "Female"))
    y, x, female = asah
    r = roc_auc_ci(y[female], x["ndka"][female])
    assert r.ci[0] == printed("0.5261398281")
    assert r.auc == printed("0.6671428571")
    assert r.ci[1] == printed("0.8081458862")


def test_it_reproduces_procs_printed_ci_of_s100b(asah):
    # pROC's print of ci(roc(outcome ~ s100b, aSAH)): "95% CI: 0.6301-0.8326 (DeLong)"
    y, x, _ = asah
    r = roc_auc_ci(y, x["s100b"])
    assert r.ci == (printed("0.6301"), printed("0.8326"))


def test_it_never_flips_the_direction_of_a_score(asah):
    # pROC's direction="auto" would report 0.612 for -ndka; our convention reports 1 - AUC.
    y, x, _ = asah
    r = roc_auc_ci(y, -x["ndka"])
    assert r.auc == pytest.approx(1 - 0.611957994579946, abs=1e-12)
    assert r.var == printed("0.0031908105493913")


def test_it_clips_the_ci_to_the_unit_interval():
    y = np.r_[np.zeros(5), np.ones(5)]
    s = np.r_[np.arange(5), np.arange(5) + 4.5]
    r = roc_auc_ci(y, s)
    assert r.auc == 1.0 and r.ci[1] == 1.0


def test_it_computes_placements_by_hand():
    a, v10, v01 = delong_placements([0, 1, 0, 1, 1], [1.0, 2.0, 2.0, 3.0, 0.5])
    # positives 2.0, 3.0, 0.5 against negatives 1.0, 2.0
    assert v10.tolist() == [[0.75, 1.0, 0.0]]
    np.testing.assert_allclose(v01, [[2 / 3, 0.5]], rtol=0, atol=1e-15)
    assert a[0] == pytest.approx(7 / 12)


# --- paired DeLong test --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "z", "p", "lo", "hi"),
    [
        # pROC test-roc.test.R: t1 <- roc.test(r.wfns, r.s100b) (also the reference README)
        ("wfns", "s100b", "2.20898359144091", "0.0271757822291882",
         "0.0104061769564846", "0.174214419249478"),
        # t2 <- roc.test(r.wfns, r.ndka)
        ("wfns", "ndka", "2.79777591868904", "0.00514557970691098",
         "0.0634011709339876", "0.3600405634833566"),
        # t3 <- roc.test(r.ndka, r.s100b)
        ("ndka", "s100b", "-1.39077002573558", "0.164295175223054",
         "-0.2876917446341914", "0.0488706064228094"),
    ],
)
def test_it_reproduces_procs_paired_delong_tests(asah, first, second, z, p, lo, hi):
    y, x, _ = asah
    r = delong_test(y, x[first], x[second])
    assert r.statistic == printed(z)
    assert r.pvalue == printed(p)
    assert r.ci[0] == printed(lo)
    assert r.ci[1] == printed(hi)
    assert r.difference == pytest.approx(auc(y, x[first]) - auc(y, x[second]), abs=1e-15)
    assert r.paired and r.df is None
    assert "correlated" in r.method


def test_paired_test_keeps_p_and_flips_z_when_curves_are_reversed(asah):
    # pROC test-roc.test.R "two.sided roc.test produces identical p values when roc curves are
    # reversed"
    y, x, _ = asah
    a = delong_test(y, x["wfns"], x["s100b"])
    b = delong_test(y, x["s100b"], x["wfns"])
    assert b.statistic == pytest.approx(-a.statistic, abs=1e-12)
    assert b.pvalue == pytest.approx(a.pvalue, abs=1e-15)


def test_identical_curves_give_z_zero_and_p_one(asah):
    # pROC test-roc.test.R "DeLong roc.test works when curves are identical"
    y, x, _ = asah
    r = delong_test(y, x["wfns"], x["wfns"])
    assert r.statistic == 0.0
    assert r.pvalue == 1.0


def test_it_reproduces_procs_one_sided_tests(asah):
    # pROC test-roc.test.R "one-sided roc.test work and produce expected results"
    y, x, _ = asah
    gt = delong_test(y, x["wfns"], x["s100b"], alternative="greater")
    lt = delong_test(y, x["wfns"], x["s100b"], alternative="less")
    assert gt.statistic == printed("2.20898359144091")
    assert gt.pvalue == printed("0.0135878911145941")
    assert lt.pvalue == printed("0.986412108885406")


# --- unpaired DeLong test ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "d", "p"),
    [
        # pROC test-roc.test.R: t1up, t2up, t3up <- roc.test(..., paired = FALSE)
        ("wfns", "s100b", "1.43490640926908", "0.152825378808796"),
        ("wfns", "ndka", "3.10125096778969", "0.00220950791756457"),
        ("ndka", "s100b", "-1.55995743389685", "0.120192832430845"),
    ],
)
def test_it_reproduces_procs_unpaired_delong_tests(asah, first, second, d, p):
    y, x, _ = asah
    r = delong_test_unpaired(y, x[first], y, x[second])
    assert r.statistic == printed(d)
    assert r.pvalue == printed(p)
    assert not r.paired and r.df is not None
    # Welch-type df of pROC's delong.unpaired.test, recomputed from the two DeLong variances
    v1 = roc_auc_ci(y, x[first]).var
    v2 = roc_auc_ci(y, x[second]).var
    assert r.df == pytest.approx((v1 + v2) ** 2 / ((v1**2 + v2**2) / (y.size - 1)), rel=1e-12)
    assert r.ci[0] < r.difference < r.ci[1]


def test_it_reproduces_procs_unpaired_one_sided_tests(asah):
    # pROC test-roc.test.R "unpaired one-sided roc.test work and produce expected results"
    y, x, _ = asah
    gt = delong_test_unpaired(y, x["wfns"], y, x["s100b"], alternative="greater")
    lt = delong_test_unpaired(y, x["wfns"], y, x["s100b"], alternative="less")
    assert gt.pvalue == printed("0.076412689404398")
    assert lt.pvalue == printed("0.923587310595602")


def test_unpaired_test_accepts_samples_of_different_sizes(asah):
    y, x, female = asah
    r = delong_test_unpaired(y[female], x["s100b"][female], y[~female], x["s100b"][~female])
    d = auc(y[female], x["s100b"][female]) - auc(y[~female], x["s100b"][~female])
    assert r.difference == pytest.approx(d, abs=1e-15)
    t = r.statistic
    assert r.pvalue == pytest.approx(2 * stats.t.sf(abs(t), r.df), rel=1e-12)


# --- results are printable and serialisable ------------------------------------------------


def test_results_have_a_summary_and_a_json_dict(asah):
    y, x, _ = asah
    for res in (roc_auc_ci(y, x["wfns"]), delong_test(y, x["wfns"], x["s100b"]),
                delong_test_unpaired(y, x["wfns"], y, x["s100b"])):
        assert "AUC" in res.summary()
        json.dumps(res.to_dict())
    assert "Z = 2.2090" in delong_test(y, x["wfns"], x["s100b"]).summary()


# --- one-vs-rest and endpoints -------------------------------------------------------------

# The study's scheme appears here as test data only; the code takes labels as parameters.
SCHEME = ["A", "B", "C1", "C2"]


@pytest.fixture
def graded():
    rng = np.random.default_rng(7)
    y = rng.choice(SCHEME, size=80, p=[0.15, 0.2, 0.3, 0.35])
    codes = np.array([SCHEME.index(v) for v in y])
    logits = rng.normal(size=(80, 4)) + 1.5 * np.eye(4)[codes]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_one_vs_rest_auc_is_mann_whitney_per_class_and_macro_is_their_mean(graded):
    y, probs = graded
    res = one_vs_rest_auc(y, probs, labels=SCHEME)
    expected = []
    for c, label in enumerate(SCHEME):
        pos = probs[y == label, c]
        neg = probs[y != label, c]
        u = stats.mannwhitneyu(pos, neg).statistic
        expected.append(u / (pos.size * neg.size))
        assert res.per_class[c].result.auc == pytest.approx(expected[-1], abs=1e-12)
        assert res.per_class[c].positive == (label,)
    assert res.macro_auc == pytest.approx(np.mean(expected), abs=1e-12)
    json.dumps(res.to_dict())
    assert "macro AUC" in res.summary()


def test_one_vs_rest_skips_a_class_absent_from_truth(graded):
    y, probs = graded
    y = np.where(y == "A", "B", y)
    res = one_vs_rest_auc(y, probs, labels=SCHEME)
    assert res.skipped == ("A",)
    assert [r.name for r in res.per_class] == ["B", "C1", "C2"]


def test_endpoint_sums_the_scores_of_its_positive_classes(graded):
    y, probs = graded
    collapse = Endpoint("collapse-prone", {"C1", "C2"})
    truth = endpoint_truth(y, collapse, labels=SCHEME)
    assert truth.tolist() == [v in ("C1", "C2") for v in y]
    res = endpoint_auc(y, probs, collapse, labels=SCHEME)
    assert res.positive == ("C1", "C2")
    assert res.result.auc == pytest.approx(auc(truth, probs[:, 2] + probs[:, 3]), abs=1e-15)
    one_d = endpoint_auc(y, probs[:, 2] + probs[:, 3], collapse, labels=SCHEME)
    assert one_d.result == res.result


def test_an_endpoint_refuses_unknown_classes_and_all_positive_sets(graded):
    y, probs = graded
    with pytest.raises(ValueError, match=r"unknown positive classes \['C3'\]"):
        endpoint_auc(y, probs, Endpoint("bad", {"C3"}), labels=SCHEME)
    with pytest.raises(ValueError, match="every class"):
        endpoint_auc(y, probs, Endpoint("all", set(SCHEME)), labels=SCHEME)
    with pytest.raises(ValueError, match="at least one positive"):
        Endpoint("none", set())


# --- clear errors --------------------------------------------------------------------------


def test_it_refuses_nan_scores_naming_the_argument():
    with pytest.raises(ValueError, match=r"score: contains NaN .*position 2"):
        auc([0, 1, 0, 1], [0.1, 0.2, np.nan, 0.4])
    with pytest.raises(ValueError, match="score2: contains NaN"):
        delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, np.nan, 4])


def test_it_refuses_a_single_class_in_truth():
    with pytest.raises(ValueError, match="y_true: a single class in truth"):
        roc_auc_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="y_true2: a single class"):
        delong_test_unpaired([0, 1, 0, 1], [1, 2, 3, 4], [0, 0], [1, 2])


def test_it_refuses_inputs_of_different_lengths():
    with pytest.raises(ValueError, match="y_true has 4, score has 3"):
        auc([0, 1, 0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="different lengths"):
        delong_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3])


def test_it_refuses_non_binary_truth_and_bad_options():
    with pytest.raises(ValueError, match="expected binary truth"):
        auc([0, 1, 2, 1], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="alternative: expected one of"):
        delong_test([0, 1, 0, 1], [1, 2, 3, 4], [2, 1, 3, 4], alternative="two.sided")
    with pytest.raises(ValueError, match="level: expected"):
        roc_auc_ci([0, 1, 0, 1], [1, 2, 3, 4], level=95)


def test_a_single_case_of_a_class_gives_an_auc_without_ci():
    # pROC's ci_auc_delong returns NA when m <= 1 or n <= 1
    r = roc_auc_ci([0, 1, 0, 0], [1, 2, 3, 4])
    assert r.auc == pytest.approx(1 / 3)  # the positive (2) outranks one of 1, 3, 4
    assert np.isnan(r.var) and np.isnan(r.ci[0])
    assert r.to_dict()["ci"] == [None, None]
    json.dumps(r.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="at least 2 positives and 2 negatives"):
        delong_test([0, 1, 0, 0], [1, 2, 3, 4], [4, 3, 2, 1])


def test_each_roc_name_lives_in_one_module():
    """AUC and DeLong variance in roc.auc; tests of two curves in roc.compare_curves; classes
    and endpoints in roc.multiclass; no module forwards another's names."""
    from analysis.roc import auc, compare_curves, multiclass

    assert compare_curves.delong_test.__module__ == "analysis.roc.compare_curves"
    assert multiclass.one_vs_rest_auc.__module__ == "analysis.roc.multiclass"
    assert multiclass.Endpoint.__module__ == "analysis.roc.multiclass"
    for name in ("delong_test", "delong_test_unpaired", "ALTERNATIVES", "one_vs_rest_auc",
                 "Endpoint"):
        assert not hasattr(auc, name)
