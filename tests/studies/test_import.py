"""The DICOM import service: every file imported, a duplicate or rejected with a reason; nothing
identifying stored; nothing left behind by a rejected file."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError

from inference.engine.transforms import cached_array
from studies.dicom.deid import uid_replacement
from studies.models import Hip, Image, ImportBatch, Patient, Slice, Study
from studies.services.dicom_import import import_dicom_files
from tests.studies.deid_checks import assert_deidentified
from tests.studies.dicom_files import IDENTIFYING, mr_dataset, uid_for, write_mr

pytestmark = pytest.mark.django_db

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def run(paths, study, site, **kwargs):
    return import_dicom_files(paths=[str(p) for p in paths], study=study, site=site, **kwargs)


def media_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def referenced_files() -> set[str]:
    names = set()
    for model in (Image, Slice):
        for row in model.objects.values_list("file", "array_file", "mask_file"):
            names.update(n for n in row if n)
    return names


def assert_nothing_left_behind():
    assert media_files() == referenced_files()


def by_name(report) -> dict[str, object]:
    return {Path(f.path).name: f for f in report.files}


# --- every file pydicom ships ------------------------------------------------------------------


def test_every_pydicom_test_file_is_imported_a_duplicate_or_rejected_with_a_reason(
    tmp_path, study, site
):
    extra = tmp_path / "extra"
    extra.mkdir()
    data = (TEST_FILES / "MR_small.dcm").read_bytes()
    (extra / "MR_small_cut.dcm").write_bytes(data[: len(data) // 2])
    (extra / "notes.txt").write_text("not an image")
    files = [p for p in TEST_FILES.rglob("*") if p.is_file()]

    report = run([TEST_FILES, extra], study, site)

    assert len(report.files) == len(files) + 2
    for result in report.files:
        assert result.status in {"imported", "duplicate", "rejected"}
        if result.status == "rejected":
            assert result.reason and not result.reason.startswith("unexpected error"), result
            assert result.case is None
        else:
            assert Image.objects.filter(pk=result.case).exists(), result
    results = by_name(report)
    assert results["examples_rgb_color.dcm"].reason == "RGB image, expected grayscale"
    assert results["rtdose.dcm"].reason == "32-bit pixel data, expected 8 or 16 bits allocated"
    assert results["rtplan.dcm"].reason == "no pixel data"
    assert results["README.txt"].reason == "not a DICOM file"
    assert results["MR_small_cut.dcm"].reason.startswith("truncated pixel data")
    assert results["notes.txt"].reason == "not a DICOM file"
    assert results["MR_small.dcm"].status == "imported"
    # The same instance in other encodings de-identifies to the same SOP Instance UID.
    for variant in ("MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm"):
        assert results[variant].status == "duplicate"
        assert results[variant].case == results["MR_small.dcm"].case
    # Each imported file is stored once (files of one series share a case).
    assert Slice.objects.values("file").distinct().count() == report.imported >= 10
    assert_nothing_left_behind()
    for image in Slice.objects.all():
        stored = pydicom.dcmread(Path(settings.MEDIA_ROOT) / image.file.name)
        assert stored.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert_deidentified(stored)


def test_the_batch_records_counts_and_reasons_but_no_file_names(tmp_path, study, site):
    user = get_user_model().objects.create_user("alice")
    write_mr(tmp_path / "in" / "DOE_JOHN_hip.dcm")
    (tmp_path / "in" / "DOE_JOHN_notes.txt").write_text("x")
    (tmp_path / "in" / "DOE_JOHN_small.dcm").write_bytes(
        _bytes(mr_dataset(rows=8, columns=8, instance="small"))
    )
    report = run([tmp_path / "in"], study, site, user=user)
    batch = ImportBatch.objects.get(pk=report.batch_id)
    assert (batch.n_imported, batch.n_duplicates, batch.n_rejected) == (1, 0, 2)
    assert batch.rejection_reasons == {
        "not a DICOM file": 1,
        "image 8x8 is smaller than 16x16": 1,
    }
    assert batch.finished_at is not None and batch.created_by == user
    assert Image.objects.get().batch == batch


def _bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --- what is stored ----------------------------------------------------------------------------


def test_no_identifying_tag_survives_in_a_stored_phantom(tmp_path, study, site):
    paths = [write_mr(tmp_path / f"{i}.dcm", instance=f"i{i}", seed=i) for i in range(3)]
    originals = {uid_for(f"i{i}") for i in range(3)} | {uid_for("study-1"), uid_for("series-1")}
    report = run(paths, study, site)
    assert report.imported == 3
    for image in Image.objects.all():
        raw = (Path(settings.MEDIA_ROOT) / image.file.name).read_bytes()
        for text in [*IDENTIFYING, "PAT-001", *originals]:
            assert text.encode() not in raw, text
        assert_deidentified(pydicom.dcmread(io.BytesIO(raw)), original_uids=originals)


def test_the_case_row_describes_the_image_and_points_at_its_cached_array(tmp_path, study, site):
    ds = mr_dataset(rows=40, columns=48, laterality="R")
    ds.RescaleSlope, ds.RescaleIntercept = "2", "-10"
    path = tmp_path / "a.dcm"
    ds.save_as(path, enforce_file_format=True)
    run([path], study, site)
    image = Image.objects.get()
    assert (image.rows, image.columns, image.bits_stored, image.pixel_signed) == (40, 48, 12, False)
    assert (image.pixel_spacing_row, image.pixel_spacing_col) == (0.7, 0.7)
    assert (image.window_center, image.window_width) == (2000.0, 4000.0)
    assert (image.rescale_slope, image.rescale_intercept) == (2.0, -10.0)
    assert image.modality == "MR" and image.partition == ""
    assert image.hip.side == "R"
    raw = (Path(settings.MEDIA_ROOT) / image.file.name).read_bytes()
    assert image.content_hash == hashlib.sha256(raw).hexdigest()
    assert image.file.name == f"cases/{image.content_hash[:2]}/{image.content_hash}.dcm"
    assert image.array_file.name == f"arrays/{image.content_hash[:2]}/{image.content_hash}.npy"
    array = np.load(Path(settings.MEDIA_ROOT) / image.array_file.name)
    expected = cached_array(ds.pixel_array, slope=2.0, intercept=-10.0)
    assert array.dtype == np.float16 and array.shape == (40, 48)
    np.testing.assert_array_equal(array, expected)
    assert image.sop_instance_uid == uid_replacement(
        uid_for("instance-1"), key=settings.PSEUDONYM_KEY
    )


def test_a_monochrome1_image_is_cached_with_high_values_bright(tmp_path, study, site):
    ds = mr_dataset()
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "m1.dcm", enforce_file_format=True)
    run([tmp_path / "m1.dcm"], study, site)
    array = np.load(Path(settings.MEDIA_ROOT) / Image.objects.get().array_file.name)
    np.testing.assert_array_equal(array, np.float16(1) - cached_array(ds.pixel_array))


def test_an_rle_file_is_stored_decompressed(study, site):
    run([TEST_FILES / "MR_small_RLE.dcm"], study, site)
    image = Image.objects.get()
    stored = pydicom.dcmread(Path(settings.MEDIA_ROOT) / image.file.name)
    assert stored.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    reference = pydicom.dcmread(TEST_FILES / "MR_small.dcm").pixel_array
    assert (stored.pixel_array == reference).all()


# --- UIDs --------------------------------------------------------------------------------------


def test_uids_are_replaced_consistently_across_files_and_imports(tmp_path, study, site):
    a = write_mr(tmp_path / "a.dcm", study="st", series="se1", instance="a")
    b = write_mr(tmp_path / "b.dcm", study="st", series="se1", instance="b", seed=1)
    c = write_mr(tmp_path / "c.dcm", study="st", series="se2", instance="c", seed=2)
    run([a, b], study, site)
    run([c], study, site)
    assert Image.objects.count() == 2  # a and b: one series, one case with two slices
    assert Slice.objects.count() == 3
    files = [pydicom.dcmread(Path(settings.MEDIA_ROOT) / s.file.name) for s in Slice.objects.all()]
    assert len({f.StudyInstanceUID for f in files}) == 1
    assert len({f.SeriesInstanceUID for f in files}) == 2
    assert len({f.SOPInstanceUID for f in files}) == 3
    key = settings.PSEUDONYM_KEY
    assert files[0].StudyInstanceUID == uid_replacement(uid_for("st"), key=key)
    assert {str(f.SeriesInstanceUID) for f in files} == {
        uid_replacement(uid_for("se1"), key=key),
        uid_replacement(uid_for("se2"), key=key),
    }


# --- duplicates --------------------------------------------------------------------------------


def test_the_same_file_twice_in_one_batch_is_one_case_and_a_duplicate(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    report = run([path, path], study, site)
    first, second = report.files
    assert (first.status, second.status) == ("imported", "duplicate")
    assert second.case == first.case
    assert Image.objects.count() == 1
    assert_nothing_left_behind()


def test_the_same_file_in_a_second_batch_is_a_duplicate(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    first = run([path], study, site).files[0]
    again = run([path], study, site)
    assert again.files[0].status == "duplicate"
    assert again.files[0].case == first.case
    assert again.files[0].reason == f"already imported as case {first.case}"
    assert ImportBatch.objects.get(pk=again.batch_id).n_duplicates == 1
    assert Image.objects.count() == 1


def test_the_same_content_under_another_name_is_a_duplicate(tmp_path, study, site):
    path = write_mr(tmp_path / "in" / "a.dcm")
    shutil.copy(path, tmp_path / "in" / "renamed.dcm")
    report = run([tmp_path / "in"], study, site)
    assert [f.status for f in report.files] == ["imported", "duplicate"]
    assert Image.objects.count() == 1


def test_the_same_instance_with_other_pixels_is_a_duplicate(tmp_path, study, site):
    first = write_mr(tmp_path / "a.dcm", seed=1)
    other = write_mr(tmp_path / "b.dcm", seed=2)  # same SOP Instance UID, other content
    report = run([first, other], study, site)
    assert [f.status for f in report.files] == ["imported", "duplicate"]
    assert Image.objects.count() == 1
    assert_nothing_left_behind()


def test_the_same_file_in_another_study_is_a_new_case(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    other = Study.objects.create(slug="other", title="Other")
    run([path], study, site)
    assert run([path], other, site).files[0].status == "imported"
    assert Image.objects.count() == 2


def test_a_concurrent_import_of_the_same_content_ends_with_one_case(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    inner = []

    def race(done, total):
        # Another import of the same file commits between our storing and our insert.
        if not inner:
            inner.append(run([path], study, site))

    report = run([path], study, site, progress=race)
    assert inner[0].files[0].status == "imported"
    assert report.files[0].status == "duplicate"
    assert report.files[0].case == inner[0].files[0].case
    assert Image.objects.count() == 1 and Patient.objects.count() == 1
    assert_nothing_left_behind()


# --- failures after storing --------------------------------------------------------------------


def _fail_for(monkeypatch, sop_instance_uid: str):
    def failing_bulk_create(*args, **kwargs):
        raise DatabaseError("simulated failure of the bulk insert")

    original_save = Image.save

    def failing_save(self, *args, **kwargs):
        if self.sop_instance_uid == sop_instance_uid:
            raise DatabaseError("simulated failure for one row")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.objects, "bulk_create", failing_bulk_create)
    monkeypatch.setattr(Image, "save", failing_save)


def test_a_database_failure_after_storing_leaves_no_row_and_no_file(
    tmp_path, study, site, monkeypatch
):
    good = write_mr(tmp_path / "good.dcm", instance="good", patient_id="P1")
    bad = write_mr(tmp_path / "bad.dcm", instance="bad", patient_id="P2", seed=3)
    _fail_for(monkeypatch, uid_replacement(uid_for("bad"), key=settings.PSEUDONYM_KEY))
    report = run([good, bad], study, site)
    results = by_name(report)
    assert results["good.dcm"].status == "imported"
    assert results["bad.dcm"].status == "rejected"
    assert results["bad.dcm"].reason.startswith("database error: simulated failure")
    assert Image.objects.count() == 1
    assert Patient.objects.count() == 1  # the failed file's patient was rolled back too
    assert_nothing_left_behind()


def test_a_failed_import_never_removes_a_file_it_did_not_create(tmp_path, study, site, monkeypatch):
    path = write_mr(tmp_path / "a.dcm")
    run([path], study, site)
    image = Image.objects.get()
    names = {image.file.name, image.array_file.name}
    Image.objects.all().delete()  # the rows go; the stored files stay, as after a crash
    _fail_for(monkeypatch, image.sop_instance_uid)
    assert run([path], study, site).files[0].status == "rejected"
    assert names <= media_files()


# --- inputs ------------------------------------------------------------------------------------


def test_it_imports_nested_folders_and_zip_archives(tmp_path, study, site):
    write_mr(tmp_path / "in" / "a" / "b" / "c" / "deep.dcm", instance="deep")
    archive = tmp_path / "in" / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("folder/one.dcm", _bytes(mr_dataset(instance="z1", seed=1)))
        zf.writestr("two.dcm", _bytes(mr_dataset(instance="z2", seed=2)))
        zf.writestr("folder/readme.txt", "hello")
    (tmp_path / "in" / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    report = run([tmp_path / "in"], study, site)
    statuses = {f.path.removeprefix(str(tmp_path / "in") + "/"): (f.status, f.reason)
                for f in report.files}  # fmt: skip
    assert statuses == {
        "a/b/c/deep.dcm": ("imported", None),
        "batch.zip/folder/one.dcm": ("imported", None),
        "batch.zip/folder/readme.txt": ("rejected", "not a DICOM file"),
        "batch.zip/two.dcm": ("imported", None),
        "broken.zip": ("rejected", "not a readable zip archive"),
    }
    assert Image.objects.count() == 3
    assert_nothing_left_behind()


def test_a_missing_path_is_an_error_before_anything_is_imported(tmp_path, study, site):
    write_mr(tmp_path / "a.dcm")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run([tmp_path / "a.dcm", tmp_path / "missing"], study, site)
    assert not Image.objects.exists() and not ImportBatch.objects.exists()


# --- patients and hips -------------------------------------------------------------------------


def test_the_same_patient_from_the_same_site_is_one_patient(tmp_path, study, site, external_site):
    write_mr(tmp_path / "s1" / "a.dcm", patient_id="PX", instance="a", laterality="L")
    write_mr(tmp_path / "s1" / "b.dcm", patient_id="PX", instance="b", laterality="R", seed=1)
    run([tmp_path / "s1"], study, site)
    write_mr(tmp_path / "s1b" / "c.dcm", patient_id="PX", instance="c", laterality="L", seed=2)
    run([tmp_path / "s1b"], study, site)
    write_mr(tmp_path / "s4" / "d.dcm", patient_id="PX", instance="d", seed=3)
    run([tmp_path / "s4"], study, external_site)

    here = Patient.objects.get(site=site)
    there = Patient.objects.get(site=external_site)
    assert here.pseudonym != there.pseudonym
    assert "PX" not in here.pseudonym
    assert sorted(Hip.objects.filter(patient=here).values_list("side", flat=True)) == ["L", "R"]
    assert Image.objects.filter(hip__patient=here, hip__side="L").count() == 2
    assert Hip.objects.get(patient=there).side == "U"


def test_without_a_patient_id_the_original_study_groups_the_images(tmp_path, study, site):
    write_mr(tmp_path / "in" / "a.dcm", patient_id="", study="st-A", instance="a")
    write_mr(tmp_path / "in" / "b.dcm", patient_id="", study="st-A", instance="b", seed=1)
    write_mr(tmp_path / "in" / "c.dcm", patient_id="", study="st-B", instance="c", seed=2)
    run([tmp_path / "in"], study, site)
    assert Patient.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_in_threads_end_with_one_case_per_file(tmp_path):
    import threading

    from django.db import connection

    from studies.models import Site

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "the in-memory SQLite test database is not shared between threads "
            "(set READERBENCH_SQLITE_TEST_NAME to a file to run this on SQLite)"
        )
    study = Study.objects.create(slug="race", title="race")
    site = Site.objects.create(code="RACE")
    folder = tmp_path / "in"
    for i in range(12):
        write_mr(folder / f"{i:02d}.dcm", instance=f"r{i}", patient_id=f"P{i % 4}", seed=i)
    reports, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            reports.append(run([folder], study, site))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert Image.objects.filter(study=study).count() == 12
    assert Patient.objects.filter(study=study).count() == 4
    for i in range(12):
        statuses = sorted(r.files[i].status for r in reports)
        assert statuses == ["duplicate", "imported"]
    assert sum(r.imported for r in reports) == 12
    assert sum(r.duplicates for r in reports) == 12
    assert_nothing_left_behind()


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((40, 48), np.float16),
        np.arange(12, dtype="<u2").reshape(3, 4),
        np.ones((5, 7), bool),
        np.zeros((4, 4), ">f4"),
        np.zeros((3, 5), np.uint8).T,  # not C-contiguous
    ],
)
def test_cached_npy_bytes_are_what_np_save_writes(array):
    from studies.dicom.fields import npy_bytes as _npy_bytes

    expected = io.BytesIO()
    np.save(expected, array, allow_pickle=False)
    assert _npy_bytes(array) == expected.getvalue()


def test_an_unexpected_error_rejects_only_its_file(tmp_path, study, site, monkeypatch):
    from studies.services import dicom_import

    good = write_mr(tmp_path / "good.dcm", instance="good")
    bad = write_mr(tmp_path / "bad.dcm", instance="bad", patient_id="BOOM", seed=1)
    original = dicom_import.deidentify

    def exploding(ds, **kwargs):
        if ds.PatientID == "BOOM":
            raise RuntimeError("secret detail DOE^JOHN")
        return original(ds, **kwargs)

    monkeypatch.setattr(dicom_import, "deidentify", exploding)
    report = run([good, bad], study, site)
    results = by_name(report)
    assert results["good.dcm"].status == "imported"
    assert results["bad.dcm"].status == "rejected"
    assert results["bad.dcm"].reason == "unexpected error (RuntimeError), see the server log"
    batch = ImportBatch.objects.get(pk=report.batch_id)
    assert "DOE" not in str(batch.rejection_reasons)
    assert_nothing_left_behind()


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_the_cached_array_is_what_the_engine_computes_from_the_stored_file(
    tmp_path, study, site, photometric
):
    from inference.engine.transforms import cached_array_from_dicom

    ds = mr_dataset(rows=48, columns=40)
    ds.PhotometricInterpretation = photometric
    ds.RescaleSlope, ds.RescaleIntercept = "1.5", "3"
    ds.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    run([tmp_path / "a.dcm"], study, site)
    image = Image.objects.get()
    stored = pydicom.dcmread(Path(settings.MEDIA_ROOT) / image.file.name)
    cached = np.load(Path(settings.MEDIA_ROOT) / image.array_file.name)
    np.testing.assert_array_equal(cached, cached_array_from_dicom(stored))


def test_a_stored_file_removed_under_a_committing_import_is_written_again(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    run([path], study, site)
    image = Image.objects.get()
    names = [image.file.name, image.array_file.name]
    Image.objects.all().delete()  # the files stay: the next import finds them already stored

    def concurrent_cleanup(done, total):
        # Another import that created these files fails and removes them before we commit.
        for name in names:
            (Path(settings.MEDIA_ROOT) / name).unlink()

    assert run([path], study, site, progress=concurrent_cleanup).files[0].status == "imported"
    image = Image.objects.get()
    raw = (Path(settings.MEDIA_ROOT) / image.file.name).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == image.content_hash
    assert (Path(settings.MEDIA_ROOT) / image.array_file.name).exists()
