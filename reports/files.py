"""Where a report's files live (its PDF, figures and export bundle) and which may be served:
light, so that pages and the API find a report's files without importing the analysis
(issue 15 R5)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from reports.models import StudyReport

EXPORTS_DIR = "exports"
# The export bundle's file types and the content type each is served with.
EXPORT_TYPES = {".csv": "text/csv", ".imrmc": "text/plain", ".json": "application/json",
                ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
EXPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.(csv|imrmc|xlsx|json)")


def report_directory(report: StudyReport) -> Path:
    return Path(settings.MEDIA_ROOT) / "reports" / report.input_hash


def report_exports(report: StudyReport) -> list[str]:
    """File names of the report's export bundle (:func:`analysis.table.exports.write_bundle` of the
    long table and comparison the report was built from), sorted; empty until it is built."""
    directory = report_directory(report) / EXPORTS_DIR
    if report.status != StudyReport.Status.DONE or not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir()
                  if p.is_file() and EXPORT_NAME.fullmatch(p.name))


def report_export_path(report: StudyReport, name: str) -> Path | None:
    """The path of export ``name`` of ``report``, or ``None`` when it has no such file (only
    names :func:`report_exports` lists: nothing outside the bundle's folder)."""
    if name not in report_exports(report):
        return None
    return report_directory(report) / EXPORTS_DIR / name


def report_figure_path(report: StudyReport, name: str) -> Path:
    return report_directory(report) / "figures" / f"{name}.png"
