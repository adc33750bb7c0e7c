"""The study domain's repair checks, run by ``manage.py repair_storage`` (which finds every
app's ``repair.py``): what an interrupted import (``kill -9``, a crash, a full disk) or a lost
file leaves behind, found and, with ``fix=True``, repaired.

- **Unfinished import batches** whose process is gone: the batch's ``worker`` (``host:pid``)
  names this host and no such process runs, or its heartbeat is older than
  :data:`STALE_AFTER`. They are closed as interrupted (``failure`` says so, ``finished_at``
  set, ``n_imported`` recounted); the cases they committed stay.
- **Orphan stored files**: files under ``MEDIA_ROOT/cases``, ``arrays`` and ``masks`` that no
  case refers to, and temporary files of interrupted writes. While an import is still running
  its files are not committed yet, so only orphans older than :data:`ORPHAN_GRACE` are removed
  then; with no import running, every orphan is.
- **Missing cached arrays** are rebuilt from the stored DICOM with ``READERBENCH_CASE_ARRAY``.
  A missing stored DICOM file or mask cannot be rebuilt here: it is reported, and importing the
  original file again restores it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from studies import storage
from studies.dicom.validate import Rejected, read_image
from studies.models import Image, ImportBatch, Slice
from studies.services.dicom_import import array_digest, frame_array_bytes

STALE_AFTER = timedelta(minutes=30)
ORPHAN_GRACE = timedelta(hours=1)


def _process_gone(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _batches(*, fix: bool, log: Callable[[str], None]) -> tuple[int, int]:
    """Close interrupted batches; returns (interrupted, still running)."""
    now = timezone.now()
    interrupted = running = 0
    for batch in ImportBatch.objects.filter(finished_at__isnull=True).order_by("pk"):
        last = batch.heartbeat_at or batch.started_at
        gone = _process_gone(batch.worker)
        if not gone and now - last < STALE_AFTER:
            running += 1
            continue
        interrupted += 1
        why = "its process is gone" if gone else f"no sign of life since {last:%Y-%m-%d %H:%M}"
        committed = batch.images.count()
        log(f"import batch {batch.pk}: unfinished, {why}; {committed} cases committed")
        if fix:
            batch.failure = (
                f"interrupted: {why} (closed by repair_storage); the {committed} cases it "
                "committed stay, the files it stored without committing were removed"
            )
            batch.n_imported = committed
            batch.finished_at = now
            batch.save(update_fields=["failure", "n_imported", "finished_at"])
    return interrupted, running


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    found = []
    for kind in storage.KINDS:
        for folder, _dirs, files in os.walk(root / kind):
            found.extend(Path(folder) / name for name in files)
    return found


def _orphans(*, fix: bool, log, imports_running: bool) -> tuple[int, int]:
    """Remove stored files no case refers to; returns (removed or to remove, left for now)."""
    root = Path(settings.MEDIA_ROOT)
    referenced: set[str] = set()
    for model in (Image, Slice):  # a case's designated slice, and every slice of its stack
        for names in model.objects.values_list("file", "array_file", "mask_file").iterator(2000):
            referenced.update(names)
    oldest = time.time() - ORPHAN_GRACE.total_seconds()
    orphans = young = 0
    for path in _stored_files():
        name = path.relative_to(root).as_posix()
        if name in referenced:
            continue
        try:
            if imports_running and path.lstat().st_mtime > oldest:
                young += 1  # perhaps a running import's, not committed yet
                continue
            orphans += 1
            log(f"orphan file {name}" + ("" if fix else " (would be removed)"))
            if fix:
                path.unlink()
        except FileNotFoundError:
            continue
    if young:
        log(f"{young} recent unreferenced files left alone: an import is running")
    return orphans, young


def _missing(*, fix: bool, log) -> dict[str, int]:
    """Missing files of every slice (a case's designated slice is one of its slices)."""
    counts = {"arrays_rebuilt": 0, "arrays_missing": 0, "dicom_missing": 0, "masks_missing": 0}
    case_array = None
    rows = Slice.objects.order_by("image_id", "index").values_list(
        "image_id", "index", "content_hash", "frame", "file", "array_file", "mask_file",
        "rescale_slope", "rescale_intercept",
    )
    for pk, index, digest, frame, file, array_file, mask_file, slope, intercept in rows.iterator(
        2000
    ):
        what = f"case {pk}" + (f", slice {index + 1}," if index else "")
        if mask_file and not storage.media_path(mask_file).exists():
            counts["masks_missing"] += 1
            log(f"{what}: its mask {mask_file} is missing; import the original again")
        if not file or not storage.media_path(file).exists():
            counts["dicom_missing"] += 1
            log(f"{what}: its DICOM file {file} is missing; import the original again")
            continue
        if array_file and storage.media_path(array_file).exists():
            continue
        counts["arrays_missing"] += 1
        if not fix:
            log(f"{what}: its cached array is missing (would be rebuilt)")
            continue
        case_array = case_array or import_string(settings.READERBENCH_CASE_ARRAY)
        try:
            image = read_image(
                storage.media_path(file).read_bytes(),
                min_side=settings.READERBENCH_MIN_IMAGE_SIDE,
                max_side=settings.READERBENCH_MAX_IMAGE_SIDE,
            )
            fields = {"rescale_slope": slope, "rescale_intercept": intercept}
            data = frame_array_bytes(
                image.frame_pixels(frame), image.photometric, fields, case_array
            )
        except Rejected as exc:
            log(f"{what}: its cached array cannot be rebuilt ({exc.reason})")
            continue
        stored = storage.store_content(
            kind="arrays", digest=array_digest(digest, frame), data=data
        )
        for model in (Image, Slice):
            model.objects.filter(content_hash=digest, frame=frame).exclude(
                array_file=stored.name
            ).update(array_file=stored.name)
        counts["arrays_rebuilt"] += 1
        log(f"{what}: cached array rebuilt")
    return counts


def repair(*, fix: bool, log: Callable[[str], None]) -> dict:
    """Find (and with ``fix``, repair) interrupted imports, orphan files and missing arrays.

    Returns the counts: ``interrupted_batches``, ``imports_running``, ``orphan_files``,
    ``recent_unreferenced_files``, ``arrays_missing``, ``arrays_rebuilt``, ``dicom_missing``,
    ``masks_missing``.
    """
    interrupted, running = _batches(fix=fix, log=log)
    orphans, young = _orphans(fix=fix, log=log, imports_running=running > 0)
    return {
        "interrupted_batches": interrupted,
        "imports_running": running,
        "orphan_files": orphans,
        "recent_unreferenced_files": young,
        **_missing(fix=fix, log=log),
    }
