"""The reading API behind the viewer: JSON in, JSON out, one error shape.

Every endpoint resolves the session and the case through the blinding selectors (a reader reaches
only their own session and the cases in it, by opaque tokens; anything else is a 404) and shows
a case only through :func:`readers.selectors.session_case_view`. Errors look like
``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from readers import selectors
from readers.forms import ReadSubmitForm
from readers.services.reading import ReadingError, ai_exposure_record, read_submit
from studies.pixels import heatmap_bytes, image_pixels


def error(code: str, message: str, *, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


class SessionNotOpenError(Exception):
    pass


def reader_api(view):
    """Authentication, the one error shape, and the washout gate for case endpoints."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return error("not_authenticated", "Log in to read.", status=401)
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return error("not_found", "No such session or case.", status=404)
        except SessionNotOpenError as exc:
            return error("session_not_open", str(exc), status=409)
        except ReadingError as exc:
            return error("refused", str(exc), status=409)

    return never_cache(wrapped)


def _open_session(request, session_token: str):
    """The reader's session, if the study design opens it now (rounds, washout): checked at
    every request, so a session planned ahead stays closed until its time."""
    session = selectors.reader_session_get(user=request.user, token=session_token)
    gate = selectors.session_gate(session=session)
    if not gate.open:
        raise SessionNotOpenError(gate.message)
    return session


def _open_case(request, session_token: str, case_token: str):
    session = _open_session(request, session_token)
    return session, selectors.reader_item_get(session=session, token=case_token)


def shown_case_view(*, session, item) -> selectors.CaseView:
    """The case as the reader is about to be shown it; showing the model's output is recorded
    first (it locks the reader's unaided answer on the case, in every session)."""
    view = selectors.session_case_view(session=session, item=item)
    if view.ai is not None:
        ai_exposure_record(session=session, item=item)
    return view


def shown_case(*, session, item) -> dict:
    return case_json(shown_case_view(session=session, item=item))


def case_json(view: selectors.CaseView) -> dict:
    data = asdict(view)
    data["ai"] = (
        None
        if view.ai is None
        else {
            "predicted_label": view.ai.predicted_label,
            "probabilities": [{"code": c, "p": p} for c, p in view.ai.probabilities],
            "has_heatmap": view.ai.has_heatmap,
        }
    )
    return data


@reader_api
@require_GET
def sessions(request: HttpRequest) -> JsonResponse:
    rows = selectors.reader_worklist(user=request.user)
    return JsonResponse(
        {
            "sessions": [
                {
                    "token": s.token,
                    "name": s.name,
                    "condition": s.condition,
                    "condition_display": s.get_condition_display(),
                    "study": s.study.title,
                    "total": s.n_items,
                    "done": s.n_done,
                    "round": s.round,
                    "open": s.is_open,
                    # When it opens: a time, or null while it waits on earlier rounds.
                    "opens_at": s.gate.opens_at.isoformat() if s.gate.opens_at else None,
                    "waiting_for": list(s.gate.waiting_for),
                    "closed_reason": s.gate.reason or None,
                }
                for s in rows
            ]
        }
    )


@reader_api
@require_GET
def session_next(request: HttpRequest, session_token: str) -> JsonResponse:
    """The first case without a final answer in the reader's order, as the case endpoint
    shows it; ``case`` is null when the session is done."""
    session = _open_session(request, session_token)
    item = selectors.session_next_item(session=session)
    if item is None:
        return JsonResponse({"done": True, "case": None})
    return JsonResponse({"done": False, "case": shown_case(session=session, item=item)})


@reader_api
@require_GET
def case_detail(request: HttpRequest, session_token: str, case_token: str) -> JsonResponse:
    session, item = _open_case(request, session_token, case_token)
    return JsonResponse(shown_case(session=session, item=item))


@reader_api
@require_GET
def case_pixels(request: HttpRequest, session_token: str, case_token: str) -> HttpResponse:
    """The stored values, 16-bit little endian, row-major: of the designated slice (the case
    JSON says how to show them), or with ``?slice=K`` (0-based, stack order) of another slice
    of the hip's series, whose display numbers come in the ``X-Pixel-Meta`` header (JSON)."""
    _, item = _open_case(request, session_token, case_token)
    shown = item.image
    index = request.GET.get("slice")
    if index is not None:
        if not index.isdigit() or len(index) > 6:
            return error("invalid", "slice: expected a slice number from 0.", status=400)
        shown = selectors.case_slice(item=item, index=int(index))
    response = HttpResponse(image_pixels(image=shown), content_type="application/octet-stream")
    if index is not None:
        response["X-Pixel-Meta"] = json.dumps(selectors.viewer_pixel_meta(image=shown))
    response["X-Content-Type-Options"] = "nosniff"
    return response


@reader_api
@require_GET
def case_other_hip_pixels(request: HttpRequest, session_token: str,
                          case_token: str) -> HttpResponse:
    """The graded slice of the patient's other hip, where the study shows both hips (the case
    JSON's ``other_hip`` says how to show it); 404 otherwise."""
    session, item = _open_case(request, session_token, case_token)
    other = selectors.other_hip_case(study=session.study, image=item.image)
    if other is None:
        raise Http404("No other hip shown")
    response = HttpResponse(image_pixels(image=other), content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@reader_api
@require_GET
def case_heatmap(request: HttpRequest, session_token: str, case_token: str) -> HttpResponse:
    """The model's heat map (8-bit, rows × columns in headers), only where the session shows
    the model's output for this case."""
    session, item = _open_case(request, session_token, case_token)
    prediction = selectors.session_prediction(session=session, item=item)
    if prediction is None or not prediction.heatmap_file:
        raise Http404("No heat map")
    ai_exposure_record(session=session, item=item)
    data, rows, columns = heatmap_bytes(name=prediction.heatmap_file,
                                        shape=(item.image.rows, item.image.columns))
    response = HttpResponse(data, content_type="application/octet-stream")
    response["X-Heatmap-Rows"] = str(rows)
    response["X-Heatmap-Columns"] = str(columns)
    return response


@reader_api
@require_POST
def case_read(request: HttpRequest, session_token: str, case_token: str) -> JsonResponse:
    """Submit an answer: ``{stage, label, confidence, comment, time_ms, request_id,
    measurements}`` (measurements optional: the reader's rulers, see
    :func:`readers.forms.measurements_clean`), or a
    case that cannot be graded: ``{stage, indeterminate: true, comment: <reason>, time_ms,
    request_id}`` with no label. A repeat of the same ``request_id`` returns the stored read
    (200) instead of storing another (201)."""
    session, item = _open_case(request, session_token, case_token)
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return error("invalid", "The body must be a JSON object.", status=400)
    if not isinstance(payload, dict):
        return error("invalid", "The body must be a JSON object.", status=400)
    form = ReadSubmitForm(payload, study=session.study, image=item.image)
    if not form.is_valid():
        fields = {k: [str(m) for m in v] for k, v in form.errors.items()}
        return error(
            "invalid", " ".join(m for messages in fields.values() for m in messages),
            status=400, fields=fields,
        )
    result = read_submit(item=item, **form.cleaned_data)
    read = result.read
    case = shown_case(session=session, item=item)
    return JsonResponse(
        {
            "created": result.created,
            "read": {
                "stage": read.stage,
                "version": read.version,
                "label": read.label,
                "confidence": read.confidence,
                "indeterminate": read.indeterminate,
            },
            "case": case,
        },
        status=201 if result.created else 200,
    )
