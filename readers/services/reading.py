"""Reading sessions and reads: creating sessions (order, washout) and submitting reads.

Rules: a reader's order is a seeded permutation, recorded so it can be reproduced, and differs
between readers and sessions; a session on cases the reader already read opens only after the
study's washout unless an admin overrides it with a recorded reason; a submit is atomic and
idempotent by its client-made request id; a revision (where the study allows it) is a new
version, nothing is overwritten. A case the reader cannot grade (non-diagnostic image) gets an
indeterminate read, with the reason and without class or confidence: it is a read like any other.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from readers.models import AiExposure, AuditEvent, Read, ReadingSession, SessionCase
from readers.selectors import session_gate
from studies.models import READING_PARTITIONS, Image, Membership, Study


class ReadingError(Exception):
    """A refused action; the message is meant for the person who tried it."""


def _token() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits: tokens cannot be guessed or enumerated


def _session_seed(base_seed: int | None, reader_id: int, ordinal: int) -> int:
    """A per-session seed (recorded on the session, so its order can be reproduced).

    By default a secret random one: a reader who knows how seeds are made cannot rebuild the
    order, nor from it the import order of the cases (site blocks). Given a base seed (a
    reproducible demo or simulation), it is derived from that seed, the reader and the
    session's ordinal among this reader's sessions, so two readers never share an order."""
    if base_seed is None:
        return secrets.randbits(62)
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
    base_seed: int | None = None,
    repeat_of: ReadingSession | None = None,
    override_reason: str = "",
    created_by=None,
    round: int = 1,  # noqa: A002 - the study design's word
) -> ReadingSession:
    """Create one reader's session on ``images`` (default: the study's reading partitions) in
    reading round ``round``. It opens for the reader as :func:`readers.selectors.session_gate`
    says, whatever order sessions are created in."""
    if condition not in ReadingSession.Condition.values:
        raise ReadingError(f"unknown condition {condition!r}")
    if not 1 <= int(round) <= 99:
        raise ReadingError(f"round: a reading round is 1..99 (got {round})")
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
        round=int(round),
    )
    order = session_order(image_ids, seed=seed, randomise=study.randomise_order)
    SessionCase.objects.bulk_create(
        SessionCase(session=session, image_id=image_id, position=i, token=_token())
        for i, image_id in enumerate(order)
    )
    return session


def sessions_create_bulk(
    *, study: Study, readers, name: str, condition: str, base_seed: int | None = None, **kwargs
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
    label: str | None = None,
    confidence: int | None = None,
    time_ms: int,
    request_id: uuid.UUID | str,
    comment: str = "",
    indeterminate: bool = False,
    measurements: list[dict] | None = None,
) -> SubmitResult:
    """Store a read atomically and idempotently (same ``request_id`` → the same read).

    A graded read has a ``label`` (a class of the study) and a ``confidence``. An
    ``indeterminate`` read says the case cannot be graded (non-diagnostic image): it has no
    label, its ``comment`` gives the reason (required) and any confidence is dropped. Either
    kind is a read: it completes its stage, and a revision may turn one into the other.
    ``measurements`` (checked by :func:`readers.forms.measurements_clean`) are stored with the
    read as they are: the researcher's, never the analysis's.
    """
    request_id = uuid.UUID(str(request_id))
    existing = Read.objects.filter(item=item, request_id=request_id).first()
    if existing is not None:
        return SubmitResult(existing, created=False)
    session = item.session
    study = session.study
    comment = (comment or "").strip()
    if stage not in _stages_allowed(session.condition):
        raise ReadingError(f"a {session.get_condition_display()} session has no {stage} answer")
    if indeterminate:
        if label:
            raise ReadingError(
                f"an indeterminate read has no class (got {label!r}): leave the label empty"
            )
        if not comment:
            raise ReadingError(
                "give the reason the case cannot be graded (e.g. motion artefact, wrong slice)"
            )
        label, confidence = "", None
    else:
        if label not in study.label_codes:
            raise ReadingError(f"{label!r} is not a class of this study ({study.label_codes})")
        if confidence is None:
            raise ReadingError(f"give a confidence between 0 and {study.confidence_max}")
        if not 0 <= int(confidence) <= study.confidence_max:
            raise ReadingError(f"confidence must be between 0 and {study.confidence_max}")
        confidence = int(confidence)
    if int(time_ms) < 0:
        raise ReadingError("time on case cannot be negative")
    measurements = list(measurements or [])
    if not all(isinstance(m, dict) for m in measurements):
        raise ReadingError("measurements must be a list of objects")
    try:
        with transaction.atomic():
            # Serialise this reader's submits (the rounds and washout below depend on all of
            # their reads) and so number versions without gaps or races.
            # Rows of these two tables only: no ordering, so no join (a join would lock the
            # study's row too, and serialise every reader's submits on it).
            _lock(get_user_model().objects.filter(pk=session.reader_id))
            _lock(SessionCase.objects.filter(pk=item.pk))
            gate = session_gate(session=session)
            if not gate.open:
                raise ReadingError(gate.message)
            latest = {
                r.stage: r
                for r in Read.objects.filter(item=item).order_by("stage", "version")
            }
            previous = latest[stage].version if stage in latest else 0
            if previous and not study.revisions_allowed:
                raise ReadingError("this case is already read and the study allows no revisions")
            if stage == Read.Stage.UNAIDED and (
                Read.Stage.AIDED in latest
                or (previous and AiExposure.objects.filter(
                    reader_id=session.reader_id, image_id=item.image_id).exists())
            ):
                raise ReadingError(
                    "the unaided answer is locked: you have been shown the AI output on this case"
                )
            sequential = session.condition == ReadingSession.Condition.SEQUENTIAL
            if stage == Read.Stage.AIDED and sequential:
                first = latest.get(Read.Stage.UNAIDED)
                if first is None:
                    raise ReadingError("give the unaided answer first; the AI output follows")
                if first.indeterminate and not study.indeterminate_unlocks_ai:
                    raise ReadingError(
                        "your unaided answer is indeterminate: this case is complete without an "
                        "AI-aided answer (the study does not show the AI output after one)"
                    )
            read = Read.objects.create(
                item=item, stage=stage, version=previous + 1, label=label,
                confidence=confidence, indeterminate=bool(indeterminate), comment=comment,
                time_ms=int(time_ms), request_id=request_id, measurements=measurements,
            )
    except IntegrityError:
        # A concurrent submit of the same request won the race: return what it stored.
        existing = Read.objects.filter(item=item, request_id=request_id).first()
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    return SubmitResult(read, created=True)


def _lock(queryset) -> None:
    """Lock the rows of ``queryset`` (of its own table only) until the transaction ends."""
    list(queryset.select_for_update(of=("self",)).order_by().values_list("pk", flat=True))


def ai_exposure_record(*, session: ReadingSession, item: SessionCase) -> None:
    """Record that the reader is being shown the model's output on ``item``'s case (the first
    time counts; later calls change nothing). From then on their unaided answer on the case is
    locked in every session (:func:`read_submit`)."""
    if AiExposure.objects.filter(reader_id=session.reader_id, image_id=item.image_id).exists():
        return
    try:
        with transaction.atomic():
            AiExposure.objects.create(reader_id=session.reader_id, image_id=item.image_id,
                                      session=session, first_shown_at=timezone.now())
    except IntegrityError:
        pass  # a concurrent request recorded it first: the earlier time stands


# --- Coordinator interventions, each with an audit record.


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReadingError("reason: give a reason; it is kept in the audit record")
    return reason


@transaction.atomic
def session_reset(*, session: ReadingSession, by, reason: str) -> AuditEvent:
    """Remove every read of ``session`` so the reader starts it over. The removed reads are
    copied into the audit record, so the reset is never silent and nothing is lost."""
    reason = _require_reason(reason)
    session = ReadingSession.objects.select_for_update().get(pk=session.pk)
    reads = Read.objects.filter(item__session=session).order_by(
        "item__position", "stage", "version"
    )
    removed = [
        {
            "position": r.item.position, "image": r.item.image_id, "stage": r.stage,
            "version": r.version, "label": r.label, "confidence": r.confidence,
            "indeterminate": r.indeterminate, "comment": r.comment,
            "time_ms": r.time_ms, "submitted_at": r.submitted_at.isoformat(),
        }
        for r in reads.select_related("item")
    ]
    reads.delete()
    return AuditEvent.objects.create(
        action=AuditEvent.Action.SESSION_RESET, study=session.study, session=session, actor=by,
        reason=reason, details={"reader": session.reader.get_username(), "removed": removed},
    )


@transaction.atomic
def session_reassign(
    *, session: ReadingSession, reader, by, reason: str, override_reason: str = ""
) -> AuditEvent:
    """Give an unread session to another reader of the study, with a new order, new tokens and
    the new reader's washout. A session with reads is refused: reset it first (the reads are
    the first reader's and cannot become someone else's)."""
    reason = _require_reason(reason)
    session = ReadingSession.objects.select_for_update().get(pk=session.pk)
    study = session.study
    if reader.pk == session.reader_id:
        raise ReadingError(f"reader: the session is already {reader}'s")
    is_reader = Membership.objects.filter(study=study, user=reader, role=Membership.Role.READER)
    if not is_reader.exists():
        raise ReadingError(f"reader: {reader} is not a reader of study {study.slug}")
    if Read.objects.filter(item__session=session).exists():
        raise ReadingError("this session has reads: reset it first, then reassign it")
    previous = session.reader
    image_ids = list(session.items.values_list("image_id", flat=True))
    now = timezone.now()
    opens_at = now
    last = _last_read_at(reader, image_ids)
    if last is not None and last + timedelta(days=study.washout_days) > now:
        opens_at = last + timedelta(days=study.washout_days)
    override_reason = override_reason.strip()
    if override_reason:
        opens_at = now
    session.seed = _session_seed(None, reader.pk, 0)  # a new secret order
    session.reader = reader
    session.token = _token()
    session.opens_at = opens_at
    session.washout_override_reason = override_reason
    session.washout_overridden_by = by if override_reason else None
    session.save(
        update_fields=[
            "seed", "reader", "token", "opens_at", "washout_override_reason",
            "washout_overridden_by",
        ]
    )
    session.items.all().delete()
    order = session_order(image_ids, seed=session.seed, randomise=study.randomise_order)
    SessionCase.objects.bulk_create(
        SessionCase(session=session, image_id=image_id, position=i, token=_token())
        for i, image_id in enumerate(order)
    )
    return AuditEvent.objects.create(
        action=AuditEvent.Action.SESSION_REASSIGN, study=study, session=session, actor=by,
        reason=reason,
        details={
            "from": previous.get_username(), "to": reader.get_username(),
            "seed": session.seed, "washout_override": override_reason,
        },
    )


def _attach_model_version(*, sessions: list[ReadingSession], condition: str, model_version):
    """Give AI-aided sessions the model version whose output they show; refuse an AI-aided
    session without one, or one whose model has not predicted every case of the session."""
    if condition == ReadingSession.Condition.UNAIDED:
        if model_version is not None:
            raise ReadingError("model_version: an unaided session shows no model output")
        return
    if model_version is None:
        raise ReadingError(
            "model_version: an AI-aided session shows a model's output; name the model version"
        )
    from inference.models import Prediction

    image_ids = set(
        SessionCase.objects.filter(session__in=sessions).values_list("image_id", flat=True)
    )
    predicted = set(
        Prediction.objects.filter(model_version=model_version, image_id__in=image_ids)
        .values_list("image_id", flat=True)
    )
    if missing := len(image_ids - predicted):
        raise ReadingError(
            f"model_version: {model_version} has no prediction for {missing} of the "
            f"{len(image_ids)} cases; run inference on them first"
        )
    ReadingSession.objects.filter(pk__in=[s.pk for s in sessions]).update(
        model_version=model_version
    )
    for session in sessions:
        session.model_version = model_version


def sessions_create_audited(*, study: Study, readers, name: str, condition: str, by,
                            base_seed: int | None = None, partitions=READING_PARTITIONS,
                            override_reason: str = "", model_version=None,
                            round: int = 1) -> list[ReadingSession]:  # noqa: A002
    """:func:`sessions_create_bulk` for coordinators (command, admin form), with an audit
    record naming who created which sessions and any washout override. AI-aided sessions need
    ``model_version`` (an ``inference.ModelVersion`` with a prediction for every case)."""
    with transaction.atomic():
        sessions = sessions_create_bulk(
            study=study, readers=readers, name=name, condition=condition, base_seed=base_seed,
            partitions=partitions, override_reason=override_reason, created_by=by, round=round,
        )
        _attach_model_version(sessions=sessions, condition=condition, model_version=model_version)
        AuditEvent.objects.create(
            action=AuditEvent.Action.SESSIONS_CREATE, study=study, actor=by,
            reason=override_reason or f"sessions {name!r} created",
            details={
                "name": name, "condition": condition, "round": round, "base_seed": base_seed,
                "partitions": list(partitions),
                "sessions": {s.reader.get_username(): s.pk for s in sessions},
                "washout_override": override_reason,
                "model_version": model_version.sha256 if model_version is not None else None,
            },
        )
    return sessions
