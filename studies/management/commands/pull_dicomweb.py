"""``manage.py pull_dicomweb --url URL --study SLUG --site CODE [--study-uid UID ...]
[--patient-id ID] [--since YYYY-MM-DD] [--manifest CSV] [--user-env VAR | --token-env VAR]
[--attempts N] [--json]``: pull studies from a DICOMweb server, import them (one batch).

``--url`` is the server's DICOMweb root (Orthanc: ``http://host:8042/dicom-web``). At least one
of ``--study-uid`` (repeatable), ``--patient-id`` and ``--since`` says what to pull. Credentials
come from environment variables, never the command line: ``--user-env VAR`` names a variable
holding ``user:password`` (HTTP basic), ``--token-env VAR`` one holding a bearer token. A
manifest attaches labels by SOP Instance UID (the pulled files have no names of their own).

The study and the site must exist. Output and exit status as ``import_dicom`` (0; 1 for a usage
error; 2 when the import stopped early; 3 when files were rejected and none imported), and 4 when
the server could not be searched or a series not retrieved (after ``--attempts`` tries): one
line on stderr names the server and what failed, and nothing is imported (run it again: what
was imported before is a duplicate).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

from django.core.management.base import CommandError

from studies.management.commands import import_dicom
from studies.models import Site, Study
from studies.services import dicomweb
from studies.services.dicom_sources import ImportRefused
from studies.services.manifest import ManifestError, manifest_read


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r}: expected a date YYYY-MM-DD") from None


class Command(import_dicom.Command):
    """Shares ``import_dicom``'s summary (the same lines for the same import)."""

    help = "Pull studies from a DICOMweb server (QIDO-RS, WADO-RS) and import them, de-identified."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", required=True, help="the DICOMweb root URL")
        parser.add_argument("--study", required=True, metavar="SLUG")
        parser.add_argument("--site", required=True, metavar="CODE")
        parser.add_argument(
            "--study-uid", action="append", default=[], metavar="UID", help="repeatable"
        )
        parser.add_argument("--patient-id", metavar="ID")
        parser.add_argument("--since", metavar="YYYY-MM-DD", help="studies from this date on")
        parser.add_argument("--manifest", metavar="FILE.csv", help="labels by SOP Instance UID")
        auth = parser.add_mutually_exclusive_group()
        auth.add_argument("--user-env", metavar="VAR", help="variable holding user:password")
        auth.add_argument("--token-env", metavar="VAR", help="variable holding a bearer token")
        parser.add_argument(
            "--attempts",
            type=int,
            default=5,
            help="tries per request on a network error or a busy server (default 5)",
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"--study {options['study']!r}: no such study")
        site = Site.objects.filter(code=options["site"]).first()
        if site is None:
            raise CommandError(f"--site {options['site']!r}: no such site")
        since = _date(options["since"]) if options["since"] else None
        if options["attempts"] < 1:
            raise CommandError("--attempts: at least 1")
        if not (options["study_uid"] or options["patient_id"] or since):
            raise CommandError("say which studies to pull: --study-uid, --patient-id or --since")
        manifest = None
        if options["manifest"]:
            path = Path(options["manifest"])
            if not path.is_file():
                raise CommandError(f"--manifest {path}: no such file")
            try:
                manifest = manifest_read(path=path, label_codes=study.label_codes)
            except ManifestError as exc:
                raise CommandError(str(exc)) from None
        username = password = token = None
        if options["user_env"]:
            credentials = os.environ.get(options["user_env"])
            if not credentials or ":" not in credentials:
                raise CommandError(f"--user-env {options['user_env']}: set it to user:password")
            username, password = credentials.split(":", 1)
        if options["token_env"]:
            token = os.environ.get(options["token_env"])
            if not token:
                raise CommandError(f"--token-env {options['token_env']}: the variable is empty")
        try:
            client = dicomweb.connect(
                options["url"],
                username=username,
                password=password,
                token=token,
                attempts=options["attempts"],
            )
            with import_dicom._quiet_library_logs():
                result = dicomweb.pull(
                    client,
                    study=study,
                    site=site,
                    study_uids=options["study_uid"],
                    patient_id=options["patient_id"],
                    since=since,
                    manifest=manifest,
                    progress=import_dicom._ProgressBar(sys.stderr),
                )
        except dicomweb.DicomwebError as exc:
            raise CommandError(str(exc), returncode=4) from None
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None
        report = result.report
        if report is None:
            self.stdout.write(
                f"{result.server}: {len(result.studies)} studies, {result.instances} instances "
                "matched: nothing to import"
            )
            return
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self.stdout.write(
                f"{result.server}: {len(result.studies)} studies, {result.series} series, "
                f"{result.instances} instances retrieved"
            )
            self._print(report, study, site, manifest)
        if report.stopped:
            raise CommandError(report.stopped, returncode=2)
        if report.files and report.imported == 0 and report.rejected:
            # As import_dicom: duplicates alone are a successful re-run, rejections with
            # nothing new are not.
            raise CommandError(
                f"nothing was imported: {report.rejected} rejected, "
                f"{report.duplicates} already in the study",
                returncode=3,
            )
