"""Import under faults, with real processes (issue 15 S12, R3): ``kill -9`` of ``import_dicom``
(a subprocess) mid-import, then ``repair_storage --fix``, leaves no orphan file and no
unfinished batch, and the same import run again completes it; a full disk (a 2 MiB tmpfs as
MEDIA_ROOT) stops the import with one message and a non-zero exit, and what it stored stays
consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from studies import storage
from studies.models import Image, ImportBatch
from studies.services.dicom_import import import_dicom_files
from tests.studies.dicom_files import write_mr

pytestmark = pytest.mark.django_db(transaction=True)  # the subprocesses see committed rows


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _manage(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def _run(*args: str) -> subprocess.CompletedProcess:
    process = _manage(*args)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _unreferenced_files() -> set[str]:
    referenced = set()
    for names in Image.objects.values_list("file", "array_file", "mask_file"):
        referenced.update(names)
    root = Path(settings.MEDIA_ROOT)
    return {
        p.relative_to(root).as_posix()
        for kind in storage.KINDS
        for p in (root / kind).rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in referenced
    }


def _cases_with_missing_files() -> list[int]:
    return [
        pk
        for pk, file, array in Image.objects.values_list("pk", "file", "array_file")
        if not storage.media_path(file).exists() or not storage.media_path(array).exists()
    ]


def test_kill_9_mid_import_then_repair_leaves_no_orphan_and_no_unfinished_batch(
    tmp_path, study, site
):
    folder = tmp_path / "in"
    n = 400
    for i in range(n):
        write_mr(folder / f"{i:04}.dcm", instance=f"i{i}", seed=i, identifying=False)
    importer = _manage("import_dicom", str(folder), "--study", "onfh", "--site", "SITE1")
    deadline = time.monotonic() + 240
    # Killed once a chunk is committed and the next one has stored files but no rows yet.
    while Image.objects.count() < 100 or not _unreferenced_files():
        assert importer.poll() is None, importer.communicate()
        assert time.monotonic() < deadline, "the import did not get that far in 4 minutes"
        time.sleep(0.02)
    os.kill(importer.pid, signal.SIGKILL)
    importer.communicate(timeout=60)
    assert importer.returncode == -signal.SIGKILL

    batch = ImportBatch.objects.get()
    assert batch.finished_at is None
    committed = Image.objects.count()
    assert 100 <= committed < n

    left_behind = _unreferenced_files()  # stored for the chunk that never committed
    assert left_behind
    dry = StringIO()
    call_command("repair_storage", stdout=dry)
    assert f"import batch {batch.pk}: unfinished, its process is gone" in dry.getvalue()
    for name in left_behind:
        assert f"orphan file {name} (would be removed)" in dry.getvalue()
    assert _unreferenced_files() == left_behind  # a dry run
    call_command("repair_storage", "--fix", stdout=StringIO())

    batch.refresh_from_db()
    assert batch.finished_at is not None and batch.failure.startswith("interrupted")
    assert batch.n_imported == committed == Image.objects.count()  # the committed cases stay
    assert not ImportBatch.objects.filter(finished_at__isnull=True).exists()
    assert _unreferenced_files() == set()
    assert _cases_with_missing_files() == []

    # The same import again finishes the job: what was committed is a duplicate.
    again = import_dicom_files(paths=[folder], study=study, site=site)
    assert (again.imported, again.duplicates, again.rejected) == (n - committed, committed, 0)
    assert Image.objects.count() == n and _unreferenced_files() == set()


@pytest.fixture
def small_disk(_isolated_media):
    """MEDIA_ROOT on a 2 MiB tmpfs."""
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(_isolated_media)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield _isolated_media
    finally:
        subprocess.run(["umount", str(_isolated_media)], check=True)


def test_a_full_disk_stops_the_import_with_one_message_and_a_non_zero_exit(
    tmp_path, study, site, small_disk
):
    folder = tmp_path / "in"
    n = 40  # 40 x (128 KiB file + 128 KiB array): five times the disk
    for i in range(n):
        write_mr(folder / f"{i:02}.dcm", instance=f"i{i}", seed=i, rows=256, columns=256)
    result = _run("import_dicom", str(folder), "--study", "onfh", "--site", "SITE1")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: the disk of the stored files is full")
    assert "No space left on device" in lines[0] and "Traceback" not in result.stderr
    imported = Image.objects.count()
    assert 0 < imported < n
    assert f"the import stopped after {imported} of {n} files" in lines[0]
    assert f"{imported} imported, 0 duplicates, 0 rejected" in result.stdout

    batch = ImportBatch.objects.get()
    assert batch.finished_at is not None and batch.failure == lines[0].removeprefix(
        "CommandError: "
    )
    assert batch.n_imported == imported
    assert _unreferenced_files() == set()  # nothing half-stored
    assert _cases_with_missing_files() == []
    assert not list(Path(small_disk).rglob(".tmp-*"))
