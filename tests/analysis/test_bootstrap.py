"""The patient-clustered stratified bootstrap.

The vectorised weighted statistics are checked against the plain statistics of
:mod:`analysis.metrics.classification` / :mod:`analysis.agreement.kappa` (themselves checked
against published outputs) on the resampled data set obtained by expanding the case weights,
and against the slow generic path; the AUC against scipy's Mann-Whitney U.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.agreement.kappa import cohen_kappa
from analysis.metrics.classification import accuracy, classification_report
from analysis.resampling.bootstrap import (
    bootstrap_auc,
    bootstrap_auc_difference,
    bootstrap_ci,
    bootstrap_classification,
    bootstrap_classification_difference,
    bootstrap_interval,
    bootstrap_weighted,
)
from analysis.resampling.weights import (
    CLASSIFICATION_STATISTICS,
    ResampleWeights,
    classification_replicates,
    patient_bootstrap_weights,
    patient_jackknife_weights,
    weighted_auc,
    weighted_confusion_matrices,
    weighted_macro_auc,
)
from analysis.roc.auc import auc

LEVELS = ["A", "B", "C1", "C2"]


def study(n_patients=60, seed=3):
    """Synthetic reads: 1-2 hips per patient, ordinal truth, a decent and a weaker reader."""
    rng = np.random.default_rng(seed)
    hips = rng.integers(1, 3, n_patients)
    patients = np.repeat([f"p{i:03d}" for i in range(n_patients)], hips)
    n = patients.size
    truth = rng.integers(0, 4, n)
    good = np.where(rng.random(n) < 0.8, truth, rng.integers(0, 4, n))
    weak = np.where(rng.random(n) < 0.5, truth, rng.integers(0, 4, n))
    score = truth + rng.normal(0, 1.0, n)
    return patients, truth, good, weak, np.round(score, 1)


def expand(row, *arrays):
    idx = np.repeat(np.arange(row.size), row.astype(int))
    return [np.asarray(a)[idx] for a in arrays]


# ------------------------------------------------------------------ weights


def test_cases_of_a_patient_are_drawn_together():
    patients, truth, *_ = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=50, seed=1)
    assert w.shape == (50, patients.size) and w.dtype == np.int32
    for p in np.unique(patients):
        cols = w[:, patients == p]
        assert (cols == cols[:, :1]).all()


def test_each_stratum_keeps_its_number_of_patients():
    patients, truth, *_ = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=200, seed=2)
    uniq, first = np.unique(patients, return_index=True)
    per_patient = w[:, first]  # one column per patient
    # The patient's stratum is its highest truth code.
    stratum = np.array([truth[patients == p].max() for p in uniq])
    for s in np.unique(stratum):
        assert (per_patient[:, stratum == s].sum(axis=1) == (stratum == s).sum()).all()
    assert not (per_patient == 1).all()  # it does resample


def test_first_case_rule_uses_the_first_case_stratum():
    patients = ["a", "a", "b", "b"]
    strata = [0, 1, 1, 0]
    w = patient_bootstrap_weights(patients, strata, n_resamples=100, seed=0,
                                  patient_stratum="first")
    # a -> stratum 0, b -> stratum 1: one patient per stratum, so every resample is the data.
    assert (w == 1).all()
    w_max = patient_bootstrap_weights(patients, strata, n_resamples=100, seed=0)
    # both patients in stratum 1 under "max": they are drawn from the same pool.
    assert (w_max.sum(axis=1) == 4).all() and not (w_max == 1).all()


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 40))
def test_a_fixed_seed_reproduces_the_resamples(seed, n_resamples):
    patients, truth, *_ = study(n_patients=25)
    a = patient_bootstrap_weights(patients, truth, n_resamples=n_resamples, seed=seed)
    b = patient_bootstrap_weights(patients, truth, n_resamples=n_resamples, seed=seed)
    assert np.array_equal(a, b)
    c = patient_bootstrap_weights(patients, truth, n_resamples=40, seed=seed + 1)
    assert not np.array_equal(patient_bootstrap_weights(patients, truth, n_resamples=40,
                                                        seed=seed), c)


def test_jackknife_weights_leave_one_patient_out():
    jw = patient_jackknife_weights(["b", "a", "b", "c"])
    assert jw.tolist() == [[1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 0]]


# ------------------------------------------------------------------ weighted = plain


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_weighted_statistics_equal_plain_statistics_on_the_resampled_data(seed):
    patients, truth, good, _, score = study(n_patients=30, seed=seed)
    w = patient_bootstrap_weights(patients, truth, n_resamples=3, seed=seed)
    reps = classification_replicates(w, truth, good, 4)
    for b, row in enumerate(w):
        t, p = expand(row, truth, good)
        assert reps["accuracy"][b] == pytest.approx(accuracy(t, p, labels=range(4)).accuracy)
        assert reps["macro_f1"][b] == pytest.approx(
            classification_report(t, p, labels=range(4)).macro_f1
        )
        for name, weights in [("kappa", "none"), ("kappa_linear", "linear"),
                              ("kappa_quadratic", "quadratic")]:
            assert reps[name][b] == pytest.approx(
                cohen_kappa(t, p, labels=range(4), weights=weights).kappa, nan_ok=True
            )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 3))
def test_weighted_auc_equals_mann_whitney_on_the_resampled_data(seed, positive):
    patients, truth, _, _, score = study(n_patients=30, seed=seed)
    y = truth >= positive if positive else truth == 0
    w = patient_bootstrap_weights(patients, truth, n_resamples=4, seed=seed)
    got = weighted_auc(w, y, score)
    for b, row in enumerate(w):
        yy, ss = expand(row, y, score)
        if yy.all() or not yy.any():
            assert np.isnan(got[b])
            continue
        u = stats.mannwhitneyu(ss[yy], ss[~yy]).statistic
        assert got[b] == pytest.approx(u / (yy.sum() * (~yy).sum()))


def test_weighted_macro_auc_averages_one_vs_rest():
    patients, truth, _, _, score = study()
    scores = np.column_stack([-np.abs(score - j) for j in range(4)])
    w = patient_bootstrap_weights(patients, truth, n_resamples=5, seed=0)
    expected = np.mean([weighted_auc(w, truth == j, scores[:, j]) for j in range(4)], axis=0)
    assert weighted_macro_auc(w, truth, scores) == pytest.approx(expected)
    assert weighted_macro_auc(np.ones(truth.size), truth, scores) == pytest.approx(
        np.mean([weighted_auc(np.ones(truth.size), truth == j, scores[:, j]) for j in range(4)])
    )


def test_unit_weights_give_the_confusion_matrix():
    from analysis.metrics.classification import confusion_matrix

    _, truth, good, *_ = study()
    cm = weighted_confusion_matrices(np.ones(truth.size), truth, good, 4)
    assert cm.tolist() == confusion_matrix(truth, good, labels=range(4)).matrix.tolist()


# ------------------------------------------------------------------ intervals


def test_the_generic_path_draws_the_same_resamples_as_the_vectorised_one():
    patients, truth, good, *_ = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=300, seed=7)
    fast = bootstrap_classification(truth, good, weights=w, labels=range(4))
    slow_acc = bootstrap_ci(lambda t, p: float(np.mean(t == p)), truth, good,
                            patients=patients, strata=truth, n_resamples=300, seed=7)
    assert slow_acc.ci == pytest.approx(fast["accuracy"].ci)
    assert slow_acc.se == pytest.approx(fast["accuracy"].se)
    slow_kappa = bootstrap_ci(
        lambda t, p: cohen_kappa(t, p, labels=range(4), weights="quadratic").kappa,
        truth, good, patients=patients, strata=truth, n_resamples=300, seed=7,
    )
    assert slow_kappa.ci == pytest.approx(fast["kappa_quadratic"].ci)
    assert slow_kappa.estimate == pytest.approx(fast["kappa_quadratic"].estimate)


def test_percentile_interval_is_the_quantiles_of_the_replicates():
    patients, truth, good, *_ = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=500, seed=0)
    res = bootstrap_classification(truth, good, weights=w, labels=range(4), confidence=0.9)
    reps = classification_replicates(w, truth, good, 4)["macro_f1"]
    assert res["macro_f1"].ci == pytest.approx(tuple(np.quantile(reps, [0.05, 0.95])))
    assert res["macro_f1"].estimate == pytest.approx(
        classification_report(truth, good, labels=range(4)).macro_f1
    )
    assert set(res) == set(CLASSIFICATION_STATISTICS)
    assert json.loads(json.dumps(res["kappa"].to_dict()))["method"] == "percentile"
    assert "percentile" in res["kappa"].summary()


def test_bca_without_skew_or_bias_is_the_percentile_interval():
    reps = np.linspace(-1, 1, 2001)
    jack = np.array([-1.0, 1.0])  # symmetric: acceleration 0
    pct = bootstrap_interval(0.0, reps)
    bca = bootstrap_interval(0.0, reps, method="bca", jackknife=jack)
    assert bca.ci == pytest.approx(pct.ci, abs=1e-3) and bca.method == "BCa"


def test_bca_agrees_with_scipy_for_independent_cases():
    # One case per patient: the clustered bootstrap is the ordinary one.
    rng = np.random.default_rng(11)
    x = rng.exponential(size=60)
    ours = bootstrap_ci(np.mean, x, patients=np.arange(60), n_resamples=4000, seed=1,
                        method="bca")
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="BCa",
                          random_state=np.random.default_rng(2)).confidence_interval
    assert ours.ci == pytest.approx((ref.low, ref.high), abs=0.03)


def test_differences_are_paired_on_the_same_resamples():
    patients, truth, good, weak, score = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=400, seed=5, dtype=float)
    diff = bootstrap_classification_difference(truth, good, weak, weights=w, labels=range(4))
    ra = classification_replicates(w, truth, good, 4)
    rb = classification_replicates(w, truth, weak, 4)
    for name in CLASSIFICATION_STATISTICS:
        assert diff[name].ci == pytest.approx(
            tuple(np.quantile(ra[name] - rb[name], [0.025, 0.975]))
        )
    same = bootstrap_classification_difference(truth, good, good, weights=w, labels=range(4))
    assert same["kappa_linear"].ci == (0.0, 0.0)
    y = truth >= 2
    auc_same = bootstrap_auc_difference(y, score, score, weights=w)
    assert auc_same.estimate == 0.0 and auc_same.ci == (0.0, 0.0)
    a = bootstrap_auc(y, score, weights=w)
    assert a.estimate == pytest.approx(
        stats.mannwhitneyu(score[y], score[~y]).statistic / (y.sum() * (~y).sum())
    )


def test_bca_for_vectorised_statistics_uses_the_patient_jackknife():
    patients, truth, good, *_ = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=500, seed=5)
    bca = bootstrap_classification(truth, good, weights=w, labels=range(4), method="bca",
                                   patients=patients)
    slow = bootstrap_ci(lambda t, p: float(np.mean(t == p)), truth, good, patients=patients,
                        strata=truth, n_resamples=500, seed=5, method="bca")
    assert bca["accuracy"].ci == pytest.approx(slow.ci)
    with pytest.raises(ValueError, match="patients: BCa needs"):
        bootstrap_classification(truth, good, weights=w, labels=range(4), method="bca")


def test_labels_are_checked_and_named():
    patients, truth, good, *_ = study()
    w = patient_bootstrap_weights(patients, truth, n_resamples=10, seed=0)
    t = np.array(LEVELS)[truth]
    p = np.array(LEVELS)[good]
    res = bootstrap_classification(t, p, weights=w, labels=LEVELS)
    assert res["accuracy"].estimate == pytest.approx(np.mean(truth == good))
    with pytest.raises(ValueError, match="pred_b: unknown labels"):
        bootstrap_classification_difference(t, p, np.where(p == "A", "X", p), weights=w,
                                            labels=LEVELS)


def test_it_refuses_bad_inputs():
    with pytest.raises(ValueError, match="patients: contains (NaN or )?missing"):
        patient_bootstrap_weights([1.0, np.nan])
    with pytest.raises(ValueError, match="different lengths: patients has 3, strata has 2"):
        patient_bootstrap_weights([1, 2, 3], [0, 1])
    with pytest.raises(ValueError, match="n_resamples: expected a positive integer"):
        patient_bootstrap_weights([1, 2], n_resamples=0)
    with pytest.raises(ValueError, match="patient_stratum"):
        patient_bootstrap_weights([1, 2], [0, 1], patient_stratum="mode")
    with pytest.raises(ValueError, match=r"weights: expected shape \(n_resamples, 3\)"):
        weighted_auc(np.ones((2, 4)), [True, False, True], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="method: expected 'percentile' or 'bca'"):
        bootstrap_interval(0.5, [0.4, 0.6], method="basic")
    with pytest.raises(ValueError, match="arrays: array 1 has 2 cases"):
        bootstrap_ci(np.mean, [1, 2, 3], [1, 2], patients=[1, 2, 3])


def test_any_vectorised_statistic_can_be_bootstrapped():
    patients, truth, _, _, score = study()
    sa = np.column_stack([-np.abs(score - j) for j in range(4)])
    sb = np.column_stack([-np.abs(np.round(score) - j) for j in range(4)])
    w = patient_bootstrap_weights(patients, truth, n_resamples=300, seed=9)

    def diff(weights):
        return weighted_macro_auc(weights, truth, sa) - weighted_macro_auc(weights, truth, sb)

    res = bootstrap_weighted(diff, weights=w, n_cases=truth.size, statistic="macro AUC diff")
    unit = np.ones(truth.size)
    assert res.estimate == pytest.approx(
        weighted_macro_auc(unit, truth, sa) - weighted_macro_auc(unit, truth, sb)
    )
    assert res.ci == pytest.approx(tuple(np.quantile(diff(w), [0.025, 0.975])))
    bca = bootstrap_weighted(diff, weights=w, n_cases=truth.size, method="bca",
                             patients=patients)
    assert bca.method == "BCa" and bca.ci[0] < bca.estimate < bca.ci[1]


@pytest.mark.slow
def test_vectorised_statistics_are_fast_enough_for_the_comparison():
    # 1,000 cases x 4 classes x 2,000 resamples: the budget is a few tens of ms per reader.
    rng = np.random.default_rng(0)
    n = 1000
    patients = np.repeat(np.arange(500), 2)
    truth = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.8, truth, rng.integers(0, 4, n))
    scores = rng.random((n, 4)) + np.eye(4)[truth]
    w = patient_bootstrap_weights(patients, truth, n_resamples=2000, seed=0, dtype=float)
    start = time.perf_counter()
    classification_replicates(w, truth, pred, 4)
    weighted_macro_auc(w, truth, scores)
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------ the engine


def test_the_engine_equals_recomputing_on_each_resample():
    rng = np.random.default_rng(3)
    n = 400  # more distinct scores than the matrix-product path takes: both paths run
    patients = np.repeat(np.arange(250), [2] * 150 + [1] * 100)
    truth = rng.integers(0, 3, n)
    codes = np.vstack([truth, np.clip(truth + rng.integers(-1, 2, n), 0, 2)])
    codes[1, :3] = -1  # three cases the second rater did not read
    positive = truth >= 1
    discrete = np.round(rng.random(n) * 4) / 4  # few levels: the matrix-product path
    continuous = rng.random(n) + positive * 0.3  # many levels: the sorting path
    continuous[10:20] = continuous[0]  # with ties
    boot = ResampleWeights.patient_bootstrap(patients, n_resamples=5, seed=1)
    cm = boot.confusion(truth, codes, 3)
    aucs = boot.auc(positive, np.vstack([discrete, continuous]),
                    np.vstack([np.ones(n, bool), codes[1] >= 0]))
    weights = boot.case_weights().astype(int)
    for b in range(5):
        take = np.repeat(np.arange(n), weights[b])
        for r in range(2):
            read = take[codes[r, take] >= 0]
            direct = np.zeros((3, 3))
            np.add.at(direct, (truth[read], codes[r, read]), 1)
            np.testing.assert_array_equal(cm[b, r], direct)
        assert aucs[b, 0] == pytest.approx(auc(positive[take], discrete[take]), abs=1e-12)
        read = take[codes[1, take] >= 0]
        assert aucs[b, 1] == pytest.approx(auc(positive[read], continuous[read]), abs=1e-12)


def test_the_engine_draws_the_resamples_of_patient_bootstrap_weights():
    rng = np.random.default_rng(4)
    patients = np.repeat(np.arange(150), [2] * 50 + [1] * 100)
    truth = rng.integers(0, 3, patients.size)
    score = rng.random(patients.size) + 0.2 * truth
    ours = ResampleWeights.patient_bootstrap(patients, truth, n_resamples=40, seed=9)
    theirs = patient_bootstrap_weights(patients, truth, n_resamples=40, seed=9)
    np.testing.assert_array_equal(ours.case_weights(), theirs)
    read = np.ones((1, patients.size), bool)
    np.testing.assert_allclose(ours.auc(truth >= 1, score[None], read)[:, 0],
                               weighted_auc(theirs, truth >= 1, score), atol=1e-12)


def test_fractional_case_weights_give_the_weighted_mann_whitney_auc():
    rng = np.random.default_rng(8)
    n = 120
    y = rng.random(n) < 0.4
    few = np.round(rng.random(n) * 3) / 3  # few levels: the per-level path
    many = rng.random(n)  # many levels: the sorting path
    w = rng.random((3, n))
    for score in (few, many):
        direct = []
        for row in w:
            pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
            a, b = score[pos, None], score[None, neg]
            psi = (a > b) + 0.5 * (a == b)
            direct.append(row[pos] @ psi @ row[neg] / (row[pos].sum() * row[neg].sum()))
        np.testing.assert_allclose(weighted_auc(w, y, score), direct, rtol=1e-13)


def test_the_engine_and_case_weights_give_identical_statistics():
    patients, truth, good, weak, score = study(seed=5)
    rw = ResampleWeights.patient_bootstrap(patients, truth, n_resamples=200, seed=2)
    w = patient_bootstrap_weights(patients, truth, n_resamples=200, seed=2)
    labels = np.array(LEVELS, dtype=object)
    ours = bootstrap_classification_difference(labels[truth], labels[good], labels[weak],
                                               weights=rw, labels=LEVELS)
    theirs = bootstrap_classification_difference(labels[truth], labels[good], labels[weak],
                                                 weights=w, labels=LEVELS)
    assert ours == theirs
    assert bootstrap_auc(truth >= 2, score, weights=rw) == bootstrap_auc(truth >= 2, score,
                                                                         weights=w)
    with pytest.raises(ValueError, match="weights: expected resamples of 3 cases"):
        weighted_auc(rw, [True, False, True], [0.1, 0.2, 0.3])
