"""The human-vs-machine comparison: structure, invariants against the building blocks, published
reference numbers pushed through the whole pipeline, reproducibility, JSON and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.agreement.kappa import cohen_kappa, intra_reader_agreement
from analysis.agreement.many_raters import fleiss_kappa, pairwise_kappa
from analysis.cli import main
from analysis.compare.comparison import compare
from analysis.compare.raters import Rater, consensus
from analysis.metrics.classification import accuracy, classification_report
from analysis.metrics.multiplicity import holm
from analysis.metrics.paired import mcnemar
from analysis.mrmc.standalone import model_vs_readers
from analysis.roc.auc import auc, roc_auc_ci
from analysis.roc.compare_curves import delong_test
from analysis.roc.multiclass import one_vs_rest_auc
from analysis.table.longtable import load_long_table
from analysis.table.ratings import (
    default_endpoints,
    endpoint_mask,
    probability_matrix,
    read_endpoint_scores,
)
from analysis.table.simulate import simulate_long_table
from tests.reference import REFERENCE_DATA

JIC = ["A", "B", "C1", "C2"]  # the default scheme, used here only as an example


@pytest.fixture(scope="module")
def table():
    df = simulate_long_table(labels=JIC, n_cases=160, n_readers=6, second_session=True,
                             aided=True, seed=11)
    return load_long_table(df)


@pytest.fixture(scope="module")
def result(table):
    return compare(table, n_bootstrap=300, seed=5)


def reads_of(table, reader, condition="unaided", session=1, cases=None):
    reads = table.select(reader=reader, condition=condition, session=session).reads
    if cases is not None:
        reads = reads[reads["case"].isin(cases)]
    return reads.sort_values("case")


def test_it_reports_every_site_group_reader_model_and_seniority_group(table, result):
    assert [g.name for g in result.site_groups] == ["all", "internal", "external"]
    everyone = result.group("all")
    assert [m.reader for m in everyone.models] == ["sim-model"]
    assert sorted(r.reader for r in everyone.readers) == list(table.human_readers)
    assert {g.seniority for g in everyone.seniority_groups} == {
        "chief", "deputy chief", "attending", "resident"}
    assert everyone.n_cases == 160
    assert everyone.n_patients == table.n_patients
    internal, external = result.group("internal"), result.group("external")
    assert internal.n_cases + external.n_cases == 160
    assert result.primary_condition == "unaided"
    assert result.data["n_cases"] == 160
    with pytest.raises(KeyError, match="site group 'abroad'"):
        result.group("abroad")


def test_the_model_metrics_equal_the_building_blocks(table, result):
    model = result.group("all").models[0]
    reads = reads_of(table, "sim-model")
    truth, label = reads["truth"].to_numpy(object), reads["label"].to_numpy(object)
    assert model.accuracy == accuracy(truth, label, labels=JIC)
    report = classification_report(truth, label, labels=JIC)
    assert model.report.macro_f1 == report.macro_f1
    np.testing.assert_array_equal(model.report.confusion.matrix, report.confusion.matrix)
    for w in ("none", "linear", "quadratic"):
        direct = cohen_kappa(truth, label, labels=JIC, weights=w)
        assert model.kappa[w].kappa == pytest.approx(direct.kappa, abs=1e-12)
        assert model.kappa[w].se == pytest.approx(direct.se, abs=1e-12)
    probs = probability_matrix(table, reads)
    ovr = one_vs_rest_auc(truth, probs, labels=JIC)
    assert model.macro_auc == pytest.approx(ovr.macro_auc, abs=1e-12)
    for entry, direct in zip(model.auc_per_class, ovr.per_class, strict=True):
        assert entry["auc"] == pytest.approx(direct.result.auc, abs=1e-12)
        assert entry["ci"] == pytest.approx(list(direct.result.ci), abs=1e-12)
    for entry, endpoint in zip(model.auc_endpoints, default_endpoints(JIC), strict=True):
        y = np.isin(truth, list(endpoint.positive))
        direct = roc_auc_ci(y, read_endpoint_scores(table, endpoint_mask(endpoint, JIC), reads))
        assert entry["auc"] == pytest.approx(direct.auc, abs=1e-12)
        assert entry["se"] == pytest.approx(direct.se, abs=1e-12)


def test_a_readers_metrics_and_reading_time_come_from_their_own_reads(table, result):
    reader = result.group("all").readers[0]
    reads = reads_of(table, reader.reader)
    assert reader.accuracy.accuracy == pytest.approx(
        (reads["truth"] == reads["label"]).mean())
    seconds = reads["time_ms"].to_numpy() / 1000
    assert reader.reading_time.median_s == pytest.approx(np.median(seconds))
    assert reader.reading_time.q1_s == pytest.approx(np.percentile(seconds, 25))


def test_the_paired_tests_equal_delong_and_mcnemar_called_directly(table, result):
    group = result.group("all")
    model = reads_of(table, "sim-model")
    endpoints = default_endpoints(JIC)
    for comparison in group.model_vs_readers:
        reader = reads_of(table, comparison.reader)
        truth = model["truth"].to_numpy(object)
        for (name, res, _, _), endpoint in zip(comparison.delong, endpoints, strict=True):
            assert name == endpoint.name
            y = np.isin(truth, list(endpoint.positive))
            mask = endpoint_mask(endpoint, JIC)
            direct = delong_test(y, read_endpoint_scores(table, mask, model),
                                 read_endpoint_scores(table, mask, reader))
            assert res.statistic == pytest.approx(direct.statistic, abs=1e-9)
            assert res.pvalue == pytest.approx(direct.pvalue, abs=1e-12)
            assert res.ci == pytest.approx(direct.ci, abs=1e-12)
        direct = mcnemar(model["label"].to_numpy() == truth,
                         reader["label"].to_numpy() == truth)
        assert comparison.mcnemar == direct


def test_holm_adjusts_across_readers_and_never_lowers_a_p_value(result):
    group = result.group("all")
    raw = [c.mcnemar.p for c in group.model_vs_readers]
    adjusted = [c.mcnemar_p_holm for c in group.model_vs_readers]
    assert adjusted == pytest.approx(holm(raw).p_adjusted.tolist())
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))
    for c in group.model_vs_readers:
        for _, res, p_holm, _ in c.delong:
            assert p_holm >= res.pvalue
    stated = [h for h in group.holm if h["test"] == "McNemar" and h["model"] == "sim-model"]
    assert stated[0]["method"] == f"Holm-adjusted across {len(raw)} readers"


def test_bootstrap_estimates_are_the_differences_of_the_direct_statistics(table, result):
    comparison = result.group("all").model_vs_readers[0]
    model, reader = reads_of(table, "sim-model"), reads_of(table, comparison.reader)
    truth = model["truth"].to_numpy(object)
    boot = {b.statistic: b for b in comparison.bootstrap}

    def stats_of(reads):
        label = reads["label"].to_numpy(object)
        return {"accuracy": accuracy(truth, label, labels=JIC).accuracy,
                "kappa": cohen_kappa(truth, label, labels=JIC).kappa,
                "kappa_quadratic": cohen_kappa(truth, label, labels=JIC,
                                               weights="quadratic").kappa,
                "macro_f1": classification_report(truth, label, labels=JIC).macro_f1}

    m, r = stats_of(model), stats_of(reader)
    for key in m:
        assert boot[key].estimate == pytest.approx(m[key] - r[key], abs=1e-12)
        lo, hi = boot[key].ci
        assert lo < boot[key].estimate < hi
        assert boot[key].n_resamples == 300
    endpoint = default_endpoints(JIC)[1]
    y = np.isin(truth, list(endpoint.positive))
    mask = endpoint_mask(endpoint, JIC)
    direct = (auc(y, read_endpoint_scores(table, mask, model))
              - auc(y, read_endpoint_scores(table, mask, reader)))
    assert boot[f"auc {endpoint.name}"].estimate == pytest.approx(direct, abs=1e-12)


def test_the_consensus_is_the_modal_class_with_ties_broken_by_mean_probability():
    nan = np.nan
    # three members, four cases; member c did not read case 3
    codes = {"a": [0, 1, 2, 0], "b": [0, 2, 1, 1], "c": [1, 2, 1, -1]}
    probs = {
        "a": [[.9, .1, 0], [0, .9, .1], [0, .2, .8], [.6, .4, 0]],
        "b": [[.8, .2, 0], [0, .4, .6], [0, .7, .3], [.3, .7, 0]],
        "c": [[.4, .6, 0], [0, .1, .9], [0, .6, .4], [nan, nan, nan]],
    }
    members = [Rater(name=m, kind="human", seniority="chief", condition="unaided",
                      codes=np.array(codes[m]), probs=np.array(probs[m]),
                      time_ms=np.full(4, nan)) for m in codes]
    group = consensus("group: chief", members, 3)
    # case 0: 0,0,1 -> 0; case 1: 1,2,2 -> 2; case 2: 2,1,1 -> 1;
    # case 3: a says 0, b says 1 (tie): mean probabilities (.45, .55, 0) -> 1
    assert group.codes.tolist() == [0, 2, 1, 1]
    np.testing.assert_allclose(group.probs[3], [.45, .55, 0])
    np.testing.assert_allclose(group.probs[0], [.7, .3, 0])
    assert group.members == ("a", "b", "c")


def test_agreement_equals_the_agreement_functions(table, result):
    group = result.group("all")
    wide = table.pivot("label", condition="unaided", session=1)
    humans = list(table.human_readers)
    mat = wide[humans].to_numpy(object)
    inter = group.inter_reader
    assert inter["fleiss"]["kappa"] == pytest.approx(
        fleiss_kappa(mat, labels=JIC).kappa, abs=1e-12)
    for w in ("none", "linear", "quadratic"):
        direct = pairwise_kappa(mat, labels=JIC, weights=w, raters=humans)
        assert inter["pairwise"][w]["mean_kappa"] == pytest.approx(direct.mean_kappa,
                                                                   abs=1e-12)
    intra = {e["reader"]: e for e in group.intra_reader}
    assert set(intra) == set(humans)
    first = humans[0]
    s1, s2 = reads_of(table, first, session=1), reads_of(table, first, session=2)
    direct = intra_reader_agreement(s1["label"].to_numpy(object), s2["label"].to_numpy(object),
                                    labels=JIC, weights="linear")
    assert intra[first]["kappa"]["linear"]["kappa"] == pytest.approx(direct.kappa, abs=1e-12)


def test_mrmc_compares_the_model_with_the_readers_and_the_two_conditions(table, result):
    entries = result.group("all").mrmc
    endpoint = default_endpoints(JIC)[1]
    vs = [e for e in entries if e["analysis"] == "model vs readers"
          and e["endpoint"] == endpoint.name][0]
    humans = list(table.human_readers)
    truth = reads_of(table, "sim-model")["truth"].to_numpy(object)
    y = np.isin(truth, list(endpoint.positive))
    mask = endpoint_mask(endpoint, JIC)
    scores = np.vstack([read_endpoint_scores(table, mask, reads_of(table, h)) for h in humans])
    model = read_endpoint_scores(table, mask, reads_of(table, "sim-model"))
    direct = model_vs_readers(y, model, scores, readers=humans)
    assert vs["result"]["rrrc"]["pvalue"] == pytest.approx(direct.rrrc.pvalue, abs=1e-12)
    conditions = [e for e in entries if e["analysis"] == "conditions"]
    assert len(conditions) == 3
    assert conditions[0]["treatments"] == ["unaided", "AI-aided"]
    assert conditions[0]["result"]["rrrc"]["df1"] == 1


def test_seniority_groups_pool_members_into_a_consensus_reader(table, result):
    group = result.group("all")
    chiefs = [g for g in group.seniority_groups if g.seniority == "chief"][0]
    members = [r for r in group.readers if r.seniority == "chief"]
    assert sorted(chiefs.members) == sorted(m.reader for m in members)
    assert chiefs.member_means["accuracy"] == pytest.approx(
        np.mean([m.accuracy.accuracy for m in members]))
    assert chiefs.kind == "group"
    assert chiefs.n_cases == 160


def test_it_is_reproducible_with_a_seed_and_serialises_to_json(table, result):
    again = compare(table, n_bootstrap=300, seed=5).to_dict()
    assert again == result.to_dict()
    other = compare(table, n_bootstrap=300, seed=6).to_dict()
    first = lambda d: d["site_groups"][0]["model_vs_readers"][0]["bootstrap"][0]["ci"]  # noqa: E731
    assert first(other) != first(again)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text) == result.to_dict()


def test_cases_a_reader_did_not_read_are_left_out_and_reported():
    df = simulate_long_table(labels=JIC, n_cases=80, n_readers=4, seed=8)
    skipped = df[(df["reader"] == "sim-chief-1")].sort_values("case")["case"].iloc[:5]
    df = df[~((df["reader"] == "sim-chief-1") & df["case"].isin(skipped))]
    table = load_long_table(df)
    res = compare(table, n_bootstrap=50)
    group = res.group("all")
    chief = [r for r in group.readers if r.reader == "sim-chief-1"][0]
    assert chief.n_cases == 75 and chief.n_not_read == 5
    excl = [e for e in res.exclusions if e["reader"] == "sim-chief-1" and e["site_group"] == "all"]
    assert excl[0]["n_cases"] == 5
    mrmc_excl = [e for e in res.exclusions if e["what"] == "MRMC readers"
                 and e["site_group"] == "all"]
    assert mrmc_excl[0]["readers"] == ["sim-chief-1"]
    vs = [c for c in group.model_vs_readers if c.reader == "sim-chief-1"][0]
    assert vs.n_cases == 75
    read = sorted(set(table.cases().index) - set(skipped))
    model, chief_reads = reads_of(table, "sim-model", cases=read), reads_of(
        table, "sim-chief-1", cases=read)
    endpoint = default_endpoints(JIC)[0]
    y = np.isin(model["truth"].to_numpy(object), list(endpoint.positive))
    mask = endpoint_mask(endpoint, JIC)
    direct = delong_test(y, read_endpoint_scores(table, mask, model),
                         read_endpoint_scores(table, mask, chief_reads))
    assert vs.delong[0][1].pvalue == pytest.approx(direct.pvalue, abs=1e-12)


def test_the_paired_delong_test_reproduces_proc_on_asah():
    # pROC: roc.test(roc(outcome, wfns), roc(outcome, s100b)) -> AUC 0.823678861788618 vs
    # 0.731368563685637, Z = 2.20898359144091, p = 0.0271757822291882, 95% CI of the
    # difference 0.0104061769564846 to 0.174214419249478 (shared/reference-data/README.md).
    # Here s100b is the "model" and wfns a reader giving scores, so the signs flip.
    asah = pd.read_csv(REFERENCE_DATA / "aSAH.csv")
    rows = []
    for i, row in asah.iterrows():
        base = {"condition": "unaided", "session": 1, "case": f"c{i}", "patient": f"p{i}",
                "truth": row["outcome"]}
        rows.append({**base, "reader": "s100b", "reader_kind": "model",
                     "score_Good": 3 - row["s100b"], "score_Poor": row["s100b"],
                     "label": "Poor" if row["s100b"] > 0.5 else "Good"})
        rows.append({**base, "reader": "wfns", "reader_kind": "human", "seniority": "scale",
                     "score_Good": 6 - row["wfns"], "score_Poor": row["wfns"],
                     "label": "Poor" if row["wfns"] >= 3 else "Good"})
    res = compare(pd.DataFrame(rows), n_bootstrap=0)
    vs = res.group("all").model_vs_readers[0]
    _, test, _, _ = vs.delong[0]
    assert test.aucs == pytest.approx((0.731368563685637, 0.823678861788618), abs=1e-12)
    assert test.statistic == pytest.approx(-2.20898359144091, abs=1e-10)
    assert test.pvalue == pytest.approx(0.0271757822291882, abs=1e-12)
    assert test.ci == pytest.approx((-0.174214419249478, -0.0104061769564846), abs=1e-12)


def test_the_condition_mrmc_reproduces_mrmcaov_on_van_dyke():
    # MRMCaov / OR-DBM MRMC on Van Dyke, empirical AUC, jackknife covariance, RRRC:
    # AUC 0.89703704 vs 0.94083736, F = 4.456319, df = (1, 15.25967), p = 0.05166569,
    # 95% CI of the difference -0.0879594986 to 0.0003588544 (shared/reference-data/README.md).
    vd = pd.read_csv(REFERENCE_DATA / "vandyke.csv")
    df = pd.DataFrame({
        "reader": "r" + vd["reader"].astype(str), "reader_kind": "human", "seniority": "any",
        "condition": np.where(vd["treatment"] == 1, "unaided", "other"), "session": 1,
        "case": "c" + vd["case"].astype(str), "patient": "p" + vd["case"].astype(str),
        "truth": np.where(vd["truth"] == 1, "pos", "neg"),
        "label": np.where(vd["rating"] >= 3, "pos", "neg"),
        "score_neg": 6 - vd["rating"], "score_pos": vd["rating"],
    })
    res = compare(df, n_bootstrap=0, condition="unaided")
    entry = [e for e in res.group("all").mrmc if e["analysis"] == "conditions"][0]
    rrrc = entry["result"]["rrrc"]
    aucs = entry["result"]["treatment_auc"]
    assert [aucs["unaided"], aucs["other"]] == pytest.approx([0.89703704, 0.94083736], abs=1e-8)
    assert rrrc["statistic"] == pytest.approx(4.456319, abs=1e-6)
    assert rrrc["df2"] == pytest.approx(15.25967, abs=1e-5)
    assert rrrc["pvalue"] == pytest.approx(0.05166569, abs=1e-8)
    assert rrrc["comparisons"][0]["ci"] == pytest.approx([-0.0879594986, 0.0003588544],
                                                         abs=1e-10)


def test_without_external_cases_only_the_all_group_is_reported():
    df = simulate_long_table(labels=["lo", "hi"], n_cases=40, n_readers=2,
                             external_fraction=0.0, seed=2)
    res = compare(df, n_bootstrap=20)
    assert [g.name for g in res.site_groups] == ["all"]
    assert "no internal/external split" in res.data["site_group_note"]


def test_a_changed_read_is_analysed_in_its_final_version():
    df = simulate_long_table(labels=["lo", "hi"], n_cases=40, n_readers=2, seed=2)
    row = df[(df["reader"] == "sim-chief-1")].iloc[[0]]
    flipped = "hi" if row["label"].iloc[0] == "lo" else "lo"
    later = row.assign(label=flipped, read_at="2027-01-01T00:00:00Z")
    res = compare(pd.concat([df, later], ignore_index=True), n_bootstrap=0)
    assert res.data["n_superseded_rows"] == 1
    chief = [r for r in res.group("all").readers if r.reader == "sim-chief-1"][0]
    original = compare(df, n_bootstrap=0)
    before = [r for r in original.group("all").readers if r.reader == "sim-chief-1"][0]
    assert abs(chief.accuracy.n_correct - before.accuracy.n_correct) == 1


def test_the_cli_prints_the_same_json_as_compare(tmp_path, capsys, table):
    path = tmp_path / "long.csv"
    table.reads.to_csv(path, index=False)
    assert main(["compare", str(path), "--bootstrap", "40", "--seed", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == compare(load_long_table(path), n_bootstrap=40, seed=3).to_dict()


def test_the_cli_prints_a_readable_report(tmp_path, capsys):
    path = tmp_path / "long.csv"
    simulate_long_table(labels=JIC, n_cases=40, n_readers=2, seed=1).to_csv(path, index=False)
    assert main(["compare", str(path), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    for heading in ("Site group: all", "Model vs readers", "Inter-reader agreement", "MRMC",
                    "Methods", "Holm"):
        assert heading in out


def test_the_cli_names_the_broken_column(tmp_path, capsys):
    path = tmp_path / "long.csv"
    df = simulate_long_table(labels=JIC, n_cases=20, n_readers=2, seed=1)
    df.loc[3, "truth"] = None
    df.to_csv(path, index=False)
    assert main(["compare", str(path), "--json"]) == 2
    assert "column 'truth' has 1 missing value" in capsys.readouterr().err


def test_it_asks_for_labels_when_it_cannot_order_the_classes(capsys, tmp_path):
    path = tmp_path / "long.csv"
    df = simulate_long_table(labels=JIC, n_cases=20, n_readers=2, seed=1)
    df.drop(columns=[f"score_{c}" for c in JIC]).to_csv(path, index=False)
    assert main(["compare", str(path)]) == 2
    assert "--labels" in capsys.readouterr().err
    assert main(["compare", str(path), "--labels", ",".join(JIC), "--bootstrap", "0",
                 "--json"]) == 0


def test_it_refuses_bad_options():
    df = simulate_long_table(labels=JIC, n_cases=20, n_readers=2, seed=1)
    with pytest.raises(ValueError, match="n_bootstrap: expected a whole number"):
        compare(df, n_bootstrap=-1)
    with pytest.raises(ValueError, match="level: expected"):
        compare(df, level=95)
    with pytest.raises(ValueError, match="condition: 'aided' is not in the long table"):
        compare(df, condition="aided")
    with pytest.raises(ValueError, match=r"names classes \['D'\] not in labels"):
        compare(df, endpoints=[("bad", ["D"])])


def test_a_model_and_a_reader_with_no_case_in_common_are_not_compared_and_it_says_so():
    rows = []
    for c in range(16):
        truth = ["A", "B"][c % 2]
        if c < 8:
            rows.append(dict(reader="r1", reader_kind="human", label=truth if c % 3 else "A"))
        else:
            rows.append(dict(reader="m", reader_kind="model", label=truth,
                             score_A=0.7 if truth == "A" else 0.2,
                             score_B=0.3 if truth == "A" else 0.8))
        rows[-1].update(condition="unaided", session=1, case=f"c{c}", patient=f"p{c}",
                        truth=truth)
    result = compare(pd.DataFrame(rows), labels=["A", "B"], n_bootstrap=10).to_dict()
    group = result["site_groups"][0]
    assert group["model_vs_readers"] == []
    assert "m vs r1: no case read by both; not compared" in group["notes"]
    assert [r["reader"] for r in group["readers"]] == ["r1"]


def _with_indeterminate(df: pd.DataFrame, marks: dict[str, list[str]]) -> pd.DataFrame:
    """``df`` with the reads of reader -> cases turned indeterminate (no label, no confidence)."""
    df = df.copy()
    df["indeterminate"] = False
    for reader, cases in marks.items():
        rows = (df["reader"] == reader) & df["case"].isin(cases) & (df["session"] == 1) \
            & (df["condition"] == "unaided")
        assert rows.sum() == len(cases)
        df.loc[rows, ["label", "confidence"]] = None
        df.loc[rows, "indeterminate"] = True
    return df


def test_indeterminate_reads_are_left_out_of_the_readers_metrics_and_counted():
    labels = ["A", "B", "C1", "C2"]
    base = simulate_long_table(labels=labels, n_cases=120, n_readers=4, seed=7)
    readers = sorted(base.loc[base.reader_kind == "human", "reader"].unique())
    cases = sorted(base["case"].unique())
    marks = {readers[0]: cases[:5], readers[1]: cases[3:6]}
    df = _with_indeterminate(base, marks)
    table = load_long_table(df, labels=labels)
    assert len(table.indeterminate) == 8 and table.reads["indeterminate"].eq(False).all()
    result = compare(table, n_bootstrap=0).to_dict()
    g = result["site_groups"][0]
    r0 = next(r for r in g["readers"] if r["reader"] == readers[0])
    assert (r0["n_indeterminate"], r0["n_cases"], r0["n_not_read"]) == (5, 115, 0)
    graded = df[(df.reader == readers[0]) & ~df.indeterminate & (df.session == 1)
                & (df.condition == "unaided")]
    assert r0["accuracy"]["accuracy"] == pytest.approx(
        accuracy(graded.truth, graded.label, labels=labels).accuracy)
    assert any(e["reader"] == readers[0] and e["n_cases"] == 5 and "indeterminate" in e["reason"]
               for e in result["exclusions"])
    assert result["data"]["n_indeterminate_rows"] == 8
    # MRMC keeps every reader and leaves the 6 cases someone marked indeterminate out for all.
    mv = next(m for m in g["mrmc"] if m["analysis"] == "model vs readers" and m["result"])
    assert sorted(mv["readers"]) == readers and mv["n_cases"] == 114
    assert mv["n_cases_indeterminate"] == 6
    endpoint = next(e for e in result["endpoints"] if e["name"] == mv["endpoint"])
    sub = load_long_table(table.reads[~table.reads["case"].isin(cases[:6])], labels=labels)
    positive = np.isin(labels, endpoint["positive"])
    frame = sub.reads.assign(score=read_endpoint_scores(sub, positive))
    wide = frame.pivot(index="case", columns="reader", values="score")
    y = sub.cases()["truth"].isin(endpoint["positive"]).reindex(wide.index).to_numpy()
    direct = model_vs_readers(y, wide[sub.model_readers[0]].to_numpy(),
                              np.stack([wide[r].to_numpy() for r in readers]), readers=readers)
    assert mv["result"]["rrrc"]["estimate"] == pytest.approx(direct.rrrc.estimate)
    assert mv["result"]["rrrc"]["pvalue"] == pytest.approx(direct.rrrc.pvalue)


def test_an_indeterminate_read_with_a_label_or_a_missing_label_without_it_is_refused():
    labels = ["A", "B"]
    rows = [dict(reader="r", reader_kind="human", condition="unaided", session=1, case=f"c{i}",
                 patient=f"p{i}", truth="AB"[i % 2], label="AB"[i % 2]) for i in range(4)]
    df = pd.DataFrame(rows)
    df["indeterminate"] = ["yes", "no", "", "false"]
    with pytest.raises(ValueError, match="data row 1 is indeterminate and has a label 'A'"):
        load_long_table(df, labels=labels)
    df.loc[0, "label"] = None
    assert len(load_long_table(df, labels=labels).indeterminate) == 1
    df.loc[1, "label"] = None
    with pytest.raises(ValueError, match="column 'label' has 1 missing value"):
        load_long_table(df, labels=labels)
    df.loc[1, ["label", "indeterminate"]] = ["B", "maybe"]
    with pytest.raises(ValueError, match="'indeterminate' has a value 'maybe'"):
        load_long_table(df, labels=labels)
    df["indeterminate"] = "true"
    df["label"] = None
    with pytest.raises(ValueError, match="every read is indeterminate"):
        load_long_table(df, labels=labels)


def test_reads_with_equal_exact_scores_tie_in_the_readers_auc():
    """The minimal case: r1's "B at 44" (truth A) and "C1 at 16" (truth C1) both score A at
    0.1575 exactly; the A-vs-rest AUC counts that pair as 1/2: 11/12, not 1."""
    truth = {"c1": "A", "c2": "C1", "c3": "A", "c4": "C2", "c5": "B"}
    r1 = {"c1": ("B", 44), "c2": ("C1", 16), "c3": ("A", 100), "c4": ("C2", 100),
          "c5": ("B", 100)}
    rows = []
    for case, t in truth.items():
        rows.append(dict(reader="r1", reader_kind="human", condition="unaided", session=1,
                         case=case, patient=case, truth=t, label=r1[case][0],
                         confidence=r1[case][1]))
        rows.append(dict(reader="model", reader_kind="model", condition="unaided", session=1,
                         case=case, patient=case, truth=t, label=t, confidence=100))
    result = compare(pd.DataFrame(rows), labels=JIC, n_bootstrap=0)
    reader = next(r for r in result.group("all").readers if r.reader == "r1")
    a_vs_rest = next(e for e in reader.auc_per_class if e["name"] == "A vs rest")
    assert a_vs_rest["auc"] == pytest.approx(11 / 12, abs=1e-15)
