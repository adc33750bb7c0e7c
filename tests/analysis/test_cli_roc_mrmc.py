"""``python -m analysis delong`` and ``python -m analysis mrmc`` on the reference files, and their
error messages. Reference numbers: pROC tests/testthat (test-roc.test.R, test-var.R) and
MRMCaov's README / JSS paper (see test_roc.py and test_mrmc.py)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main
from tests.reference import REFERENCE_DATA

REF = REFERENCE_DATA
ASAH = REF / "aSAH.csv"
VANDYKE = REF / "vandyke.csv"
REPO = Path(__file__).resolve().parents[2]


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


DELONG = ["delong", "--csv", str(ASAH), "--truth", "outcome", "--positive", "Poor"]
MRMC = ["mrmc", "--csv", str(VANDYKE), "--reader", "reader", "--treatment", "treatment",
        "--case", "case", "--truth", "truth", "--rating", "rating"]


# --- delong ----------------------------------------------------------------------------------


def test_delong_json_reproduces_procs_paired_test(capsys):
    out = run_json(capsys, DELONG + ["--score", "wfns", "--score", "s100b", "--json"])
    assert (out["n_positive"], out["n_negative"]) == (41, 72)
    assert out["auc"] == pytest.approx([0.823678861788618, 0.731368563685637], abs=1e-14)
    assert out["var"][0] == pytest.approx(0.00146991470882363, abs=1e-16)
    assert out["var"][1] == pytest.approx(0.00266868245717244, abs=1e-16)
    t = out["test"]
    assert t["statistic"] == pytest.approx(2.20898359144091, abs=1e-12)
    assert t["pvalue"] == pytest.approx(0.0271757822291882, abs=1e-15)
    assert t["difference"] == pytest.approx(0.823678861788618 - 0.731368563685637, abs=1e-14)
    assert t["ci"] == pytest.approx([0.0104061769564846, 0.174214419249478], abs=1e-14)
    assert t["df"] is None


def test_delong_json_with_one_score_has_no_test(capsys):
    out = run_json(capsys, DELONG + ["--score", "ndka", "--json"])
    # pROC test-ci.auc.R
    assert out["ci"][0] == pytest.approx([0.501244999271703, 0.722670989888189], abs=1e-14)
    assert "test" not in out


def test_delong_unpaired_and_one_sided(capsys):
    # pROC test-roc.test.R: t1up and the unpaired "greater" test
    out = run_json(capsys, DELONG + ["--score", "wfns", "--score", "s100b", "--unpaired",
                                     "--alternative", "greater", "--json"])
    assert out["test"]["statistic"] == pytest.approx(1.43490640926908, abs=1e-12)
    assert out["test"]["pvalue"] == pytest.approx(0.076412689404398, abs=1e-14)
    assert out["test"]["df"] > 100


def test_delong_unpaired_drops_missing_rows_per_score(capsys, tmp_path):
    rows = read_rows(ASAH)
    for r in rows[:10]:
        r["ndka"] = "NA"
    f = write_csv(tmp_path / "a.csv", rows)
    argv = ["delong", "--csv", str(f), "--truth", "outcome", "--positive", "Poor",
            "--score", "s100b", "--score", "ndka", "--unpaired", "--json"]
    out = run_json(capsys, argv)
    first10_pos = sum(r["outcome"] == "Poor" for r in rows[:10])
    assert out["n_positive"] == [41, 41 - first10_pos]
    assert out["n_negative"] == [72, 72 - (10 - first10_pos)]


def test_delong_prints_a_readable_table(capsys):
    assert main(DELONG + ["--score", "wfns", "--score", "s100b"]) == 0
    out = capsys.readouterr().out
    assert "wfns" in out and "0.8237" in out and "Z = 2.2090, p = 0.0272" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--score", "age2"], "--score age2: unknown column 'age2'"),
        (["--score", "gender"], "column 'gender': non-numeric value 'Female' on line 2"),
        (["--score", "wfns", "--unpaired"], "--unpaired: expected exactly two"),
        (["--score", "wfns", "--level", "95"], "--level: expected a confidence level"),
    ],
)
def test_delong_errors_name_the_column(capsys, extra, message):
    assert main(DELONG + extra) == 2
    assert message in capsys.readouterr().err


def test_delong_refuses_missing_scores_in_paired_mode(capsys, tmp_path):
    rows = read_rows(ASAH)
    rows[4]["s100b"] = ""
    f = write_csv(tmp_path / "a.csv", rows)
    argv = ["delong", "--csv", str(f), "--truth", "outcome", "--positive", "Poor",
            "--score", "wfns", "--score", "s100b"]
    assert main(argv) == 2
    assert "column 's100b': missing value on line 6" in capsys.readouterr().err


def test_delong_refuses_a_single_class_and_an_unknown_positive_value(capsys, tmp_path):
    rows = [r for r in read_rows(ASAH) if r["outcome"] == "Good"]
    f = write_csv(tmp_path / "good.csv", rows)
    argv = ["delong", "--csv", str(f), "--truth", "outcome", "--score", "wfns"]
    assert main(argv + ["--positive", "Good"]) == 2
    assert "column 'outcome': a single class in truth" in capsys.readouterr().err
    assert main(DELONG[:-1] + ["poor", "--score", "wfns"]) == 2
    assert "--positive: value 'poor' does not occur in column 'outcome'" in (
        capsys.readouterr().err
    )


def test_python_m_analysis_delong_runs_as_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", *DELONG, "--score", "wfns", "--score", "s100b",
         "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["test"]["statistic"] == pytest.approx(2.20898359144091, abs=1e-12)
    assert out["test"]["pvalue"] == pytest.approx(0.0271757822291882, abs=1e-15)


# --- mrmc ----------------------------------------------------------------------------------


def test_mrmc_json_reproduces_mrmcaov(capsys):
    out = run_json(capsys, MRMC + ["--json"])
    assert out["treatments"] == ["1", "2"]
    assert out["treatment_auc"]["1"] == pytest.approx(0.89703704, abs=5e-9)
    assert out["treatment_auc"]["2"] == pytest.approx(0.94083736, abs=5e-9)
    assert out["auc"]["1"]["1"] == pytest.approx(0.9196457, abs=5e-8)
    assert out["difference"] == pytest.approx(-0.04380032, abs=5e-9)
    assert out["covariance"]["cov2"] == pytest.approx(0.0003440748, abs=5e-11)
    r = out["rrrc"]
    assert r["F"] == pytest.approx(4.456319, abs=5e-7)
    assert (r["df1"], r["df2"]) == (1, pytest.approx(15.25967, abs=5e-6))
    assert r["p"] == pytest.approx(0.05166569, abs=5e-9)
    assert r["se"] == pytest.approx(0.02074862, abs=5e-9)
    assert r["ci"] == pytest.approx([-0.0879594986, 0.0003588544], abs=5e-11)
    f = out["frrc"]
    assert f["statistic"] == pytest.approx(5.475953, abs=5e-7)
    assert f["p"] == pytest.approx(0.01927984, abs=5e-9)
    assert f["ci"] == pytest.approx([-0.08048591, -0.00711473], abs=5e-9)
    s = out["rrfc"]
    assert s["F"] == pytest.approx(8.704, abs=5e-4)
    assert (s["df1"], s["df2"]) == (1, 4)
    assert s["p"] == pytest.approx(0.04195875, abs=5e-9)
    assert s["se"] == pytest.approx(0.01484629, abs=5e-9)


def test_mrmc_json_with_delong_covariance(capsys):
    # MRMCaov JSS paper, cov = DeLong
    out = run_json(capsys, MRMC + ["--cov", "delong", "--json"])
    assert out["rrrc"]["F"] == pytest.approx(4.484854, abs=5e-7)
    assert out["rrrc"]["df2"] == pytest.approx(15.06611, abs=5e-6)


def test_mrmc_prints_a_readable_table(capsys):
    assert main(MRMC) == 0
    out = capsys.readouterr().out
    assert "F = 4.4563, df = (1, 15.26), p = 0.0517" in out


def test_mrmc_refuses_an_incomplete_design(capsys, tmp_path):
    rows = [r for r in read_rows(VANDYKE)
            if not (r["reader"] == "2" and r["treatment"] == "1" and r["case"] == "40")]
    f = write_csv(tmp_path / "v.csv", rows)
    argv = MRMC.copy()
    argv[2] = str(f)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "incomplete design: reader '2'" in err and "treatment '1'" in err


def test_mrmc_refuses_a_missing_rating_and_non_binary_truth(capsys, tmp_path):
    rows = read_rows(VANDYKE)
    rows[3]["rating"] = "NA"
    f = write_csv(tmp_path / "v.csv", rows)
    argv = MRMC.copy()
    argv[2] = str(f)
    assert main(argv) == 2
    assert "column 'rating': missing rating on line 5" in capsys.readouterr().err
    rows = read_rows(VANDYKE)
    rows[0]["truth"] = "yes"
    write_csv(f, rows)
    assert main(argv) == 2
    assert "column 'truth': expected 0/1 truth" in capsys.readouterr().err


def test_mrmc_refuses_an_unknown_column(capsys):
    argv = MRMC.copy()
    argv[argv.index("rating")] = "score"
    assert main(argv) == 2
    assert "--rating: unknown column 'score'" in capsys.readouterr().err
