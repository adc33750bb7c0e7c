"""Labels uploads: a CSV in the manifest format sets the reference labels (truth) of cases that
are already imported, first as a dry run that shows what would change, then applied with one
:class:`~studies.models.LabelChange` per change (the audit).

Rows are matched to cases the way a coordinator can reproduce them from their own records:

- by ``sop_instance_uid``: the ORIGINAL SOP Instance UID of a file of the case (any slice of
  the series). Import replaces UIDs by keyed hashes (:func:`studies.dicom.deid.uid_replacement`
  with the pseudonym key), so the same hash of the row's UID finds the stored case;
- else by ``patient_key`` + ``side`` (+ ``site`` when the study has several): the patient's
  keyed-hash pseudonym (:func:`studies.dicom.deid.patient_pseudonym`), the way import makes it.
  Every case of that hip gets the label (truth is a property of the hip).

A row matched by UID whose ``patient_key``/``side`` point to another hip is refused, not
guessed. The ``file`` column cannot be matched: file names are not kept after import.
Nothing of the file is stored except its SHA-256: the dry run keeps case ids and labels.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from studies.dicom.deid import patient_pseudonym, uid_replacement
from studies.models import (
    Image,
    LabelChange,
    LabelUpload,
    Patient,
    ReferenceLabel,
    Study,
)
from studies.services.manifest import ManifestError, ManifestRow, manifest_read

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class RelabelError(ValueError):
    """An upload that cannot be applied; ``message`` says why and what to do."""


class StaleDryRunError(RelabelError):
    """The cases changed since the dry run; ``upload`` is a fresh dry run of the same plan."""

    def __init__(self, message: str, upload: LabelUpload) -> None:
        super().__init__(message)
        self.upload = upload


@dataclass(frozen=True)
class PlannedRow:
    case_id: int
    line: int
    old_label: str
    old_source: str
    new_label: str
    new_source: str
    case_was_read: bool

    @property
    def kind(self) -> str:
        if not self.old_label:
            return "new"
        if (self.old_label, self.old_source) == (self.new_label, self.new_source):
            return "unchanged"
        return "changed"


@dataclass(frozen=True)
class DryRun:
    """What applying ``upload`` would do, grouped for the page."""

    upload: LabelUpload
    new: list[PlannedRow] = field(default_factory=list)
    changed: list[PlannedRow] = field(default_factory=list)
    unchanged: list[PlannedRow] = field(default_factory=list)
    unmatched: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changes(self) -> list[PlannedRow]:
        return [*self.new, *self.changed]

    @property
    def read_changes(self) -> list[PlannedRow]:
        """Changes of a label on a case that readers have already answered."""
        return [row for row in self.changed if row.case_was_read]


def _key() -> str:
    key = settings.PSEUDONYM_KEY
    if not key:
        raise ImproperlyConfigured("READERBENCH_PSEUDONYM_KEY is empty: label uploads need it")
    return key


def _case_state(case_ids) -> dict[str, list]:
    """``{case id (str): [label, source, has reads]}`` now, for the dry run's fingerprint."""
    ids = sorted(set(case_ids))
    state = {str(pk): ["", "", False] for pk in ids}
    for start in range(0, len(ids), 900):  # SQLite's parameter limit
        chunk = ids[start : start + 900]
        for pk, label, source in ReferenceLabel.objects.filter(image_id__in=chunk).values_list(
            "image_id", "label", "source"
        ):
            state[str(pk)][0:2] = [label, source]
        read = Image.objects.filter(
            id__in=chunk, session_items__reads__isnull=False
        ).values_list("id", flat=True).distinct()
        for pk in read:
            state[str(pk)][2] = True
    return state


def _match(study: Study, rows: tuple[ManifestRow, ...]) -> tuple[list, list]:
    """Rows to ``(case id, label, source, line)`` and ``(line, reason)`` for the unmatched."""
    key = _key()
    sites = sorted(set(Patient.objects.filter(study=study).values_list("site__code", flat=True)))
    by_uid: dict[str, int] = {}
    for pk, uid in Image.objects.filter(study=study).values_list("id", "sop_instance_uid"):
        by_uid[uid] = pk
    for pk, uid in Image.objects.filter(study=study).values_list(
        "id", "slices__sop_instance_uid"
    ):
        if uid:
            by_uid.setdefault(uid, pk)
    hips: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    hip_of_case: dict[int, tuple[str, str, str]] = {}
    for pk, site_code, pseudonym, side in Image.objects.filter(study=study).values_list(
        "id", "hip__patient__site__code", "hip__patient__pseudonym", "hip__side"
    ):
        hips[(site_code, pseudonym, side)].append(pk)
        hip_of_case[pk] = (site_code, pseudonym, side)

    def pseudonym(site_code: str, row: ManifestRow) -> str:
        return patient_pseudonym(
            key=key, study=study.slug, site=site_code, patient_key=row.patient_key
        )

    planned: list[tuple[int, str, str, int]] = []
    unmatched: list[tuple[int, str]] = []
    for row in rows:
        if not row.label:
            unmatched.append((row.line, "no label given: nothing to set (labels are never "
                                         "removed by an upload)"))
            continue
        if row.site and row.site not in sites:
            unmatched.append((row.line, f"site {row.site!r} has no cases in this study"))
            continue
        if row.sop_instance_uid:
            case = by_uid.get(uid_replacement(row.sop_instance_uid, key=key))
            if case is None:
                unmatched.append((row.line, "no case has a file with this original SOP "
                                            "Instance UID"))
                continue
            site_code, pseud, side = hip_of_case[case]
            if (pseudonym(site_code, row), row.side) != (pseud, side) or (
                row.site and row.site != site_code
            ):
                unmatched.append((row.line, "the SOP Instance UID matches a case of another "
                                            "patient, side or site than the row gives"))
                continue
            planned.append((case, row.label, row.label_source, row.line))
            continue
        candidates = [row.site] if row.site else sites
        found = [
            (code, hips[(code, pseudonym(code, row), row.side)])
            for code in candidates
            if hips.get((code, pseudonym(code, row), row.side))
        ]
        if not found:
            unmatched.append((row.line, "no case of this patient_key and side (and site)"))
        elif len(found) > 1:
            unmatched.append((row.line, "this patient_key and side have cases at several "
                                        "sites: add a site column"))
        else:
            planned.extend((case, row.label, row.label_source, row.line) for case in found[0][1])
    # Two rows for one case must agree; if they do not, neither is applied.
    by_case: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
    for item in planned:
        by_case[item[0]].append(item)
    kept = []
    for case, items in by_case.items():
        if len({(label, source) for _, label, source, _ in items}) > 1:
            lines = ", ".join(str(line) for *_, line in items)
            unmatched.extend(
                (line, f"lines {lines} give case {case} different labels") for *_, line in items
            )
        else:
            kept.append(list(items[0]))
    kept.sort(key=lambda item: (item[3], item[0]))
    unmatched.sort()
    return kept, unmatched


IMPORT_ONLY_COLUMNS = ("mask", "designated")


def _without_import_columns(data: bytes) -> bytes:
    """``data`` without the columns that only mean something to an import (lesion masks, the
    designated slice), so that an import manifest can be uploaded again as a labels CSV: its
    mask paths are relative to a folder that is not here. Unreadable text is returned as it
    is, for :func:`manifest_read` to report."""
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error):
        return data
    if not rows:
        return data
    drop = {i for i, name in enumerate(rows[0]) if name.strip().lower() in IMPORT_ONLY_COLUMNS}
    if not drop:
        return data
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([cell for i, cell in enumerate(row) if i not in drop])
    return out.getvalue().encode("utf-8")


def labels_dry_run(*, study: Study, data: bytes, user) -> LabelUpload:
    """Check ``data`` (the CSV's bytes) against ``study`` and record what it would change.

    Raises :class:`ManifestError` listing every bad line (nothing is recorded then) and
    :class:`RelabelError` for a file too large.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise RelabelError(
            f"the file has {len(data)} bytes; a labels CSV may have at most {MAX_UPLOAD_BYTES}"
        )
    with tempfile.TemporaryDirectory(prefix="rb-labels-") as folder:
        path = Path(folder) / "labels.csv"
        path.write_bytes(_without_import_columns(data))
        try:
            manifest = manifest_read(path=path, label_codes=study.label_codes)
        except ManifestError as exc:  # named without the temporary path (or a file name)
            raise ManifestError("the uploaded CSV", exc.problems) from None
    plan, unmatched = _match(study, manifest.rows)
    return LabelUpload.objects.create(
        token=uuid.uuid4(),
        study=study,
        file_sha256=hashlib.sha256(data).hexdigest(),
        plan=plan,
        state=_case_state(case for case, *_ in plan),
        unmatched=[list(item) for item in unmatched],
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def label_upload_dry_run(*, upload: LabelUpload) -> DryRun:
    """The dry run of ``upload`` as recorded (the state it saw), grouped for display."""
    result = DryRun(upload=upload, unmatched=[tuple(item) for item in upload.unmatched])
    for case, label, source, line in upload.plan:
        old_label, old_source, was_read = upload.state[str(case)]
        row = PlannedRow(case, line, old_label, old_source, label, source, was_read)
        getattr(result, row.kind).append(row)
    return result


def label_upload_get(*, study: Study, token) -> LabelUpload | None:
    try:
        return LabelUpload.objects.filter(study=study, token=uuid.UUID(str(token))).first()
    except ValueError:
        return None


def labels_apply(*, upload: LabelUpload, user, relabel_read: bool = False) -> list[LabelChange]:
    """Apply the dry run ``upload``: write the new labels and one :class:`LabelChange` each.

    All or nothing, in one transaction. Refuses (:class:`StaleDryRunError`, with a fresh dry run)
    when a case changed since the dry run, and (:class:`RelabelError`) to change the label of
    a case already read unless ``relabel_read``: analyses compare reads with truth. An upload
    applied before is not applied again (a second submit of the form)."""
    with transaction.atomic():
        upload = LabelUpload.objects.select_for_update().get(pk=upload.pk)
        if upload.applied_at is not None:
            raise RelabelError("this upload was applied already; nothing was changed again")
        case_ids = [case for case, *_ in upload.plan]
        # Lock the labels of the cases (rows that exist), then compare with the dry run.
        list(ReferenceLabel.objects.select_for_update().filter(image_id__in=case_ids))
        now = _case_state(case_ids)
        if now == upload.state:
            return _apply(upload, user, relabel_read)
    # Outside the transaction above, so that the fresh dry run is kept.
    fresh = LabelUpload.objects.create(
        token=uuid.uuid4(), study=upload.study, file_sha256=upload.file_sha256,
        plan=upload.plan, state=_case_state(case_ids), unmatched=upload.unmatched,
        created_by=upload.created_by,
    )
    raise StaleDryRunError(
        "the labels of some cases (or their reads) changed since this dry run: nothing was "
        "applied; here is the dry run again on the current data", fresh,
    )


def _apply(upload: LabelUpload, user, relabel_read: bool) -> list[LabelChange]:
    """The writes of :func:`labels_apply`, inside its transaction with the rows locked."""
    dry = label_upload_dry_run(upload=upload)
    if dry.read_changes and not relabel_read:
        raise RelabelError(
            f"{len(dry.read_changes)} case(s) whose label would change have reads already: "
            "tick 'relabel cases already read' to change their truth anyway (it is recorded)"
        )
    actor = user if getattr(user, "is_authenticated", False) else None
    changes = []
    for row in dry.changes:
        ReferenceLabel.objects.update_or_create(
            image_id=row.case_id,
            defaults={"label": row.new_label, "source": row.new_source},
        )
        changes.append(LabelChange(
            study=upload.study, image_id=row.case_id, batch=upload,
            file_sha256=upload.file_sha256, old_label=row.old_label,
            new_label=row.new_label, old_source=row.old_source, new_source=row.new_source,
            case_was_read=row.case_was_read, changed_by=actor,
        ))
    LabelChange.objects.bulk_create(changes)
    upload.applied_at = timezone.now()
    upload.relabel_read = bool(relabel_read and dry.read_changes)
    upload.save(update_fields=["applied_at", "relabel_read"])
    return changes
