"""``manage.py repair_storage [--fix]``: find what interrupted work or lost files left behind in
the stored files and the rows that describe them, and with ``--fix`` repair it.

It runs every installed app's repair check: a module ``<app>/repair.py`` with
``def repair(*, fix: bool, log) -> dict`` (found with Django's ``autodiscover_modules``), in
the order of ``INSTALLED_APPS``. ``log`` takes one line of text; the dict returned holds counts,
printed as the app's summary. :mod:`studies.repair` closes interrupted import batches, removes
orphan stored files and rebuilds missing cached arrays.

Without ``--fix`` it is a dry run: it reports and changes nothing. Exit status 0 either way;
an error inside a check stops the command with a non-zero status.
"""

from __future__ import annotations

import sys

from django.apps import apps
from django.core.management.base import BaseCommand
from django.utils.module_loading import autodiscover_modules


def repair_checks() -> list[tuple[str, object]]:
    """``(app label, repair function)`` of every installed app that has one."""
    autodiscover_modules("repair")
    checks = []
    for config in apps.get_app_configs():
        module = sys.modules.get(f"{config.name}.repair")
        check = getattr(module, "repair", None)
        if callable(check):
            checks.append((config.label, check))
    return checks


class Command(BaseCommand):
    help = (
        "Find interrupted imports, orphan stored files, missing cached arrays (and what other "
        "apps check); --fix repairs them. A dry run by default."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fix", action="store_true", help="repair (default: report only)")

    def handle(self, *args, **options) -> None:
        fix = options["fix"]
        for label, check in repair_checks():
            self.stdout.write(self.style.MIGRATE_HEADING(f"{label}:"))
            counts = check(fix=fix, log=lambda line: self.stdout.write(f"  {line}"))
            summary = ", ".join(f"{key} {value}" for key, value in (counts or {}).items())
            self.stdout.write(f"  {summary or 'nothing to report'}")
        if not fix:
            self.stdout.write(self.style.WARNING("dry run: nothing changed (--fix repairs)"))
