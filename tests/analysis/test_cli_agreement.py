"""``python -m analysis kappa | fleiss | mcnemar`` on the reference files.

Reference numbers as in test_agreement.py and test_paired.py: R irr ``kappa2`` /
``kappam.fleiss`` (recorded in statsmodels test_inter_rater.py), SAS PROC FREQ "Agreement
Study" (skin condition), R ``mcnemar.test`` (recorded in statsmodels test_nonparametric.py).
"""

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
ANXIETY = REF / "kappa" / "irr_anxiety_20x3.csv"
DIAGNOSES = REF / "kappa" / "fleiss1971_diagnoses_30x6.csv"


def printed(text: str) -> pytest.approx:
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    return pytest.approx(float(text), abs=0.5 * 10 ** (exponent - decimals) + 1e-15)


def run_json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_kappa_json_reproduces_irr_kappa2(capsys):
    out = run_json(capsys, "kappa", "--csv", str(ANXIETY), "--rater", "rater2", "--rater",
                   "rater3", "--weights", "quadratic", "--json")
    assert set(out) == {"kappa", "se", "se0", "z", "p", "ci"}
    assert out["kappa"] == printed("0.2520325")
    assert out["z"] == printed("1.437451")
    assert out["p"] == printed("0.1505898")
    assert out["ci"][0] < out["kappa"] < out["ci"][1]


def test_kappa_says_when_levels_come_from_the_data(capsys):
    assert main(["kappa", "--csv", str(ANXIETY), "--rater", "rater2", "rater3"]) == 0
    out = capsys.readouterr().out
    assert "Kappa" in out and "-0.0063" in out
    assert "levels: 1, 2, 3, 4, 6 (sorted union of observed values" in out


def test_kappa_levels_set_the_weights(capsys):
    observed = run_json(capsys, "kappa", "--csv", str(ANXIETY), "--rater", "rater2", "rater3",
                        "--weights", "linear", "--json")
    full = run_json(capsys, "kappa", "--csv", str(ANXIETY), "--rater", "rater2", "rater3",
                    "--weights", "linear", "--levels", "1,2,3,4,5,6", "--json")
    assert observed["kappa"] == printed("0.1459075")  # irr: observed levels only
    assert full["kappa"] != pytest.approx(observed["kappa"], abs=1e-3)


def test_kappa_reproduces_the_sas_agreement_study(tmp_path, capsys):
    # Expand the published skin-condition table into one row per patient.
    levels = ["terrible", "poor", "marginal", "clear"]
    table = [[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]]
    path = tmp_path / "skin.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Derm1", "Derm2"])
        for i, row in enumerate(table):
            for j, count in enumerate(row):
                w.writerows([[levels[i], levels[j]]] * count)
    common = ["kappa", "--csv", str(path), "--rater", "Derm1", "--rater", "Derm2",
              "--levels", ",".join(levels), "--json"]
    simple = run_json(capsys, *common)
    assert simple["kappa"] == printed("0.3449") and simple["se"] == printed("0.0724")
    assert simple["ci"] == [printed("0.2030"), printed("0.4868")]
    weighted = run_json(capsys, *common, "--weights", "linear")
    assert weighted["kappa"] == printed("0.5082") and weighted["se"] == printed("0.0655")
    assert weighted["ci"] == [printed("0.3798"), printed("0.6366")]


def test_fleiss_json_reproduces_irr_kappam_fleiss(capsys):
    out = run_json(capsys, "fleiss", "--csv", str(DIAGNOSES), "--rater", "rater1", "rater2",
                   "rater3", "rater4", "rater5", "rater6", "--json")
    assert set(out) == {"kappa", "se", "z", "p"}
    assert out["kappa"] == printed("0.4302445")
    assert out["z"] == printed("17.65183")
    assert out["p"] == printed("0")


def test_fleiss_prints_category_kappas(capsys):
    raters = [f"rater{i}" for i in range(1, 7)]
    assert main(["fleiss", "--csv", str(DIAGNOSES), "--rater", *raters]) == 0
    out = capsys.readouterr().out
    assert "subjects = 30, raters = 6" in out and "0.4302" in out and "11.031" in out


@pytest.mark.parametrize(
    "flags,stat,p",
    [
        ([], "2.067222e01", "5.450095e-06"),
        (["--no-correction"], "2.135556e01", "3.815136e-06"),
        (["--exact"], "59", "0.000004"),
    ],
)
def test_mcnemar_json_reproduces_r(capsys, flags, stat, p):
    out = run_json(capsys, "mcnemar", "--table", "101,121,59,33", *flags, "--json")
    assert out == {"statistic": printed(stat), "p": printed(p)}


def test_mcnemar_prints_a_table(capsys):
    assert main(["mcnemar", "--table", "101,70,59,33"]) == 0
    out = capsys.readouterr().out
    assert "McNemar's chi-squared test with continuity correction" in out
    assert "0.378615" in out and "Newcombe" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["mcnemar", "--table", "101,-1,59,33"], "--table: n12 = -1 is negative"),
        (["mcnemar", "--table", "1,2,3"], "--table: expected four counts"),
        (["mcnemar", "--table", "1,2,x,4"], "--table: n21 = 'x' is not a whole number"),
        (["fleiss", "--csv", str(DIAGNOSES), "--rater", "rater1"],
         "--rater: Fleiss' kappa needs at least two rater columns, got 1 (rater1)"),
        (["kappa", "--csv", str(ANXIETY), "--rater", "rater1", "rater2", "rater3"],
         "--rater: Cohen's kappa needs exactly two rater columns, got 3"),
        (["kappa", "--csv", str(ANXIETY), "--rater", "rater1", "nosuch"],
         "unknown column 'nosuch'"),
        (["kappa", "--csv", str(ANXIETY), "--rater", "rater2", "rater3", "--levels", "1,2,3"],
         "column 'rater2': unknown labels ['4', '6']"),
        (["kappa", "--csv", str(ANXIETY), "--rater", "rater2", "rater3", "--levels", "1,,2"],
         "--levels: empty label"),
    ],
)
def test_user_errors_name_the_option_or_column(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_ratings_are_refused_with_the_line(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,1\n2,NA\n3,3\n")
    assert main(["kappa", "--csv", str(path), "--rater", "a", "b"]) == 2
    err = capsys.readouterr().err
    assert "column 'b': missing value on line 3" in err
    assert main(["fleiss", "--csv", str(path), "--rater", "a", "b"]) == 2
    assert "column 'b': missing value on line 3" in capsys.readouterr().err


def test_it_runs_as_a_module():
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "mcnemar", "--table", "101,80,59,33", "--json"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(proc.stdout)["p"] == printed("0.08981434")


SPELLED_TWICE = "a,b\n1,1\n2,2.0\n2.0,2\n3,3\n1,2\n3,2.0\n2,3\n"


def test_a_level_written_two_ways_is_refused_whatever_the_hash_seed(tmp_path):
    """ "2" and "2.0" are one number: ordering them as two levels followed the hash seed and
    moved weighted kappa (0.417, 0.588, 0.600 under three seeds); now it is refused, always."""
    path = tmp_path / "twice.csv"
    path.write_text(SPELLED_TWICE)
    for seed in ("0", "1", "2"):
        result = subprocess.run(
            [sys.executable, "-m", "analysis", "kappa", "--csv", str(path), "--rater", "a", "b",
             "--weights", "linear"],
            capture_output=True, text=True, env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."},
            cwd=Path(__file__).resolve().parents[2], timeout=120,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert "'2' and '2.0'" in result.stderr
        assert "more than one way" in result.stderr


def test_a_level_written_two_ways_runs_when_the_levels_are_given(tmp_path, capsys):
    path = tmp_path / "twice.csv"
    path.write_text(SPELLED_TWICE)
    assert main(["kappa", "--csv", str(path), "--rater", "a", "b", "--weights", "linear",
                 "--levels", "1,2,2.0,3"]) == 0
