"""The reading pages: a reader's worklist, the start of a session (or, once every case is
answered, the review of the reader's own answers) and the viewer page."""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from readers import reading_api, selectors
from readers.models import Read, ReadingSession, SessionCase

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


@dataclass(frozen=True)
class ReviewAnswer:
    stage: str
    label: str  # "" when indeterminate
    confidence: int | None
    indeterminate: bool
    comment: str  # for an indeterminate answer: the reason
    version: int  # > 1: revised


@dataclass(frozen=True)
class ReviewRow:
    number: int  # 1-based position in the reader's order
    token: str  # the case's opaque per-session token: the row's link, nothing else
    answers: tuple  # ReviewAnswer | None per stage of the session's condition (latest version)

    @property
    def indeterminate(self) -> bool:
        return any(a is not None and a.indeterminate for a in self.answers)


def _review_rows(session: ReadingSession) -> list[ReviewRow]:
    """The reader's latest answers in ``session``, one row per case in their order (a stage
    without an answer is None: in a sequential session, the AI-aided answer that a case whose
    unaided answer was indeterminate does not ask for).

    ``session`` comes from the blinding selector (the reader's own), and only the reader's
    reads in it are read here: no truth, no model output, no case identity beyond the token.
    (A read, so it belongs in ``selectors.py``; it is here while that file is being changed.)"""
    latest: dict[int, dict[str, ReviewAnswer]] = {}
    reads = (
        Read.objects.filter(item__session=session).order_by("item_id", "stage", "version")
        .values_list("item_id", "stage", "label", "confidence", "indeterminate", "comment",
                     "version")
    )
    for item_id, stage, *answer in reads:
        latest.setdefault(item_id, {})[stage] = ReviewAnswer(stage, *answer)  # last version wins
    stages = {
        ReadingSession.Condition.UNAIDED: (Read.Stage.UNAIDED,),
        ReadingSession.Condition.AI_AIDED: (Read.Stage.AIDED,),
        ReadingSession.Condition.SEQUENTIAL: (Read.Stage.UNAIDED, Read.Stage.AIDED),
    }[session.condition]
    rows = SessionCase.objects.filter(session=session).order_by("position")
    return [
        ReviewRow(position + 1, token, tuple(latest.get(pk, {}).get(s) for s in stages))
        for pk, position, token in rows.values_list("pk", "position", "token")
    ]


def session_review(request: HttpRequest, session: ReadingSession) -> HttpResponse:
    """The done page (every case answered): every answer of the session, each row a link to
    its case, where the study's revision rule (``read_submit``) decides what may change."""
    rows = _review_rows(session)
    return render(
        request, "readers/session_done.html",
        {
            "session": session, "rows": rows,
            "sequential": session.condition == ReadingSession.Condition.SEQUENTIAL,
            "n_indeterminate": sum(r.indeterminate for r in rows),
        },
    )
