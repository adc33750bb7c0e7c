"""The reading pages: a reader's worklist, the start of a session (or, once every case is
answered, the review of the reader's own answers) and the viewer page."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from inference.selectors import model_versions_for_study, study_for_researcher
from readers import reading_api, selectors
from readers.forms import SessionsCreateForm
from readers.models import ReadingSession
from readers.services.reading import ReadingError, sessions_create_audited
from studies.models import Membership
from studies.services.setup import study_for_coordinator

# --- Reading pages. Sessions and cases are looked up only through the blinding selectors.


@login_required
@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    return render(
        request, "readers/worklist.html",
        {"sessions": selectors.reader_worklist(user=request.user)},
    )


@login_required
@require_GET
def session_start(request: HttpRequest, session_token: str) -> HttpResponse:
    """Resume a session at the first case without a final answer in the reader's order; once
    every case has one, the review of the reader's answers (:func:`session_review`)."""
    session = selectors.reader_session_get(user=request.user, token=session_token)
    gate = selectors.session_gate(session=session)
    if not gate.open:
        return render(request, "readers/session_closed.html", {"session": session, "gate": gate})
    item = selectors.session_next_item(session=session)
    if item is None:
        return session_review(request, session)
    return redirect("reading:case", session_token=session.token, case_token=item.token)


@login_required
@require_GET
@never_cache
def case_page(request: HttpRequest, session_token: str, case_token: str) -> HttpResponse:
    session, item = selectors.reader_case_get(
        user=request.user, session_token=session_token, case_token=case_token
    )
    if not selectors.session_is_open(session=session):
        return redirect("reading:session", session_token=session.token)
    view = reading_api.shown_case_view(session=session, item=item)
    return render(
        request, "readers/viewer.html",
        {"case": reading_api.case_json(view), "view": view, "session": session},
    )


# --- The review step: once every case is answered, the reader's own answers in this session.


def session_review(request: HttpRequest, session: ReadingSession) -> HttpResponse:
    """The done page (every case answered): every answer of the session, each row a link to
    its case, where the study's revision rule (``read_submit``) decides what may change."""
    rows = selectors.session_review_rows(session=session)
    return render(
        request, "readers/session_done.html",
        {
            "session": session, "rows": rows,
            "sequential": session.condition == ReadingSession.Condition.SEQUENTIAL,
            "n_indeterminate": sum(r.indeterminate for r in rows),
        },
    )


# --- Reading progress of a study, for its coordinators and researchers.


@login_required
@require_GET
@never_cache
def study_progress(request: HttpRequest, slug: str) -> HttpResponse:
    """Per reader and session: done / total, median time per case, last activity, and when a
    waiting session opens. Admins and researchers of the study only (anyone else: 404)."""
    study = study_for_researcher(user=request.user, slug=slug)
    rows = selectors.study_reading_progress(study=study)
    summary = {
        "n_sessions": len(rows),
        "n_items": sum(r.n_items for r in rows),
        "n_done": sum(r.n_done for r in rows),
        "n_finished": sum(r.status == "done" for r in rows),
        "n_waiting": sum(r.status == "waiting" for r in rows),
    } if rows else None
    return render(request, "readers/study_progress.html",
                  {"study": study, "rows": rows, "summary": summary})


# --- The coordinator's sessions page: one round of sessions for chosen readers, outside the
# admin (the setup checklist's "sessions" step).


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def study_sessions(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's sessions (as on the progress page) and a form creating one session per chosen
    reader on the reading cases, all or none, audited. Admins of the study only (else 404)."""
    study = study_for_coordinator(user=request.user, slug=slug)
    readers = list(
        get_user_model().objects.filter(
            memberships__study=study, memberships__role=Membership.Role.READER
        ).order_by("username")
    )
    versions = list(model_versions_for_study(study=study))
    form = SessionsCreateForm(request.POST or None, readers=readers, model_versions=versions)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = [u for u in readers if u.get_username() in data["readers"]]
        version = next((m for m in versions if m.sha256 == data["model_version"]), None)
        try:
            sessions = sessions_create_audited(
                study=study, readers=chosen, name=data["name"], condition=data["condition"],
                by=request.user, partitions=data["partitions"],
                override_reason=data["override_washout"], model_version=version,
                round=data["round"],
            )
        except ReadingError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"Created {len(sessions)} session{'s' if len(sessions) != 1 else ''} "
                f"“{data['name']}” (round {data['round']})."
            )
            return redirect("reading:study-sessions", slug=study.slug)
    return render(request, "readers/study_sessions.html", {
        "study": study, "form": form, "rows": selectors.study_reading_progress(study=study),
        "n_readers": len(readers),
    })
