"""Back up the whole installation — database and stored files — into one archive.

    manage.py backup /backups/readerbench-2026-12-02.tar.gz

Safe while people read: the rows come from one database snapshot. Restore with
``manage.py restore`` into an empty installation at the same migrations.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.services.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Back up the database and every stored file into one .tar.gz archive."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="the archive to write (.tar.gz); must not exist")

    def handle(self, *args, **options):
        try:
            summary = backup_create(out=Path(options["archive"]))
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Backed up {summary.n_objects} rows and {summary.n_files} files into "
            f"{summary.path} ({summary.n_bytes / 1e6:.1f} MB)."
        )
