"""Restore a backup made by ``manage.py backup`` into an empty installation.

    manage.py migrate && manage.py restore /backups/readerbench-2026-12-02.tar.gz

The installation must be empty (no users, no studies), migrated to the archive's migrations,
with an empty ``MEDIA_ROOT``. Every file is checked against the archive's manifest; on any
error nothing is left behind.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from studies.services.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = "Restore a backup archive (database and stored files) into an empty installation."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="an archive written by manage.py backup")

    def handle(self, *args, **options):
        try:
            summary = backup_restore(archive=Path(options["archive"]))
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Restored {summary.n_objects} rows and {summary.n_files} files from {summary.path}."
        )
