"""``manage.py make_phantoms``: writes a synthetic study, says so, and protects a folder."""

import csv
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def run(*args):
    out = StringIO()
    call_command("make_phantoms", *map(str, args), stdout=out)
    return out.getvalue()


def test_it_writes_a_study_and_says_it_is_synthetic(tmp_path):
    out = tmp_path / "phantoms"
    text = run(out, "--patients", 5, "--sites", 2, "--external-sites", 1, "--seed", 3)
    assert "SYNTHETIC" in text
    assert "SITE2 (ext)" in text and "bilateral" in text
    with (out / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all((out / row["file"]).is_file() for row in rows)
    assert {row["synthetic"] for row in rows} == {"true"}
    with (out / "sites.csv").open(newline="") as fh:
        sites = list(csv.DictReader(fh))
    assert [(s["code"], s["external"]) for s in sites] == [("SITE1", "false"), ("SITE2", "true")]
    assert f" {len(rows)}" in text.splitlines()[-2]  # the totals row counts every image


def test_it_refuses_a_non_empty_folder_without_force(tmp_path):
    out = tmp_path / "phantoms"
    run(out, "--patients", 2, "--sites", 2, "--seed", 1)
    with pytest.raises(CommandError, match="--force"):
        run(out, "--patients", 2, "--sites", 2, "--seed", 2)
    text = run(out, "--patients", 2, "--sites", 2, "--seed", 2, "--force")
    assert "SYNTHETIC" in text


def test_it_reports_a_bad_argument_by_name(tmp_path):
    with pytest.raises(CommandError, match="class_frequencies"):
        run(tmp_path / "x", "--patients", 2, "--sites", 2, "--class-frequencies", "0.5,0.5")
    with pytest.raises(CommandError, match="--thresholds"):
        run(tmp_path / "y", "--patients", 2, "--sites", 2, "--thresholds", "a,b")
