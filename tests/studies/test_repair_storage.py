"""``manage.py repair_storage``: interrupted batches, orphan files and missing cached arrays are
found by a dry run, which changes nothing, and repaired with --fix; a running import is left
alone. (The ``kill -9`` of a real import is in tests/security/test_import_faults.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from studies import repair as studies_repair
from studies import storage
from studies.management.commands.repair_storage import repair_checks
from studies.models import Image, ImportBatch
from studies.services.dicom_import import import_dicom_files
from tests.studies.dicom_files import write_mr

pytestmark = pytest.mark.django_db


def repair_storage(*args) -> str:
    out = StringIO()
    call_command("repair_storage", *args, stdout=out)
    return out.getvalue()


def _imported(tmp_path, study, site, n=2) -> list[Image]:
    paths = [write_mr(tmp_path / f"{i}.dcm", instance=f"i{i}", seed=i) for i in range(n)]
    report = import_dicom_files(paths=paths, study=study, site=site)
    assert report.imported == n
    return list(Image.objects.order_by("pk"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _orphan(name_kind: str = "cases") -> str:
    stored = storage.store_content(kind=name_kind, digest="ab" * 32, data=b"left behind")
    return stored.name


def test_the_studies_check_is_found_by_discovery():
    checks = dict(repair_checks())
    assert checks["studies"] is studies_repair.repair


def test_a_dry_run_reports_orphans_and_removes_nothing(tmp_path, study, site):
    images = _imported(tmp_path, study, site)
    orphan = _orphan()
    tmp_file = storage.media_path("cases/ab/.tmp-0123456789abcdef.dcm")
    tmp_file.write_bytes(b"half written")
    out = repair_storage()
    assert f"orphan file {orphan} (would be removed)" in out
    assert "orphan file cases/ab/.tmp-0123456789abcdef.dcm (would be removed)" in out
    assert "dry run: nothing changed" in out
    assert storage.media_path(orphan).exists() and tmp_file.exists()
    out = repair_storage("--fix")
    assert "orphan_files 2" in out
    assert not storage.media_path(orphan).exists() and not tmp_file.exists()
    for image in images:  # what a case refers to stays
        assert storage.media_path(image.file.name).exists()
        assert storage.media_path(image.array_file.name).exists()
    assert "orphan_files 0" in repair_storage("--fix")


def test_a_missing_cached_array_is_rebuilt_from_the_stored_dicom(tmp_path, study, site):
    image = _imported(tmp_path, study, site)[0]
    path = storage.media_path(image.array_file.name)
    original = path.read_bytes()
    path.unlink()
    out = repair_storage()
    assert f"case {image.pk}: its cached array is missing (would be rebuilt)" in out
    assert not path.exists()
    out = repair_storage("--fix")
    assert f"case {image.pk}: cached array rebuilt" in out and "arrays_rebuilt 1" in out
    assert path.read_bytes() == original


def test_a_missing_dicom_file_is_reported_for_a_reimport(tmp_path, study, site):
    image = _imported(tmp_path, study, site)[0]
    storage.media_path(image.file.name).unlink()
    out = repair_storage("--fix")
    assert f"case {image.pk}: its DICOM file {image.file.name} is missing" in out
    assert "dicom_missing 1" in out


def test_reimporting_a_case_whose_files_are_missing_restores_them(tmp_path, study, site):
    path = write_mr(tmp_path / "a.dcm")
    import_dicom_files(paths=[path], study=study, site=site)
    image = Image.objects.get()
    array = storage.media_path(image.array_file.name)
    original = array.read_bytes()
    array.unlink()
    storage.media_path(image.file.name).unlink()
    (result,) = import_dicom_files(paths=[path], study=study, site=site).files
    assert result.status == "duplicate"
    assert result.reason == (
        f"already imported as case {image.pk}; its missing DICOM file was restored; "
        "its missing cached array was rebuilt"
    )
    assert array.read_bytes() == original and storage.media_path(image.file.name).exists()
    (again,) = import_dicom_files(paths=[path], study=study, site=site).files
    assert again.reason == f"already imported as case {image.pk}"


def test_an_unfinished_batch_of_a_dead_process_is_closed_and_keeps_its_cases(
    tmp_path, study, site
):
    images = _imported(tmp_path, study, site)
    batch = ImportBatch.objects.get()
    batch.finished_at = None
    batch.worker = f"{socket.gethostname()}:{_dead_pid()}"
    batch.save()
    out = repair_storage()
    assert f"import batch {batch.pk}: unfinished, its process is gone; 2 cases committed" in out
    batch.refresh_from_db()
    assert batch.finished_at is None  # a dry run
    repair_storage("--fix")
    batch.refresh_from_db()
    assert batch.finished_at is not None
    assert batch.failure.startswith("interrupted: its process is gone")
    assert batch.n_imported == 2 and Image.objects.count() == len(images)


def test_a_batch_with_no_heartbeat_for_long_is_closed(study, site):
    long_ago = timezone.now() - timedelta(hours=2)
    batch = ImportBatch.objects.create(
        study=study, site=site, worker="another-host:1234", heartbeat_at=long_ago
    )
    out = repair_storage("--fix")
    assert f"import batch {batch.pk}: unfinished, no sign of life since" in out
    batch.refresh_from_db()
    assert batch.finished_at is not None and batch.failure.startswith("interrupted")


def test_a_running_import_and_its_fresh_files_are_left_alone(study, site):
    running = ImportBatch.objects.create(
        study=study, site=site, worker=f"{socket.gethostname()}:{os.getpid()}",
        heartbeat_at=timezone.now(),
    )  # fmt: skip
    fresh = _orphan("cases")
    old = storage.store_content(kind="masks", digest="cd" * 32, data=b"old").name
    two_hours_ago = time.time() - 7200
    os.utime(storage.media_path(old), (two_hours_ago, two_hours_ago))
    out = repair_storage("--fix")
    assert "imports_running 1" in out
    assert "1 recent unreferenced files left alone: an import is running" in out
    assert storage.media_path(fresh).exists()
    assert not storage.media_path(old).exists()
    running.refresh_from_db()
    assert running.finished_at is None and running.failure == ""


def test_consistent_storage_has_nothing_to_report(tmp_path, study, site):
    _imported(tmp_path, study, site)
    out = repair_storage("--fix")
    assert (
        "interrupted_batches 0, imports_running 0, orphan_files 0, recent_unreferenced_files 0, "
        "arrays_rebuilt 0, arrays_missing 0, dicom_missing 0, masks_missing 0"
    ) in out
