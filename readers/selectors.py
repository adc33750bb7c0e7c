"""Reads of the study domain (HackSoft style: selectors read, services write)."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from readers.models import Image, Partition, Read, ReadingSession, SessionCase, Study

UNASSIGNED = "unassigned"
UNLABELLED = "unlabelled"


def study_case_counts(*, study: Study) -> dict:
    """Cases per partition (rows) and reference class (columns), in the study's class order.

    Returns ``{"labels": [...classes, "unlabelled"], "rows": {partition: [counts...]}}`` with the
    partitions in their natural order and "unassigned" last; empty partitions are left out.
    """
    labels = [*study.label_codes, UNLABELLED]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(labels, 0))
    grouped = (
        Image.objects.filter(study=study)
        .values("partition", "reference__label")
        .annotate(n=Count("id"))
    )
    for row in grouped:
        part = row["partition"] or UNASSIGNED
        label = row["reference__label"] or UNLABELLED
        if label not in counts[part]:  # a label outside the scheme: show it, don't hide it
            for other in counts.values():
                other.setdefault(label, 0)
            labels.append(label)
            counts[part].setdefault(label, 0)
        counts[part][label] += row["n"]
    order = [*Partition.values, UNASSIGNED]
    rows = {
        part: [counts[part].get(label, 0) for label in labels]
        for part in order
        if part in counts
    }
    return {"labels": labels, "rows": rows}


def study_has_reads(*, study: Study) -> bool:
    """Whether any reader has submitted a read on a case of the study."""
    return Read.objects.filter(item__session__study=study).exists()


# --- What a reader may see. Every reading view and API goes through these: a reader reaches
# only their own sessions and the cases in them, by opaque tokens; anything else is a 404, so
# that existence does not leak.


def reader_sessions(*, user) -> QuerySet[ReadingSession]:
    """The reader's own sessions with progress (``n_items``, ``n_read``)."""
    return (
        ReadingSession.objects.filter(reader=user, reader__is_active=True)
        .annotate(
            n_items=Count("items", distinct=True),
            n_read=Count("items", filter=Q(items__reads__isnull=False), distinct=True),
        )
        .order_by("opens_at", "id")
    )


def reader_session_get(*, user, token: str) -> ReadingSession:
    if not user.is_authenticated:
        raise Http404("No such session")
    session = ReadingSession.objects.filter(reader=user, token=token).first()
    if session is None:
        raise Http404("No such session")
    return session


def reader_item_get(*, session: ReadingSession, token: str) -> SessionCase:
    item = SessionCase.objects.filter(session=session, token=token).select_related("image").first()
    if item is None:
        raise Http404("No such case")
    return item


def session_next_item(*, session: ReadingSession) -> SessionCase | None:
    """The first case in the reader's order without a final answer for the session's condition
    (for a sequential session: without the aided answer); None when the session is done."""
    final_stage = (
        Read.Stage.UNAIDED
        if session.condition == ReadingSession.Condition.UNAIDED
        else Read.Stage.AIDED
    )
    return (
        SessionCase.objects.filter(session=session)
        .exclude(reads__stage=final_stage)
        .order_by("position")
        .first()
    )


# --- The long table (DESIGN.md: the interchange format between the app, exports and analysis).


def study_long_table(*, study: Study) -> list[dict]:
    """One row per reader × case × condition × session, final read versions only.

    ``session`` numbers a reader's sessions of one condition 1, 2, ... in the order they opened,
    so a repeated unaided session is session 2. In a sequential AI-aided session the locked
    first answer is an ``unaided`` row and the answer given with the AI output an ``ai_aided``
    row, both with that session's number. ``case`` is the case id, ``patient`` the pseudonym and
    ``hip`` pseudonym and side: nothing here identifies a person. Model predictions join this
    table with the inference work.
    """
    codes = study.label_codes
    sessions = list(
        ReadingSession.objects.filter(study=study)
        .select_related("reader__reader_profile")
        .order_by("opens_at", "created_at", "id")
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
        image = read.item.image
        patient = image.hip.patient
        profile = getattr(session.reader, "reader_profile", None)
        condition = "unaided" if read.stage == Read.Stage.UNAIDED else "ai_aided"
        reference = getattr(image, "reference", None)
        rows.append(
            {
                "study": study.slug,
                "reader": session.reader.get_username(),
                "reader_kind": "human",
                "seniority": profile.seniority if profile else "",
                "condition": condition,
                "session": numbers[session.pk][condition],
                "case": str(image.pk),
                "patient": patient.pseudonym,
                "hip": f"{patient.pseudonym}-{image.hip.side}",
                "site": patient.site.code,
                "partition": image.partition,
                "truth": reference.label if reference else "",
                "label": read.label,
                "confidence": round(100 * read.confidence / study.confidence_max, 3),
                **{f"score_{code}": None for code in codes},  # humans give no per-class scores
                "time_ms": read.time_ms,
                "order_index": read.item.position,
                "read_at": read.submitted_at.isoformat(),
                "version": read.version,
            }
        )
    return rows
