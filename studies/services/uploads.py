"""Uploads from the browser: who may upload for which site of a study, the chunk protocol, and
the import of a finished upload (the body of the ``studies.import_upload`` task).

Protocol. The browser declares its files first (:func:`upload_create`: relative path and size
of each), which checks the import limits up front; then sends each file in chunks
(:func:`upload_chunk`) at an explicit offset, which must be the size already received: a chunk
at an offset already written (a retry after a lost answer) is acknowledged without being
written twice, any other offset is refused with the expected one. :func:`upload_finish` queues
the import once every byte arrived.

Paths. The relative path the browser sends is a label, never a path on the server: chunks go
to ``MEDIA_ROOT/uploads/<upload id>/<file index>`` (``.zip`` kept so the import expands an
archive), and the label comes back only in the results, as text.

Who. A study's admins upload for every site of the study; a site coordinator only for the site
of their membership; anyone else gets a 404, as for a study that does not exist.

A killed worker: the import holds a lease (:mod:`config.leases`); the sweep of every worker
queues an upload whose worker stopped beating again (files the lost run had imported then show
as duplicates, and the notice says so), or fails it after ``READERBENCH_JOB_MAX_REDELIVERIES``.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from config.celery import enqueue_on_commit
from config.leases import heartbeat, inline_worker_name, lease_claim, leases_sweep
from studies.models import Image, Membership, Site, Study, StudySite, Upload
from studies.services.dicom_import import import_dicom_files
from studies.services.dicom_sources import ImportLimits, ImportRefused
from studies.services.setup import invited_account, set_password_path

logger = logging.getLogger(__name__)

TASK = "studies.import_upload"
#: Largest chunk the server takes in one request (the browser sends 4 MiB).
MAX_CHUNK_BYTES = 8 * 1024 * 1024
MAX_LABEL_CHARS = 500
RELOST_NOTE = ("Imported again after its worker was lost: files the lost run had imported "
               "are reported as duplicates.")


class UploadError(ValueError):
    """A request the upload cannot take (limits, offsets, state); the message says why."""

    def __init__(self, message: str, *, status: int = 400, expected: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.expected = expected


# --- who ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadAccess:
    """What one user may do in one study's uploads: every site (admin) or one (``site``)."""

    study: Study
    site: Site | None  # None: every site of the study (a study admin)

    @property
    def is_admin(self) -> bool:
        return self.site is None

    def sites(self) -> QuerySet[Site]:
        joined = Site.objects.filter(study_sites__study=self.study)
        return joined if self.site is None else joined.filter(pk=self.site.pk)

    def uploads(self) -> QuerySet[Upload]:
        uploads = Upload.objects.filter(study=self.study)
        return uploads if self.site is None else uploads.filter(site=self.site)


def upload_access(*, user, slug: str) -> UploadAccess:
    """The user's access to the uploads of study ``slug``; 404 unless they are its admin or a
    site coordinator of a site that joined it."""
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such study.")
    membership = (Membership.objects.select_related("study", "site")
                  .filter(user=user, study__slug=slug,
                          role__in=[Membership.Role.ADMIN, Membership.Role.SITE_COORDINATOR])
                  .first())
    if membership is None:
        raise Http404("No such study.")
    if membership.role == Membership.Role.ADMIN:
        return UploadAccess(membership.study, None)
    if not StudySite.objects.filter(study=membership.study, site=membership.site).exists():
        raise Http404("No such study.")
    return UploadAccess(membership.study, membership.site)


def upload_site(*, access: UploadAccess, code: str) -> Site:
    """A site of the study the user may upload for; 404 otherwise."""
    site = access.sites().filter(code=code).first()
    if site is None:
        raise Http404("No such site in this study.")
    return site


def upload_get(*, access: UploadAccess, upload_id: int) -> Upload:
    """An upload of the study the user may see; 404 otherwise."""
    upload = access.uploads().select_related("site", "batch").filter(pk=upload_id).first()
    if upload is None:
        raise Http404("No such upload.")
    return upload


# --- sites --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRow:
    site: Site
    n_uploads: int
    n_cases: int


def study_site_rows(*, access: UploadAccess, user) -> list[SiteRow]:
    """The study's sites the user may see, with uploads and cases imported from each. A site
    coordinator's counts are of their own uploads; cases are the site's."""
    uploads = access.uploads()
    if not access.is_admin:
        uploads = uploads.filter(created_by=user)
    n_uploads = dict(uploads.values_list("site").annotate(n=Count("pk")).values_list("site", "n"))
    n_cases = dict(Image.objects.filter(study=access.study)
                   .values_list("hip__patient__site").annotate(n=Count("pk"))
                   .values_list("hip__patient__site", "n"))
    return [SiteRow(site, n_uploads.get(site.pk, 0), n_cases.get(site.pk, 0))
            for site in access.sites().order_by("code")]


def study_site_join(*, study: Study, site: Site) -> StudySite:
    """Join ``site`` to ``study`` (nothing happens when it already did)."""
    joined, _ = StudySite.objects.get_or_create(study=study, site=site)
    return joined


@transaction.atomic
def study_site_create(*, study: Study, code: str, name: str = "",
                      external: bool = False) -> StudySite:
    """Create site ``code`` (validated by the caller's form) and join it to ``study``."""
    site = Site.objects.create(code=code, name=name, external=external)
    return study_site_join(study=study, site=site)


@dataclass(frozen=True)
class CoordinatorInvitation:
    user: object
    created: bool  # a new account (False: an existing one joined the study)
    set_password_path: str  # '' for an existing account that has a password


@transaction.atomic
def site_coordinator_invite(*, study: Study, site: Site, username: str, full_name: str = "",
                            email: str = "") -> CoordinatorInvitation:
    """Make ``username`` the site coordinator of ``site`` in ``study``: the account (without
    a usable password) and the membership, all or nothing. An existing account keeps any role
    it has in the study (ValueError). The set-password link is Django's password-reset link."""
    if not StudySite.objects.filter(study=study, site=site).exists():
        raise ValueError(f"site {site.code} has not joined this study")
    user, created = invited_account(study=study, username=username, full_name=full_name,
                                    email=email)
    membership = Membership(study=study, user=user, role=Membership.Role.SITE_COORDINATOR,
                            site=site)
    membership.full_clean()
    membership.save()
    return CoordinatorInvitation(user=user, created=created,
                                 set_password_path=set_password_path(user))


def site_coordinators(*, access: UploadAccess) -> QuerySet[Membership]:
    return (Membership.objects.filter(study=access.study, role=Membership.Role.SITE_COORDINATOR,
                                      site__in=access.sites())
            .select_related("user", "site").order_by("site__code", "user__username"))


# --- the chunk protocol ---------------------------------------------------------------------------


def upload_dir(upload: Upload) -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads" / str(upload.pk)


def _stored_path(upload: Upload, index: int) -> Path:
    # A generated name: the browser's path never reaches the file system. ".zip" is kept
    # because the import expands archives by their suffix.
    label = upload.files[index]["label"]
    suffix = ".zip" if label.lower().endswith(".zip") else ""
    return upload_dir(upload) / f"{index:06d}{suffix}"


def _clean_label(raw) -> str:
    label = str(raw or "").replace("\\", "/").strip()
    label = "".join(ch for ch in label if ch.isprintable())
    if not label:
        raise UploadError("Every file needs a name.")
    return label[:MAX_LABEL_CHARS]


def upload_create(*, study: Study, site: Site, user, files: list) -> Upload:
    """Declare an upload of ``files`` (``[{"path", "size"}]``) for ``site``; refused whole,
    with the reason, when a file or the total passes the import limits."""
    limits = ImportLimits.from_settings()
    if not isinstance(files, list) or not files:
        raise UploadError("Choose at least one file, folder or zip archive.")
    if len(files) > limits.max_files:
        raise UploadError(f"{len(files)} files is more than the limit of {limits.max_files} "
                          "(READERBENCH_IMPORT_MAX_FILES): upload them in smaller parts.")
    declared = []
    for item in files:
        if not isinstance(item, dict):
            raise UploadError("Each file is declared as {path, size}.")
        label = _clean_label(item.get("path"))
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise UploadError(f"{label}: the size must be a whole number of bytes.")
        is_zip = label.lower().endswith(".zip")
        limit = limits.max_archive_bytes if is_zip else limits.max_file_bytes
        if size > limit:
            setting = ("READERBENCH_IMPORT_MAX_ARCHIVE_BYTES" if is_zip
                       else "READERBENCH_IMPORT_MAX_FILE_BYTES")
            raise UploadError(f"{label}: {size} bytes is larger than the limit of {limit} "
                              f"bytes ({setting}); nothing was uploaded.")
        declared.append({"label": label, "size": size, "received": 0})
    total = sum(f["size"] for f in declared)
    # One upload is one import: it may bring in as much as one archive may.
    if total > limits.max_archive_bytes:
        raise UploadError(f"the files add up to {total} bytes, more than the limit of "
                          f"{limits.max_archive_bytes} bytes for one upload "
                          "(READERBENCH_IMPORT_MAX_ARCHIVE_BYTES): upload them in parts.")
    upload = Upload.objects.create(study=study, site=site, created_by=user, files=declared,
                                   bytes_expected=total)
    upload_dir(upload).mkdir(parents=True, exist_ok=True)
    return upload


def upload_chunk(*, upload: Upload, index: int, offset: int, data: bytes) -> int:
    """Append ``data`` to file ``index`` of ``upload`` at ``offset``; the bytes of that file
    received so far. Idempotent: a chunk at an offset already written is acknowledged, not
    written again. Raises :class:`UploadError` (409 with the expected offset for a gap)."""
    if len(data) > MAX_CHUNK_BYTES:
        raise UploadError(f"a chunk may hold at most {MAX_CHUNK_BYTES} bytes", status=413)
    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=upload.pk)
        if upload.status != Upload.Status.RECEIVING:
            raise UploadError(f"upload #{upload.pk} is {upload.get_status_display()}: it takes "
                              "no more files", status=409)
        if not 0 <= index < len(upload.files):
            raise UploadError(f"no file {index} in this upload")
        entry = upload.files[index]
        path = _stored_path(upload, index)
        current = path.stat().st_size if path.exists() else 0
        end = offset + len(data)
        if end > entry["size"]:
            raise UploadError(f"{entry['label']}: {end} bytes is more than the {entry['size']} "
                              "bytes declared for it; nothing of this chunk was written")
        if offset < current and end <= current:
            # A retried chunk that had arrived: acknowledged, not appended twice (the file's
            # size is the truth; the count catches up if a write outlived its transaction).
            _record(upload, index, current)
            return current
        if offset != current:
            raise UploadError(f"{entry['label']}: a chunk at offset {offset}, but {current} "
                              f"bytes were received; send from offset {current}",
                              status=409, expected=current)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as fh:
            fh.write(data)
        _record(upload, index, end)
    return end


def _record(upload: Upload, index: int, received: int) -> None:
    if upload.files[index]["received"] != received:
        upload.files[index]["received"] = received
        upload.bytes_received = sum(f["received"] for f in upload.files)
        upload.save(update_fields=["files", "bytes_received"])


def upload_retryable(upload: Upload) -> bool:
    """Whether finishing again may import ``upload``: it failed before its import ran (the
    queue refused it) and its files are still here."""
    return (upload.status == Upload.Status.FAILED and not upload.results
            and upload.batch_id is None and upload_dir(upload).is_dir())


def upload_finish(*, upload: Upload) -> Upload:
    """Queue the import of ``upload`` once every file arrived whole (a second call does
    nothing). When the broker refuses, the upload fails with a message saying to finish again."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=upload.pk)
        if upload.status != Upload.Status.RECEIVING and not upload_retryable(upload):
            return upload
        missing = [f for f in upload.files if f["received"] != f["size"]]
        if missing:
            first = missing[0]
            raise UploadError(f"{len(missing)} file(s) are not complete yet ({first['label']}: "
                              f"{first['received']} of {first['size']} bytes)", status=409)
        upload.status, upload.error, upload.redeliveries = Upload.Status.QUEUED, "", 0
        upload.save(update_fields=["status", "error", "redeliveries"])
        upload_enqueue(upload_id=upload.pk)
    upload.refresh_from_db()
    return upload


def upload_enqueue(*, upload_id: int) -> None:
    """Send the import task once the transaction commits; a broker that refuses fails the
    upload with a message (its files stay, so finishing again retries)."""

    def refused(exc: Exception) -> None:
        logger.warning("upload %s: the broker refused the import task: %s", upload_id, exc)
        Upload.objects.filter(pk=upload_id, status=Upload.Status.QUEUED).update(
            status=Upload.Status.FAILED, finished_at=timezone.now(),
            error="The task queue did not answer, so the import was not started; the files are "
                  "kept: press Finish again when it is back.")

    enqueue_on_commit(TASK, upload_id=upload_id, on_error=refused)


# --- the import (task body) ---------------------------------------------------------------------


def upload_import_run(*, upload_id: int, worker: str = "") -> Upload | None:
    """Import the files of ``upload_id`` unless it is gone, finished, still receiving or
    running on another live worker; record the results (browser paths as labels) and the
    batch, and remove the uploaded files. Idempotent: a finished upload is left as it is."""
    worker = worker or inline_worker_name()
    with transaction.atomic():
        upload, claimed = lease_claim(
            Upload, pk=upload_id, worker=worker, what="upload",
            finished=lambda u: u.finished or u.status == Upload.Status.RECEIVING)
    if not claimed:
        return upload
    with heartbeat(Upload, pk=upload.pk, worker=upload.worker):
        upload = Upload.objects.select_related("study", "site", "created_by").get(pk=upload.pk)
        notice = RELOST_NOTE if upload.redeliveries else ""
        paths = [_stored_path(upload, i) for i in range(len(upload.files))]
        try:
            missing = [upload.files[i]["label"] for i, p in enumerate(paths) if not p.is_file()]
            if missing:
                raise ImportRefused(f"{len(missing)} uploaded file(s) are gone from the server "
                                    f"({missing[0]}, ...); upload them again")
            report = import_dicom_files(paths=[str(p) for p in paths], study=upload.study,
                                        site=upload.site, user=upload.created_by)
        except (ImportRefused, FileNotFoundError) as exc:
            return _finish(upload, status=Upload.Status.FAILED, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - recorded on the upload, logged in full
            logger.exception("upload %s: the import failed", upload.pk)
            return _finish(upload, status=Upload.Status.FAILED,
                           error=f"The import failed ({type(exc).__name__}); the files were "
                                 "removed: upload them again. The server log has the details.")
        results = _labelled(report.files, paths, upload)
        error = " ".join(x for x in (report.stopped or "", notice) if x)
        study_site_join(study=upload.study, site=upload.site)
        return _finish(upload, status=Upload.Status.DONE, error=error, results=results,
                       batch_id=report.batch_id)


def _labelled(files, paths: list[Path], upload: Upload) -> list[dict]:
    """The import's results with each server path replaced by the browser's label (a zip
    member becomes ``archive.zip/member``)."""
    labels = {str(p): upload.files[i]["label"] for i, p in enumerate(paths)}
    out = []
    for result in files:
        path = result.path
        label = labels.get(path)
        if label is None:
            for stored, name in labels.items():
                if path.startswith(stored + "/"):
                    label = name + path[len(stored):]
                    break
        out.append({"path": label or "(unnamed file)", "status": result.status,
                    "reason": result.reason or ""})
    return out


def _finish(upload: Upload, *, status: str, error: str = "", results: list | None = None,
            batch_id: int | None = None) -> Upload:
    shutil.rmtree(upload_dir(upload), ignore_errors=True)
    upload.status, upload.error, upload.finished_at = status, error, timezone.now()
    fields = ["status", "error", "finished_at"]
    if results is not None:
        upload.results, upload.batch_id = results, batch_id
        fields += ["results", "batch"]
    upload.save(update_fields=fields)
    return upload


def uploads_sweep(*, restarted_worker: str = "") -> list[int]:
    """Queue again every upload whose import lost its worker, or fail it after
    ``READERBENCH_JOB_MAX_REDELIVERIES`` (:func:`config.leases.leases_sweep`); the ids."""
    uploads = Upload.objects.only("pk", "status", "worker", "heartbeat_at", "started_at",
                                  "redeliveries")
    return leases_sweep(uploads, restarted_worker=restarted_worker, what="upload",
                        requeue=lambda pk: upload_enqueue(upload_id=pk),
                        retry_hint="upload the files again")


# --- results as CSV -----------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``
    (OWASP CSV injection), so a file named ``=HYPERLINK(...)`` stays a name."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def upload_result_rows(upload: Upload) -> list[list[str]]:
    """The results table as CSV rows, header first, every cell guarded."""
    rows = [["file", "status", "reason"]]
    rows += [[csv_cell(r["path"]), csv_cell(r["status"]), csv_cell(r["reason"])]
             for r in upload.results]
    return rows


def upload_counts(upload: Upload) -> dict[str, int]:
    counts = {"imported": 0, "duplicate": 0, "rejected": 0}
    for result in upload.results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts

