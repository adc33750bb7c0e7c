"""The series is the case (issue 12, item 1): files of one hip series are one case with its
slices, ordered along the slice normal; the designated slice (middle by default, or the
manifest's, or a coordinator's) is what is graded and given to the model, and it never moves
once the case is read or predicted."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings

from studies.models import Image, Slice
from studies.services import series
from studies.services.dicom_import import import_dicom_files
from studies.services.manifest import manifest_read
from tests.studies.dicom_files import mr_dataset

# Coronal: rows along x, columns along -z; the slice normal is +y.
CORONAL = [1, 0, 0, 0, 0, -1]


def write_series(folder: Path, n: int, *, series_name="cor-t1", patient="PAT-S", side="R",
                 positions=None, instance_numbers=None, geometry=True, seed=0) -> list[Path]:
    """``n`` slices of one coronal series, written in a shuffled order of file names."""
    positions = positions if positions is not None else [10.0 + 4.0 * k for k in range(n)]
    numbers = instance_numbers if instance_numbers is not None else list(range(1, n + 1))
    paths = []
    order = list(range(n))
    random.Random(seed).shuffle(order)
    for name_index, k in enumerate(order):
        ds = mr_dataset(patient_id=patient, series=series_name, instance=f"{series_name}-{k}",
                        rows=32, columns=32, seed=seed * 100 + k, laterality=side)
        ds.InstanceNumber = numbers[k]
        if geometry:
            ds.ImageOrientationPatient = CORONAL
            ds.ImagePositionPatient = [-50.0, positions[k], 80.0]
        path = folder / f"file_{name_index:02d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def original_number(image_or_slice) -> int:
    """The Instance Number the stored file keeps (a geometry attribute, on the keep-list)."""
    stored = pydicom.dcmread(Path(settings.MEDIA_ROOT) / image_or_slice.file.name)
    return int(stored.InstanceNumber)


def test_a_series_is_one_case_ordered_along_the_normal_with_the_middle_slice_designated(
    tmp_path, study, site
):
    # positions deliberately not in instance-number order: the position decides
    positions = [30.0, 10.0, 50.0, 20.0, 40.0]
    paths = write_series(tmp_path, 5, positions=positions)
    report = import_dicom_files(paths=paths, study=study, site=site)
    assert report.imported == 5
    image = Image.objects.get()
    assert {r.case for r in report.files} == {image.pk}
    stack = list(image.slices.order_by("index"))
    assert [s.position for s in stack] == sorted(positions)
    assert [original_number(s) for s in stack] == [2, 4, 1, 5, 3]
    middle = stack[2]
    assert (image.designated_index, image.designation) == (2, Image.Designation.MIDDLE)
    assert original_number(image) == 1  # position 30: the middle of 10..50
    for name in ("content_hash", "sop_instance_uid", "rows", "columns", "window_center"):
        assert getattr(image, name) == getattr(middle, name)
    assert image.file.name == middle.file.name and image.array_file.name == middle.array_file.name
    assert image.series_instance_uid and image.series_instance_uid == str(
        pydicom.dcmread(Path(settings.MEDIA_ROOT) / middle.file.name).SeriesInstanceUID)
    # every slice has its own stored file and cached array
    assert len({s.file.name for s in stack}) == 5 and len({s.array_file.name for s in stack}) == 5
    for s in stack:
        assert np.load(Path(settings.MEDIA_ROOT) / s.array_file.name).shape == (32, 32)


def test_without_geometry_the_instance_number_orders_the_stack(tmp_path, study, site):
    paths = write_series(tmp_path, 4, geometry=False, instance_numbers=[7, 3, 9, 1])
    import_dicom_files(paths=paths, study=study, site=site)
    image = Image.objects.get()
    stack = list(image.slices.order_by("index"))
    assert [s.instance_number for s in stack] == [1, 3, 7, 9]
    assert all(s.position is None for s in stack)
    assert image.designated_index == 1 and original_number(image) == 3


def test_a_single_file_is_a_one_slice_case(tmp_path, study, site):
    paths = write_series(tmp_path, 1)
    import_dicom_files(paths=paths, study=study, site=site)
    image = Image.objects.get()
    assert image.slices.count() == 1 and image.designated_index == 0


def test_slices_arriving_later_join_the_case_and_the_middle_moves_until_it_is_read(
    tmp_path, study, site, django_user_model
):
    paths = write_series(tmp_path / "all", 7, seed=3)
    by_number = {int(pydicom.dcmread(p).InstanceNumber): p for p in paths}
    first = [by_number[k] for k in (1, 2, 3)]
    import_dicom_files(paths=first, study=study, site=site)
    image = Image.objects.get()
    assert original_number(image) == 2  # the middle of 1..3
    import_dicom_files(paths=[by_number[k] for k in (4, 5)], study=study, site=site)
    image.refresh_from_db()
    assert image.slices.count() == 5 and original_number(image) == 3  # middle of 1..5
    assert list(image.slices.order_by("index").values_list("index", flat=True)) == [0, 1, 2, 3, 4]

    # Once the case is in a reading session, its graded slice stays, whatever arrives.
    from readers.services.reading import session_create
    from studies.models import Membership

    reader = django_user_model.objects.create_user("rita", password="pw-rita-reads-1")
    Membership.objects.create(study=study, user=reader, role=Membership.Role.READER)
    image.partition = "test"
    image.save(update_fields=["partition"])
    session_create(study=study, reader=reader, name="round 1", condition="unaided",
                   images=[image])
    import_dicom_files(paths=[by_number[k] for k in (6, 7)], study=study, site=site)
    image.refresh_from_db()
    assert image.slices.count() == 7
    assert original_number(image) == 3  # not 4, the new middle
    assert image.designated_index == 2
    assert series.case_is_frozen(image) == f"case {image.pk} is in a reading session"
    with pytest.raises(series.DesignationError, match="can no longer change"):
        series.designate_slice(image=image, index=3)
    image.refresh_from_db()
    assert original_number(image) == 3


def test_a_coordinator_designates_another_slice_and_an_index_outside_is_refused(
    tmp_path, study, site
):
    import_dicom_files(paths=write_series(tmp_path, 5), study=study, site=site)
    image = Image.objects.get()
    series.designate_slice(image=image, index=4)
    image.refresh_from_db()
    assert (image.designated_index, image.designation) == (4, "coordinator")
    assert original_number(image) == 5
    assert image.array_file.name == image.slices.get(index=4).array_file.name
    with pytest.raises(series.DesignationError, match="has 5 slice"):
        series.designate_slice(image=image, index=5)
    # a coordinator's choice holds when more of the series arrives
    more = write_series(tmp_path / "more", 7, seed=0)
    import_dicom_files(paths=more, study=study, site=site)
    image.refresh_from_db()
    assert image.slices.count() == 7
    assert original_number(image) == 5 and image.designation == "coordinator"


def test_the_manifest_designates_a_slice(tmp_path, study, site):
    paths = write_series(tmp_path, 5)
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "patient_key", "side", "label", "label_source", "designated"])
        for p in paths:
            number = int(pydicom.dcmread(p).InstanceNumber)
            writer.writerow([p.name, "PAT-S", "R", "C1", "panel", "yes" if number == 4 else ""])
    manifest = manifest_read(path=tmp_path / "manifest.csv", label_codes=study.label_codes)
    report = import_dicom_files(paths=paths, study=study, site=site, manifest=manifest)
    assert report.imported == 5 and report.rejected == 0
    image = Image.objects.get()
    assert image.designation == "manifest" and original_number(image) == 4
    assert image.reference.label == "C1"


def test_a_bad_designated_value_is_a_manifest_problem(tmp_path, study):
    from studies.services.manifest import ManifestError

    (tmp_path / "m.csv").write_text(
        "file,patient_key,side,label,label_source,designated\na.dcm,P,R,,,maybe\n"
    )
    with pytest.raises(ManifestError, match="designated 'maybe' is not yes, no or a frame"):
        manifest_read(path=tmp_path / "m.csv", label_codes=study.label_codes)


def test_files_of_one_series_on_two_hips_are_two_cases(tmp_path, study, site):
    """A coronal pelvis series holds both hips: a manifest that gives each file its side makes
    one case per hip."""
    paths = write_series(tmp_path, 4)
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "patient_key", "side", "label", "label_source"])
        for i, p in enumerate(sorted(paths)):
            writer.writerow([p.name, "PAT-S", "L" if i % 2 else "R", "", ""])
    manifest = manifest_read(path=tmp_path / "manifest.csv", label_codes=study.label_codes)
    import_dicom_files(paths=paths, study=study, site=site, manifest=manifest)
    assert sorted(Image.objects.values_list("hip__side", flat=True)) == ["L", "R"]
    assert all(i.slices.count() == 2 for i in Image.objects.all())


def test_conflicting_labels_within_a_series_keep_the_first_and_say_so(tmp_path, study, site):
    paths = sorted(write_series(tmp_path, 2))
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "patient_key", "side", "label", "label_source"])
        writer.writerow([paths[0].name, "PAT-S", "R", "B", "panel"])
        writer.writerow([paths[1].name, "PAT-S", "R", "C2", "panel"])
    manifest = manifest_read(path=tmp_path / "manifest.csv", label_codes=study.label_codes)
    report = import_dicom_files(paths=paths, study=study, site=site, manifest=manifest)
    image = Image.objects.get()
    assert image.reference.label == "B"
    second = next(r for r in report.files if r.path.endswith(paths[1].name))
    assert second.status == "imported"
    assert second.reason == (
        f"added to case {image.pk}, labelled B; this file's manifest label C2 was not applied"
    )


def test_a_reimport_of_the_series_is_all_duplicates(tmp_path, study, site):
    paths = write_series(tmp_path, 3)
    import_dicom_files(paths=paths, study=study, site=site)
    again = import_dicom_files(paths=paths, study=study, site=site)
    image = Image.objects.get()
    assert [r.status for r in again.files] == ["duplicate"] * 3
    assert {r.case for r in again.files} == {image.pk}
    assert Slice.objects.count() == 3


def test_the_one_by_one_path_joins_slices_too(tmp_path, study, site, monkeypatch):
    """When a chunk's bulk insert fails (a concurrent import), files are committed one by one:
    the same case, the same stack."""
    from django.db import DatabaseError

    from studies.services import dicom_commit

    def refuse(*args, **kwargs):
        raise DatabaseError("simulated conflict")

    monkeypatch.setattr(dicom_commit, "_commit_bulk", refuse)
    import_dicom_files(paths=write_series(tmp_path, 5), study=study, site=site)
    image = Image.objects.get()
    stack = list(image.slices.order_by("index"))
    assert len(stack) == 5 and [s.position for s in stack] == sorted(s.position for s in stack)
    assert original_number(image) == 3


def test_an_enhanced_mr_file_is_one_case_with_a_slice_per_frame(tmp_path, study, site):
    """pydicom-data's Enhanced MR (10 frames): one file stored once,
    one case, ten slices in order along the normal, the middle frame designated; every
    slice's pixels are its frame's."""
    from studies.pixels import image_pixels

    source = Path(__file__).parent / "pydicom_data" / "emri_small.dcm"
    report = import_dicom_files(paths=[source], study=study, site=site)
    assert report.imported == 1, report.as_dict()
    image = Image.objects.get()
    stack = list(image.slices.order_by("index"))
    assert len(stack) == 10 and len({s.file.name for s in stack}) == 1
    assert len({s.array_file.name for s in stack}) == 10
    # This file states no plane positions: the frames keep their stored order.
    assert [s.frame for s in stack] == list(range(10))
    assert (image.designated_index, image.frame) == (4, 4)
    reference = pydicom.dcmread(source).pixel_array
    for s in stack:
        got = np.frombuffer(image_pixels(image=s), "<u2").reshape(64, 64)
        np.testing.assert_array_equal(got, reference[s.frame])
        assert np.load(Path(settings.MEDIA_ROOT) / s.array_file.name).shape == (64, 64)


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_series_at_once_make_one_case(tmp_path):
    """Two associations of a PACS (or two coordinators) bring halves of one series at the same
    moment: one case with every slice, never two cases for one series."""
    import threading

    from django.db import connection

    from studies.models import Site, Study

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("the in-memory SQLite test database is not shared between threads")
    study = Study.objects.create(slug="race-series", title="race")
    site = Site.objects.create(code="RACE")
    paths = sorted(write_series(tmp_path, 8))
    halves = [paths[0::2], paths[1::2]]
    errors, reports = [], []
    for _attempt in range(3):  # the race is not won the same way every time: try it thrice
        Image.objects.filter(study=study).delete()
        barrier = threading.Barrier(2)

        def worker(half, barrier=barrier):
            try:
                barrier.wait()
                reports.append(import_dicom_files(paths=half, study=study, site=site))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(h,)) for h in halves]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        image = Image.objects.get(study=study)
        assert image.slices.count() == 8
        assert list(image.slices.order_by("index").values_list("index", flat=True)) == list(
            range(8))
        assert image.designated_index == 3 and original_number(image) == 4
    assert all(r.imported == 4 for r in reports)
