"""Exports of a long table: the iMRMC file has the documented layout, the MRMCaov CSV gives the
same analysis through ``python -m analysis mrmc`` as the comparison, the XLSX holds its sheets.

The iMRMC layout is the one the iMRMC Java application writes (DIDSR/iMRMC simulation writer:
description, ``NR:``, ``N0:``, ``N1:``, ``NM:``, ``BEGIN DATA:``, truth rows ``-1,case,0,truth``,
then ``reader,case,modality,score``) and RJafroc's ``ReadImrmc`` reads
(R/DfReadIowaFormats.R: keys N0/N1/NR/NM, "BEGIN DATA:", 4 comma-separated fields, integer case
ids).
"""

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis.cli import main
from analysis.compare.comparison import compare
from analysis.table import exports
from analysis.table.longtable import load_long_table, validate_long_table
from analysis.table.ratings import default_endpoints, endpoint_mask, read_endpoint_scores
from analysis.table.simulate import simulate_long_table

LABELS = ["A", "B", "C1", "C2"]


@pytest.fixture(scope="module")
def table():
    # humans read unaided twice and AI-aided once; one model reads unaided
    df = simulate_long_table(labels=LABELS, n_cases=30, n_readers=3, aided=True,
                             second_session=True, seed=4)
    return validate_long_table(df, labels=LABELS)


def _parse_imrmc(text: str) -> dict:
    lines = text.split("\n")
    assert lines[-1] == ""  # the file ends with a newline
    lines = lines[:-1]
    begin = lines.index("BEGIN DATA:")
    header = {}
    for line in lines[:begin]:
        key, sep, value = line.partition(":")
        if sep and key in ("NR", "N0", "N1", "NM"):
            header[key] = int(value.strip())
    assert list(header) == ["NR", "N0", "N1", "NM"]
    # the four keys come in this order right before a blank line and BEGIN DATA:
    assert [line.split(":")[0] for line in lines[begin - 5:begin - 1]] == ["NR", "N0", "N1", "NM"]
    assert lines[begin - 1] == ""
    rows = [line.split(",") for line in lines[begin + 1:]]
    assert all(len(r) == 4 for r in rows)
    truth = [r for r in rows if r[0] == "-1"]
    data = [r for r in rows if r[0] != "-1"]
    # every truth row comes before the first data row
    assert rows[:len(truth)] == truth
    return {"header": header, "truth": truth, "data": data, "lines": lines[:begin]}


def test_the_imrmc_file_has_the_documented_layout(table):
    endpoint = default_endpoints(LABELS)[1]  # >= C1, the collapse-prone question
    parsed = _parse_imrmc(exports.imrmc_text(table, endpoint))
    cases = table.cases()
    positive = cases["truth"].isin(["C1", "C2"])
    assert parsed["header"] == {"NR": 4, "N0": int((~positive).sum()),
                                "N1": int(positive.sum()), "NM": 2}
    # case ids are not integers here: numbered 1..K in sorted order, the key in the header
    key = dict(line.split(" = ") for line in parsed["lines"] if line.startswith("case "))
    assert [key[f"case {i}"] for i in range(1, 31)] == sorted(cases.index)
    number = {case: str(i) for i, case in enumerate(sorted(cases.index), start=1)}
    assert [(r[1], r[2], r[3]) for r in parsed["truth"]] == [
        (number[c], "0", str(int(positive[c]))) for c in sorted(cases.index)]
    # 3 humans x 2 conditions + 1 model x 1 condition, first sessions only; the model first
    assert len(parsed["data"]) == (3 * 2 + 1) * 30
    assert parsed["data"][0][0] == "sim-model"
    assert {r[2] for r in parsed["data"]} == {"unaided", "AI-aided"}
    scores = read_endpoint_scores(table, endpoint_mask(endpoint, LABELS))
    first = (table.reads["session"] == 1).to_numpy()
    reads = table.reads.loc[first]
    # the score of each data row is the first session's read of that reader, condition and case
    lookup = {(r, k, c): s for r, k, c, s in
              zip(reads["reader"], reads["condition"], reads["case"], scores[first],
                  strict=True)}
    assert len(lookup) == len(parsed["data"])
    inverse = {v: k for k, v in number.items()}
    for reader, case, modality, score in parsed["data"]:
        expected = lookup[(reader, modality, inverse[case])]
        assert float(score) == expected


def test_integer_case_ids_are_kept_in_the_imrmc_file(table):
    reads = table.reads.copy()
    codes = {c: str(100 + i) for i, c in enumerate(sorted(reads["case"].unique()))}
    reads["case"] = reads["case"].map(codes)
    parsed = _parse_imrmc(exports.imrmc_text(validate_long_table(reads, labels=LABELS),
                                             default_endpoints(LABELS)[0]))
    assert [r[1] for r in parsed["truth"]] == [str(100 + i) for i in range(30)]
    assert not any(line.startswith("case ") for line in parsed["lines"])


def test_the_imrmc_file_refuses_a_comma_in_a_reader_name(table):
    reads = table.reads.copy()
    reads["reader"] = reads["reader"].replace({"sim-model": "model,v1"})
    with pytest.raises(ValueError, match="reader: 'model,v1' contains a comma"):
        exports.imrmc_text(validate_long_table(reads, labels=LABELS),
                           default_endpoints(LABELS)[0])


def test_the_mrmcaov_csv_gives_the_comparisons_mrmc_through_the_cli(table, tmp_path, capsys):
    result = compare(table, n_bootstrap=0).group("all")
    for endpoint in default_endpoints(LABELS):
        path = exports.write_mrmc_csv(table, endpoint, tmp_path / "mrmc.csv",
                                      include_models=False)
        frame = pd.read_csv(path)
        assert list(frame.columns) == ["reader", "treatment", "case", "truth", "rating"]
        assert main(["mrmc", "--csv", str(path), "--reader", "reader", "--treatment",
                     "treatment", "--case", "case", "--truth", "truth", "--rating", "rating",
                     "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)
        ours = next(m for m in result.mrmc
                    if m["analysis"] == "conditions" and m["endpoint"] == endpoint.name)
        assert ours["result"]["treatments"] == ["unaided", "AI-aided"]
        for treatment in ("unaided", "AI-aided"):
            assert cli["treatment_auc"][treatment] == pytest.approx(
                ours["result"]["treatment_auc"][treatment], abs=1e-12)
            assert cli["auc"][treatment] == pytest.approx(
                ours["result"]["auc"][treatment], abs=1e-12)
        # the CLI sorts treatments ("AI-aided" < "unaided"): its difference has the other sign
        assert cli["difference"] == pytest.approx(-ours["result"]["difference"], abs=1e-12)
        assert cli["rrrc"]["p"] == pytest.approx(ours["result"]["rrrc"]["pvalue"], abs=1e-12)


def test_the_model_is_a_reader_of_the_mrmc_csv_with_its_own_auc(table, tmp_path):
    endpoint = default_endpoints(LABELS)[2]
    path = exports.write_mrmc_csv(table, endpoint, tmp_path / "mrmc.csv")
    frame = pd.read_csv(path, dtype={"reader": str, "case": str})
    assert frame["reader"].iloc[0] == "sim-model"
    assert len(frame) == (3 * 2 + 1) * 30
    model = frame[frame["reader"] == "sim-model"]
    assert set(model["treatment"]) == {"unaided"}
    pos, neg = model.loc[model.truth == 1, "rating"], model.loc[model.truth == 0, "rating"]
    # empirical AUC (Mann-Whitney) of the file's ratings = the comparison's model AUC
    diff = pos.to_numpy()[:, None] - neg.to_numpy()[None, :]
    auc = float(((diff > 0) + 0.5 * (diff == 0)).mean())
    ours = compare(table, n_bootstrap=0).group("all").models[0].auc_endpoints
    assert auc == pytest.approx(next(e for e in ours if e["name"] == endpoint.name)["auc"],
                                abs=1e-12)


def test_the_long_table_csv_reads_back_unchanged(table, tmp_path):
    csv_path, dictionary = exports.write_long_table(table, tmp_path)
    back = load_long_table(csv_path)
    assert back.labels == tuple(LABELS)
    assert len(back.reads) == len(table.reads)
    a = exports.long_table_frame(table)
    b = exports.long_table_frame(back)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    columns = pd.read_csv(dictionary)["column"].tolist()
    assert columns == list(pd.read_csv(csv_path, nrows=0).columns)


def test_the_workbook_holds_the_sheets_with_their_rows(table, tmp_path):
    comparison = compare(table, n_bootstrap=0)
    path = exports.write_xlsx(table, tmp_path / "study.xlsx", comparison=comparison)
    book = openpyxl.load_workbook(path, read_only=True)
    names = [f"summary {g.name}" for g in comparison.site_groups]
    assert book.sheetnames == ["long reads", "labels", *names]
    assert book["long reads"].max_row == len(table.reads) + 1
    labels = list(book["labels"].values)
    assert len(labels) == 30 + 1
    # 3 humans read in 3 condition/session pairs: one column each; the model has one column
    assert labels[0][:2] == ("case", "truth") and len(labels[0]) == 2 + 3 * 3 + 1
    summary = list(book["summary all"].values)
    group = comparison.group("all")
    n = len(group.models) + len(group.readers) + len(group.seniority_groups)
    assert len(summary) == n + 1
    head = summary[0]
    first = dict(zip(head, summary[1], strict=True))
    model = group.models[0]
    assert first["reader"] == model.reader
    assert first["accuracy"] == pytest.approx(model.accuracy.accuracy)
    assert first["kappa_quadratic"] == pytest.approx(model.kappa["quadratic"].kappa)
    assert first["macro_f1"] == pytest.approx(model.report.macro_f1)


def test_the_bundle_writes_every_file(table, tmp_path):
    comparison = compare(table, n_bootstrap=0)
    files = exports.write_bundle(table, tmp_path / "out", comparison=comparison)
    names = sorted(p.name for p in files)
    assert names == sorted([
        "long_table.csv", "long_table_dictionary.csv", "study.xlsx", "results.json",
        "mrmc_ge_B.csv", "mrmc_ge_C1.csv", "mrmc_ge_C2.csv",
        "imrmc_ge_B.imrmc", "imrmc_ge_C1.imrmc", "imrmc_ge_C2.imrmc",
    ])
    assert all(p.is_file() for p in files)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved == json.loads(json.dumps(comparison.to_dict()))
    assert np.isclose(saved["site_groups"][0]["models"][0]["accuracy"]["accuracy"],
                      comparison.group("all").models[0].accuracy.accuracy)


def test_indeterminate_reads_travel_in_the_long_table_and_stay_out_of_the_rating_files(
        tmp_path):
    df = simulate_long_table(labels=LABELS, n_cases=60, n_readers=3, seed=2)
    human = df.index[(df["reader_kind"] == "human")][:4]
    df["indeterminate"] = False
    df.loc[human, ["label", "confidence"]] = None
    df.loc[human, "indeterminate"] = True
    table = validate_long_table(df, labels=LABELS)
    exports.write_bundle(table, tmp_path)
    back = load_long_table(tmp_path / "long_table.csv", labels=LABELS)
    assert len(back.indeterminate) == 4 and len(back.reads) == len(table.reads)
    assert compare(back, n_bootstrap=0).to_dict() == compare(table, n_bootstrap=0).to_dict()
    ratings = pd.read_csv(next(tmp_path.glob("mrmc_*.csv")))
    assert len(ratings) == len(table.reads)  # graded reads only (each with one rating)
