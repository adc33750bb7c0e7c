"""Pull studies from a DICOMweb server (a PACS, a VNA) into a study: QIDO-RS finds the studies
and their series, WADO-RS retrieves each series' instances, and the files go through the same
import as any other (:func:`studies.services.dicom_import.import_dicom_files`: validation,
PS3.15 de-identification, duplicates, manifest labels), as one import batch per pull.

Instances are asked for in their stored transfer syntax (``application/dicom`` with
``transfer-syntax=*``): the server does not transcode (lossy recompression, or a failure on an
encoding it cannot decode), and a file we cannot decode is rejected by the import with its
reason like a file from a disk. The multipart answer of each series is streamed and written
instance by instance to a temporary folder under ``READERBENCH_DICOM_SPOOL``, so a big study
never sits whole in memory; the folder is removed after the import.

Failures: any HTTP or network error while finding or retrieving raises :class:`DicomwebError`
naming the server (without credentials) and what failed, before anything is imported; files
already retrieved are discarded. Re-running a pull is safe: instances imported before are
duplicates.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings

from studies.models import Site, Study
from studies.services.dicom_commit import ImportReport
from studies.services.dicom_import import import_dicom_files
from studies.services.manifest import Manifest

#: Ask for instances as stored: never let the server transcode them.
AS_STORED = (("application/dicom", "*"),)
STUDY_INSTANCE_UID = "0020000D"
SERIES_INSTANCE_UID = "0020000E"


class DicomwebError(Exception):
    """A DICOMweb request failed; the message names the server and what failed."""


@dataclass
class PullResult:
    """What one pull found, retrieved and imported."""

    server: str
    studies: list[str] = field(default_factory=list)
    series: int = 0
    instances: int = 0
    report: ImportReport | None = None


def server_name(url: str) -> str:
    """The server's URL without credentials or query, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def connect(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 60,
    attempts: int = 5,
) -> DICOMwebClient:
    """A client for the DICOMweb root ``url`` (HTTP basic auth or a bearer token, if given).

    Each request is tried up to ``attempts`` times, with exponential back-off (1, 2, 4, 8 s...),
    on a network error or a busy server (HTTP 408, 429, 503, 504): a PACS restarting during a
    long pull is not a failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DicomwebError(f"{url!r}: expected an http:// or https:// URL of a DICOMweb root")
    if parts.username or parts.password:
        raise DicomwebError(
            f"{server_name(url)}: give credentials through environment variables, "
            "not in the URL (it shows in process lists and logs)"
        )
    session = requests.Session()
    if username is not None:
        session.auth = (username, password or "")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = DICOMwebClient(url.rstrip("/"), session=session, headers=headers, timeout=timeout)
    client.set_http_retry_params(
        retry=attempts > 1, max_attempts=max(1, attempts), wait_exponential_multiplier=1000
    )
    return client


def _first(item: dict, tag: str) -> str | None:
    values = (item.get(tag) or {}).get("Value") or []
    return str(values[0]) if values else None


def _failure(server: str, what: str, exc: Exception) -> DicomwebError:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        why = f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    elif isinstance(exc, requests.Timeout):
        why = "no answer in time"
    elif isinstance(exc, requests.ConnectionError):
        why = "cannot connect"
    else:
        why = f"{type(exc).__name__}: {exc}"
    return DicomwebError(f"{server}: {what} failed ({why}); nothing was imported")


def find_studies(
    client: DICOMwebClient,
    *,
    study_uids: Iterable[str] = (),
    patient_id: str | None = None,
    since: dt.date | None = None,
) -> list[str]:
    """Study Instance UIDs matching the query (QIDO-RS), in the server's order. Given UIDs are
    looked up too, so that a mistyped one is an error rather than an empty pull."""
    server = server_name(client.base_url)
    filters: dict[str, str] = {}
    if patient_id:
        filters["PatientID"] = patient_id
    if since:
        filters["StudyDate"] = f"{since:%Y%m%d}-"
    study_uids = list(dict.fromkeys(study_uids))
    found: list[str] = []
    try:
        if study_uids:
            for uid in study_uids:
                matches = client.search_for_studies(
                    search_filters={**filters, "StudyInstanceUID": uid}
                )
                if not matches:
                    raise DicomwebError(
                        f"{server}: no study {uid} matches (QIDO-RS); nothing was imported"
                    )
                found.append(uid)
        else:
            if not filters:
                raise DicomwebError(
                    "say which studies to pull (--study-uid, --patient-id or --since): "
                    "a pull never takes a whole PACS"
                )
            for item in client.search_for_studies(search_filters=filters, get_remaining=True):
                uid = _first(item, STUDY_INSTANCE_UID)
                if uid and uid not in found:
                    found.append(uid)
    except (requests.RequestException, ValueError) as exc:
        raise _failure(server, "the study search (QIDO-RS)", exc) from None
    return found


def series_of(client: DICOMwebClient, study_uid: str) -> list[str]:
    """The Series Instance UIDs of one study (QIDO-RS)."""
    try:
        items = client.search_for_series(study_instance_uid=study_uid, get_remaining=True)
    except (requests.RequestException, ValueError) as exc:
        raise _failure(
            server_name(client.base_url), f"the series search of study {study_uid}", exc
        ) from None
    return [uid for uid in (_first(item, SERIES_INSTANCE_UID) for item in items) if uid]


def retrieve_series(
    client: DICOMwebClient, study_uid: str, series_uid: str, folder: Path, *, start: int = 0
) -> int:
    """Write each instance of a series (WADO-RS, streamed) as a DICOM file into ``folder``;
    the number written. Files are numbered from ``start`` (never named after patient data)."""
    written = 0
    try:
        for ds in client.iter_series(study_uid, series_uid, media_types=AS_STORED):
            path = folder / f"{start + written:07d}.dcm"
            partial = path.with_suffix(".part")
            pydicom.dcmwrite(partial, ds, enforce_file_format=True)
            os.replace(partial, path)
            written += 1
    except (requests.RequestException, ValueError) as exc:
        raise _failure(
            server_name(client.base_url),
            f"the retrieval (WADO-RS) of series {series_uid} of study {study_uid}",
            exc,
        ) from None
    return written


def pull(
    client: DICOMwebClient,
    *,
    study: Study,
    site: Site,
    study_uids: Iterable[str] = (),
    patient_id: str | None = None,
    since: dt.date | None = None,
    manifest: Manifest | None = None,
    user=None,
    progress: Callable[[int, int], None] | None = None,
) -> PullResult:
    """Find, retrieve and import (one batch) the matching studies; see the module's doc."""
    result = PullResult(server=server_name(client.base_url))
    result.studies = find_studies(client, study_uids=study_uids, patient_id=patient_id, since=since)
    if not result.studies:
        return result
    spool = Path(settings.READERBENCH_DICOM_SPOOL)
    spool.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dicomweb-", dir=spool) as folder:
        for study_uid in result.studies:
            for series_uid in series_of(client, study_uid):
                result.instances += retrieve_series(
                    client, study_uid, series_uid, Path(folder), start=result.instances
                )
                result.series += 1
        if result.instances:
            result.report = import_dicom_files(
                paths=[folder],
                study=study,
                site=site,
                manifest=manifest,
                user=user,
                progress=progress,
            )
    return result
