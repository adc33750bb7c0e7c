"""Import DICOM files into a study: validate, de-identify, store by content hash, cache the
preprocessed array, and write patients, hips, images (cases) and reference labels.

Entry point: :func:`import_dicom_files`. It takes files, folders (recursively) and zip
archives; one bad file never aborts the batch, and a rejected file leaves no row and no stored
file behind. Work is done in chunks: the CPU part file by file, then one transaction per chunk
with bulk inserts and in-memory lookups of the study's existing patients, hips, hashes and UIDs.
A chunk whose insert fails (a concurrent import of the same content, say) is redone row by row,
where the unique constraints decide and the loser reports a duplicate.

Duplicates: the de-identified file's SHA-256 (``image_unique_content``) or its de-identified SOP
Instance UID (``image_unique_instance``) already in the study. A duplicate whose case has no
reference label receives the manifest's label; a different label is reported, never overwritten.

Patient key (hashed into the pseudonym, never stored): the manifest's ``patient_key``, else the
file's Patient ID, else ``study:<original Study Instance UID>`` (all images of one DICOM study
are then one patient), else ``instance:<original SOP Instance UID>``. Hip side: the manifest's
``side``, else Image Laterality (0020,0062) or Laterality (0020,0060) when ``L``/``R``, else
``U``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from inference.engine.transforms import cached_array
from readers import storage
from readers.dicom.deid import deidentify, patient_pseudonym
from readers.dicom.validate import Rejected, ValidatedImage, peek, read_image, to_file_bytes
from readers.models import Hip, Image, ImportBatch, Patient, ReferenceLabel, Site, Study
from readers.services.manifest import Manifest, ManifestRow

logger = logging.getLogger(__name__)

CHUNK_SIZE = 100
#: Larger files are rejected unread (a 4096 x 4096 16-bit slice is 32 MiB).
MAX_FILE_BYTES = 256 * 1024 * 1024

IMPORTED, DUPLICATE, REJECTED = "imported", "duplicate", "rejected"


@dataclass
class FileResult:
    """The outcome for one input file. ``case`` is the Image pk (imported or duplicate)."""

    path: str
    status: str
    reason: str | None = None
    case: int | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "reason": self.reason, "case": self.case}


@dataclass
class ImportReport:
    """What one import did, file by file."""

    batch_id: int
    files: list[FileResult]
    ignored_columns: tuple[str, ...] = ()
    unused_manifest_rows: tuple[int, ...] = ()

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def imported(self) -> int:
        return self._count(IMPORTED)

    @property
    def duplicates(self) -> int:
        return self._count(DUPLICATE)

    @property
    def rejected(self) -> int:
        return self._count(REJECTED)

    def as_dict(self) -> dict:
        """``{"imported", "duplicates", "rejected", "files": [{path, status, reason, case}]}``."""
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "files": [f.as_dict() for f in self.files],
        }


@dataclass(frozen=True)
class _Source:
    path: str
    file_key: str | None
    read: Callable[[], bytes]


@dataclass
class _Entry:
    """A file ready for the database: stored, de-identified, not yet a row."""

    result: FileResult
    pseudonym: str
    side: str
    digest: str
    sop_instance_uid: str
    fields: dict
    label: str
    label_source: str
    stored: list[storage.StoredFile]
    # Bytes of files this import found already stored (kept to restore them if a concurrent
    # failed import removes them before our rows commit).
    keep: dict[str, bytes] = field(default_factory=dict)
    duplicates: list[_Duplicate] = field(default_factory=list)

    @property
    def names(self) -> dict[str, str]:
        kinds = {s.name.split("/", 1)[0]: s.name for s in self.stored}
        return {
            "file": kinds["cases"],
            "array_file": kinds["arrays"],
            "mask_file": kinds.get("masks", ""),
        }


@dataclass
class _Duplicate:
    result: FileResult
    label: str
    label_source: str


@dataclass
class _Context:
    study: Study
    site: Site
    key: str
    manifest: Manifest | None
    min_side: int
    max_side: int
    by_hash: dict[str, int]
    by_uid: dict[str, int]
    labels: dict[int, str | None]
    patients: dict[str, int]
    hips: dict[tuple[int, str], int]
    pending_by_hash: dict[str, _Entry] = field(default_factory=dict)
    pending_by_uid: dict[str, _Entry] = field(default_factory=dict)
    used_rows: set[int] = field(default_factory=set)


# --- inputs -------------------------------------------------------------------------------------


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise Rejected(f"file of {size} bytes is larger than {MAX_FILE_BYTES} bytes")
            return path.read_bytes()
        except OSError as exc:
            raise Rejected(f"file cannot be read ({exc.strerror or type(exc).__name__})") from None

    return read


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > MAX_FILE_BYTES:
            raise Rejected(f"file of {info.file_size} bytes is larger than {MAX_FILE_BYTES} bytes")
        try:
            return archive.read(info)
        except Exception as exc:  # noqa: BLE001 - encrypted, corrupt, unsupported method
            # The exception's text may name the member: give only its kind.
            raise Rejected(f"cannot be read from the zip archive ({type(exc).__name__})") from None

    return read


def _rejecting_reader(reason: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise Rejected(reason)

    return read


def _zip_sources(path: Path, manifest, stack: contextlib.ExitStack) -> list[_Source]:
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
        members = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return [_Source(str(path), None, _rejecting_reader("not a readable zip archive"))]
    return [
        _Source(
            f"{path}/{info.filename}",
            manifest.key_for(path, info.filename) if manifest else None,
            _member_reader(archive, info),
        )
        for info in sorted(members, key=lambda i: i.filename)
    ]


def collect_sources(paths: Iterable, manifest: Manifest | None, stack) -> list[_Source]:
    """Expand files, folders (recursively) and zip archives into the files to import."""
    sources: list[_Source] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            files = [path]
        else:
            raise FileNotFoundError(f"paths: {raw} does not exist")
        for file in files:
            if file.suffix.lower() == ".zip":
                sources.extend(_zip_sources(file, manifest, stack))
            else:
                key = manifest.key_for(file) if manifest else None
                sources.append(_Source(str(file), key, _file_reader(file)))
    return sources


# --- one file -----------------------------------------------------------------------------------


def _text(ds, keyword: str) -> str:
    try:
        value = peek(ds, keyword)
    except Exception:  # noqa: BLE001 - a malformed optional value is treated as absent
        return ""
    return "" if value is None else str(value).strip()


def _number(ds, keyword: str, *, required: bool = False, default=None, index: int = 0):
    text = _text(ds, keyword)
    if not text:
        return default
    parts = text.split("\\")
    try:
        number = float(parts[index]) if index < len(parts) else None
    except ValueError:
        number = None
    if number is None or not np.isfinite(number):
        if required:
            raise Rejected(f"invalid {keyword}: {text[:40]!r}")
        return default
    return number


def _patient_key(ds) -> str:
    for prefix, keyword in (("", "PatientID"), ("study:", "StudyInstanceUID")):
        value = _text(ds, keyword)
        if value:
            return prefix + value
    return "instance:" + _text(ds, "SOPInstanceUID")


def _laterality(ds) -> str:
    for keyword in ("ImageLaterality", "Laterality"):
        value = _text(ds, keyword).upper()
        if value in (Hip.Side.LEFT, Hip.Side.RIGHT):
            return value
    return Hip.Side.UNKNOWN


def _image_fields(image: ValidatedImage) -> dict:
    ds = image.dataset
    slope = _number(ds, "RescaleSlope", required=True, default=1.0)
    if slope == 0:
        raise Rejected("Rescale Slope (0028,1053) is 0")
    return {
        "modality": _text(ds, "Modality")[:16],
        "rows": image.rows,
        "columns": image.columns,
        "pixel_spacing_row": _number(ds, "PixelSpacing", index=0),
        "pixel_spacing_col": _number(ds, "PixelSpacing", index=1),
        "bits_stored": image.bits_stored,
        "pixel_signed": image.signed,
        "rescale_slope": slope,
        "rescale_intercept": _number(ds, "RescaleIntercept", required=True, default=0.0),
        "window_center": _number(ds, "WindowCenter"),
        "window_width": _number(ds, "WindowWidth"),
    }


_NPY_HEADERS: dict[tuple, bytes] = {}


def _npy_bytes(array: np.ndarray) -> bytes:
    """``np.save``'s bytes, with the header built once per shape and dtype (``np.save``
    rebuilds it every time, which costs more than copying a slice's values)."""
    if not array.flags.c_contiguous or array.dtype.hasobject:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    key = (array.shape, array.dtype.str)
    header = _NPY_HEADERS.get(key)
    if header is None:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buffer, np.lib.format.header_data_from_array_1_0(array)
        )
        header = _NPY_HEADERS[key] = buffer.getvalue()
    return header + array.tobytes()


def _store(entry_stored: list, keep: dict, *, kind: str, digest: str, data: bytes) -> None:
    stored = storage.store_content(kind=kind, digest=digest, data=data)
    entry_stored.append(stored)
    if not stored.created:
        keep[stored.name] = data


def _duplicate_reason(pk: int, existing_label: str | None, label: str, applied: bool) -> str:
    reason = f"already imported as case {pk}"
    if label and applied:
        return f"{reason}; the manifest's label {label} was attached"
    if label and existing_label and existing_label != label:
        return f"{reason} with label {existing_label}; the manifest's label {label} was not applied"
    return reason


def _prepare(source: _Source, ctx: _Context) -> _Entry | _Duplicate | FileResult:
    """The CPU part for one file: an entry to insert, a duplicate, or a rejection."""
    result = FileResult(source.path, IMPORTED)
    image = read_image(source.read(), min_side=ctx.min_side, max_side=ctx.max_side)
    ds = image.dataset
    original_uid = _text(ds, "SOPInstanceUID")
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
    patient_key = row.patient_key if row else _patient_key(ds)
    side = row.side if row else _laterality(ds)
    label = row.label if row else ""
    label_source = row.label_source if row else ""
    fields = _image_fields(image)
    pseudonym = patient_pseudonym(
        key=ctx.key, study=ctx.study.slug, site=ctx.site.code, patient_key=patient_key
    )
    deidentify(ds, key=ctx.key, pseudonym=pseudonym)
    payload = to_file_bytes(ds)
    digest = hashlib.sha256(payload).hexdigest()
    new_uid = str(ds.SOPInstanceUID)

    existing = ctx.by_hash.get(digest) or ctx.by_uid.get(new_uid)
    if existing is not None:
        result.status, result.case = DUPLICATE, existing
        result.reason = _duplicate_reason(existing, ctx.labels.get(existing), label, False)
        return _Duplicate(result, label, label_source)
    pending = ctx.pending_by_hash.get(digest) or ctx.pending_by_uid.get(new_uid)
    if pending is not None:
        result.status = DUPLICATE
        duplicate = _Duplicate(result, label, label_source)
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
        if mask.ndim != 2:
            raise Rejected(f"mask of manifest line {row.line} is not a 2-D array")
        if mask.shape != image.pixels.shape:
            raise Rejected(
                f"mask of manifest line {row.line} has shape {mask.shape[1]}x{mask.shape[0]}, "
                f"the image is {image.columns}x{image.rows}"
            )
    array = cached_array(
        image.pixels, slope=fields["rescale_slope"], intercept=fields["rescale_intercept"]
    )
    if image.photometric == "MONOCHROME1":  # low values are bright: make high values bright
        array = np.float16(1.0) - array
    stored: list[storage.StoredFile] = []
    keep: dict[str, bytes] = {}
    try:
        _store(stored, keep, kind="cases", digest=digest, data=payload)
        _store(stored, keep, kind="arrays", digest=digest, data=_npy_bytes(array))
        if mask is not None:
            _store(stored, keep, kind="masks", digest=digest, data=_npy_bytes(mask))
    except BaseException:
        storage.discard(s.name for s in stored if s.created)
        raise
    entry = _Entry(
        result=result,
        pseudonym=pseudonym,
        side=side,
        digest=digest,
        sop_instance_uid=new_uid,
        fields=fields,
        label=label,
        label_source=label_source,
        stored=stored,
        keep=keep,
    )
    ctx.pending_by_hash[digest] = entry
    ctx.pending_by_uid[new_uid] = entry
    return entry


# --- the database -------------------------------------------------------------------------------


def _discard_unreferenced(stored: Iterable[storage.StoredFile]) -> None:
    """Remove files this import created, unless a case (of any study) refers to them."""
    names = [s.name for s in stored if s.created]
    if not names:
        return
    referenced = set()
    for row in Image.objects.filter(
        Q(file__in=names) | Q(array_file__in=names) | Q(mask_file__in=names)
    ).values_list("file", "array_file", "mask_file"):
        referenced.update(row)
    storage.discard(n for n in names if n not in referenced)


def _restore_missing(entry: _Entry) -> None:
    for name, data in entry.keep.items():
        if not storage.media_path(name).exists():
            kind, _, rest = name.partition("/")
            storage.store_content(kind=kind, digest=rest.split("/")[1][:64], data=data)


def _new_image(entry: _Entry, ctx: _Context, hip_id: int, batch: ImportBatch) -> Image:
    return Image(
        study=ctx.study,
        hip_id=hip_id,
        batch=batch,
        content_hash=entry.digest,
        sop_instance_uid=entry.sop_instance_uid,
        **entry.names,
        **entry.fields,
    )


def _commit_bulk(entries: list[_Entry], ctx: _Context, batch: ImportBatch) -> None:
    """Insert a chunk in one transaction; raises (and leaves the caches as they were) on error."""
    added_patients: list[str] = []
    added_hips: list[tuple[int, str]] = []
    try:
        with transaction.atomic():
            new = sorted({e.pseudonym for e in entries} - ctx.patients.keys())
            if new:
                Patient.objects.bulk_create(
                    [Patient(study=ctx.study, site=ctx.site, pseudonym=p) for p in new],
                    ignore_conflicts=True,
                )
                for pk, pseudonym in Patient.objects.filter(
                    study=ctx.study, site=ctx.site, pseudonym__in=new
                ).values_list("pk", "pseudonym"):
                    ctx.patients[pseudonym] = pk
                    added_patients.append(pseudonym)
            wanted = {(ctx.patients[e.pseudonym], e.side) for e in entries}
            new_hips = sorted(wanted - ctx.hips.keys())
            if new_hips:
                Hip.objects.bulk_create(
                    [Hip(patient_id=p, side=s) for p, s in new_hips], ignore_conflicts=True
                )
                for pk, patient_id, side in Hip.objects.filter(
                    patient_id__in={p for p, _ in new_hips}
                ).values_list("pk", "patient_id", "side"):
                    if (patient_id, side) not in ctx.hips:
                        ctx.hips[(patient_id, side)] = pk
                        added_hips.append((patient_id, side))
            images = [
                _new_image(e, ctx, ctx.hips[(ctx.patients[e.pseudonym], e.side)], batch)
                for e in entries
            ]
            Image.objects.bulk_create(images)
            if any(image.pk is None for image in images):  # backends that return no keys
                pks = dict(
                    Image.objects.filter(
                        study=ctx.study, content_hash__in=[e.digest for e in entries]
                    ).values_list("content_hash", "pk")
                )
                for image in images:
                    image.pk = pks[image.content_hash]
            ReferenceLabel.objects.bulk_create(
                [
                    ReferenceLabel(image_id=image.pk, label=e.label, source=e.label_source)
                    for e, image in zip(entries, images, strict=True)
                    if e.label
                ]
            )
    except BaseException:
        for pseudonym in added_patients:
            ctx.patients.pop(pseudonym, None)
        for key in added_hips:
            ctx.hips.pop(key, None)
        raise
    for entry, image in zip(entries, images, strict=True):
        entry.result.case = image.pk


class _AlreadyThere(Exception):  # noqa: N818
    def __init__(self, image: Image) -> None:
        self.image = image


def _commit_one(entry: _Entry, ctx: _Context, batch: ImportBatch) -> None:
    """Insert one file on its own; the unique constraints decide a duplicate."""
    try:
        with transaction.atomic():
            patient, _ = Patient.objects.get_or_create(
                study=ctx.study, site=ctx.site, pseudonym=entry.pseudonym
            )
            hip, _ = Hip.objects.get_or_create(patient=patient, side=entry.side)
            try:
                with transaction.atomic():
                    image = _new_image(entry, ctx, hip.pk, batch)
                    image.save(force_insert=True)
            except IntegrityError:
                same = Q(content_hash=entry.digest) | Q(sop_instance_uid=entry.sop_instance_uid)
                existing = Image.objects.filter(same, study=ctx.study).first()
                if existing is None:
                    raise
                raise _AlreadyThere(existing) from None
            if entry.label:
                ReferenceLabel.objects.create(
                    image=image, label=entry.label, source=entry.label_source
                )
        ctx.patients[entry.pseudonym] = patient.pk
        ctx.hips[(patient.pk, entry.side)] = hip.pk
        entry.result.case = image.pk
    except _AlreadyThere as exc:
        _discard_unreferenced(entry.stored)
        existing = exc.image
        label = getattr(getattr(existing, "reference", None), "label", None)
        ctx.labels[existing.pk] = label
        entry.result.status, entry.result.case = DUPLICATE, existing.pk
        duplicate = _Duplicate(entry.result, entry.label, entry.label_source)
        _attach_labels([duplicate], ctx)
    except DatabaseError as exc:
        logger.warning("import: database error on one file", exc_info=True)
        _discard_unreferenced(entry.stored)
        entry.result.status = REJECTED
        entry.result.reason = f"database error: {' '.join(str(exc).split())[:160]}"
        entry.result.case = None


def _attach_labels(duplicates: list[_Duplicate], ctx: _Context) -> None:
    """Give unlabelled existing cases the manifest's label; report conflicting labels."""
    todo = {}
    for dup in duplicates:
        pk = dup.result.case
        if pk is None:
            continue
        if dup.label and ctx.labels.get(pk) is None and pk not in todo:
            todo[pk] = dup
        else:
            dup.result.reason = _duplicate_reason(pk, ctx.labels.get(pk), dup.label, False)
    if todo:
        with transaction.atomic():
            ReferenceLabel.objects.bulk_create(
                [
                    ReferenceLabel(image_id=pk, label=d.label, source=d.label_source)
                    for pk, d in todo.items()
                ],
                ignore_conflicts=True,
            )
            now = dict(
                ReferenceLabel.objects.filter(image_id__in=todo).values_list("image_id", "label")
            )
        for pk, dup in todo.items():
            applied = now.get(pk) == dup.label and ctx.labels.get(pk) is None
            ctx.labels[pk] = now.get(pk)
            dup.result.reason = _duplicate_reason(
                pk, None if applied else now.get(pk), dup.label, applied
            )
    for dup in duplicates:  # a second copy in the batch that found the label just attached
        if dup.result.reason is None and dup.result.case is not None:
            dup.result.reason = _duplicate_reason(
                dup.result.case, ctx.labels.get(dup.result.case), dup.label, False
            )


def _commit(entries: list[_Entry], duplicates: list[_Duplicate], ctx, batch) -> None:
    if entries:
        try:
            _commit_bulk(entries, ctx, batch)
        except DatabaseError:
            # Someone else inserted the same content (or a row is bad): go file by file.
            for entry in entries:
                _commit_one(entry, ctx, batch)
    for entry in entries:
        ctx.pending_by_hash.pop(entry.digest, None)
        ctx.pending_by_uid.pop(entry.sop_instance_uid, None)
        if entry.result.status == IMPORTED:
            ctx.by_hash[entry.digest] = entry.result.case
            ctx.by_uid[entry.sop_instance_uid] = entry.result.case
            ctx.labels[entry.result.case] = entry.label or None
            _restore_missing(entry)
        for dup in entry.duplicates:  # later copies of this file in the same chunk
            if entry.result.case is None:
                dup.result.status = REJECTED
                dup.result.reason = "a copy of this file earlier in the batch was rejected"
            else:
                dup.result.case = entry.result.case
                if dup.label and dup.label != ctx.labels.get(entry.result.case):
                    dup.result.reason = _duplicate_reason(
                        entry.result.case, ctx.labels.get(entry.result.case), dup.label, False
                    )
                else:
                    dup.result.reason = f"same content as case {entry.result.case}"
    _attach_labels(duplicates, ctx)


def _load_context(study: Study, site: Site, manifest: Manifest | None) -> _Context:
    key = settings.PSEUDONYM_KEY
    if not key:
        raise ImproperlyConfigured("READERBENCH_PSEUDONYM_KEY is empty: imports need it")
    by_hash, by_uid, labels = {}, {}, {}
    for pk, digest, uid, label in Image.objects.filter(study=study).values_list(
        "pk", "content_hash", "sop_instance_uid", "reference__label"
    ):
        by_hash[digest], by_uid[uid], labels[pk] = pk, pk, label
    patients = dict(Patient.objects.filter(study=study, site=site).values_list("pseudonym", "pk"))
    hips = {
        (patient_id, side): pk
        for pk, patient_id, side in Hip.objects.filter(
            patient__study=study, patient__site=site
        ).values_list("pk", "patient_id", "side")
    }
    return _Context(
        study=study,
        site=site,
        key=key,
        manifest=manifest,
        min_side=settings.READERBENCH_MIN_IMAGE_SIDE,
        max_side=settings.READERBENCH_MAX_IMAGE_SIDE,
        by_hash=by_hash,
        by_uid=by_uid,
        labels=labels,
        patients=patients,
        hips=hips,
    )


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
        A validated manifest (:func:`readers.services.manifest.manifest_read`) attaching patient
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
    """
    paths = list(paths)
    with contextlib.ExitStack() as stack:
        sources = collect_sources(paths, manifest, stack)
        ctx = _load_context(study, site, manifest)
        batch = ImportBatch.objects.create(study=study, site=site, created_by=user)
        results: list[FileResult] = []
        total = len(sources)
        for start in range(0, total, CHUNK_SIZE):
            entries: list[_Entry] = []
            duplicates: list[_Duplicate] = []
            for source in sources[start : start + CHUNK_SIZE]:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # pydicom's value warnings
                        outcome = _prepare(source, ctx)
                except Rejected as exc:
                    outcome = FileResult(source.path, REJECTED, exc.reason)
                except Exception as exc:  # noqa: BLE001 - one bad file never aborts the batch
                    # The message may quote file contents or names: it goes to the log only.
                    logger.warning("import: unexpected error on one file", exc_info=True)
                    outcome = FileResult(
                        source.path,
                        REJECTED,
                        f"unexpected error ({type(exc).__name__}), see the server log",
                    )
                if isinstance(outcome, _Entry):
                    entries.append(outcome)
                    results.append(outcome.result)
                elif isinstance(outcome, _Duplicate):
                    if outcome.result.case is not None:
                        duplicates.append(outcome)
                    results.append(outcome.result)
                else:
                    results.append(outcome)
                if progress is not None:
                    progress(len(results), total)
            _commit(entries, duplicates, ctx, batch)
            _update_batch(batch, results, finished=False)
        _update_batch(batch, results, finished=True)
    unused = ()
    if manifest is not None:
        unused = tuple(r.line for r in manifest.rows if r.line not in ctx.used_rows)
    return ImportReport(
        batch_id=batch.pk,
        files=results,
        ignored_columns=manifest.ignored_columns if manifest else (),
        unused_manifest_rows=unused,
    )


def _update_batch(batch: ImportBatch, results: list[FileResult], *, finished: bool) -> None:
    counts = Counter(r.status for r in results)
    batch.n_imported = counts[IMPORTED]
    batch.n_duplicates = counts[DUPLICATE]
    batch.n_rejected = counts[REJECTED]
    # Reasons only, never paths: file names may identify patients.
    batch.rejection_reasons = dict(Counter(r.reason for r in results if r.status == REJECTED))
    fields = ["n_imported", "n_duplicates", "n_rejected", "rejection_reasons"]
    if finished:
        batch.finished_at = timezone.now()
        fields.append("finished_at")
    batch.save(update_fields=fields)
