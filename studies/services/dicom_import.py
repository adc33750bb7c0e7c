"""Import DICOM files into a study: validate, de-identify, store by content hash, cache the
preprocessed array, and write patients, hips, images (cases) and reference labels.

Entry point: :func:`import_dicom_files`. It takes files, folders (recursively) and zip
archives; one bad file never aborts the batch, and a rejected file leaves no row and no stored
file behind. Work is done in chunks: the CPU part file by file, then one transaction per chunk
with bulk inserts and in-memory lookups of the study's existing patients, hips, hashes and UIDs.
A chunk whose insert fails (a concurrent import of the same content, say) is redone row by row,
where the unique constraints decide and the loser reports a duplicate.

Layout: this module prepares each file (read, validate, de-identify, store, cache the array);
:mod:`studies.services.dicom_sources` expands the inputs, :mod:`studies.dicom.fields` reads the
data set's values, and :mod:`studies.services.dicom_commit` writes the rows.

Interrupted imports: the batch records its process (``worker``) and a heartbeat per chunk, so
that ``manage.py repair_storage`` can tell an import that died (``kill -9``, a crash) from one
still running, close it and remove the files it stored without committing them.

Duplicates: the de-identified file's SHA-256 (``image_unique_content``) or its de-identified SOP
Instance UID (``image_unique_instance``) already in the study. A duplicate whose case has no
reference label receives the manifest's label; a different label is reported, never overwritten.
A duplicate of a case whose stored DICOM file or cached array has gone missing stores them
again (the array rebuilt with ``READERBENCH_CASE_ARRAY``), and its reason says so.

Patient key (hashed into the pseudonym, never stored): the manifest's ``patient_key``, else the
file's Patient ID, else ``study:<original Study Instance UID>`` (all images of one DICOM study
are then one patient), else ``instance:<original SOP Instance UID>``. Hip side: the manifest's
``side``, else Image Laterality (0020,0062) or Laterality (0020,0060) when ``L``/``R``, else
``U``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
from django.utils import timezone

from studies import storage
from studies.dicom import fields as dicom_fields
from studies.dicom.deid import deidentify, patient_pseudonym
from studies.dicom.geometry import FrameGeometry, position_along_normal
from studies.dicom.validate import Rejected, ValidatedImage, read_image, to_file_bytes
from studies.models import Image, ImportBatch, Site, Slice, Study
from studies.services.dicom_commit import (
    DUPLICATE,
    IMPORTED,
    REJECTED,
    Duplicate,
    Entry,
    FileResult,
    ImportContext,
    ImportReport,
    SliceSpec,
    commit_chunk,
    duplicate_reason,
    load_context,
)
from studies.services.dicom_sources import ImportLimits, Source, collect_sources
from studies.services.manifest import Manifest, ManifestRow

logger = logging.getLogger(__name__)

CHUNK_SIZE = 100


def _store(entry_stored: list, keep: dict, *, kind: str, digest: str, data: bytes) -> None:
    stored = storage.store_content(kind=kind, digest=digest, data=data)
    entry_stored.append(stored)
    if not stored.created:
        keep[stored.name] = data


def case_array_bytes(image: ValidatedImage, fields: dict, case_array: Callable) -> bytes:
    """The ``.npy`` bytes of the array cached with a single-frame case
    (``READERBENCH_CASE_ARRAY``)."""
    return frame_array_bytes(image.pixels, image.photometric, fields, case_array)


def frame_array_bytes(
    pixels: np.ndarray, photometric: str, fields: dict, case_array: Callable
) -> bytes:
    """The ``.npy`` bytes of the array cached with one slice (``READERBENCH_CASE_ARRAY``)."""
    array = case_array(pixels, slope=fields["rescale_slope"], intercept=fields["rescale_intercept"])
    if photometric == "MONOCHROME1":  # low values are bright: make high values bright
        array = np.float16(1.0) - array
    return dicom_fields.npy_bytes(array)


def array_digest(digest: str, frame: int) -> str:
    """The name (a SHA-256) under which a slice's cached array is stored: the file's own for
    frame 0 (as before multi-frame files), a derived one for the other frames."""
    if frame == 0:
        return digest
    return hashlib.sha256(f"{digest}:frame:{frame}".encode()).hexdigest()


def _frame_fields(fields: dict, geometry: FrameGeometry, n_frames: int) -> dict:
    """A frame's pixel fields: the file's, with a multi-frame file's per-frame values."""
    if n_frames == 1:
        return fields
    own = dict(fields)
    if geometry.spacing is not None:
        own["pixel_spacing_row"], own["pixel_spacing_col"] = geometry.spacing
    for name in ("window_center", "window_width", "rescale_intercept"):
        if getattr(geometry, name) is not None:
            own[name] = getattr(geometry, name)
    if geometry.rescale_slope:  # 0 would divide by zero: keep the file's
        own["rescale_slope"] = geometry.rescale_slope
    return own


def _designated_frame(row: ManifestRow | None, n_frames: int) -> int | None:
    """The frame (0-based) the manifest row designates for grading, or ``None``."""
    if row is None or row.designated is None:
        return None
    if row.designated > n_frames:
        raise Rejected(
            f"the manifest (line {row.line}) designates frame {row.designated}; the file has "
            f"{n_frames} frame(s)"
        )
    return row.designated - 1


def _restore_existing(
    pk: int, digest: str, payload: bytes, *, image, fields: dict, ctx: ImportContext
) -> list[str]:
    """Files of an already imported case that have gone missing (an interrupted import, a
    deleted cache), stored again from this copy of the file; what was restored, in words."""
    restored = []
    if not storage.media_path(storage.content_name(kind="cases", digest=digest)).exists():
        storage.store_content(kind="cases", digest=digest, data=payload)
        restored.append("its missing DICOM file was restored")
    rebuilt = False
    for frame, geometry in enumerate(image.frames):
        name = storage.content_name(kind="arrays", digest=array_digest(digest, frame))
        if storage.media_path(name).exists():
            continue
        own = _frame_fields(fields, geometry, image.n_frames)
        data = frame_array_bytes(
            image.frame_pixels(frame), image.photometric, own, ctx.case_array
        )
        storage.store_content(kind="arrays", digest=array_digest(digest, frame), data=data)
        for model in (Image, Slice):
            model.objects.filter(
                study=ctx.study, content_hash=digest, frame=frame, array_file=""
            ).update(array_file=name)
        rebuilt = True
    if rebuilt:
        restored.append("its missing cached array was rebuilt")
    return restored


def _prepare(source: Source, ctx: ImportContext) -> Entry | Duplicate | FileResult:
    """The CPU part for one file: an entry to insert, a duplicate, or a rejection."""
    result = FileResult(source.path, IMPORTED)
    image = read_image(source.read(), min_side=ctx.min_side, max_side=ctx.max_side)
    ds = image.dataset
    original_uid = dicom_fields.text(ds, "SOPInstanceUID")
    row: ManifestRow | None = None
    if ctx.manifest is not None:
        row = ctx.manifest.row_for(file_key=source.file_key, sop_instance_uid=original_uid)
    if row is not None:
        if row.sop_instance_uid and row.sop_instance_uid != original_uid:
            raise Rejected(
                f"the manifest (line {row.line}) gives another SOP Instance UID than the file's"
            )
        if row.site and row.site != ctx.site.code:
            raise Rejected(
                f"the manifest (line {row.line}) assigns this file to site {row.site!r}, "
                f"not {ctx.site.code!r}"
            )
        ctx.used_rows.add(row.line)
    n_frames = image.n_frames
    designated_frame = _designated_frame(row, n_frames)
    patient_key = row.patient_key if row else dicom_fields.patient_key(ds)
    side = row.side if row else dicom_fields.laterality(ds)
    label = row.label if row else ""
    label_source = row.label_source if row else ""
    fields = dicom_fields.image_fields(image)
    pseudonym = patient_pseudonym(
        key=ctx.key, study=ctx.study.slug, site=ctx.site.code, patient_key=patient_key
    )
    deidentify(ds, key=ctx.key, pseudonym=pseudonym, keep=ctx.deid_keep)
    payload = to_file_bytes(ds)
    digest = hashlib.sha256(payload).hexdigest()
    new_uid = str(ds.SOPInstanceUID)
    series_uid = dicom_fields.text(ds, "SeriesInstanceUID") or new_uid

    existing = ctx.by_hash.get(digest) or ctx.by_uid.get(new_uid)
    if existing is not None:
        result.status, result.case = DUPLICATE, existing
        result.reason = duplicate_reason(existing, ctx.labels.get(existing), label, False)
        restored = []
        if ctx.by_hash.get(digest) == existing:
            restored = _restore_existing(
                existing, digest, payload, image=image, fields=fields, ctx=ctx
            )
        return Duplicate(result, label, label_source, note="; ".join(restored))
    pending = ctx.pending_by_hash.get(digest) or ctx.pending_by_uid.get(new_uid)
    if pending is not None:
        result.status = DUPLICATE
        duplicate = Duplicate(result, label, label_source)
        if label and not pending.label:
            pending.label, pending.label_source = label, label_source
        pending.duplicates.append(duplicate)
        return duplicate

    mask = None
    if row is not None and row.mask is not None:
        try:
            mask = np.load(row.mask, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - the file changed since the manifest check
            raise Rejected(
                f"mask of manifest line {row.line} cannot be read ({type(exc).__name__})"
            ) from None
        if n_frames > 1:
            raise Rejected(
                f"mask of manifest line {row.line}: masks are for single-frame files, this "
                f"file has {n_frames} frames"
            )
        if mask.ndim != 2:
            raise Rejected(f"mask of manifest line {row.line} is not a 2-D array")
        if mask.shape != image.pixels.shape:
            raise Rejected(
                f"mask of manifest line {row.line} has shape {mask.shape[1]}x{mask.shape[0]}, "
                f"the image is {image.columns}x{image.rows}"
            )
    stored: list[storage.StoredFile] = []
    keep: dict[str, bytes] = {}
    slices: list[SliceSpec] = []
    number = dicom_fields.number(ds, "InstanceNumber")
    instance_number = int(number) if number is not None and abs(number) < 2**31 else None
    try:
        _store(stored, keep, kind="cases", digest=digest, data=payload)
        for frame, geometry in enumerate(image.frames):
            own = _frame_fields(fields, geometry, n_frames)
            data = frame_array_bytes(
                image.frame_pixels(frame), image.photometric, own, ctx.case_array
            )
            _store(stored, keep, kind="arrays", digest=array_digest(digest, frame), data=data)
            slices.append(SliceSpec(
                frame=frame,
                position=position_along_normal(geometry),
                instance_number=instance_number,
                fields=own,
                array_file=stored[-1].name,
            ))
        if mask is not None:
            _store(stored, keep, kind="masks", digest=digest, data=dicom_fields.npy_bytes(mask))
            slices[0].mask_file = stored[-1].name
    except BaseException:
        storage.discard(s.name for s in stored if s.created)
        raise
    entry = Entry(
        result=result,
        pseudonym=pseudonym,
        side=side,
        digest=digest,
        sop_instance_uid=new_uid,
        series_uid=series_uid,
        file=stored[0].name,
        slices=slices,
        designated_frame=designated_frame,
        label=label,
        label_source=label_source,
        stored=stored,
        keep=keep,
    )
    ctx.pending_by_hash[digest] = entry
    ctx.pending_by_uid[new_uid] = entry
    return entry


# --- the database -------------------------------------------------------------------------------


def import_dicom_files(
    *,
    paths: Iterable,
    study: Study,
    site: Site,
    manifest: Manifest | None = None,
    user=None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import DICOM files, folders (recursively) and zip archives into ``study`` from ``site``.

    Parameters
    ----------
    paths
        Files, folders and ``.zip`` archives.
    study, site
        Where the cases go.
    manifest
        A validated manifest (:func:`studies.services.manifest.manifest_read`) attaching patient
        keys, sides, reference labels and masks; files it does not list import without a label.
    user
        Recorded as the batch's creator.
    progress
        Called as ``progress(done, total)`` after each file.

    Returns
    -------
    ImportReport
        One :class:`FileResult` per input file, in input order; the batch's id.

    Raises
    ------
    FileNotFoundError
        A path does not exist (nothing is imported).
    ImportRefused
        More files than ``READERBENCH_IMPORT_MAX_FILES`` (nothing is imported).

    A full disk under ``MEDIA_ROOT`` or the time limit (``READERBENCH_IMPORT_MAX_SECONDS``)
    stops the import at the file it reached: the chunk prepared so far is committed, the batch
    is closed with the reason as its ``failure``, and the report's ``stopped`` says why (the
    files after it are not read). The other ``READERBENCH_IMPORT_*`` limits reject one file or
    one archive (:mod:`studies.services.dicom_sources`).
    """
    paths = list(paths)
    limits = ImportLimits.from_settings()
    deadline = time.monotonic() + limits.max_seconds
    stopped: str | None = None
    with contextlib.ExitStack() as stack:
        sources = collect_sources(paths, manifest, stack, limits)
        ctx = load_context(study, site, manifest)
        batch = ImportBatch.objects.create(
            study=study,
            site=site,
            created_by=user,
            worker=f"{socket.gethostname()}:{os.getpid()}",
            heartbeat_at=timezone.now(),
        )
        results: list[FileResult] = []
        total = len(sources)
        for start in range(0, total, CHUNK_SIZE):
            entries: list[Entry] = []
            duplicates: list[Duplicate] = []
            for source in sources[start : start + CHUNK_SIZE]:
                if time.monotonic() > deadline:
                    stopped = (
                        f"the import ran longer than {limits.max_seconds} s "
                        "(READERBENCH_IMPORT_MAX_SECONDS)"
                    )
                    break
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # pydicom's value warnings
                        outcome = _prepare(source, ctx)
                except Rejected as exc:
                    outcome = FileResult(source.path, REJECTED, exc.reason)
                except OSError as exc:
                    if not _disk_full(exc):
                        outcome = _unexpected(source, exc)
                    else:
                        stopped = _disk_full_reason(exc)
                        break
                except Exception as exc:  # noqa: BLE001 - one bad file never aborts the batch
                    outcome = _unexpected(source, exc)
                if isinstance(outcome, Entry):
                    entries.append(outcome)
                    results.append(outcome.result)
                elif isinstance(outcome, Duplicate):
                    if outcome.result.case is not None:
                        duplicates.append(outcome)
                    results.append(outcome.result)
                else:
                    results.append(outcome)
                if progress is not None:
                    progress(len(results), total)
            try:
                commit_chunk(entries, duplicates, ctx, batch)
            except OSError as exc:  # restoring a file a concurrent import removed
                if not _disk_full(exc):
                    raise
                stopped = stopped or _disk_full_reason(exc)
            for duplicate in duplicates:
                if duplicate.note:
                    duplicate.result.reason = f"{duplicate.result.reason}; {duplicate.note}"
            if stopped:
                break
            _update_batch(batch, results, finished=False)
        if stopped:
            stopped = (
                f"{stopped}: the import stopped after {len(results)} of {total} files; "
                "what it imported stays. Run the same import again when this is resolved "
                "(files already imported are reported as duplicates)."
            )
        _update_batch(batch, results, finished=True, failure=stopped or "")
    unused = ()
    if manifest is not None:
        unused = tuple(r.line for r in manifest.rows if r.line not in ctx.used_rows)
    return ImportReport(
        batch_id=batch.pk,
        files=results,
        ignored_columns=manifest.ignored_columns if manifest else (),
        unused_manifest_rows=unused,
        stopped=stopped,
        not_read=total - len(results),
    )


def _disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _disk_full_reason(exc: OSError) -> str:
    return f"the disk of the stored files is full ({exc.strerror or 'no space left'})"


def _unexpected(source: Source, exc: Exception) -> FileResult:
    # The message may quote file contents or names: it goes to the log only.
    logger.warning("import: unexpected error on one file", exc_info=True)
    return FileResult(
        source.path, REJECTED, f"unexpected error ({type(exc).__name__}), see the server log"
    )


def _update_batch(
    batch: ImportBatch, results: list[FileResult], *, finished: bool, failure: str = ""
) -> None:
    counts = Counter(r.status for r in results)
    batch.n_imported = counts[IMPORTED]
    batch.n_duplicates = counts[DUPLICATE]
    batch.n_rejected = counts[REJECTED]
    # Reasons only, never paths: file names may identify patients.
    batch.rejection_reasons = dict(Counter(r.reason for r in results if r.status == REJECTED))
    batch.heartbeat_at = timezone.now()
    fields = ["n_imported", "n_duplicates", "n_rejected", "rejection_reasons", "heartbeat_at"]
    if finished:
        batch.finished_at = timezone.now()
        batch.failure = failure[:500]
        fields += ["finished_at", "failure"]
    batch.save(update_fields=fields)
