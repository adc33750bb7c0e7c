"""Cohen's kappa, Fleiss' kappa and pairwise agreement against published outputs.

Reference numbers (cited per test):
- SAS PROC FREQ (AGREE; TEST KAPPA WTKAP) printout for the 3x3 table ``table10``, recorded in
  statsmodels stats/tests/test_inter_rater.py (TestUnweightedCohens, TestWeightedCohens).
- SAS/STAT User's Guide, "The FREQ Procedure: Getting Started: Agreement Study" (skin condition
  data, two dermatologists; output "Agreement Statistics"): simple kappa 0.3449, ASE 0.0724,
  95% CL 0.2030-0.4868; weighted kappa 0.5082, ASE 0.0655, 95% CL 0.3798-0.6366.
- R irr ``kappa2`` on the anxiety data, recorded with cat_items in statsmodels
  test_inter_rater.py::test_cohens_kappa_irr.
- R irr ``kappam.fleiss(diagnoses)``: Kappa 0.4302445, z 17.65183, p 0 (statsmodels
  test_inter_rater.py::test_fleiss_kappa_irr; irr's help page prints "Kappa = 0.43, z = 17.7,
  p-value = 0"); ``kappam.fleiss(diagnoses, detail = TRUE)`` category-wise kappas of irr's
  help-page example (rounded to 3 decimals by irr).
- Wikipedia, "Fleiss' kappa", worked example (10 subjects, 14 raters, 5 categories):
  P-bar 0.378, P-bar-e 0.213, kappa 0.210.
- scikit-learn sklearn/metrics/tests/test_classification.py::test_cohen_kappa (Artstein &
  Poesio 2008 tables): 0.348, 0.8013; weighted example 0.9315 / 0.9412 (linear) /
  0.9541 (quadratic).
"""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from analysis.agreement.kappa import (
    cohen_kappa,
    cohen_kappa_table,
    intra_reader_agreement,
    kappa_of_tables,
    kappa_weights,
)
from analysis.agreement.many_raters import fleiss_kappa, fleiss_kappa_counts, pairwise_kappa
from tests.reference import REFERENCE_DATA

KAPPA_DIR = REFERENCE_DATA / "kappa"


def printed(text: str) -> pytest.approx:
    """Equal to the digits a reference printed (half a unit in the last printed place)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return pytest.approx(float(text), abs=0.5 * 10**-decimals + 1e-12)


def read_matrix(name: str) -> np.ndarray:
    with (KAPPA_DIR / name).open() as fh:
        rows = list(csv.reader(fh))[1:]
    return np.array([[float(v) for v in row[1:]] for row in rows])


def read_columns(name: str) -> dict[str, list[int]]:
    with (KAPPA_DIR / name).open() as fh:
        rows = list(csv.DictReader(fh))
    return {key: [int(r[key]) for r in rows] for key in rows[0]}


# ------------------------------------------------------------------ SAS PROC FREQ


def test_it_reproduces_sas_simple_kappa_of_table10():
    res = cohen_kappa_table(read_matrix("sas_table10_3x3.csv"))
    assert res.kappa == printed("0.4842")
    assert res.se == printed("0.1380")
    assert res.ci[0] == printed("0.2137")
    assert res.ci[1] == printed("0.7547")
    assert res.se0 == printed("0.1484")
    assert res.z == printed("3.2626")
    assert res.p / 2 == printed("0.0006")  # SAS one-sided Pr > Z
    assert res.p == printed("0.0011")


def test_it_reproduces_sas_weighted_kappa_of_table10():
    # SAS's default weighted kappa uses Cicchetti-Allison (linear) weights.
    res = cohen_kappa_table(read_matrix("sas_table10_3x3.csv"), weights="linear")
    assert res.kappa == printed("0.4701")
    assert res.se == printed("0.1457")
    assert res.ci == (printed("0.1845"), printed("0.7558"))
    assert res.se0 == printed("0.1426")
    assert res.z == printed("3.2971")
    assert res.p / 2 == printed("0.0005")
    assert res.p == printed("0.0010")


def test_it_reproduces_the_sas_agreement_study_of_skin_condition():
    table = read_matrix("sas_skincondition_4x4.csv")
    simple = cohen_kappa_table(table, labels=["terrible", "poor", "marginal", "clear"])
    assert simple.kappa == printed("0.3449")
    assert simple.se == printed("0.0724")
    assert simple.ci == (printed("0.2030"), printed("0.4868"))
    weighted = cohen_kappa_table(table, weights="linear")
    assert weighted.kappa == printed("0.5082")
    assert weighted.se == printed("0.0655")
    assert weighted.ci == (printed("0.3798"), printed("0.6366"))


@pytest.mark.parametrize("weights", ["none", "linear", "quadratic"])
@pytest.mark.parametrize("name", ["sas_table10_3x3.csv", "sas_skincondition_4x4.csv"])
def test_it_agrees_with_statsmodels_cohens_kappa(name, weights):
    table = read_matrix(name)
    ours = cohen_kappa_table(table, weights=weights)
    sm = cohens_kappa(table, wt=None if weights == "none" else weights)
    assert ours.kappa == pytest.approx(sm.kappa, abs=1e-12)
    assert ours.se == pytest.approx(sm.std_kappa, abs=1e-12)
    assert ours.se0 == pytest.approx(sm.std_kappa0, abs=1e-12)
    assert ours.z == pytest.approx(sm.z_value, abs=1e-10)
    assert ours.p == pytest.approx(sm.pvalue_two_sided, abs=1e-12)


# ------------------------------------------------------------------ R irr kappa2

ANX = read_columns("irr_anxiety_20x3.csv")
# irr builds the table from the observed levels only; rater2 and rater3 never used 5.
ANX_23_LEVELS = [1, 2, 3, 4, 6]


@pytest.mark.parametrize(
    "weights,kappa,z,p",
    [
        ("none", "-0.006289308", "-0.0604067", "0.9518317"),  # kappa2(anxiety[,2:3])
        ("linear", "0.1459075", "1.282472", "0.1996772"),  # kappa2(.., "equal")
        ("quadratic", "0.2520325", "1.437451", "0.1505898"),  # kappa2(.., "squared")
    ],
)
def test_it_reproduces_irr_kappa2_on_anxiety(weights, kappa, z, p):
    res = cohen_kappa(ANX["rater2"], ANX["rater3"], labels=ANX_23_LEVELS, weights=weights)
    assert res.kappa == printed(kappa)
    assert res.z == printed(z)
    assert res.p == printed(p)


def irr_weights(vector: list[float]) -> np.ndarray:
    """irr kappa2's own weights: disagreement scores by distance |i - j|, rescaled to
    agreement weights 1 - (v - min) / (max - min)."""
    v = np.asarray(vector, dtype=float)
    agree = 1 - (v - v.min()) / (v.max() - v.min())
    i, j = np.indices((v.size, v.size))
    return agree[np.abs(i - j)]


@pytest.mark.parametrize(
    "vector,kappa,z,p",
    [
        ([0, 0, 0, 1, 1, 1], "0.1891892", "0.5079002", "0.6115233"),
        ([0, 0, 1, 1, 2, 2], "0.2820513", "1.257410", "0.2086053"),
    ],
)
def test_it_reproduces_irr_kappa2_with_custom_weights(vector, kappa, z, p):
    # kappa2(anxiety[,1:2], c(...)); raters 1 and 2 use all six levels.
    res = cohen_kappa(ANX["rater1"], ANX["rater2"], labels=[1, 2, 3, 4, 5, 6],
                      weights=irr_weights(vector))
    assert res.weights == "custom"
    assert res.kappa == printed(kappa)
    assert res.z == printed(z)
    assert res.p == printed(p)


def test_weights_come_from_the_full_label_set_not_the_observed_levels():
    observed = cohen_kappa(ANX["rater2"], ANX["rater3"], labels=ANX_23_LEVELS, weights="linear")
    full = cohen_kappa(ANX["rater2"], ANX["rater3"], labels=[1, 2, 3, 4, 5, 6], weights="linear")
    assert observed.kappa == printed("0.1459075")  # irr
    assert full.kappa != pytest.approx(observed.kappa, abs=1e-3)
    # With the full scale, 4 vs 6 is two steps of five; irr's table calls it one step of four.
    table = np.zeros((6, 6))
    for a, b in zip(ANX["rater2"], ANX["rater3"], strict=True):
        table[a - 1, b - 1] += 1
    assert full.kappa == pytest.approx(cohens_kappa(table, wt="linear").kappa, abs=1e-12)


# ------------------------------------------------------------------ scikit-learn examples


def test_it_reproduces_scikit_learn_two_class_example():
    y1 = [0] * 40 + [1] * 60
    y2 = [0] * 20 + [1] * 20 + [0] * 10 + [1] * 50
    assert cohen_kappa(y1, y2).kappa == printed("0.348")
    assert cohen_kappa(y1, y2).kappa == cohen_kappa(y2, y1).kappa


def test_it_reproduces_scikit_learn_multiclass_example():
    d = read_columns("sklearn_multiclass_kappa_example.csv")
    assert cohen_kappa(d["y1"], d["y2"], labels=[0, 1, 2]).kappa == printed("0.8013")


@pytest.mark.parametrize(
    "weights,expected", [("none", "0.9315"), ("linear", "0.9412"), ("quadratic", "0.9541")]
)
def test_it_reproduces_scikit_learn_weighted_example(weights, expected):
    d = read_columns("sklearn_weighted_kappa_example.csv")
    assert cohen_kappa(d["y1"], d["y2"], labels=[0, 1, 2], weights=weights).kappa == printed(
        expected
    )


# ------------------------------------------------------------------ Fleiss

DIAGNOSES = np.array(list(read_columns("fleiss1971_diagnoses_30x6.csv").values())).T[:, 1:]


def test_it_reproduces_irr_kappam_fleiss_on_diagnoses():
    res = fleiss_kappa(DIAGNOSES)
    assert (res.n_subjects, res.n_raters) == (30, 6)
    assert res.kappa == printed("0.4302445")
    assert res.z == printed("17.65183")
    assert res.p == printed("0")
    assert res.se == pytest.approx(res.kappa / res.z)


def test_it_reproduces_irr_category_wise_kappas():
    # kappam.fleiss(diagnoses, detail = TRUE): Kappa, z, p.value per category 1..5
    expected = [("0.245", "5.192"), ("0.245", "5.192"), ("0.520", "11.031"),
                ("0.471", "9.994"), ("0.566", "12.009")]
    res = fleiss_kappa(DIAGNOSES)
    assert [c.label for c in res.per_category] == [1, 2, 3, 4, 5]
    for cat, (kappa, z) in zip(res.per_category, expected, strict=True):
        assert cat.kappa == printed(kappa)
        assert cat.z == printed(z)
        assert cat.p == printed("0.000")


def test_it_agrees_with_statsmodels_fleiss_kappa():
    counts, _ = aggregate_raters(DIAGNOSES)
    assert fleiss_kappa(DIAGNOSES).kappa == pytest.approx(sm_fleiss_kappa(counts), abs=1e-14)
    assert fleiss_kappa_counts(counts).kappa == pytest.approx(fleiss_kappa(DIAGNOSES).kappa)


def test_it_reproduces_the_wikipedia_fleiss_example():
    counts = read_matrix_plain("fleiss_wikipedia_counts_10x5.csv")
    res = fleiss_kappa_counts(counts)
    assert res.observed_agreement == printed("0.378")
    assert res.expected_agreement == printed("0.213")
    assert res.kappa == printed("0.210")
    assert res.kappa == pytest.approx(sm_fleiss_kappa(counts), abs=1e-14)


def read_matrix_plain(name: str) -> np.ndarray:
    with (KAPPA_DIR / name).open() as fh:
        return np.array([[float(v) for v in row] for row in list(csv.reader(fh))[1:]])


def test_an_unused_category_gets_no_category_kappa():
    res = fleiss_kappa(DIAGNOSES, labels=[1, 2, 3, 4, 5, 6])
    assert res.kappa == printed("0.4302445")  # an empty category changes nothing
    assert np.isnan(res.per_category[-1].kappa)
    json.dumps(res.to_dict())
    assert "n/a" in res.summary()


# ------------------------------------------------------------------ intra-reader, pairwise


def test_intra_reader_agreement_is_cohen_kappa_between_sessions():
    s1, s2 = ANX["rater1"], ANX["rater2"]
    res = intra_reader_agreement(s1, s2, labels=[1, 2, 3, 4, 5, 6], weights="quadratic")
    ref = cohen_kappa(s1, s2, labels=[1, 2, 3, 4, 5, 6], weights="quadratic")
    assert (res.kappa, res.se, res.se0) == (ref.kappa, ref.se, ref.se0)
    assert res.method.startswith("Intra-reader agreement")
    with pytest.raises(ValueError, match="session2: unknown labels"):
        intra_reader_agreement(["A"], ["Z"], labels=["A", "B"])


def test_pairwise_kappa_is_the_mean_over_pairs_of_raters():
    ratings = DIAGNOSES
    res = pairwise_kappa(ratings, labels=[1, 2, 3, 4, 5], weights="linear",
                         raters=[f"r{i}" for i in range(1, 7)])
    assert len(res.pairs) == 15
    expected = np.mean([
        cohens_kappa(np.histogram2d(ratings[:, a], ratings[:, b], bins=np.arange(0.5, 6))[0],
                     wt="linear").kappa
        for a, b in itertools.combinations(range(6), 2)
    ])
    assert res.mean_kappa == pytest.approx(expected, abs=1e-12)
    assert res.pairs[0][:2] == ("r1", "r2")
    json.dumps(res.to_dict())


def test_pairwise_kappa_equals_cohen_kappa_of_every_pair():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 4, 80)
    ratings = np.clip(truth[:, None] + rng.integers(-1, 2, (80, 5)), 0, 3)
    ratings[:, 4] = 2  # one rater always answers C1 ...
    ratings[:, 3] = 2  # ... and so does another: their kappa is undefined
    labels = np.array(["A", "B", "C1", "C2"], dtype=object)
    custom = np.array([[1, .5, 0, 0], [.5, 1, .5, 0], [0, .5, 1, .5], [0, 0, .5, 1]])
    for weights in ("none", "linear", "quadratic", custom):
        res = pairwise_kappa(labels[ratings], labels=list(labels), weights=weights)
        direct = [cohen_kappa(labels[ratings[:, a]], labels[ratings[:, b]], labels=list(labels),
                              weights=weights).kappa
                  for a, b in itertools.combinations(range(5), 2)]
        np.testing.assert_allclose([k for _, _, k in res.pairs], direct, rtol=1e-13, atol=1e-15)
        assert np.isnan(res.pairs[-1][2])  # raters 3 and 4: left out of the mean
        assert res.mean_kappa == pytest.approx(np.nanmean(direct), abs=1e-14)
    with pytest.raises(ValueError, match="r2: unknown labels"):
        pairwise_kappa([["A", "A", "Z"]], labels=["A", "B"], raters=["r0", "r1", "r2"])


def test_kappa_of_tables_is_the_kappa_of_each_table():
    tables = np.stack([read_matrix("sas_table10_3x3.csv"), np.eye(3) * 4, np.diag([5, 0, 0])])
    for weights in ("none", "linear", "quadratic"):
        values = kappa_of_tables(tables, weights=weights)
        assert values[0] == pytest.approx(cohen_kappa_table(tables[0], weights=weights).kappa,
                                          abs=1e-15)
        assert values[1] == 1.0
        assert np.isnan(values[2])  # expected agreement 1
    assert kappa_of_tables(tables[0]) == printed("0.4842")  # SAS PROC FREQ, as above


# ------------------------------------------------------------------ properties

LEVELS = ["A", "B", "C1", "C2"]
ratings_strategy = st.lists(st.sampled_from(LEVELS), min_size=2, max_size=60)


@settings(max_examples=40, deadline=None)
@given(ratings_strategy, st.sampled_from(["none", "linear", "quadratic"]))
def test_kappa_of_identical_raters_is_one(labels, weights):
    res = cohen_kappa(labels, labels, labels=LEVELS, weights=weights)
    if len(set(labels)) > 1:
        assert res.kappa == pytest.approx(1.0)
    else:  # one level used by both raters: expected agreement 1, kappa undefined
        assert np.isnan(res.kappa)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(LEVELS[:3]), st.sampled_from(LEVELS[:3])),
             min_size=3, max_size=60),
    st.sampled_from(["linear", "quadratic"]),
)
def test_unobserved_levels_count_only_through_the_label_set(pairs, weights):
    a, b = zip(*pairs, strict=True)
    # Simple kappa ignores empty rows and columns entirely.
    k3 = cohen_kappa(a, b, labels=LEVELS[:3])
    k4 = cohen_kappa(a, b, labels=LEVELS)
    assert k4.kappa == pytest.approx(k3.kappa, nan_ok=True)
    # Weighted kappa depends on the declared scale, never on which levels happen to be observed:
    # it equals the kappa of the full 4x4 table with 4-level weights.
    full = cohen_kappa(a, b, labels=LEVELS, weights=weights)
    table = np.zeros((4, 4))
    for x, y in pairs:
        table[LEVELS.index(x), LEVELS.index(y)] += 1
    ref = cohen_kappa_table(table, weights=weights)
    assert full.kappa == pytest.approx(ref.kappa, nan_ok=True)
    assert full.se == pytest.approx(ref.se, nan_ok=True)


# ------------------------------------------------------------------ errors


def test_it_refuses_nan_unknown_labels_and_different_lengths():
    with pytest.raises(ValueError, match="rater2: contains (NaN or )?missing values"):
        cohen_kappa([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"rater1: unknown labels \['D'\]"):
        cohen_kappa(["A", "D"], ["A", "B"], labels=LEVELS)
    with pytest.raises(ValueError, match="different lengths: rater1 has 3, rater2 has 2"):
        cohen_kappa([1, 2, 1], [1, 2], labels=[1, 2])
    with pytest.raises(ValueError, match="weights: expected one of"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")


def test_it_refuses_bad_tables():
    with pytest.raises(ValueError, match=r"table: negative count -1 at cell \(0, 1\)"):
        cohen_kappa_table([[1, -1], [2, 3]])
    with pytest.raises(ValueError, match="table: expected a square table"):
        cohen_kappa_table([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="labels: expected 2 labels"):
        cohen_kappa_table([[1, 2], [3, 4]], labels=["A", "B", "C"])
    with pytest.raises(ValueError, match="weights: expected a \\(2, 2\\) matrix"):
        kappa_weights(2, np.eye(3))


def test_fleiss_refuses_one_rater_and_ragged_counts():
    with pytest.raises(ValueError, match="at least 2 raters \\(columns\\), got 1 \\(R1\\)"):
        fleiss_kappa(DIAGNOSES[:, :1], names=["R1"])
    with pytest.raises(ValueError, match="counts: every subject needs the same number"):
        fleiss_kappa_counts([[2, 1], [1, 1]])
    with pytest.raises(ValueError, match="counts: negative count"):
        fleiss_kappa_counts([[3, -1], [1, 1]])
    with pytest.raises(ValueError, match="R2: unknown labels"):
        fleiss_kappa([[1, 9], [1, 1]], labels=[1, 2], names=["R1", "R2"])


def test_result_objects_print_and_serialise():
    res = cohen_kappa(["A", "B", "C1"], ["A", "B", "B"])
    assert res.labels_observed and "sorted union" in res.summary()
    assert "ASE under H0" in res.summary()
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d) >= {"kappa", "se", "se0", "z", "p", "ci"}


def test_two_rater_kappa_stands_alone_and_many_raters_build_on_it():
    """The arrow runs one way: many_raters uses the two-rater kappa, never the reverse."""
    import ast
    import inspect

    from analysis.agreement import kappa, many_raters

    def imported(module):
        tree = ast.parse(inspect.getsource(module))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}

    assert "analysis.agreement.kappa" in imported(many_raters)
    assert not any("many_raters" in m for m in imported(kappa))
    assert not hasattr(kappa, "fleiss_kappa")
    assert many_raters.kappa_of_tables is kappa.kappa_of_tables
