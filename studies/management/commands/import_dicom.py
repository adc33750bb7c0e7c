"""``manage.py import_dicom PATH... --study SLUG --site CODE [--manifest CSV] [--create]
[--external] [--json]``: import DICOM files, folders and zip archives into a study.

``--create`` makes the study (default JIC label scheme) and the site when they do not exist;
``--external`` marks a site being created as external, and is refused for an existing site that
is not external (an existing external site may be named without it).

Exit status 0 when the batch ran to its end and imported something, or found only duplicates
(rejected files included); 1 for a usage error (unknown study or site without ``--create``, a
missing path, a malformed manifest, ``--external`` for a site that is not external, more files
than ``READERBENCH_IMPORT_MAX_FILES``), which stops before anything is imported; 2 when the
import stopped early (a full disk, the time limit), with one line on stderr saying why; 3 when
nothing was imported and at least one file was rejected (the others, if any, duplicates).
``--json`` prints ``{"imported", "duplicates", "rejected", "files": [{"path", "status",
"reason", "case"}]}`` (plus ``"stopped"`` and ``"not_read"`` when it stopped early); a progress
bar goes to stderr when it is a terminal. The log messages and warnings of pydicom
and of its decoders (pylibjpeg, openjpeg, Pillow) are kept off the terminal: each rejected file
has its one line with the reason. Manifest lines for another site than ``--site`` are not
reported as lines that match no file: one manifest may cover every site of a study.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import warnings
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import transaction

from studies.labels import default_label_scheme
from studies.models import Site, Study, StudySite, code_validator
from studies.services.dicom_import import import_dicom_files
from studies.services.dicom_sources import ImportRefused
from studies.services.manifest import ManifestError, manifest_read


class _ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        percent = done * 100 // total
        if percent == self.last and done != total:
            return
        self.last = percent
        width = 30
        filled = width * done // total
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = "Import DICOM files, folders (recursively) and zip archives into a study, de-identified."

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, .zip")
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument("--site", required=True, metavar="CODE")
        parser.add_argument("--manifest", metavar="FILE.csv", help="patients, sides, labels")
        parser.add_argument(
            "--create", action="store_true", help="create the study and the site if missing"
        )
        parser.add_argument(
            "--external",
            action="store_true",
            help="the site is external (held out); an error for an existing internal site",
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        missing = [p for p in options["paths"] if not Path(p).exists()]
        if missing:
            raise CommandError(f"PATH does not exist: {', '.join(missing)}")
        study = Study.objects.filter(slug=options["study"]).first()
        site = Site.objects.filter(code=options["site"]).first()
        create = options["create"]
        if study is None and not create:
            raise CommandError(
                f"--study {options['study']!r}: no such study (use --create to create it)"
            )
        if site is None and not create:
            raise CommandError(
                f"--site {options['site']!r}: no such site (use --create to create it)"
            )
        if site is not None and options["external"] and not site.external:
            raise CommandError(
                f"--external: site {site.code!r} exists and is not external; "
                "change it in the admin if it really is"
            )
        if study is None:
            try:
                validate_slug(options["study"])
            except ValidationError:
                raise CommandError(
                    f"--study {options['study']!r}: use letters, digits, '-' or '_'"
                ) from None
        if site is None:
            try:
                code_validator(options["site"])
            except ValidationError as exc:
                raise CommandError(f"--site {options['site']!r}: {exc.messages[0]}") from None

        manifest = None
        if options["manifest"]:
            path = Path(options["manifest"])
            if not path.is_file():
                raise CommandError(f"--manifest {path}: no such file")
            codes = study.label_codes if study else [c["code"] for c in default_label_scheme()]
            try:
                manifest = manifest_read(path=path, label_codes=codes)
            except ManifestError as exc:
                raise CommandError(str(exc)) from None

        with transaction.atomic():
            if study is None:
                study = Study.objects.create(slug=options["study"], title=options["study"])
            if site is None:
                site = Site.objects.create(code=options["site"], external=options["external"])
            # Importing for a site makes it one of the study's sites (a no-op when it is).
            StudySite.objects.get_or_create(study=study, site=site)
        try:
            with _quiet_library_logs():
                report = import_dicom_files(
                    paths=options["paths"],
                    study=study,
                    site=site,
                    manifest=manifest,
                    progress=_ProgressBar(sys.stderr),
                )
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self._print(report, study, site, manifest)
        if report.stopped:
            raise CommandError(report.stopped, returncode=2)
        if report.files and report.imported == 0 and report.rejected:
            # Duplicates alone are a successful re-run; rejections with nothing new are not.
            if report.rejected == len(report.files):
                raise CommandError("every file was rejected: nothing was imported", returncode=3)
            raise CommandError(
                f"nothing was imported: {report.rejected} rejected, "
                f"{report.duplicates} already in the study",
                returncode=3,
            )

    def _print(self, report, study, site, manifest) -> None:
        for result in report.files:
            if result.status != "imported":
                self.stdout.write(f"{result.status:9}  {result.path}: {result.reason}")
        if report.ignored_columns:
            self.stdout.write(f"manifest columns ignored: {', '.join(report.ignored_columns)}")
        other_sites = {
            row.line
            for row in (manifest.rows if manifest else ())
            if row.site not in (None, site.code)
        }
        unused = [line for line in report.unused_manifest_rows if line not in other_sites]
        if unused:
            lines = ", ".join(str(n) for n in unused[:10]) + (", ..." if len(unused) > 10 else "")
            # Normal when one manifest covers several sites imported one by one.
            self.stdout.write(
                f"{len(unused)} manifest lines match no file of this import (lines {lines})"
            )
        style = self.style.WARNING if report.rejected else self.style.SUCCESS
        self.stdout.write(
            style(
                f"{report.imported} imported, {report.duplicates} duplicates, "
                f"{report.rejected} rejected into {study.slug} from {site.code} "
                f"(import batch {report.batch_id})"
            )
        )


#: The loggers of pydicom and of the decoders it calls (``_openjpeg`` is openjpeg's C library).
_LIBRARY_LOGGERS = ("pydicom", "pylibjpeg", "openjpeg", "_openjpeg", "libjpeg", "rle", "PIL")


@contextlib.contextmanager
def _quiet_library_logs():
    """pydicom and its decoders log (with tracebacks) and warn about what they cannot parse or
    decode; the import then rejects the file with its reason, so those messages are noise on
    the coordinator's terminal."""
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            modules = "|".join(_LIBRARY_LOGGERS)
            warnings.filterwarnings("ignore", module=rf"({modules})(\.|$)")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
