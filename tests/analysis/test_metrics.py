"""Accuracy intervals, confusion matrix and precision/recall/F1.

Reference numbers:
- R ``binom.confint(x, n)`` (package binom; "exact" = ``binom.test``, "wilson" =
  ``prop.test(correct = FALSE)``), as recorded in statsmodels'
  stats/tests/results/results_proportion.py (res_binom, rows "exact" and "wilson").
- R ``binom.test(682, 925)`` — the example of R's ?binom.test (Mendel's peas, 682 of 925):
  "95 percent confidence interval: 0.7076683 0.7654066".
- scikit-learn's user guide / ``classification_report`` docstring example
  (y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1]): class 0 P 0.50 R 1.00 F1 0.67,
  class 1 0.00 0.00 0.00, class 2 1.00 0.67 0.80, macro avg 0.50 0.56 0.49, accuracy 0.60.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.metrics.classification import (
    accuracy,
    classification_report,
    clopper_pearson_ci,
    confusion_matrix,
    wilson_ci,
)


def printed(text: str) -> pytest.approx:
    """Equal to the digits a reference printed (half a unit in the last printed place)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return pytest.approx(float(text), abs=0.5 * 10**-decimals + 1e-12)


# R binom.confint(x, n, tol = 1e-8): (x, n) -> exact (lower, upper), wilson (lower, upper)
R_BINOM = {
    (18, 20): (("0.6830172859809176", "0.9876514728297052"),
               ("0.6989663547715128", "0.972133518786232")),
    (4, 20): (("0.05733399705003284", "0.436614002996668"),
              ("0.0806576625797981", "0.4160174322518935")),
    (4, 200): (("0.005475565879556443", "0.05041360908989634"),
               ("0.00780442641634947", "0.05028708690582643")),
    (190, 200): (("0.9099724622986486", "0.975765834527891"),
                 ("0.910421851861224", "0.972617354399236")),
    (29, 30): (("0.8278305", "0.9991564"), ("0.8332961", "0.9940914")),
    (1, 30): (("8.435709e-04", "0.17216946"), ("5.908590e-03", "0.16670391")),
}


@pytest.mark.parametrize("case", sorted(R_BINOM))
def test_it_reproduces_r_clopper_pearson_intervals(case):
    (lo, hi), _ = R_BINOM[case]
    got = clopper_pearson_ci(*case)
    assert got[0] == pytest.approx(float(lo), rel=1e-6)
    assert got[1] == pytest.approx(float(hi), rel=1e-6)


@pytest.mark.parametrize("case", sorted(R_BINOM))
def test_it_reproduces_r_wilson_intervals(case):
    _, (lo, hi) = R_BINOM[case]
    got = wilson_ci(*case)
    assert got[0] == pytest.approx(float(lo), rel=1e-6)
    assert got[1] == pytest.approx(float(hi), rel=1e-6)


def test_it_reproduces_the_binom_test_example_of_r():
    lo, hi = clopper_pearson_ci(682, 925)
    assert lo == printed("0.7076683")
    assert hi == printed("0.7654066")


@pytest.mark.parametrize("x,n", [(0, 30), (30, 30), (7, 13), (500, 1000), (1, 1)])
def test_it_agrees_with_statsmodels_proportion_confint(x, n):
    assert wilson_ci(x, n) == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-12)
    assert clopper_pearson_ci(x, n) == pytest.approx(
        proportion_confint(x, n, method="beta"), abs=1e-12
    )


def test_it_gives_closed_bounds_at_zero_and_all_successes():
    assert clopper_pearson_ci(0, 30)[0] == 0.0
    assert clopper_pearson_ci(30, 30)[1] == 1.0
    assert wilson_ci(0, 30)[0] == 0.0
    assert wilson_ci(30, 30)[1] == 1.0


def test_accuracy_reports_both_intervals():
    truth = ["A"] * 18 + ["B"] * 2
    pred = ["A"] * 18 + ["A", "A"]
    res = accuracy(truth, pred, labels=["A", "B", "C1", "C2"])
    assert (res.n_correct, res.n, res.accuracy) == (18, 20, 0.9)
    assert res.ci == res.wilson_ci == wilson_ci(18, 20)
    assert res.clopper_pearson_ci == clopper_pearson_ci(18, 20)
    assert "Clopper-Pearson" in res.summary()
    json.dumps(res.to_dict())


def test_confusion_matrix_keeps_levels_absent_from_the_data():
    cm = confusion_matrix(["A", "B", "B"], ["A", "A", "B"], labels=["A", "B", "C1", "C2"])
    assert cm.labels == ("A", "B", "C1", "C2")
    assert cm.matrix.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert not cm.labels_observed
    assert "C2" in cm.summary()
    assert json.loads(json.dumps(cm.to_dict()))["matrix"][1] == [1, 1, 0, 0]


def test_confusion_matrix_says_when_levels_come_from_the_data():
    cm = confusion_matrix([3, 1, 10], [1, 1, 3])
    assert cm.labels == (1, 3, 10)  # numeric order, not text order
    assert cm.labels_observed
    assert "sorted union" in cm.summary()


def test_it_reproduces_the_scikit_learn_classification_report_example():
    r = classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1], labels=[0, 1, 2])
    assert [round(v, 2) for v in r.precision] == [0.50, 0.00, 1.00]
    assert [round(v, 2) for v in r.recall] == [1.00, 0.00, 0.67]
    assert [round(v, 2) for v in r.f1] == [0.67, 0.00, 0.80]
    assert r.support.tolist() == [1, 1, 3]
    assert r.macro_precision == printed("0.50")
    assert r.macro_recall == printed("0.56")
    assert r.macro_f1 == printed("0.49")
    assert r.accuracy == printed("0.60")


def test_zero_division_is_zero_by_default_and_nan_on_request():
    # C1 is in the label set but neither true nor predicted; C2 is predicted but never true.
    truth = ["A", "A", "B", "B"]
    pred = ["A", "C2", "B", "B"]
    labels = ["A", "B", "C1", "C2"]
    r0 = classification_report(truth, pred, labels=labels)
    assert r0.precision.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert r0.recall.tolist() == [0.5, 1.0, 0.0, 0.0]
    assert r0.macro_recall == pytest.approx(1.5 / 4)
    rn = classification_report(truth, pred, labels=labels, zero_division=float("nan"))
    assert np.isnan(rn.precision[2]) and rn.precision[3] == 0.0
    assert np.isnan(rn.recall[2]) and np.isnan(rn.recall[3])
    assert rn.macro_recall == pytest.approx(1.5 / 2)  # undefined entries left out
    assert "n/a" in rn.summary()
    assert json.loads(json.dumps(rn.to_dict()))["recall"][2] is None


def test_it_refuses_unknown_labels_naming_the_argument():
    with pytest.raises(ValueError, match=r"y_pred: unknown labels \['D'\]"):
        confusion_matrix(["A", "B"], ["A", "D"], labels=["A", "B", "C1", "C2"])
    with pytest.raises(ValueError, match="y_true: unknown labels"):
        accuracy(["X"], ["A"], labels=["A", "B"])


def test_it_refuses_missing_values_and_different_lengths():
    with pytest.raises(ValueError, match="y_true: contains (NaN or )?missing values"):
        accuracy([1.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="y_pred: contains missing values"):
        confusion_matrix(["A", "B"], ["A", None], labels=["A", "B"])
    with pytest.raises(ValueError, match="different lengths: y_true has 3, y_pred has 2"):
        classification_report([1, 1, 2], [1, 2], labels=[1, 2])


def test_it_refuses_duplicate_labels_and_bad_binomial_counts():
    with pytest.raises(ValueError, match="labels: duplicate labels"):
        confusion_matrix([1], [1], labels=[1, 1, 2])
    with pytest.raises(ValueError, match="successes"):
        wilson_ci(5, 4)
    with pytest.raises(ValueError, match="n: expected a positive number"):
        clopper_pearson_ci(0, 0)
    with pytest.raises(ValueError, match="confidence"):
        wilson_ci(1, 4, confidence=95)
