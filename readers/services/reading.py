"""Reading sessions and reads: creating sessions (order, washout) and submitting reads.

Rules: a reader's order is a seeded permutation, recorded so it can be reproduced, and differs
between readers and sessions; a session on cases the reader already read opens only after the
study's washout unless an admin overrides it with a recorded reason; a submit is atomic and
idempotent by its client-made request id; a revision (where the study allows it) is a new
version, nothing is overwritten.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from readers.models import (
    READING_PARTITIONS,
    Image,
    Membership,
    Read,
    ReadingSession,
    SessionCase,
    Study,
)


class ReadingError(Exception):
    """A refused action; the message is meant for the person who tried it."""


def _token() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits: tokens cannot be guessed or enumerated


def _session_seed(base_seed: int, reader_id: int, ordinal: int) -> int:
    """A per-session seed derived from the admin's base seed, the reader and the session's
    ordinal among this reader's sessions, so two readers (or two sessions) never share an order."""
    state = np.random.SeedSequence([base_seed, reader_id, ordinal]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def session_order(image_ids: list[int], *, seed: int, randomise: bool) -> list[int]:
    """The reading order of ``image_ids`` for a session seed (ids sorted first, so the order
    depends on the seed and the case set only)."""
    ids = sorted(image_ids)
    if not randomise:
        return ids
    rng = np.random.default_rng(seed)
    return [ids[i] for i in rng.permutation(len(ids))]


def _last_read_at(reader, image_ids: list[int]):
    return Read.objects.filter(
        item__session__reader=reader, item__image_id__in=image_ids
    ).aggregate(last=Max("submitted_at"))["last"]


@transaction.atomic
def session_create(
    *,
    study: Study,
    reader,
    name: str,
    condition: str,
    images: list[Image] | None = None,
    partitions=READING_PARTITIONS,
    base_seed: int = 0,
    repeat_of: ReadingSession | None = None,
    override_reason: str = "",
    created_by=None,
) -> ReadingSession:
    """Create one reader's session on ``images`` (default: the study's reading partitions)."""
    if condition not in ReadingSession.Condition.values:
        raise ReadingError(f"unknown condition {condition!r}")
    if not Membership.objects.filter(
        study=study, user=reader, role=Membership.Role.READER
    ).exists():
        raise ReadingError(f"{reader} is not a reader of study {study.slug}")
    if images is None:
        image_ids = list(
            Image.objects.filter(study=study, partition__in=list(partitions)).values_list(
                "id", flat=True
            )
        )
    else:
        image_ids = [img.pk for img in images if img.study_id == study.pk]
        if len(image_ids) != len(images):
            raise ReadingError("some cases do not belong to this study")
    if not image_ids:
        raise ReadingError(f"study {study.slug} has no cases in {list(partitions)} to read")
    now = timezone.now()
    opens_at = now
    last = _last_read_at(reader, image_ids)
    if last is not None:
        washout_end = last + timedelta(days=study.washout_days)
        if washout_end > now:
            opens_at = washout_end
    override_reason = override_reason.strip()
    if override_reason and opens_at > now:
        opens_at = now
    ordinal = ReadingSession.objects.filter(study=study, reader=reader).count()
    seed = _session_seed(base_seed, reader.pk, ordinal)
    session = ReadingSession.objects.create(
        study=study,
        reader=reader,
        token=_token(),
        name=name,
        condition=condition,
        seed=seed,
        opens_at=opens_at,
        washout_override_reason=override_reason,
        washout_overridden_by=created_by if override_reason else None,
        repeat_of=repeat_of,
        created_by=created_by,
    )
    order = session_order(image_ids, seed=seed, randomise=study.randomise_order)
    SessionCase.objects.bulk_create(
        SessionCase(session=session, image_id=image_id, position=i, token=_token())
        for i, image_id in enumerate(order)
    )
    return session


def sessions_create_bulk(
    *, study: Study, readers, name: str, condition: str, base_seed: int = 0, **kwargs
) -> list[ReadingSession]:
    """Readers × the study's reading cases: one session per reader, all or nothing."""
    with transaction.atomic():
        return [
            session_create(
                study=study, reader=reader, name=name, condition=condition,
                base_seed=base_seed, **kwargs,
            )
            for reader in readers
        ]


@dataclass(frozen=True)
class SubmitResult:
    read: Read
    created: bool  # False: the same request was already stored (a retry or a double click)


def _stages_allowed(condition: str) -> tuple[str, ...]:
    return {
        ReadingSession.Condition.UNAIDED: (Read.Stage.UNAIDED,),
        ReadingSession.Condition.AI_AIDED: (Read.Stage.AIDED,),
        ReadingSession.Condition.SEQUENTIAL: (Read.Stage.UNAIDED, Read.Stage.AIDED),
    }[condition]


def read_submit(
    *,
    item: SessionCase,
    stage: str,
    label: str,
    confidence: int,
    time_ms: int,
    request_id: uuid.UUID | str,
    comment: str = "",
) -> SubmitResult:
    """Store a read atomically and idempotently (same ``request_id`` → the same read)."""
    request_id = uuid.UUID(str(request_id))
    existing = Read.objects.filter(item=item, request_id=request_id).first()
    if existing is not None:
        return SubmitResult(existing, created=False)
    session = item.session
    study = session.study
    if timezone.now() < session.opens_at:
        raise ReadingError(f"this session opens on {session.opens_at:%Y-%m-%d} (washout)")
    if stage not in _stages_allowed(session.condition):
        raise ReadingError(f"a {session.get_condition_display()} session has no {stage} answer")
    if label not in study.label_codes:
        raise ReadingError(f"{label!r} is not a class of this study ({study.label_codes})")
    if not 0 <= int(confidence) <= study.confidence_max:
        raise ReadingError(f"confidence must be between 0 and {study.confidence_max}")
    if int(time_ms) < 0:
        raise ReadingError("time on case cannot be negative")
    try:
        with transaction.atomic():
            # Serialise submits on this case so versions are numbered without gaps or races.
            SessionCase.objects.select_for_update().filter(pk=item.pk).first()
            stages = dict(
                Read.objects.filter(item=item)
                .values_list("stage")
                .annotate(v=Max("version"))
            )
            previous = stages.get(stage, 0)
            if previous and not study.revisions_allowed:
                raise ReadingError("this case is already read and the study allows no revisions")
            if stage == Read.Stage.UNAIDED and stages.get(Read.Stage.AIDED):
                raise ReadingError("the unaided answer is locked once the AI output was shown")
            if (
                stage == Read.Stage.AIDED
                and session.condition == ReadingSession.Condition.SEQUENTIAL
                and not stages.get(Read.Stage.UNAIDED)
            ):
                raise ReadingError("give the unaided answer first; the AI output follows")
            read = Read.objects.create(
                item=item, stage=stage, version=previous + 1, label=label,
                confidence=int(confidence), comment=comment.strip(), time_ms=int(time_ms),
                request_id=request_id,
            )
    except IntegrityError:
        # A concurrent submit of the same request won the race: return what it stored.
        existing = Read.objects.filter(item=item, request_id=request_id).first()
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    return SubmitResult(read, created=True)
