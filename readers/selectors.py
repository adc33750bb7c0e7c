"""Reads of reading (HackSoft style: selectors read, services write): what a reader may see,
their worklist and case view, session progress, and the human rows of the long table."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from readers.models import AiExposure, Read, ReadingSession, SessionCase
from studies.models import Hip, Image, Membership, Slice, Study
from studies.selectors import long_table_case_fields

# --- What a reader may see. Every reading view and API goes through these: a reader reaches
# only their own sessions and the cases in them, by opaque tokens; anything else is a 404, so
# that existence does not leak.


def _reading_sessions(user) -> QuerySet[ReadingSession]:
    """The user's own sessions in studies where they are a reader now: membership is the one
    source of access, so removing it (or changing the role) revokes reading at once."""
    member = Membership.objects.filter(study=OuterRef("study"), user=OuterRef("reader"),
                                       role=Membership.Role.READER)
    return ReadingSession.objects.filter(Exists(member), reader=user, reader__is_active=True)


def reader_sessions(*, user) -> QuerySet[ReadingSession]:
    """The reader's own sessions with progress (``n_items``, ``n_read``)."""
    return (
        _reading_sessions(user)
        .annotate(
            n_items=Count("items", distinct=True),
            n_read=Count("items", filter=Q(items__reads__isnull=False), distinct=True),
        )
        .order_by("opens_at", "id")
    )


def reader_session_get(*, user, token: str) -> ReadingSession:
    if not user.is_authenticated:
        raise Http404("No such session")
    session = _reading_sessions(user).filter(token=token).select_related("study").first()
    if session is None:
        raise Http404("No such session")
    return session


def reader_item_get(*, session: ReadingSession, token: str) -> SessionCase:
    item = SessionCase.objects.filter(session=session, token=token).select_related("image").first()
    if item is None:
        raise Http404("No such case")
    item.session = session  # the session (and its study) already loaded: no second query
    return item


def item_done_q(*, session: ReadingSession | None = None) -> Q:
    """On :class:`SessionCase`: the case has the answer that completes it in its session.

    With ``session`` (all the cases are that session's), only its condition's test: a smaller
    query, cheaper to build at every request.

    Unaided session: an unaided answer; AI-aided: an aided answer; sequential: an aided answer,
    or an unaided answer whose latest version is indeterminate where the study does not let an
    indeterminate answer unlock the AI output (the case is then complete without one).
    ``NOT EXISTS`` on the indexed ``item`` column: the plan does not depend on statistics."""
    unaided, aided = Read.Stage.UNAIDED, Read.Stage.AIDED

    def has(stage: str) -> Exists:
        return Exists(Read.objects.filter(item=OuterRef("pk"), stage=stage))

    later_unaided = Read.objects.filter(
        item=OuterRef("item"), stage=unaided, version__gt=OuterRef("version")
    )
    final_unaided_indeterminate = Exists(
        Read.objects.filter(item=OuterRef("pk"), stage=unaided, indeterminate=True)
        .exclude(Exists(later_unaided))
    )
    condition = ReadingSession.Condition
    if session is not None:
        if session.condition == condition.UNAIDED:
            return Q(has(unaided))
        if session.condition == condition.AI_AIDED:
            return Q(has(aided))
        if session.study.indeterminate_unlocks_ai:
            return Q(has(aided))
        return Q(has(aided)) | Q(final_unaided_indeterminate)
    return (
        Q(has(unaided), session__condition=condition.UNAIDED)
        | Q(has(aided), session__condition=condition.AI_AIDED)
        | Q(
            Q(has(aided))
            | Q(final_unaided_indeterminate, session__study__indeterminate_unlocks_ai=False),
            session__condition=condition.SEQUENTIAL,
        )
    )


def _n_done() -> Coalesce:
    """Annotation on :class:`ReadingSession`: its complete cases (:func:`item_done_q`)."""
    done = (
        SessionCase.objects.filter(session=OuterRef("pk")).filter(item_done_q()).order_by()
        .values("session").annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(done, output_field=IntegerField()), 0)


def session_next_item(*, session: ReadingSession) -> SessionCase | None:
    """The first case in the reader's order that is not complete (:func:`item_done_q`); None
    when the session is done."""
    return (
        SessionCase.objects.filter(session=session)
        .exclude(item_done_q(session=session))
        .select_related("image")
        .order_by("position")
        .first()
    )


# --- Rounds and washout: whether a session is open is decided here, at every request (pages,
# next, case, pixels, heat map, submit), from the study design and the reads stored so far,
# never only at creation. A session opens for its reader when
#   1. its ``opens_at`` has come (set at creation, the washout known then),
#   2. the reader has finished every session of theirs that comes first: those of earlier rounds
#      of the study and, for a session that shows AI output (AI-aided, sequential), the unaided
#      sessions of the same round on shared cases (unaided first is the default design; a
#      crossover design puts its AI-aided round first explicitly), and
#   3. ``washout_days`` have passed since the reader's last read in those sessions and since
#      their last read of any of this session's cases in another session
#      (a coordinator's recorded washout override lifts 1 and 3, never 2).


@dataclass(frozen=True)
class Gate:
    open: bool
    opens_at: datetime | None  # when it opens; None while it waits on earlier rounds
    reason: str  # "" when open; "scheduled", "earlier_round" or "washout"
    waiting_for: tuple[str, ...] = ()  # names of the reader's unfinished earlier sessions

    @property
    def message(self) -> str:
        """For the reader."""
        return self.describe()

    def describe(self, *, reader: str | None = None) -> str:
        """Why the session is not open and until when, to its reader (``reader`` None) or
        about them (to a coordinator)."""
        if self.open:
            return ""
        who, whose = (reader, f"{reader}'s") if reader else ("you", "your")
        if self.reason == "earlier_round":
            names = ", ".join(f"“{n}”" for n in self.waiting_for)
            if self.opens_at is not None:
                return (f"This session opens on {self.opens_at:%Y-%m-%d %H:%M} UTC at the "
                        f"earliest, and only once {who} {'has' if reader else 'have'} "
                        f"finished {names}.")
            return (f"This session opens when {who} {'has' if reader else 'have'} finished "
                    f"{names} and the washout has passed.")
        when = f"{self.opens_at:%Y-%m-%d %H:%M} UTC"
        if self.reason == "washout":
            return (f"This session opens on {when} (washout since {whose} last read of these "
                    "cases).")
        return f"This session opens on {when}."


def session_gate(*, session: ReadingSession, now: datetime | None = None) -> Gate:
    """Whether ``session`` is open now for its reader, and if not, until when or what for."""
    now = now or timezone.now()
    # The reader's other sessions of the study: usually none or a few, one small query. The
    # heavier questions below are asked only when there are sessions to ask them about.
    others = list(
        ReadingSession.objects.filter(study_id=session.study_id, reader_id=session.reader_id)
        .exclude(pk=session.pk).order_by("round", "id").values_list("pk", "round", "condition",
                                                                     "name")
    )
    earlier = [pk for pk, r, _, _ in others if r < session.round]
    same_round_unaided = [pk for pk, r, c, _ in others if r == session.round
                          and c == ReadingSession.Condition.UNAIDED]
    if same_round_unaided and session.condition != ReadingSession.Condition.UNAIDED:
        cases = SessionCase.objects.filter(session=session).values("image_id")
        earlier += list(
            SessionCase.objects.filter(session_id__in=same_round_unaided, image_id__in=cases)
            .order_by().values_list("session_id", flat=True).distinct()
        )
    if earlier:
        unfinished_ids = set(
            SessionCase.objects.filter(session_id__in=earlier).exclude(item_done_q())
            .order_by().values_list("session_id", flat=True).distinct()
        )
        unfinished = [name for pk, _, _, name in others if pk in unfinished_ids]
        if unfinished:
            later = session.opens_at if session.opens_at > now else None
            return Gate(False, later, "earlier_round", tuple(unfinished))
    opens_at, reason = session.opens_at, "scheduled"
    if others and not session.washout_override_reason:
        cases = SessionCase.objects.filter(session=session).values("image_id")
        last = (
            Read.objects.filter(item__session_id__in=[pk for pk, _, _, _ in others])
            .filter(Q(item__session_id__in=earlier) | Q(item__image_id__in=cases))
            .aggregate(last=Max("submitted_at"))["last"]
        )
        if last is not None:
            washout_end = last + timedelta(days=session.study.washout_days)
            if washout_end > opens_at:
                opens_at, reason = washout_end, "washout"
    if opens_at > now:
        return Gate(False, opens_at, reason)
    return Gate(True, None, "")


# --- The long table (DESIGN.md: the interchange format between the app, exports and analysis).


def study_long_table(*, study: Study) -> list[dict]:
    """One row per reader × case × condition × session, final read versions only.

    ``session`` numbers a reader's sessions of one condition 1, 2, ... by round, then in the
    order they opened, so a repeated unaided session is session 2 whatever order the rounds were
    created in. In a sequential AI-aided session the locked
    first answer is an ``unaided`` row and the answer given with the AI output an ``ai_aided``
    row, both with that session's number. ``case`` is the case id, ``patient`` the pseudonym and
    ``hip`` pseudonym and side: nothing here identifies a person. Model predictions join this
    table with the inference work. ``indeterminate`` marks a read whose case the reader could
    not grade (STARD's indeterminate result): its ``label`` is empty and ``confidence`` None.
    """
    codes = study.label_codes
    sessions = list(
        ReadingSession.objects.filter(study=study)
        .select_related("reader__reader_profile")
        .order_by("round", "opens_at", "created_at", "id")
    )
    numbers: dict[int, dict[str, int]] = {}
    counters: dict[tuple[int, str], int] = defaultdict(int)
    for session in sessions:
        conditions = {
            ReadingSession.Condition.UNAIDED: ["unaided"],
            ReadingSession.Condition.AI_AIDED: ["ai_aided"],
            ReadingSession.Condition.SEQUENTIAL: ["unaided", "ai_aided"],
        }[session.condition]
        numbers[session.pk] = {}
        for condition in conditions:
            counters[(session.reader_id, condition)] += 1
            numbers[session.pk][condition] = counters[(session.reader_id, condition)]
    by_pk = {s.pk: s for s in sessions}
    reads = (
        Read.objects.filter(item__session__study=study)
        .select_related(
            "item__image__hip__patient__site", "item__image__reference",
        )
        .order_by("item__session_id", "item__position", "stage", "version")
    )
    final: dict[tuple[int, str], Read] = {}
    for read in reads:
        final[(read.item_id, read.stage)] = read  # ordered by version: the last one wins
    rows = []
    for read in final.values():
        session = by_pk[read.item.session_id]
        profile = getattr(session.reader, "reader_profile", None)
        condition = "unaided" if read.stage == Read.Stage.UNAIDED else "ai_aided"
        rows.append(
            {
                **long_table_case_fields(study=study, image=read.item.image),
                "reader": session.reader.get_username(),
                "reader_kind": "human",
                "seniority": profile.seniority if profile else "",
                "condition": condition,
                "session": numbers[session.pk][condition],
                "label": read.label,  # "" for an indeterminate read
                "confidence": (
                    None
                    if read.confidence is None
                    else round(100 * read.confidence / study.confidence_max, 3)
                ),
                "indeterminate": read.indeterminate,
                **{f"score_{code}": None for code in codes},  # humans give no per-class scores
                "time_ms": read.time_ms,
                "order_index": read.item.position,
                "read_at": read.submitted_at.isoformat(),
                "version": read.version,
            }
        )
    return rows


# --- The reading pages and API. Everything a reader sees of a case is built here, from the
# reader's own session: position, the reader's own answers, the study's classes, display
# metadata of the pixels and — only where the session allows it — the model's output.


def session_final_stage(*, session: ReadingSession) -> str:
    """The stage whose answer completes a case in this session."""
    if session.condition == ReadingSession.Condition.UNAIDED:
        return Read.Stage.UNAIDED
    return Read.Stage.AIDED


def session_is_open(*, session: ReadingSession) -> bool:
    """Whether the session is open now (:func:`session_gate`)."""
    return session_gate(session=session).open


def reader_worklist(*, user) -> list[ReadingSession]:
    """The reader's own sessions (as :func:`reader_sessions`) with ``n_done`` (complete cases),
    ``gate`` (:func:`session_gate`) and ``is_open``."""
    if not user.is_authenticated:
        return []
    sessions = list(
        reader_sessions(user=user).select_related("study").annotate(n_done=_n_done())
        .order_by("study_id", "round", "opens_at", "id")
    )
    now = timezone.now()
    for session in sessions:
        session.gate = session_gate(session=session, now=now)
        session.is_open = session.gate.open
    return sessions


def reader_case_get(*, user, session_token: str, case_token: str):
    """The reader's own session and a case in it, by their opaque tokens; 404 otherwise."""
    session = reader_session_get(user=user, token=session_token)
    return session, reader_item_get(session=session, token=case_token)


def _unaided_unlocks_ai(session: ReadingSession, item: SessionCase) -> bool:
    """Sequential reading: the reader's latest unaided answer on ``item`` exists and unlocks
    the AI output (an indeterminate one only where the study says so)."""
    latest = item.reads.filter(stage=Read.Stage.UNAIDED).order_by("-version").first()
    if latest is None:
        return False
    return not latest.indeterminate or session.study.indeterminate_unlocks_ai


def session_prediction(*, session: ReadingSession, item: SessionCase):
    """The model output the reader may see on ``item``, or None.

    Only an AI-aided session shows one, from its own model version (``session.model_version``),
    and a sequential session only once the reader's unaided answer on the case is locked (and
    not indeterminate, unless the study lets an indeterminate answer unlock it).
    """
    if session.condition == ReadingSession.Condition.UNAIDED:
        return None
    model_version_id = session.model_version_id
    if model_version_id is None:
        return None
    if (
        session.condition == ReadingSession.Condition.SEQUENTIAL
        and not _unaided_unlocks_ai(session, item)
    ):
        return None
    from inference.models import Prediction

    return (
        Prediction.objects.filter(model_version_id=model_version_id, image_id=item.image_id)
        .select_related("model_version")
        .first()
    )


@dataclass(frozen=True)
class OwnRead:
    stage: str
    version: int
    label: str  # "" when indeterminate
    confidence: int | None  # None when indeterminate
    comment: str  # for an indeterminate read: the reason it could not be graded
    indeterminate: bool = False
    # The reader's own rulers on the case (readers.forms.measurements_clean's shape).
    measurements: list = field(default_factory=list)


@dataclass(frozen=True)
class AiOutput:
    predicted_label: str
    probabilities: list[tuple[str, float]]  # (class code, probability), in the model's order
    has_heatmap: bool


@dataclass(frozen=True)
class CaseView:
    """What the reader sees of one case of their session (and nothing else)."""

    session_token: str
    session_name: str
    condition: str
    condition_display: str
    token: str
    number: int  # 1-based position in the reader's order
    total: int
    n_done: int
    stage: str | None  # the answer asked for now; None when there is nothing left to give
    reads: dict[str, OwnRead]  # the reader's latest answer per stage on this case
    revisions_allowed: bool
    ai: AiOutput | None
    prev_token: str | None
    next_token: str | None
    labels: list[dict]
    confidence_max: int
    pixels: dict = field(default_factory=dict)  # the designated slice's
    slices: int = 1  # the hip series' slices the reader can scroll through
    designated_slice: int = 0  # 0-based: the slice graded (and shown first)
    # The patient's other hip, shown beside the case where the study allows it
    # (Study.show_both_hips): its side and display numbers, never its truth or model output.
    other_hip: dict | None = None


def _stage_asked(session: ReadingSession, reads: dict, revisions: bool,
                 ai_seen: bool) -> str | None:
    """The answer the case asks for now. A revision of the unaided answer is never asked for
    once the reader has seen the model's output on the case (in any session)."""
    unaided, aided = Read.Stage.UNAIDED, Read.Stage.AIDED
    if session.condition == ReadingSession.Condition.UNAIDED:
        return unaided if unaided not in reads or (revisions and not ai_seen) else None
    if session.condition == ReadingSession.Condition.AI_AIDED:
        return aided if aided not in reads or revisions else None
    if unaided not in reads:
        return unaided
    if reads[unaided].indeterminate and not session.study.indeterminate_unlocks_ai:
        # Complete without an aided answer; the indeterminate answer may still be revised.
        return unaided if revisions and not ai_seen else None
    return aided if aided not in reads or revisions else None


def session_case_view(*, session: ReadingSession, item: SessionCase) -> CaseView:
    """The reader's view of ``item``: the one place that decides what a reading page or the
    reading API shows about a case."""
    study = session.study
    reads: dict[str, OwnRead] = {}
    for read in item.reads.order_by("stage", "version"):
        reads[read.stage] = OwnRead(
            read.stage, read.version, read.label, read.confidence, read.comment,
            read.indeterminate, list(read.measurements or []),
        )
    items = SessionCase.objects.filter(session=session)
    # Positions are 0..N-1 (sessions are created and reassigned that way): the neighbours are
    # one query, the counts another.
    neighbours = dict(
        items.filter(position__in=[item.position - 1, item.position + 1])
        .order_by()
        .values_list("position", "token")
    )
    counts = items.aggregate(total=Count("id"),
                             done=Count("id", filter=item_done_q(session=session)))
    # Whether the reader was shown model output on this case: it matters only for a revision
    # of an unaided answer, so it is asked only then.
    ai_seen = (
        study.revisions_allowed and Read.Stage.UNAIDED in reads
        and AiExposure.objects.filter(reader_id=session.reader_id,
                                      image_id=item.image_id).exists()
    )
    prediction = session_prediction(session=session, item=item)
    ai = None
    if prediction is not None:
        codes = [str(c) for c in prediction.model_version.labels]
        ai = AiOutput(
            predicted_label=prediction.predicted_label,
            probabilities=[
                (code, round(float(p), 4))
                for code, p in zip(codes, prediction.probabilities, strict=False)
            ],
            has_heatmap=bool(prediction.heatmap_file),
        )
    return CaseView(
        session_token=session.token,
        session_name=session.name,
        condition=session.condition,
        condition_display=session.get_condition_display(),
        token=item.token,
        number=item.position + 1,
        total=counts["total"],
        n_done=counts["done"],
        stage=_stage_asked(session, reads, study.revisions_allowed, ai_seen),
        reads=reads,
        revisions_allowed=study.revisions_allowed,
        ai=ai,
        prev_token=neighbours.get(item.position - 1),
        next_token=neighbours.get(item.position + 1),
        labels=[
            {
                "code": str(c["code"]),
                "name": str(c.get("name") or c["code"]),
                "definition": str(c.get("definition", "")),
            }
            for c in study.label_scheme
        ],
        confidence_max=study.confidence_max,
        pixels=viewer_pixel_meta(image=item.image),
        slices=max(1, item.image.slices.count()),
        designated_slice=item.image.designated_index,
        other_hip=_other_hip_view(study=study, image=item.image),
    )


def other_hip_case(*, study: Study, image):
    """The case of the patient's other hip shown beside ``image`` when the study allows it
    (``Study.show_both_hips``), or ``None``: the other side's first case in the study (a hip
    of unknown side has no other side)."""
    if not study.show_both_hips:
        return None
    hip = image.hip
    if hip.side == Hip.Side.UNKNOWN:
        return None
    other = Hip.Side.LEFT if hip.side == Hip.Side.RIGHT else Hip.Side.RIGHT
    return (
        Image.objects.filter(study=study, hip__patient_id=hip.patient_id, hip__side=other)
        .order_by("pk").first()
    )


def _other_hip_view(*, study: Study, image) -> dict | None:
    other = other_hip_case(study=study, image=image)
    if other is None:
        return None
    return {"side": other.hip.side, "pixels": viewer_pixel_meta(image=other)}


def case_slice(*, item: SessionCase, index: int):
    """Slice ``index`` (0-based, stack order) of the case of a reader's session item, or 404:
    only reached after :func:`reader_item_get` has resolved the item for its reader."""
    found = Slice.objects.filter(image_id=item.image_id, index=index).first()
    if found is None:
        raise Http404("No such slice")
    return found


# What the viewer uses of the display metadata, and nothing more (issue 15 S4: every extra
# field, such as bits stored, helps a reader tell the sites apart).
VIEWER_PIXEL_FIELDS = (
    "rows", "columns", "dtype", "rescale_slope", "rescale_intercept", "window_center",
    "window_width", "pixel_spacing", "invert", "min_value", "max_value",
)


def viewer_pixel_meta(*, image) -> dict:
    """The display numbers of a case or a slice, as the viewer is given them."""
    from studies.pixels import image_pixel_meta

    meta = image_pixel_meta(image=image).as_dict()
    return {k: meta[k] for k in VIEWER_PIXEL_FIELDS}


# --- The review step: once every case is answered, the reader's own answers in a session.


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


def session_review_rows(*, session: ReadingSession) -> list[ReviewRow]:
    """The reader's latest answers in ``session``, one row per case in their order (a stage
    without an answer is None: in a sequential session, the AI-aided answer that a case whose
    unaided answer was indeterminate does not ask for).

    ``session`` comes from the blinding selector (the reader's own), and only the reader's
    reads in it are read here: no truth, no model output, no case identity beyond the token."""
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


# --- Progress for coordinators (admin), never shown to readers.


@dataclass(frozen=True)
class SessionProgress:
    n_items: int
    n_done: int
    median_time_ms: float | None  # over final answers
    last_activity: object  # datetime | None
    times_ms: tuple[int, ...] = ()  # time on case of each final answer


def sessions_progress(*, session_ids) -> dict[int, SessionProgress]:
    """Reads done, median time per case (final stage, latest version) and last activity."""
    import statistics

    session_ids = list(session_ids)
    sessions = ReadingSession.objects.filter(pk__in=session_ids).annotate(
        n_items=Count("items", distinct=True),
        n_done=_n_done(),
        last=Max("items__reads__submitted_at"),
    )
    final = {s.pk: session_final_stage(session=s) for s in sessions}
    times: dict[int, dict[int, int]] = defaultdict(dict)
    rows = (
        Read.objects.filter(item__session_id__in=session_ids)
        .order_by("version")
        .values_list("item__session_id", "item_id", "stage", "time_ms")
    )
    for session_id, item_id, stage, time_ms in rows:
        if stage == final[session_id]:
            times[session_id][item_id] = time_ms  # latest version wins
    return {
        s.pk: SessionProgress(
            n_items=s.n_items,
            n_done=s.n_done,
            median_time_ms=(
                float(statistics.median(times[s.pk].values())) if times[s.pk] else None
            ),
            last_activity=s.last,
            times_ms=tuple(times[s.pk].values()),
        )
        for s in sessions
    }


# --- Reading progress of a study, for its coordinators and researchers (never for readers).


@dataclass(frozen=True)
class ProgressRow:
    reader: str
    session: str  # the session's name
    token: str
    round: int
    condition: str
    condition_display: str
    n_items: int
    n_done: int
    median_time_ms: float | None
    last_activity: datetime | None
    status: str  # "done", "reading", "not started", "waiting"
    opens: str  # for a waiting session: what it waits for (Gate.message), else ""

    @property
    def median_seconds(self) -> float | None:
        return None if self.median_time_ms is None else self.median_time_ms / 1000


def study_reading_progress(*, study: Study) -> list[ProgressRow]:
    """Every session of ``study``, by round, reader and name: done / total, median time per
    case (final answers), last activity and whether the session is open for its reader."""
    sessions = list(
        ReadingSession.objects.filter(study=study).select_related("reader", "study")
        .order_by("round", "reader__username", "name", "id")
    )
    progress = sessions_progress(session_ids=[s.pk for s in sessions])
    now = timezone.now()
    rows = []
    for s in sessions:
        p = progress[s.pk]
        gate = session_gate(session=s, now=now) if p.n_done < p.n_items else Gate(True, None, "")
        if p.n_items and p.n_done == p.n_items:
            status = "done"
        elif not gate.open:
            status = "waiting"
        else:
            status = "reading" if p.last_activity else "not started"
        rows.append(ProgressRow(
            reader=s.reader.get_username(), session=s.name, token=s.token, round=s.round,
            condition=s.condition, condition_display=s.get_condition_display(),
            n_items=p.n_items, n_done=p.n_done, median_time_ms=p.median_time_ms,
            last_activity=p.last_activity, status=status,
            opens=gate.describe(reader=s.reader.get_username()),
        ))
    return rows
