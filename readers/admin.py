"""Django admin of reading: reader profiles and study memberships (with the reader's seniority),
reading sessions with progress per reader, bulk creation, audited reset and reassignment, and the
audit trail. Scoped per study for coordinators who are not superusers, as the study admin is
(:class:`studies.admin.StudyScopedAdmin`): sessions, reads, resets, progress and memberships of
the studies they coordinate, and nothing of another."""

from __future__ import annotations

import statistics

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from readers import selectors
from readers.forms import SessionBulkForm, SessionReassignForm, SessionResetForm
from readers.models import AuditEvent, Read, ReaderProfile, ReadingSession
from readers.services.reading import (
    ReadingError,
    session_reassign,
    session_reset,
    sessions_create_audited,
)
from studies.admin import ONLY_SHOWN, StudyScopedAdmin, coordinated_study_ids
from studies.models import Membership, Study


@admin.register(ReaderProfile)
class ReaderProfileAdmin(StudyScopedAdmin):
    # A profile is the person's, across studies: a coordinator sees their members' profiles.
    study_path = "user__memberships__study"
    coordinator_may_change = False
    list_display = ["user", "seniority", "years_experience", "site"]
    list_filter = ["seniority", ("site", ONLY_SHOWN)]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]


@admin.register(Membership)
class MembershipAdmin(StudyScopedAdmin):
    list_display = ["user", "study", "role", "seniority", "created_at"]
    list_filter = [("study", ONLY_SHOWN), "role", "user__reader_profile__seniority"]
    search_fields = ["user__username", "study__slug"]
    autocomplete_fields = ["user"]
    list_select_related = ["user__reader_profile", "study"]

    @admin.display(ordering="user__reader_profile__seniority")
    def seniority(self, obj):
        profile = getattr(obj.user, "reader_profile", None)
        return profile.get_seniority_display() if profile else "—"


# --- Reading sessions: progress, bulk creation, reset and reassignment (audited).


class _ProgressChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        progress = selectors.sessions_progress(session_ids=[s.pk for s in self.result_list])
        for session in self.result_list:
            session.progress = progress[session.pk]


def _seconds(ms) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


@admin.register(ReadingSession)
class ReadingSessionAdmin(StudyScopedAdmin):
    list_display = [
        "name", "reader", "study", "round", "condition", "reads_done", "median_time",
        "last_activity", "opens_at",
    ]
    list_filter = [("study", ONLY_SHOWN), "round", "condition", ("reader", ONLY_SHOWN)]
    search_fields = ["name", "reader__username", "study__slug"]
    list_select_related = ["reader", "study"]
    exclude = ["token"]
    change_list_template = "readers/admin_sessions_changelist.html"

    def get_changelist(self, request, **kwargs):
        return _ProgressChangeList

    def get_readonly_fields(self, request, obj=None):
        # Everything is read-only: sessions change only through the audited services.
        return [
            *(f.name for f in ReadingSession._meta.fields if f.name not in ("id", "token")),
            "interventions",
        ]

    @admin.display(description="reads done")
    def reads_done(self, obj):
        return f"{obj.progress.n_done} / {obj.progress.n_items}"

    @admin.display(description="median time per case")
    def median_time(self, obj):
        return _seconds(obj.progress.median_time_ms)

    @admin.display(description="last activity")
    def last_activity(self, obj):
        return obj.progress.last_activity or "—"

    @admin.display(description="reset or reassign")
    def interventions(self, obj):
        if obj.pk is None:
            return "—"
        return format_html(
            '<a class="button" href="{}">Reset (remove reads)</a> '
            '<a class="button" href="{}">Reassign to another reader</a>',
            reverse("admin:readers_readingsession_reset", args=[obj.pk]),
            reverse("admin:readers_readingsession_reassign", args=[obj.pk]),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("progress/", wrap(self.progress_view), name="readers_readingsession_progress"),
            path("<int:pk>/reset/", wrap(self.reset_view), name="readers_readingsession_reset"),
            path(
                "<int:pk>/reassign/", wrap(self.reassign_view),
                name="readers_readingsession_reassign",
            ),
            *super().get_urls(),
        ]

    def _render(self, request, title, form, obj=None, note=""):
        context = {
            **self.admin_site.each_context(request),
            "title": title, "form": form, "object": obj, "note": note, "opts": self.model._meta,
        }
        return TemplateResponse(request, "readers/admin_form.html", context)

    def add_view(self, request, form_url="", extra_context=None):
        """Adding sessions means readers × the study's reading cases, all at once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SessionBulkForm(request.POST or None)
        self._scope_bulk_form(request, form)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                created = sessions_create_audited(
                    study=data["study"], readers=list(data["readers"]), name=data["name"],
                    condition=data["condition"], by=request.user, base_seed=data["seed"],
                    partitions=data["partitions"], override_reason=data["override_washout"],
                    model_version=data["model_version"], round=data["round"],
                )
            except ReadingError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Created {len(created)} reading sessions.")
                return redirect("admin:readers_readingsession_changelist")
        return self._render(request, "Create reading sessions (readers × reading cases)", form)

    def _scope_bulk_form(self, request, form):
        """A coordinator chooses among their studies, their readers and the models that fit."""
        ids = coordinated_study_ids(request)
        if ids is None:
            return
        from inference.selectors import model_versions_for_study

        studies = Study.objects.filter(pk__in=ids)
        form.fields["study"].queryset = studies
        form.fields["readers"].queryset = form.fields["readers"].queryset.filter(
            pk__in=get_user_model().objects.filter(
                memberships__study__in=ids, memberships__role=Membership.Role.READER
            ).values("pk")
        )
        versions = {
            v.pk for study in studies for v in model_versions_for_study(study=study)
            if v.training_study_id is None or v.training_study_id in ids
        }
        form.fields["model_version"].queryset = (
            form.fields["model_version"].queryset.filter(pk__in=versions)
        )

    def reset_view(self, request, pk: int):
        session = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        form = SessionResetForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            event = session_reset(
                session=session, by=request.user, reason=form.cleaned_data["reason"]
            )
            n = len(event.details["removed"])
            self.message_user(request, f"Removed {n} reads of {session}; recorded in the audit.")
            return redirect("admin:readers_readingsession_change", session.pk)
        n_reads = Read.objects.filter(item__session=session).count()
        return self._render(
            request, f"Reset {session}", form, session,
            note=f"This removes all {n_reads} reads of this session (a copy is kept in the audit "
            "record); the reader starts over.",
        )

    def reassign_view(self, request, pk: int):
        session = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        form = SessionReassignForm(request.POST or None, session=session)
        if request.method == "POST" and form.is_valid():
            try:
                session_reassign(
                    session=session, reader=form.cleaned_data["reader"], by=request.user,
                    reason=form.cleaned_data["reason"],
                    override_reason=form.cleaned_data["override_washout"],
                )
            except ReadingError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Reassigned {session.name} to {session.reader}.")
                return redirect("admin:readers_readingsession_change", session.pk)
        return self._render(
            request, f"Reassign {session}", form, session,
            note="Only a session without reads can be reassigned; the new reader gets a new "
            "order and new links.",
        )

    def progress_view(self, request):
        """Per reader: sessions, cases done, median time per case and last activity."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        sessions = list(self.get_queryset(request).select_related("study", "reader").order_by(
            "study__slug", "reader__username", "opens_at"))
        progress = selectors.sessions_progress(session_ids=[s.pk for s in sessions])
        rows = {}
        for s in sessions:
            p = progress[s.pk]
            row = rows.setdefault((s.study.slug, s.reader.get_username()), {
                "study": s.study.slug, "reader": s.reader.get_username(), "sessions": 0,
                "done": 0, "total": 0, "times": [], "last": None,
            })
            row["sessions"] += 1
            row["done"] += p.n_done
            row["total"] += p.n_items
            row["times"] += p.times_ms
            if p.last_activity and (row["last"] is None or p.last_activity > row["last"]):
                row["last"] = p.last_activity
        table = []
        for row in rows.values():
            times = row.pop("times")
            row["median"] = _seconds(statistics.median(times) if times else None)
            table.append(row)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reading progress per reader", "rows": table, "opts": self.model._meta,
        }
        return TemplateResponse(request, "readers/admin_progress.html", context)


@admin.register(AuditEvent)
class AuditEventAdmin(StudyScopedAdmin):
    list_display = ["created_at", "action", "study", "session", "actor", "reason"]
    list_filter = ["action", ("study", ONLY_SHOWN)]
    search_fields = ["reason", "actor__username"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
