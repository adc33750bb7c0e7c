"""Django admin of study reports: read-only, for the record (reports are built from the
report page, cached by their inputs)."""

from __future__ import annotations

from django.contrib import admin

from reports.models import StudyReport
from studies.admin import ONLY_SHOWN, StudyScopedAdmin


@admin.register(StudyReport)
class StudyReportAdmin(StudyScopedAdmin):
    """Scoped per study (issue 15 S10): a coordinator sees their own studies' reports only."""

    coordinator_may_change = False
    list_display = [
        "id", "study", "status", "progress", "code_version", "created_at", "finished_at",
    ]
    list_filter = [("study", ONLY_SHOWN), "status"]
    readonly_fields = [f.name for f in StudyReport._meta.fields]

    def has_add_permission(self, request):
        return False  # reports are built from the report page, cached by their inputs
