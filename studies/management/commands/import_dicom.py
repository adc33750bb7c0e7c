"""``manage.py import_dicom PATH... --study SLUG --site CODE [--manifest CSV] [--create]
[--external] [--json]``: import DICOM files, folders and zip archives into a study.

``--create`` makes the study (default JIC label scheme) and the site when they do not exist;
``--external`` marks a site being created as external, and is refused for an existing site that
is not external (an existing external site may be named without it).

Exit status 0 when the batch ran to its end (rejected files included); a usage error (unknown
study or site without ``--create``, a missing path, a malformed manifest, ``--external`` for a
site that is not external) stops before anything is imported, with a non-zero status. ``--json``
prints ``{"imported", "duplicates", "rejected", "files": [{"path", "status", "reason", "case"}]}``;
a progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from django.db import transaction

from studies.labels import default_label_scheme
from studies.models import Site, Study, code_validator
from studies.services.dicom_import import import_dicom_files
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
        report = import_dicom_files(
            paths=options["paths"],
            study=study,
            site=site,
            manifest=manifest,
            progress=_ProgressBar(sys.stderr),
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        for result in report.files:
            if result.status != "imported":
                self.stdout.write(f"{result.status:9}  {result.path}: {result.reason}")
        if report.ignored_columns:
            self.stdout.write(f"manifest columns ignored: {', '.join(report.ignored_columns)}")
        if report.unused_manifest_rows:
            unused = report.unused_manifest_rows
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
