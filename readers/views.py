"""The reading pages: a reader's worklist, the start of a session and the viewer page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from readers import reading_api, selectors

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
    """Resume a session at the first case without a final answer in the reader's order."""
    session = selectors.reader_session_get(user=request.user, token=session_token)
    gate = selectors.session_gate(session=session)
    if not gate.open:
        return render(request, "readers/session_closed.html", {"session": session, "gate": gate})
    item = selectors.session_next_item(session=session)
    if item is None:
        return render(request, "readers/session_done.html", {"session": session})
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
