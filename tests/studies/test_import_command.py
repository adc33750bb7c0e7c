"""``manage.py import_dicom``: its JSON report, exit statuses and what --create/--external do."""

from __future__ import annotations

import json
import logging
from io import StringIO

import pydicom
import pytest
from django.core.management import CommandError, call_command
from pydicom.encaps import encapsulate

from studies.labels import default_label_scheme
from studies.models import Image, ImportBatch, Site, Study
from studies.services.dicom_import import import_dicom_files
from tests.studies.dicom_files import mr_dataset, write_mr

pytestmark = pytest.mark.django_db


def import_dicom(*args) -> tuple[dict | str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_dicom", *map(str, args), stdout=out, stderr=err)
    text = out.getvalue()
    return (json.loads(text) if "--json" in args else text), err.getvalue()


def test_json_report_has_the_documented_shape(tmp_path, study, site):
    good = write_mr(tmp_path / "in" / "a.dcm")
    (tmp_path / "in" / "b.txt").write_text("hello")
    report, err = import_dicom(
        tmp_path / "in", good, "--study", "onfh", "--site", "SITE1", "--json"
    )
    case = Image.objects.get().pk
    assert report == {
        "imported": 1,
        "duplicates": 1,
        "rejected": 1,
        "files": [
            {"path": str(good), "status": "imported", "reason": None, "case": case},
            {"path": str(tmp_path / "in" / "b.txt"), "status": "rejected",
             "reason": "not a DICOM file", "case": None},
            {"path": str(good), "status": "duplicate",
             "reason": f"same content as case {case}", "case": case},
        ],
    }  # fmt: skip
    assert err == ""  # no progress bar when stderr is not a terminal


def test_plain_output_lists_what_was_not_imported(tmp_path, study, site):
    (tmp_path / "b.txt").write_text("hello")
    good = write_mr(tmp_path / "a.dcm")
    text, _ = import_dicom(tmp_path / "b.txt", good, "--study", "onfh", "--site", "SITE1")
    assert "rejected" in text and "b.txt: not a DICOM file" in text
    assert "1 imported, 0 duplicates, 1 rejected into onfh from SITE1" in text


def test_it_exits_non_zero_when_every_file_was_rejected(tmp_path, study, site):
    (tmp_path / "b.txt").write_text("hello")
    out = StringIO()
    with pytest.raises(CommandError, match="every file was rejected") as raised:
        call_command("import_dicom", str(tmp_path / "b.txt"), "--study", "onfh",
                     "--site", "SITE1", stdout=out)  # fmt: skip
    assert raised.value.returncode == 3
    assert "b.txt: not a DICOM file" in out.getvalue()  # the report is printed first
    assert "0 imported, 0 duplicates, 1 rejected into onfh from SITE1" in out.getvalue()


def test_create_makes_the_study_with_the_default_scheme_and_the_site(tmp_path, db):
    path = write_mr(tmp_path / "a.dcm")
    report, _ = import_dicom(path, "--study", "new-study", "--site", "NEW", "--create",
                             "--external", "--json")  # fmt: skip
    assert report["imported"] == 1
    study = Study.objects.get(slug="new-study")
    assert study.label_scheme == default_label_scheme()
    assert Site.objects.get(code="NEW").external is True


def test_create_keeps_existing_rows(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    import_dicom(path, "--study", "onfh", "--site", "SITE1", "--create")
    assert Study.objects.count() == 1 and Site.objects.get().external is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "nope", "--site", "SITE1"], "--study 'nope': no such study"),
        (["--study", "onfh", "--site", "NOPE"], "--site 'NOPE': no such site"),
        (["--study", "onfh", "--site", "SITE1", "--external"], "exists and is not external"),
        (["--study", "bad slug", "--site", "SITE1", "--create"], "--study 'bad slug'"),
        (["--study", "onfh", "--site", "bad code", "--create"], "--site 'bad code'"),
    ],
)
def test_usage_errors_stop_before_anything_is_imported(tmp_path, study, site, args, message):
    path = write_mr(tmp_path / "a.dcm")
    with pytest.raises(CommandError, match=message):
        import_dicom(path, *args)
    assert not Image.objects.exists() and not ImportBatch.objects.exists()


def test_a_missing_path_is_a_usage_error(tmp_path, study, site):
    with pytest.raises(CommandError, match="PATH does not exist: .*missing"):
        import_dicom(tmp_path / "missing", "--study", "onfh", "--site", "SITE1")


def test_a_malformed_manifest_lists_its_lines_and_imports_nothing(tmp_path, db):
    write_mr(tmp_path / "in" / "a.dcm")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,patient_key,side,label,label_source\nin/a.dcm,P1,L,C3,panel\nin/b.dcm,,L,A,panel\n"
    )
    with pytest.raises(CommandError) as caught:
        import_dicom(tmp_path / "in", "--study", "s", "--site", "X", "--create",
                     "--manifest", manifest)  # fmt: skip
    message = str(caught.value)
    assert "line 2: label 'C3' is not in the study's label scheme (A, B, C1, C2)" in message
    assert "line 3: empty patient_key" in message
    assert not Image.objects.exists()
    assert not Study.objects.exists() and not Site.objects.exists()


def test_a_valid_manifest_is_applied_through_the_command(tmp_path, study, site):
    write_mr(tmp_path / "in" / "a.dcm")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,patient_key,side,label,label_source\nin/a.dcm,P1,R,C1,panel\n")
    report, _ = import_dicom(tmp_path / "in", "--study", "onfh", "--site", "SITE1",
                             "--manifest", manifest, "--json")  # fmt: skip
    image = Image.objects.get(pk=report["files"][0]["case"])
    assert (image.reference.label, image.hip.side) == ("C1", "R")


def test_a_progress_bar_is_drawn_on_a_terminal(tmp_path, study, site, monkeypatch):
    path = write_mr(tmp_path / "a.dcm")

    class Terminal(StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    call_command("import_dicom", str(path), "--study", "onfh", "--site", "SITE1",
                 stdout=StringIO())  # fmt: skip
    assert "1/1 files" in terminal.getvalue()


def test_decoder_tracebacks_stay_off_the_terminal_for_files_rejected_cleanly(
    tmp_path, study, site, caplog
):
    good = write_mr(tmp_path / "a.dcm")
    ds = mr_dataset(instance="rle")  # RLE Lossless whose segment count is wrong
    ds.file_meta.TransferSyntaxUID = pydicom.uid.RLELossless
    ds.PixelData = encapsulate([b"\x01\0\0\0" + b"\0" * 60 + b"garbage"])
    bad = tmp_path / "bad_rle.dcm"
    ds.save_as(bad, enforce_file_format=True)
    caplog.set_level(logging.DEBUG)
    text, err = import_dicom(bad, good, "--study", "onfh", "--site", "SITE1")
    assert "bad_rle.dcm: pixel data cannot be decoded" in text
    assert "1 imported, 0 duplicates, 1 rejected" in text
    assert [r for r in caplog.records if r.name.startswith("pydicom")] == []
    assert err == ""
    # Outside the command, the same file makes pydicom log its traceback (the test can fail).
    import_dicom_files(paths=[bad], study=study, site=site)
    assert any(r.name.startswith("pydicom") and r.exc_info for r in caplog.records)


def test_it_exits_non_zero_when_nothing_new_was_imported_and_something_was_rejected(
    tmp_path, study, site
):
    good = write_mr(tmp_path / "a.dcm")
    import_dicom(good, "--study", "onfh", "--site", "SITE1")
    (tmp_path / "b.txt").write_text("hello")
    out = StringIO()
    with pytest.raises(CommandError, match="nothing was imported: 1 rejected, 1 already") as raised:
        call_command("import_dicom", str(good), str(tmp_path / "b.txt"), "--study", "onfh",
                     "--site", "SITE1", stdout=out)  # fmt: skip
    assert raised.value.returncode == 3
    assert "0 imported, 1 duplicates, 1 rejected" in out.getvalue()
    # Only duplicates: a re-run that found everything already there succeeds.
    text, _ = import_dicom(good, "--study", "onfh", "--site", "SITE1")
    assert "0 imported, 1 duplicates, 0 rejected" in text


def test_manifest_lines_of_other_sites_are_not_reported_as_unmatched(tmp_path, study, site):
    write_mr(tmp_path / "in" / "a.dcm")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "file,patient_key,side,label,label_source,site\n"
        "in/a.dcm,P1,R,C1,panel,SITE1\n"
        "in/other-site.dcm,P2,L,A,panel,SITE2\n"
        "in/missing.dcm,P3,L,A,panel,SITE1\n"
        "in/no-site.dcm,P4,L,A,panel,\n"
    )
    text, _ = import_dicom(tmp_path / "in", "--study", "onfh", "--site", "SITE1",
                           "--manifest", manifest)  # fmt: skip
    assert "1 imported" in text
    # Lines 4 (this site) and 5 (no site) match no file; line 3 belongs to SITE2's import.
    assert "2 manifest lines match no file of this import (lines 4, 5)" in text
