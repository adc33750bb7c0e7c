"""The import manifest: malformed rows are refused whole, with line numbers; a valid manifest
attaches patient, side, label and mask."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from studies.models import Image, Patient, ReferenceLabel, Slice
from studies.services.dicom_import import import_dicom_files
from studies.services.manifest import ManifestError, manifest_read
from tests.studies.dicom_files import mr_dataset, uid_for, write_mr

CODES = ["A", "B", "C1", "C2"]
HEADER = "file,patient_key,side,site,label,label_source,mask,notes\n"


def write(tmp_path: Path, text: str, name: str = "manifest.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path, text: str) -> list[tuple[int, str]]:
    with pytest.raises(ManifestError) as caught:
        manifest_read(path=write(tmp_path, text), label_codes=CODES)
    return [(p.line, p.reason) for p in caught.value.problems]


# --- reading -----------------------------------------------------------------------------------


def test_a_valid_manifest_is_read_with_its_ignored_columns(tmp_path):
    np.save(tmp_path / "m1.npy", np.zeros((64, 64), dtype=np.uint8))
    manifest = manifest_read(
        path=write(
            tmp_path,
            HEADER
            + "cases/a.dcm,PAT-1,l,SITE1,C1,consensus panel,m1.npy,first\n"
            + "cases\\b.dcm,PAT-1,R,,,,,\n",
        ),
        label_codes=CODES,
    )
    first, second = manifest.rows
    assert (first.line, first.file, first.patient_key, first.side, first.label) == (
        2, "cases/a.dcm", "PAT-1", "L", "C1"
    )  # fmt: skip
    assert first.site == "SITE1" and first.mask == tmp_path / "m1.npy"
    assert (second.file, second.label, second.label_source, second.site) == (
        "cases/b.dcm", "", "", None
    )  # fmt: skip
    assert manifest.ignored_columns == ("notes",)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("a.dcm,,L,,A,panel,,", "empty patient_key"),
        ("a.dcm,P1,X,,A,panel,,", "side 'X' is not L or R"),
        ("a.dcm,P1,L,,D,panel,,", "label 'D' is not in the study's label scheme (A, B, C1, C2)"),
        ("a.dcm,P1,L,,A,,,", "empty label_source for label 'A'"),
        ("a.dcm,P1,L,,,panel,,", "label_source given without a label"),
        (",P1,L,,A,panel,,", "neither file nor sop_instance_uid is given"),
        ("/abs/a.dcm,P1,L,,A,panel,,", "file '/abs/a.dcm' must be a path relative to the "
         "manifest's folder"),
        ("a.dcm,P1,L,,A,panel,missing.npy,", "mask 'missing.npy' does not exist"),
        ("a.dcm,P1,L,,A,panel,bad.npy,", "mask 'bad.npy' is not a readable .npy array "
         "(ValueError)"),
        ("a.dcm,P1,L,,A,panel,cube.npy,", "mask 'cube.npy' has shape (2, 2, 2), expected a 2-D "
         "array"),
        ("a.dcm,P1,L", "has 3 fields, the header has 8"),
    ],
)  # fmt: skip
def test_each_malformed_row_is_reported_with_its_line_and_reason(tmp_path, row, reason):
    (tmp_path / "bad.npy").write_text("not numpy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    assert problems(tmp_path, HEADER + "ok.dcm,P0,R,,B,panel,,\n" + row + "\n") == [(3, reason)]


def test_every_bad_row_is_listed_not_only_the_first(tmp_path):
    text = (
        HEADER
        + "a.dcm,P1,L,,A,panel,,\n"
        + "a.dcm,P2,R,,B,panel,,\n"
        + "\n"
        + "b.dcm,,Q,,Z,panel,,\n"
    )
    assert problems(tmp_path, text) == [
        (3, "file 'a.dcm' is already listed on line 2"),
        (5, "empty patient_key"),
        (5, "side 'Q' is not L or R"),
        (5, "label 'Z' is not in the study's label scheme (A, B, C1, C2)"),
    ]


def test_duplicate_and_malformed_uids_are_reported(tmp_path):
    uid = uid_for("x")
    text = (
        "sop_instance_uid,patient_key,side,label,label_source\n"
        f"{uid},P1,L,A,panel\n"
        f"{uid},P1,R,A,panel\n"
        "1.2.abc,P1,R,A,panel\n"
    )
    assert problems(tmp_path, text) == [
        (3, f"sop_instance_uid {uid} is already listed on line 2"),
        (4, "sop_instance_uid '1.2.abc' is not a valid DICOM UID"),
    ]


def test_a_header_without_required_columns_is_refused(tmp_path):
    assert problems(tmp_path, "file,patient_key,side\na.dcm,P1,L\n") == [
        (1, "missing required column(s): label, label_source")
    ]
    assert problems(tmp_path, "patient_key,side,label,label_source\nP1,L,A,x\n") == [
        (1, "needs a 'file' or a 'sop_instance_uid' column")
    ]
    assert problems(tmp_path, "") == [(1, "the manifest is empty")]
    assert problems(tmp_path, HEADER) == [(2, "the manifest has no data rows")]


def test_line_numbers_count_quoted_line_breaks(tmp_path):
    text = HEADER + 'a.dcm,P1,L,,A,"panel\nof three",,\n' + "b.dcm,P1,L,,E,panel,,\n"
    assert problems(tmp_path, text) == [
        (4, "label 'E' is not in the study's label scheme (A, B, C1, C2)")
    ]


# --- importing with a manifest -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_manifest_attaches_patient_side_label_and_mask(tmp_path, study, site):
    write_mr(tmp_path / "cases" / "a.dcm", patient_id="IGNORED-1", instance="a")
    write_mr(tmp_path / "cases" / "b.dcm", patient_id="IGNORED-2", instance="b", seed=1)
    write_mr(tmp_path / "cases" / "c.dcm", instance="c", seed=2)  # not in the manifest
    mask = (np.arange(64 * 64).reshape(64, 64) % 3 == 0).astype(np.uint8)
    np.save(tmp_path / "mask_a.npy", mask)
    manifest = manifest_read(
        path=write(
            tmp_path,
            HEADER
            + "cases/a.dcm,K-7,L,SITE1,C2,phantom geometry,mask_a.npy,x\n"
            + "cases/b.dcm,K-7,R,,A,consensus panel,,\n"
            + "cases/zzz.dcm,K-9,R,,A,consensus panel,,\n",
        ),
        label_codes=study.label_codes,
    )
    report = import_dicom_files(
        paths=[tmp_path / "cases"], study=study, site=site, manifest=manifest
    )
    assert [f.status for f in report.files] == ["imported"] * 3
    assert report.ignored_columns == ("notes",)
    assert report.unused_manifest_rows == (4,)
    a, b, c = (Image.objects.get(pk=f.case) for f in report.files)
    assert a.hip.patient == b.hip.patient  # same patient key K-7
    assert (a.hip.side, b.hip.side, c.hip.side) == ("L", "R", "U")
    assert (a.reference.label, a.reference.source) == ("C2", "phantom geometry")
    assert b.reference.label == "A"
    assert not ReferenceLabel.objects.filter(image=c).exists()
    np.testing.assert_array_equal(np.load(Path(settings.MEDIA_ROOT) / a.mask_file.name), mask)
    assert a.mask_file.name == f"masks/{a.content_hash[:2]}/{a.content_hash}.npy"
    assert b.mask_file.name == ""
    assert Patient.objects.count() == 2


@pytest.mark.django_db
def test_rows_match_by_original_sop_instance_uid_and_inside_zip_archives(tmp_path, study, site):
    write_mr(tmp_path / "in" / "x.dcm", instance="by-uid")
    with zipfile.ZipFile(tmp_path / "in" / "pack.zip", "w") as zf:
        ds = mr_dataset(instance="zipped", seed=4)
        ds.save_as(tmp_path / "zipped.dcm", enforce_file_format=True)
        zf.write(tmp_path / "zipped.dcm", "inner/zipped.dcm")
    manifest = manifest_read(
        path=write(
            tmp_path,
            "file,sop_instance_uid,patient_key,side,label,label_source\n"
            f",{uid_for('by-uid')},K1,R,B,panel\n"
            "in/pack.zip/inner/zipped.dcm,,K2,L,C1,panel\n",
        ),
        label_codes=study.label_codes,
    )
    report = import_dicom_files(paths=[tmp_path / "in"], study=study, site=site, manifest=manifest)
    labels = {Path(f.path).name: Image.objects.get(pk=f.case).reference.label for f in report.files}
    assert labels == {"zipped.dcm": "C1", "x.dcm": "B"}
    assert report.unused_manifest_rows == ()


@pytest.mark.django_db
def test_a_row_for_another_site_rejects_its_file(tmp_path, study, site):
    write_mr(tmp_path / "a.dcm")
    manifest = manifest_read(
        path=write(tmp_path, HEADER + "a.dcm,K1,L,SITE9,A,panel,,\n"), label_codes=CODES
    )
    report = import_dicom_files(
        paths=[tmp_path / "a.dcm"], study=study, site=site, manifest=manifest
    )
    assert report.files[0].status == "rejected"
    assert report.files[0].reason == (
        "the manifest (line 2) assigns this file to site 'SITE9', not 'SITE1'"
    )
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_a_mask_of_another_shape_rejects_its_file(tmp_path, study, site):
    write_mr(tmp_path / "a.dcm")
    np.save(tmp_path / "m.npy", np.zeros((32, 64), dtype=bool))
    manifest = manifest_read(
        path=write(tmp_path, HEADER + "a.dcm,K1,L,,A,panel,m.npy,\n"), label_codes=CODES
    )
    report = import_dicom_files(
        paths=[tmp_path / "a.dcm"], study=study, site=site, manifest=manifest
    )
    assert report.files[0].reason == ("mask of manifest line 2 has shape 64x32, the image is 64x64")
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.*"))


@pytest.mark.django_db
def test_a_duplicate_gets_a_missing_label_but_never_a_different_one(tmp_path, study, site):
    write_mr(tmp_path / "in" / "a.dcm", instance="a")
    write_mr(tmp_path / "in" / "b.dcm", instance="b", seed=1)
    first = import_dicom_files(paths=[tmp_path / "in"], study=study, site=site)
    a_case, b_case = (f.case for f in first.files)
    ReferenceLabel.objects.create(image_id=b_case, label="B", source="panel")
    manifest = manifest_read(
        path=write(tmp_path / "..", HEADER.replace("file,", "sop_instance_uid,")
                   + f"{uid_for('a')},K1,L,,C1,follow-up,,\n"
                   + f"{uid_for('b')},K1,L,,C2,follow-up,,\n", name="m.csv"),
        label_codes=CODES,
    )  # fmt: skip
    again = import_dicom_files(paths=[tmp_path / "in"], study=study, site=site, manifest=manifest)
    a, b = again.files
    assert (a.status, a.case) == ("duplicate", a_case)
    assert a.reason == f"already imported as case {a_case}; the manifest's label C1 was attached"
    assert ReferenceLabel.objects.get(image_id=a_case).label == "C1"
    assert (b.status, b.case) == ("duplicate", b_case)
    assert b.reason == (
        f"already imported as case {b_case} with label B; the manifest's label C2 was not applied"
    )
    assert ReferenceLabel.objects.get(image_id=b_case).label == "B"


@pytest.mark.django_db
def test_a_phantom_study_imports_site_by_site_with_its_manifest(tmp_path, study):
    import csv

    import pydicom

    from inference.engine.phantom_dicom import write_phantom_study
    from studies.models import Site
    from tests.studies.deid_checks import assert_deidentified

    out = tmp_path / "phantom"
    write_phantom_study(out, patients=8, sites=2, external_sites=1, seed=11)
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    manifest = manifest_read(path=out / "manifest.csv", label_codes=study.label_codes)
    assert set(manifest.ignored_columns) == {
        "lateral_extent", "beyond_edge", "borderline", "synthetic"
    }  # fmt: skip
    for code, external in (("SITE1", False), ("SITE2", True)):
        site = Site.objects.create(code=code, external=external)
        report = import_dicom_files(paths=[out / code], study=study, site=site, manifest=manifest)
        mine = [r for r in rows if r["site"] == code]
        assert report.imported == len(mine) and report.rejected == 0
        assert len(report.unused_manifest_rows) == len(rows) - len(mine)
        for result in report.files:
            row = next(r for r in mine if str(out / r["file"]) == result.path)
            image = Image.objects.get(pk=result.case)
            assert image.reference.label == row["label"]
            assert image.reference.source == row["label_source"]
            assert image.hip.side == row["side"]
            assert image.hip.patient.site == site
            # The file is one slice of its hip's series; its mask came with it.
            piece = Slice.objects.get(image=image, sop_instance_uid=_stored_uid(out / row["file"]))
            mask = np.load(Path(settings.MEDIA_ROOT) / piece.mask_file.name)
            np.testing.assert_array_equal(mask, np.load(out / row["mask"]))
            original = pydicom.dcmread(out / row["file"])
            raw = (Path(settings.MEDIA_ROOT) / piece.file.name).read_bytes()
            for value in (original.PatientName, original.PatientID, original.InstitutionName,
                          original.StudyInstanceUID, original.SOPInstanceUID):  # fmt: skip
                assert str(value).encode() not in raw
            assert_deidentified(pydicom.dcmread(Path(settings.MEDIA_ROOT) / piece.file.name))
        patients = {r["patient_key"] for r in mine}
        assert Patient.objects.filter(study=study, site=site).count() == len(patients)
    # One case per hip (each hip is one series), with as many slices as the hip has files;
    # the designated slice is the middle one (the first of two).
    hips = {(r["site"], r["patient_key"], r["side"]) for r in rows}
    assert Image.objects.count() == len(hips)
    assert Slice.objects.count() == len(rows)
    for image in Image.objects.all():
        stack = list(image.slices.order_by("index"))
        assert [s.index for s in stack] == list(range(len(stack)))
        positions = [s.position for s in stack]
        assert None not in positions and positions == sorted(positions)
        chosen = stack[(len(stack) - 1) // 2]
        assert (image.designated_index, image.designation) == (chosen.index, "middle")
        assert (image.file.name, image.array_file.name, image.mask_file.name) == (
            chosen.file.name, chosen.array_file.name, chosen.mask_file.name)
    assert Image.objects.filter(slices__index=1).exists()  # the phantoms have 2-slice hips


def _stored_uid(path) -> str:
    """The de-identified SOP Instance UID the import gives the file at ``path``."""
    import pydicom
    from django.conf import settings as django_settings

    from studies.dicom.deid import uid_replacement

    return uid_replacement(str(pydicom.dcmread(path).SOPInstanceUID),
                           key=django_settings.PSEUDONYM_KEY)
