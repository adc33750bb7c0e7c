"""The database half of a DICOM import (:mod:`studies.services.dicom_import` does the files):
the outcome of each file, the import's context (the study's existing hashes, UIDs, patients and
hips, loaded once), and writing a chunk of prepared files as patients, hips, cases and labels in
one transaction, or file by file when that fails (a concurrent import of the same content), where
the unique constraints decide and the loser reports a duplicate. Files this import stored and no
case refers to are removed; files a concurrent failed import removed are restored."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils.module_loading import import_string

from studies import storage
from studies.models import Hip, Image, ImportBatch, Patient, ReferenceLabel, Site, Study
from studies.services.manifest import Manifest

logger = logging.getLogger(__name__)

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
    #: Why the import stopped before its end (full disk, time limit); the files after the one
    #: it stopped at were not read and have no entry in ``files``.
    stopped: str | None = None
    not_read: int = 0

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
        """``{"imported", "duplicates", "rejected", "files": [{path, status, reason, case}]}``,
        with ``"stopped"`` (the reason) and ``"not_read"`` (a count) when it stopped early."""
        report = {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "files": [f.as_dict() for f in self.files],
        }
        if self.stopped:
            report["stopped"] = self.stopped
            report["not_read"] = self.not_read
        return report


@dataclass
class Entry:
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
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def names(self) -> dict[str, str]:
        kinds = {s.name.split("/", 1)[0]: s.name for s in self.stored}
        return {
            "file": kinds["cases"],
            "array_file": kinds["arrays"],
            "mask_file": kinds.get("masks", ""),
        }


@dataclass
class Duplicate:
    result: FileResult
    label: str
    label_source: str
    note: str = ""  # what the duplicate repaired (files of the case that had gone missing)


@dataclass
class ImportContext:
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
    case_array: Callable  # pixels, slope, intercept -> the array cached with the case
    deid_keep: frozenset[int] = frozenset()  # READERBENCH_DEID_KEEP_TAGS
    pending_by_hash: dict[str, Entry] = field(default_factory=dict)
    pending_by_uid: dict[str, Entry] = field(default_factory=dict)
    used_rows: set[int] = field(default_factory=set)


# --- one file -----------------------------------------------------------------------------------


def duplicate_reason(pk: int, existing_label: str | None, label: str, applied: bool) -> str:
    reason = f"already imported as case {pk}"
    if label and applied:
        return f"{reason}; the manifest's label {label} was attached"
    if label and existing_label and existing_label != label:
        return f"{reason} with label {existing_label}; the manifest's label {label} was not applied"
    return reason


def discard_unreferenced(stored: Iterable[storage.StoredFile]) -> None:
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


def _restore_missing(entry: Entry) -> None:
    for name, data in entry.keep.items():
        if not storage.media_path(name).exists():
            kind, _, rest = name.partition("/")
            storage.store_content(kind=kind, digest=rest.split("/")[1][:64], data=data)


def _new_image(entry: Entry, ctx: ImportContext, hip_id: int, batch: ImportBatch) -> Image:
    return Image(
        study=ctx.study,
        hip_id=hip_id,
        batch=batch,
        content_hash=entry.digest,
        sop_instance_uid=entry.sop_instance_uid,
        **entry.names,
        **entry.fields,
    )


def _commit_bulk(entries: list[Entry], ctx: ImportContext, batch: ImportBatch) -> None:
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


def _commit_one(entry: Entry, ctx: ImportContext, batch: ImportBatch) -> None:
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
        discard_unreferenced(entry.stored)
        existing = exc.image
        label = getattr(getattr(existing, "reference", None), "label", None)
        ctx.labels[existing.pk] = label
        entry.result.status, entry.result.case = DUPLICATE, existing.pk
        duplicate = Duplicate(entry.result, entry.label, entry.label_source)
        _attach_labels([duplicate], ctx)
    except DatabaseError as exc:
        logger.warning("import: database error on one file", exc_info=True)
        discard_unreferenced(entry.stored)
        entry.result.status = REJECTED
        entry.result.reason = f"database error: {' '.join(str(exc).split())[:160]}"
        entry.result.case = None


def _attach_labels(duplicates: list[Duplicate], ctx: ImportContext) -> None:
    """Give unlabelled existing cases the manifest's label; report conflicting labels."""
    todo = {}
    for dup in duplicates:
        pk = dup.result.case
        if pk is None:
            continue
        if dup.label and ctx.labels.get(pk) is None and pk not in todo:
            todo[pk] = dup
        else:
            dup.result.reason = duplicate_reason(pk, ctx.labels.get(pk), dup.label, False)
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
            dup.result.reason = duplicate_reason(
                pk, None if applied else now.get(pk), dup.label, applied
            )
    for dup in duplicates:  # a second copy in the batch that found the label just attached
        if dup.result.reason is None and dup.result.case is not None:
            dup.result.reason = duplicate_reason(
                dup.result.case, ctx.labels.get(dup.result.case), dup.label, False
            )


def commit_chunk(entries: list[Entry], duplicates: list[Duplicate], ctx, batch) -> None:
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
                    dup.result.reason = duplicate_reason(
                        entry.result.case, ctx.labels.get(entry.result.case), dup.label, False
                    )
                else:
                    dup.result.reason = f"same content as case {entry.result.case}"
    _attach_labels(duplicates, ctx)


def load_context(study: Study, site: Site, manifest: Manifest | None) -> ImportContext:
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
    return ImportContext(
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
        case_array=import_string(settings.READERBENCH_CASE_ARRAY),
        deid_keep=deid_keep_tags(),
    )


def deid_keep_tags() -> frozenset[int]:
    """``READERBENCH_DEID_KEEP_TAGS`` as ints; a malformed entry is a configuration error."""
    tags = set()
    for raw in settings.READERBENCH_DEID_KEEP_TAGS:
        text = raw.strip().strip("()").replace(",", "")
        if len(text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ImproperlyConfigured(
                f"READERBENCH_DEID_KEEP_TAGS: {raw!r} is not a tag; expected ggggeeee (hex)"
            )
        tags.add(int(text, 16))
    return frozenset(tags)
