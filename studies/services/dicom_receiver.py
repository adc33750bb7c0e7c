"""A DICOM storage SCP: modalities and PACS send images by C-STORE, and each association is
imported into one study and site through the same path as a file import
(:func:`studies.services.dicom_import.import_dicom_files`: validation, PS3.15
de-identification, duplicates).

Who may send, and where it goes, is configuration: the receiver answers only to its own AE
title, accepts associations only from the allowed calling AE titles (any other is rejected at
association time and logged), and routes each calling AE title to a study and a site (``*``
routes every allowed AE title without a route of its own).

Every storage SOP class is accepted with every transfer syntax pynetdicom knows, compressed ones
included: a file we cannot decode is stored, then rejected by the import with its reason (and
counted in the import batch's rejection reasons), rather than refused at negotiation where the
sender sees an opaque failure and we see nothing.

Each instance is written as a DICOM file (file meta and the data set's bytes as received) into
a per-association folder under the spool and fsync'ed before the sender is answered 0x0000 (a
full disk answers 0xA700, out of resources). When the association ends (release, abort, or a
dropped connection: what was fully received is imported) the folder is imported as ONE batch
and removed. A folder whose import failed or stopped early (the database away, a full disk) is
kept and imported again when the receiver next starts: the sender was told the files were
stored, so nothing may be lost, and instances already imported come back as duplicates.

Imports run one at a time in a worker thread, so an association's release is answered at once
and a burst of associations does not open a burst of database transactions.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connections
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from studies.models import Site, Study
from studies.services.dicom_import import import_dicom_files

logger = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
ROUTE_FILE = "route.json"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE: 16 chars, no backslash


class ReceiverConfigError(ValueError):
    """The receiver's configuration is unusable; the message names the setting."""


def ae_title(value: str, *, what: str) -> str:
    """A valid AE title (1-16 printable characters, no backslash, not all spaces)."""
    title = value.strip()
    if not title or not _AE_TITLE.match(title):
        raise ReceiverConfigError(
            f"{what} {value!r}: an AE title is 1 to 16 printable characters without '\\'"
        )
    return title


def parse_route(text: str) -> tuple[str, str, str]:
    """``CALLING_AE=study-slug:SITECODE`` (or ``*=...``) as (calling AE, study slug, site)."""
    calling, sep, target = text.partition("=")
    slug, sep2, code = target.partition(":")
    if not sep or not sep2 or not slug.strip() or not code.strip():
        raise ReceiverConfigError(
            f"route {text!r}: expected CALLING_AE=study-slug:SITECODE (or *=study-slug:SITECODE)"
        )
    calling = calling.strip()
    if calling != "*":
        calling = ae_title(calling, what="route calling AE title")
    return calling, slug.strip(), code.strip()


@dataclass(frozen=True)
class Route:
    study: Study
    site: Site

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.site.code}"


@dataclass(frozen=True)
class ReceiverConfig:
    """Where the receiver listens, whom it accepts, and where each caller's images go."""

    ae_title: str
    host: str
    port: int
    allowed: tuple[str, ...]
    routes: dict[str, Route]
    spool: Path

    @classmethod
    def build(
        cls,
        *,
        ae_title_: str,
        host: str,
        port: int,
        allowed: Iterable[str],
        routes: Iterable[str],
        spool: str | Path,
    ) -> ReceiverConfig:
        """Check the configuration and look up its studies and sites; a
        :class:`ReceiverConfigError` names what is wrong."""
        title = ae_title(ae_title_, what="AE title")
        if not 0 < int(port) < 65536:
            raise ReceiverConfigError(f"port {port}: expected 1 to 65535")
        parsed = [parse_route(r) for r in routes]
        if not parsed:
            raise ReceiverConfigError(
                "no route: give at least one CALLING_AE=study-slug:SITECODE "
                "(--route or READERBENCH_DICOM_ROUTES)"
            )
        seen: set[str] = set()
        for calling, _, _ in parsed:
            if calling in seen:
                raise ReceiverConfigError(f"route for {calling!r} given twice")
            seen.add(calling)
        allowed_titles = tuple(dict.fromkeys(ae_title(a, what="allowed AE title") for a in allowed))
        if not allowed_titles:
            if "*" in seen:
                raise ReceiverConfigError(
                    "a '*' route needs the allowed calling AE titles (--allowed-ae or "
                    "READERBENCH_DICOM_ALLOWED_AES): the receiver never accepts just anyone"
                )
            allowed_titles = tuple(c for c, _, _ in parsed)
        for calling, _, _ in parsed:
            if calling != "*" and calling not in allowed_titles:
                raise ReceiverConfigError(
                    f"route for {calling!r}, which is not an allowed calling AE title"
                )
        if "*" not in seen:
            unrouted = [a for a in allowed_titles if a not in seen]
            if unrouted:
                raise ReceiverConfigError(
                    f"allowed calling AE titles without a route: {', '.join(unrouted)} "
                    "(add CALLING_AE=study-slug:SITECODE, or a '*' route)"
                )
        resolved: dict[str, Route] = {}
        for calling, slug, code in parsed:
            study = Study.objects.filter(slug=slug).first()
            if study is None:
                raise ReceiverConfigError(f"route for {calling!r}: no study {slug!r}")
            site = Site.objects.filter(code=code).first()
            if site is None:
                raise ReceiverConfigError(f"route for {calling!r}: no site {code!r}")
            resolved[calling] = Route(study, site)
        return cls(title, host, int(port), allowed_titles, resolved, Path(spool))

    @classmethod
    def from_settings(cls, **overrides) -> ReceiverConfig:
        """The configuration of ``READERBENCH_DICOM_*``, with command-line overrides."""
        values = {
            "ae_title_": settings.READERBENCH_DICOM_AE_TITLE,
            "host": settings.READERBENCH_DICOM_HOST,
            "port": settings.READERBENCH_DICOM_PORT,
            "allowed": settings.READERBENCH_DICOM_ALLOWED_AES,
            "routes": settings.READERBENCH_DICOM_ROUTES,
            "spool": settings.READERBENCH_DICOM_SPOOL,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(**values)

    def route_for(self, calling_ae: str) -> Route | None:
        return self.routes.get(calling_ae) or self.routes.get("*")


@dataclass
class _Inbox:
    """What one association has delivered so far."""

    folder: Path
    calling_ae: str
    peer: str
    route: Route
    received: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class AssociationResult:
    """The outcome of one association's import, for the log and for tests."""

    calling_ae: str
    peer: str
    route: str
    ended: str
    received: int
    refused: int
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    batch_id: int | None = None
    kept: str = ""


class StorageReceiver:
    """The storage SCP. ``start()`` listens in background threads; ``stop()`` stops listening,
    lets the running imports finish and returns."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        # One receiver per AE title and spool: what it finds there at start is its own.
        self.spool = config.spool / config.ae_title
        self.results: list[AssociationResult] = []
        self._inboxes: dict[int, _Inbox] = {}
        self._lock = threading.Lock()
        self._pending: list[Future] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dicom-import")
        self._server = None
        self.ae = AE(ae_title=config.ae_title)
        self.ae.require_called_aet = True
        self.ae.require_calling_aet = list(config.allowed)
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Import what a previous run left in the spool, then listen."""
        self.spool.mkdir(parents=True, exist_ok=True)
        for folder in sorted(self.spool.glob("assoc-*")):
            self._submit(self._recover, folder)
        handlers = [
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_end, ["released"]),
            (evt.EVT_ABORTED, self._on_end, ["aborted"]),
            (evt.EVT_CONN_CLOSE, self._on_end, ["closed"]),
        ]
        self._server = self.ae.start_server(
            (self.config.host, self.config.port), block=False, evt_handlers=handlers
        )
        logger.info(
            "DICOM receiver %s listening on %s:%d; accepts %s",
            self.config.ae_title,
            self.config.host,
            self.config.port,
            ", ".join(f"{ae} -> {self.config.route_for(ae)}" for ae in self.config.allowed),
        )

    @property
    def port(self) -> int:
        """The port listened on (the configured one, or the one given for port 0)."""
        return self._server.server_address[1] if self._server else self.config.port

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every import submitted so far has finished."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop listening; give the running associations ``grace`` seconds to end, abort the
        rest (what they fully delivered is imported; the sender sends the rest again), and
        wait for the imports."""
        if self._server is not None:
            self._server.shutdown()  # no new association; the running ones go on
            self._server = None
        deadline = time.monotonic() + grace
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        for assoc in self.ae.active_associations:
            assoc.abort()
        self._executor.shutdown(wait=True)

    # --- events -----------------------------------------------------------------------------

    def _on_rejected(self, event) -> None:
        requestor = event.assoc.requestor
        logger.warning(
            "association from %r at %s:%s rejected: calling AE title not allowed "
            "or called AE title not %r",
            requestor.ae_title,
            requestor.address,
            requestor.port,
            self.config.ae_title,
        )

    def _on_accepted(self, event) -> None:
        self._inbox(event.assoc)

    def _inbox(self, assoc) -> _Inbox:
        with self._lock:
            inbox = self._inboxes.get(id(assoc))
            if inbox is None:
                calling = assoc.requestor.ae_title.strip()
                route = self.config.route_for(calling)
                folder = Path(tempfile.mkdtemp(prefix="assoc-", dir=self.spool))
                peer = f"{assoc.requestor.address}:{assoc.requestor.port}"
                (folder / ROUTE_FILE).write_text(
                    json.dumps(
                        {
                            "calling_ae": calling,
                            "peer": peer,
                            "study": route.study.slug,
                            "site": route.site.code,
                        }
                    )
                )
                inbox = _Inbox(folder, calling, peer, route)
                self._inboxes[id(assoc)] = inbox
            return inbox

    def _on_store(self, event) -> int:
        inbox = self._inbox(event.assoc)
        with inbox.lock:
            if inbox.received >= settings.READERBENCH_IMPORT_MAX_FILES:
                inbox.refused += 1
                logger.warning(
                    "association from %r: more than READERBENCH_IMPORT_MAX_FILES (%d) "
                    "instances, refused (out of resources)",
                    inbox.calling_ae,
                    settings.READERBENCH_IMPORT_MAX_FILES,
                )
                return OUT_OF_RESOURCES
            number = inbox.received + inbox.refused + 1
            partial = inbox.folder / f"{number:07d}.part"
            try:
                data = event.encoded_dataset(include_meta=True)
                with partial.open("wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                partial.replace(partial.with_suffix(".dcm"))
            except OSError as exc:
                inbox.refused += 1
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
                full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
                logger.error(
                    "association from %r: an instance could not be written to the spool "
                    "(%s), refused (out of resources)",
                    inbox.calling_ae,
                    "the disk is full" if full else exc.strerror or type(exc).__name__,
                )
                return OUT_OF_RESOURCES
            inbox.received += 1
        return SUCCESS

    def _on_end(self, event, how: str) -> None:
        with self._lock:
            inbox = self._inboxes.pop(id(event.assoc), None)
        if inbox is not None:
            self._submit(self._import_inbox, inbox, how)

    # --- imports ----------------------------------------------------------------------------

    def _submit(self, fn, *args) -> None:
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]
            try:
                self._pending.append(self._executor.submit(self._in_worker, fn, *args))
            except RuntimeError:  # stopped meanwhile: the folder stays for the next start
                logger.warning("DICOM receiver stopped: an association's files stay in the spool")

    @staticmethod
    def _in_worker(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:  # a bug must not silently kill the import thread's next jobs
            logger.exception("DICOM receiver: import failed")
        finally:
            connections.close_all()  # this thread's connections only

    def _import_inbox(self, inbox: _Inbox, how: str) -> None:
        result = AssociationResult(
            calling_ae=inbox.calling_ae,
            peer=inbox.peer,
            route=str(inbox.route),
            ended=how,
            received=inbox.received,
            refused=inbox.refused,
        )
        self._import_folder(inbox.folder, inbox.route, result)

    def _recover(self, folder: Path) -> None:
        """Import a folder an earlier run left behind (it died, or its import failed)."""
        try:
            info = json.loads((folder / ROUTE_FILE).read_text())
        except (OSError, ValueError):
            logger.error("DICOM receiver: %s has no readable %s; left in place", folder, ROUTE_FILE)
            return
        study = Study.objects.filter(slug=info.get("study")).first()
        site = Site.objects.filter(code=info.get("site")).first()
        if study is None or site is None:
            logger.error(
                "DICOM receiver: %s is for %s:%s, which no longer exists; left in place",
                folder,
                info.get("study"),
                info.get("site"),
            )
            return
        received = len(list(folder.glob("*.dcm")))
        result = AssociationResult(
            calling_ae=str(info.get("calling_ae", "")),
            peer=str(info.get("peer", "")),
            route=f"{study.slug}:{site.code}",
            ended="left by an earlier run",
            received=received,
            refused=0,
        )
        self._import_folder(folder, Route(study, site), result)

    def _import_folder(self, folder: Path, route: Route, result: AssociationResult) -> None:
        for partial in folder.glob("*.part"):  # an instance whose write never finished
            partial.unlink(missing_ok=True)
        files = sorted(folder.glob("*.dcm"))
        try:
            if files:
                report = import_dicom_files(paths=files, study=route.study, site=route.site)
                result.imported, result.duplicates = report.imported, report.duplicates
                result.rejected, result.batch_id = report.rejected, report.batch_id
                if report.stopped:
                    result.kept = report.stopped
        except Exception as exc:
            result.kept = f"the import failed ({type(exc).__name__})"
            logger.exception("DICOM receiver: the import of %s failed", folder)
        if result.kept:
            logger.error(
                "association from %r at %s (%s): %d received, %d imported, %d duplicates, "
                "%d rejected into %s (import batch %s); %s: the files stay in %s and are "
                "imported again at the next start",
                result.calling_ae,
                result.peer,
                result.ended,
                result.received,
                result.imported,
                result.duplicates,
                result.rejected,
                result.route,
                result.batch_id,
                result.kept,
                folder,
            )
        else:
            shutil.rmtree(folder, ignore_errors=True)
            logger.info(
                "association from %r at %s (%s): %d received, %d refused, %d imported, "
                "%d duplicates, %d rejected into %s (import batch %s)",
                result.calling_ae,
                result.peer,
                result.ended,
                result.received,
                result.refused,
                result.imported,
                result.duplicates,
                result.rejected,
                result.route,
                result.batch_id,
            )
        with self._lock:
            self.results.append(result)
