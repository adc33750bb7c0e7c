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
from studies.models import (
    Hip,
    Image,
    ImportBatch,
    Patient,
    ReferenceLabel,
    Site,
    Slice,
    Study,
)
from studies.services import series
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
class SliceSpec:
    """One slice a file brings: the file itself, or one frame of a multi-frame file."""

    frame: int
    position: float | None  # mm along the slice normal
    instance_number: int | None
    fields: dict  # the pixel fields of this frame (PixelFields, without the file names)
    array_file: str
    mask_file: str = ""

    def row_fields(self, entry: Entry) -> dict:
        """The :class:`~studies.models.PixelFields` values of this slice."""
        return {
            **self.fields,
            "content_hash": entry.digest,
            "file": entry.file,
            "frame": self.frame,
            "array_file": self.array_file,
            "mask_file": self.mask_file,
            "sop_instance_uid": entry.sop_instance_uid,
        }


@dataclass
class Entry:
    """A file ready for the database: stored, de-identified, not yet a row."""

    result: FileResult
    pseudonym: str
    side: str
    digest: str
    sop_instance_uid: str
    series_uid: str  # de-identified; the files of one series (and hip) are one case
    file: str  # the stored DICOM file's name
    slices: list[SliceSpec]
    label: str
    label_source: str
    stored: list[storage.StoredFile]
    #: The frame the manifest designates for grading (``designated`` column), if any.
    designated_frame: int | None = None
    # Bytes of files this import found already stored (kept to restore them if a concurrent
    # failed import removes them before our rows commit).
    keep: dict[str, bytes] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)


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
    cases: dict[tuple[int, str], int]  # (hip, de-identified series UID) -> case
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
    """Remove files this import created, unless a case or a slice (of any study) refers to
    them."""
    names = [s.name for s in stored if s.created]
    if not names:
        return
    referenced = set()
    for model in (Image, Slice):
        for row in model.objects.filter(
            Q(file__in=names) | Q(array_file__in=names) | Q(mask_file__in=names)
        ).values_list("file", "array_file", "mask_file"):
            referenced.update(row)
    storage.discard(n for n in names if n not in referenced)


def _restore_missing(entry: Entry) -> None:
    for name, data in entry.keep.items():
        if not storage.media_path(name).exists():
            kind, _, rest = name.partition("/")
            storage.store_content(kind=kind, digest=rest.split("/")[1][:64], data=data)


UNPLACED = 1_000_000  # the index of a slice not numbered yet (no case has that many slices)


def _slices(entries: list[Entry], ctx: ImportContext, batch: ImportBatch) -> list[Slice]:
    """Unsaved slices of ``entries`` (one per frame of each file), in stack order, not numbered
    yet: a new case numbers them (:func:`_new_case`), an existing one is restacked."""
    return series.stack_order([
        Slice(
            study=ctx.study, index=UNPLACED, position=spec.position,
            instance_number=spec.instance_number, batch=batch, **spec.row_fields(entry),
        )
        for entry in entries
        for spec in entry.slices
    ])


def _manifest_choice(entries: list[Entry], stack: list[Slice]) -> Slice | None:
    """The slice the manifest designates among ``entries`` (the first row that does)."""
    for entry in entries:
        if entry.designated_frame is None:
            continue
        for s in stack:
            if s.content_hash == entry.digest and s.frame == entry.designated_frame:
                return s
    return None


def _new_case(
    entries: list[Entry], ctx: ImportContext, hip_id: int, batch: ImportBatch
) -> tuple[Image, list[Slice]]:
    """An unsaved case for the files of one new series and its unsaved slices, numbered, with
    the manifest's designated slice or the middle one."""
    stack = _slices(entries, ctx, batch)
    for index, s in enumerate(stack):
        s.index = index
    chosen = _manifest_choice(entries, stack)
    designation = Image.Designation.MANIFEST
    if chosen is None:
        chosen, designation = stack[series.middle_index(len(stack))], Image.Designation.MIDDLE
    image = Image(
        study=ctx.study, hip_id=hip_id, batch=batch, series_instance_uid=entries[0].series_uid,
        designated_index=chosen.index, designation=designation,
        **series.slice_values(chosen),
    )
    return image, stack


def _case_label(entries: list[Entry], existing: str | None, pk: int) -> tuple[Entry | None, str]:
    """The entry whose manifest label the case takes (``None``: none to take), and the label
    the case has then; files whose label differs are told so in their result."""
    giver = None
    if existing is None:
        giver = next((e for e in entries if e.label), None)
    label = giver.label if giver else existing
    for entry in entries:
        if entry.label and label and entry.label != label:
            entry.result.reason = (
                f"added to case {pk}, labelled {label}; this file's manifest label "
                f"{entry.label} was not applied"
            )
    return giver, label


def _commit_bulk(entries: list[Entry], ctx: ImportContext, batch: ImportBatch) -> None:
    """Insert a chunk in one transaction; raises (and leaves the caches as they were) on error.

    The chunk's files are grouped by hip and series: a series new to the study becomes a case
    with its slices; the files of a series already there join its case, which is restacked."""
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
            groups: dict[tuple[int, str], list[Entry]] = {}
            for e in entries:
                key = (ctx.hips[(ctx.patients[e.pseudonym], e.side)], e.series_uid)
                groups.setdefault(key, []).append(e)
            fresh = {key: _new_case(g, ctx, key[0], batch) for key, g in groups.items()
                     if key not in ctx.cases}
            images = [image for image, _ in fresh.values()]
            Image.objects.bulk_create(images)
            if any(image.pk is None for image in images):  # backends that return no keys
                pks = dict(
                    Image.objects.filter(
                        study=ctx.study, content_hash__in=[i.content_hash for i in images]
                    ).values_list("content_hash", "pk")
                )
                for image in images:
                    image.pk = pks[image.content_hash]
            slices, labels, joined = [], [], []
            for key, group in groups.items():
                if key in fresh:
                    image, stack = fresh[key]
                    existing_label = None
                else:
                    image, stack = Image(pk=ctx.cases[key]), _slices(group, ctx, batch)
                    existing_label = ctx.labels.get(image.pk)
                    joined.append((image, group))
                for s in stack:
                    s.image_id = image.pk
                slices.extend(stack)
                giver, _ = _case_label(group, existing_label, image.pk)
                if giver is not None:
                    labels.append(ReferenceLabel(
                        image_id=image.pk, label=giver.label, source=giver.label_source
                    ))
                for e in group:
                    e.result.case = image.pk
            Slice.objects.bulk_create(slices)
            ReferenceLabel.objects.bulk_create(labels, ignore_conflicts=True)
            for image, group in joined:
                _join_existing(image, group)
    except BaseException:
        for pseudonym in added_patients:
            ctx.patients.pop(pseudonym, None)
        for key in added_hips:
            ctx.hips.pop(key, None)
        for e in entries:
            e.result.case = None
        raise
    for key, (image, _) in fresh.items():
        ctx.cases[key] = image.pk
    for label in labels:
        ctx.labels[label.image_id] = label.label


def _join_existing(image: Image, group: list[Entry]) -> None:
    """Files of a series that already has a case: restack it, and apply the manifest's
    designation if it names one of them (unless the case is frozen: the reason says so)."""
    image = series.restack(image)
    for entry in group:
        if entry.designated_frame is None:
            continue
        index = Slice.objects.filter(
            image=image, content_hash=entry.digest, frame=entry.designated_frame
        ).values_list("index", flat=True).first()
        if index is None:
            continue
        try:
            with transaction.atomic():
                series.designate_slice(image=image, index=index, by=Image.Designation.MANIFEST)
        except series.DesignationError as exc:
            entry.result.reason = f"the manifest's designated slice was not applied: {exc}"
        break


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
            image = Image.objects.filter(
                study=ctx.study, hip=hip, series_instance_uid=entry.series_uid
            ).first()
            created = image is None
            if created:
                image, stack = _new_case([entry], ctx, hip.pk, batch)
            else:
                stack = _slices([entry], ctx, batch)
            try:
                with transaction.atomic():
                    if created:
                        image.save(force_insert=True)
                    for s in stack:
                        s.image = image
                    Slice.objects.bulk_create(stack)
            except IntegrityError:
                same = Q(content_hash=entry.digest) | Q(sop_instance_uid=entry.sop_instance_uid)
                there = Slice.objects.filter(same, study=ctx.study).select_related("image")
                existing = there.first()
                if existing is not None:
                    raise _AlreadyThere(existing.image) from None
                # A concurrent import made this series' case first: the file joins it.
                image = Image.objects.filter(
                    study=ctx.study, hip=hip, series_instance_uid=entry.series_uid
                ).first()
                if not created or image is None:
                    raise
                created = False
                stack = _slices([entry], ctx, batch)
                for s in stack:
                    s.image = image
                Slice.objects.bulk_create(stack)
            label = None if created else getattr(
                ReferenceLabel.objects.filter(image=image).first(), "label", None
            )
            giver, _ = _case_label([entry], label, image.pk)
            if giver is not None:
                ReferenceLabel.objects.get_or_create(
                    image=image, defaults={"label": giver.label, "source": giver.label_source}
                )
            if not created:
                _join_existing(image, [entry])
        ctx.patients[entry.pseudonym] = patient.pk
        ctx.hips[(patient.pk, entry.side)] = hip.pk
        ctx.cases[(hip.pk, entry.series_uid)] = image.pk
        if giver is not None:
            ctx.labels[image.pk] = giver.label
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
            ctx.labels.setdefault(entry.result.case, None)
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
    by_hash, by_uid, labels, cases = {}, {}, {}, {}
    for pk, digest, uid in Slice.objects.filter(study=study).values_list(
        "image_id", "content_hash", "sop_instance_uid"
    ):
        by_hash[digest], by_uid[uid] = pk, pk
    for pk, hip_id, series_uid, label in Image.objects.filter(study=study).values_list(
        "pk", "hip_id", "series_instance_uid", "reference__label"
    ):
        labels[pk] = label
        if series_uid:
            cases[(hip_id, series_uid)] = pk
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
        cases=cases,
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
