"""A database check run by ``migrate``: a database made before the apps were reorganised
(studies, readers, inference, reports; December 2026) cannot be migrated, so say how to recreate
it instead of failing on an inconsistent migration history."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.db import DatabaseError, connections

# Migrations of the old single "readers" app that no longer exist.
_OLD = ("0002_reading_sessions", "0003_audit_events", "0004_session_model_version",
        "0005_study_report", "0006_read_indeterminate")


@register(Tags.database)
def old_layout_database(app_configs=None, databases=None, **kwargs):
    errors = []
    for alias in databases or ():
        try:
            with connections[alias].cursor() as cursor:
                if "django_migrations" not in connections[alias].introspection.table_names(cursor):
                    continue
                cursor.execute(
                    "SELECT COUNT(*) FROM django_migrations WHERE app = %s AND name IN "
                    f"({', '.join(['%s'] * len(_OLD))})", ["readers", *_OLD])
                (old,) = cursor.fetchone()
        except DatabaseError:
            continue  # no database yet: nothing to warn about
        if old:
            errors.append(Error(
                f"Database {alias!r} was created before the apps were reorganised (studies, "
                "readers, inference, reports) and cannot be migrated.",
                hint="Recreate it: remove var/readerbench.sqlite3 (the embedded default) or drop "
                "and create the PostgreSQL database, then run `make demo` (or `manage.py "
                "migrate`) again.",
                id="studies.E001",
            ))
    return errors
