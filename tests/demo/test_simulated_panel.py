"""The SIMULATED reader panel: seeded, seniority-ordered, ordinal in its errors."""

import numpy as np
import pytest

from demo.simulated_panel import (
    INDETERMINATE_REASONS,
    PANEL,
    SimulatedReader,
    panel_simulate,
    panel_simulate_aided,
)

LABELS = ["A", "B", "C1", "C2"]


def _truth(n=200, seed=0):
    return list(np.random.default_rng(seed).choice(LABELS, size=n))


def _accuracy(reads, truth):
    return float(np.mean(reads.labels == np.array(truth, dtype=object)))


def test_the_same_seed_gives_the_same_panel_and_another_seed_does_not():
    truth = _truth()
    one = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(7))
    two = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(7))
    other = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(8))
    assert list(one) == [r.username for r in PANEL]
    for name in one:
        for field in ("labels", "confidence", "time_ms"):
            assert np.array_equal(getattr(one[name], field), getattr(two[name], field))
    assert any(not np.array_equal(one[n].labels, other[n].labels) for n in one)


def test_chiefs_are_more_accurate_than_attendings_on_200_cases():
    truth = _truth(200, seed=3)
    reads = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(2024))
    by_rank = {}
    for r in PANEL:
        by_rank.setdefault(r.seniority, []).append(_accuracy(reads[r.username], truth))
    chief, deputy, attending = (np.mean(by_rank[k]) for k in ("chief", "deputy_chief",
                                                             "attending"))
    assert chief > deputy > attending
    assert chief - attending > 0.1
    assert 0.5 < attending and chief < 0.95


def test_errors_are_mostly_to_a_neighbouring_class():
    truth = _truth(200, seed=4)
    reads = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(1))
    t = np.array([LABELS.index(x) for x in truth])
    distances = []
    for sim in reads.values():
        answer = np.array([LABELS.index(x) for x in sim.labels])
        distances.extend(np.abs(answer - t)[answer != t])
    distances = np.array(distances)
    assert distances.size > 100
    assert np.mean(distances == 1) > 0.8
    assert np.mean(distances == 3) < 0.05


def test_confidence_is_higher_when_right_and_times_are_plausible():
    truth = _truth(200, seed=5)
    reads = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(9))
    for sim in reads.values():
        right = sim.labels == np.array(truth, dtype=object)
        assert sim.confidence.min() >= 40 and sim.confidence.max() <= 95
        assert sim.confidence[right].mean() > sim.confidence[~right].mean() + 10
        assert 15_000 < np.median(sim.time_ms) < 70_000
    chief, attending = reads["sim-chief-1"], reads["sim-attending-2"]
    assert np.median(chief.time_ms) < np.median(attending.time_ms)


def test_it_rejects_a_class_outside_the_scheme_and_a_bad_accuracy():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"truth: classes \['D'\]"):
        panel_simulate(["A", "D"], labels=LABELS, rng=rng)
    with pytest.raises(ValueError, match="labels: expected at least two"):
        panel_simulate(["A"], labels=["A"], rng=rng)
    bad = SimulatedReader("sim-x", "chief", 1, 1.0, 20.0)
    with pytest.raises(ValueError, match="accuracy of sim-x: got 1.0"):
        panel_simulate(["A"], labels=LABELS, rng=rng, panel=[bad])


def _model_calls(truth, accuracy, seed):
    """A model right with probability ``accuracy``, else one class off."""
    rng = np.random.default_rng(seed)
    t = np.array([LABELS.index(x) for x in truth])
    off = np.where(t == 0, 1, t - 1)
    return list(np.array(LABELS, dtype=object)[np.where(rng.random(t.size) < accuracy, t, off)])


def test_ai_aided_reads_follow_a_good_model_more_for_juniors_and_keep_some_own_errors():
    truth = _truth(400, seed=11)
    model = _model_calls(truth, 0.9, seed=1)
    unaided = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(3))
    aided = panel_simulate_aided(unaided, truth, model, labels=LABELS,
                                 rng=np.random.default_rng(4))
    model_arr = np.array(model, dtype=object)
    gains = {}
    for r in PANEL:
        before, after = unaided[r.username], aided[r.username]
        gains[r.username] = _accuracy(after, truth) - _accuracy(before, truth)
        # Agreement with the model rises, but is not total: readers keep their own answers.
        agree_before = np.mean(before.labels == model_arr)
        agree_after = np.mean(after.labels == model_arr)
        assert agree_before < agree_after < 0.99
        assert np.array_equal(after.time_ms, np.rint(before.time_ms * 0.85).astype(int))
        assert after.confidence.min() >= 40 and after.confidence.max() <= 95
    assert all(g > 0 for g in gains.values())
    assert gains["sim-attending-2"] > gains["sim-chief-1"]  # juniors rely on the model more


def test_a_bad_model_drags_aided_reads_down_a_little():
    truth = _truth(400, seed=12)
    model = _model_calls(truth, 0.3, seed=2)
    unaided = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(5))
    aided = panel_simulate_aided(unaided, truth, model, labels=LABELS,
                                 rng=np.random.default_rng(6))
    chief = "sim-chief-1"
    assert _accuracy(aided[chief], truth) < _accuracy(unaided[chief], truth)


def test_aided_reads_are_seeded_and_check_the_models_calls():
    truth = _truth(50, seed=13)
    model = _model_calls(truth, 0.8, seed=3)
    unaided = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(1))
    one = panel_simulate_aided(unaided, truth, model, labels=LABELS, rng=np.random.default_rng(2))
    two = panel_simulate_aided(unaided, truth, model, labels=LABELS, rng=np.random.default_rng(2))
    assert all(np.array_equal(one[n].labels, two[n].labels) for n in one)
    with pytest.raises(ValueError, match="model: got 49 calls for 50 cases"):
        panel_simulate_aided(unaided, truth, model[:-1], labels=LABELS,
                             rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"model: classes \['X'\]"):
        panel_simulate_aided(unaided, truth, ["X"] + model[1:], labels=LABELS,
                             rng=np.random.default_rng(0))


def test_a_few_cases_are_indeterminate_with_a_reason_and_stay_so_when_aided():
    truth = _truth(2000, seed=21)
    reads = panel_simulate(truth, labels=LABELS, rng=np.random.default_rng(8))
    rates = [sim.indeterminate.mean() for sim in reads.values()]
    assert all(0.005 < r < 0.04 for r in rates)
    for sim in reads.values():
        assert set(sim.reason[sim.indeterminate]) <= set(INDETERMINATE_REASONS)
        assert set(sim.reason[~sim.indeterminate]) == {""}
    given = {x for sim in reads.values() for x in sim.reason[sim.indeterminate]}
    assert given == set(INDETERMINATE_REASONS)
    model = _model_calls(truth, 0.8, seed=4)
    aided = panel_simulate_aided(reads, truth, model, labels=LABELS,
                                 rng=np.random.default_rng(9))
    for name, sim in aided.items():
        assert np.array_equal(sim.indeterminate, reads[name].indeterminate)
