"""Reading sessions and reads: order, washout, idempotent submits, versions, and the blinding
selectors that every reading view will use."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from readers import selectors
from readers.models import Read, ReadingSession
from readers.services.reading import ReadingError, read_submit, session_create, sessions_create_bulk
from studies import selectors as study_selectors

pytestmark = pytest.mark.django_db


def _alice_session(study, cast):
    return session_create(study=study, reader=cast["alice"], name="R1", condition="unaided")


def _submit(item, label="C1", stage="unaided", **kw):
    return read_submit(
        item=item, stage=stage, label=label, confidence=kw.pop("confidence", 70),
        time_ms=kw.pop("time_ms", 4200), request_id=kw.pop("request_id", uuid.uuid4()), **kw
    )


def test_sessions_cover_the_test_and_external_cases_in_a_seeded_order_per_reader(
    reading_study, cast
):
    alice_s, bob_s = sessions_create_bulk(
        study=reading_study, readers=[cast["alice"], cast["bob"]], name="Round 1",
        condition="unaided", base_seed=7,
    )
    expected = set(
        reading_study.images.filter(partition__in=["test", "external"]).values_list("id", flat=True)
    )
    alice_order = list(alice_s.items.values_list("image_id", flat=True))
    bob_order = list(bob_s.items.values_list("image_id", flat=True))
    assert set(alice_order) == set(bob_order) == expected
    assert alice_order != bob_order
    # reproducible from the recorded seed
    from readers.services.reading import session_order

    assert session_order(list(expected), seed=alice_s.seed, randomise=True) == alice_order


def test_only_readers_of_the_study_get_sessions(reading_study, cast):
    with pytest.raises(ReadingError, match="not a reader"):
        session_create(study=reading_study, reader=cast["rachel"], name="x", condition="unaided")


def test_a_second_session_on_read_cases_waits_for_the_washout(reading_study, cast):
    first = session_create(
        study=reading_study, reader=cast["alice"], name="R1", condition="unaided"
    )
    _submit(first.items.first())
    second = session_create(
        study=reading_study, reader=cast["alice"], name="R2", condition="ai_aided"
    )
    days = (second.opens_at - timezone.now()).total_seconds() / 86400
    assert days == pytest.approx(reading_study.washout_days, abs=0.01)
    with pytest.raises(ReadingError, match="opens on"):
        _submit(second.items.first(), stage="aided")
    # Bob never read these cases: his session opens now.
    bobs = session_create(study=reading_study, reader=cast["bob"], name="R1", condition="unaided")
    assert bobs.opens_at <= timezone.now()


def test_an_admin_override_of_the_washout_is_recorded(reading_study, cast):
    first = _alice_session(reading_study, cast)
    _submit(first.items.first())
    repeat = session_create(
        study=reading_study, reader=cast["alice"], name="R1 repeat", condition="unaided",
        repeat_of=first, override_reason="reader leaves the department", created_by=cast["rachel"],
    )
    assert repeat.opens_at <= timezone.now()
    assert repeat.washout_override_reason == "reader leaves the department"
    assert repeat.washout_overridden_by == cast["rachel"]
    assert repeat.repeat_of == first
    assert list(repeat.items.values_list("image_id", flat=True)) != list(
        first.items.values_list("image_id", flat=True)
    )


def test_a_retried_submit_stores_one_read(reading_study, cast):
    session = _alice_session(reading_study, cast)
    item = session.items.first()
    key = uuid.uuid4()
    first = _submit(item, request_id=key)
    again = _submit(item, request_id=key)
    assert first.created and not again.created
    assert again.read.pk == first.read.pk
    assert Read.objects.filter(item=item).count() == 1


def test_a_second_answer_is_refused_without_revisions_and_versioned_with_them(reading_study, cast):
    session = _alice_session(reading_study, cast)
    item = session.items.first()
    _submit(item, label="B")
    with pytest.raises(ReadingError, match="no revisions"):
        _submit(item, label="C1")
    reading_study.revisions_allowed = True
    reading_study.save()
    item.refresh_from_db()
    revised = _submit(item, label="C1")
    assert revised.read.version == 2
    assert list(Read.objects.filter(item=item).values_list("version", "label")) == [
        (1, "B"), (2, "C1")
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"label": "D"}, "not a class"), ({"confidence": 101}, "between 0 and 100"),
     ({"time_ms": -1}, "negative"), ({"stage": "aided"}, "has no aided answer")],
)
def test_it_refuses_malformed_reads(reading_study, cast, kwargs, message):
    session = _alice_session(reading_study, cast)
    with pytest.raises(ReadingError, match=message):
        _submit(session.items.first(), **kwargs)
    assert not Read.objects.exists()


def test_a_sequential_session_locks_the_unaided_answer_before_the_aided_one(reading_study, cast):
    session = session_create(
        study=reading_study, reader=cast["alice"], name="Seq", condition="sequential_ai"
    )
    item = session.items.first()
    with pytest.raises(ReadingError, match="unaided answer first"):
        _submit(item, stage="aided")
    _submit(item, stage="unaided", label="B")
    assert selectors.session_next_item(session=session) == item  # the aided answer is missing
    _submit(item, stage="aided", label="C1")
    reading_study.revisions_allowed = True
    reading_study.save()
    item.refresh_from_db()
    with pytest.raises(ReadingError, match="locked"):
        _submit(item, stage="unaided", label="C2")
    assert selectors.session_next_item(session=session) != item


def test_the_next_case_is_the_first_unread_in_the_readers_order(reading_study, cast):
    session = _alice_session(reading_study, cast)
    items = list(session.items.order_by("position"))
    _submit(items[0])
    _submit(items[2])
    assert selectors.session_next_item(session=session) == items[1]
    progress = selectors.reader_sessions(user=cast["alice"]).get()
    assert (progress.n_read, progress.n_items) == (2, len(items))


def test_a_reader_reaches_only_their_own_sessions_and_cases(reading_study, cast):
    from django.contrib.auth.models import AnonymousUser

    alice_s = _alice_session(reading_study, cast)
    bob_s = session_create(study=reading_study, reader=cast["bob"], name="R1", condition="unaided")
    assert selectors.reader_session_get(user=cast["alice"], token=alice_s.token) == alice_s
    for user in [cast["bob"], cast["rachel"], cast["charlie"], AnonymousUser()]:
        with pytest.raises(Http404):
            selectors.reader_session_get(user=user, token=alice_s.token)
    bob_item = bob_s.items.first()
    with pytest.raises(Http404):
        selectors.reader_item_get(session=alice_s, token=bob_item.token)
    assert list(selectors.reader_sessions(user=cast["bob"])) == [bob_s]


def test_study_has_reads_sees_submitted_reads(reading_study, cast):
    session = _alice_session(reading_study, cast)
    assert not study_selectors.study_has_reads(study=reading_study)
    _submit(session.items.first())
    assert study_selectors.study_has_reads(study=reading_study)


def test_read_versions_and_request_ids_are_unique_in_the_database(reading_study, cast):
    session = _alice_session(reading_study, cast)
    read = _submit(session.items.first()).read
    with transaction.atomic(), pytest.raises(IntegrityError):
        Read.objects.create(
            item=read.item, stage="unaided", version=1, label="A", confidence=1, time_ms=1,
            request_id=uuid.uuid4(),
        )
    with transaction.atomic(), pytest.raises(IntegrityError):
        Read.objects.create(
            item=read.item, stage="unaided", version=2, label="A", confidence=1, time_ms=1,
            request_id=read.request_id,
        )
    assert ReadingSession.objects.count() == 1
    assert timedelta(0) <= timezone.now() - read.submitted_at < timedelta(minutes=1)


# --- Indeterminate reads: the reader cannot grade the case (non-diagnostic image).


def _cannot_grade(item, reason="motion artefact", stage="unaided", **kw):
    return read_submit(
        item=item, stage=stage, indeterminate=True, comment=reason,
        time_ms=kw.pop("time_ms", 2100), request_id=kw.pop("request_id", uuid.uuid4()), **kw
    )


def test_an_indeterminate_read_has_no_class_no_confidence_and_keeps_its_reason(
    reading_study, cast
):
    session = _alice_session(reading_study, cast)
    item = session.items.order_by("position").first()
    result = _cannot_grade(item, reason="  wrong or missing slice ", confidence=80)
    read = Read.objects.get(item=item)
    assert result.created and result.read.pk == read.pk
    assert (read.indeterminate, read.label, read.confidence, read.comment, read.version) == (
        True, "", None, "wrong or missing slice", 1,
    )
    # it is a read: the case is done and the reader moves on
    assert selectors.session_next_item(session=session) != item
    assert selectors.reader_sessions(user=cast["alice"]).get().n_read == 1
    assert selectors.reader_worklist(user=cast["alice"])[0].n_done == 1
    progress = selectors.sessions_progress(session_ids=[session.pk])[session.pk]  # the admin's
    assert (progress.n_done, progress.times_ms) == (1, (2100,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"reason": ""}, "give the reason"), ({"reason": "   "}, "give the reason"),
     ({"label": "B"}, "has no class"), ({"stage": "aided"}, "has no aided answer"),
     ({"time_ms": -1}, "negative")],
)
def test_it_refuses_an_indeterminate_read_without_a_reason_or_with_a_class(
    reading_study, cast, kwargs, message
):
    session = _alice_session(reading_study, cast)
    with pytest.raises(ReadingError, match=message):
        _cannot_grade(session.items.first(), **kwargs)
    assert not Read.objects.exists()


def test_a_graded_read_still_needs_a_class_and_a_confidence(reading_study, cast):
    session = _alice_session(reading_study, cast)
    item = session.items.first()
    with pytest.raises(ReadingError, match="not a class"):
        _submit(item, label="")
    with pytest.raises(ReadingError, match="give a confidence"):
        _submit(item, confidence=None)
    assert not Read.objects.exists()


def test_a_retried_indeterminate_submit_stores_one_read(reading_study, cast):
    session = _alice_session(reading_study, cast)
    item = session.items.first()
    key = uuid.uuid4()
    first = _cannot_grade(item, request_id=key)
    again = _cannot_grade(item, request_id=key)
    # the same request id returns the stored read, whatever the retry carries
    also = _submit(item, label="B", request_id=key)
    assert first.created and not again.created and not also.created
    assert again.read.pk == also.read.pk == first.read.pk
    assert Read.objects.filter(item=item).count() == 1


def test_revisions_turn_an_indeterminate_read_into_a_graded_one_and_back(reading_study, cast):
    session = _alice_session(reading_study, cast)
    item = session.items.first()
    _cannot_grade(item)
    with pytest.raises(ReadingError, match="no revisions"):
        _submit(item, label="C1")
    reading_study.revisions_allowed = True
    reading_study.save()
    item.refresh_from_db()
    assert _submit(item, label="C1", confidence=65).read.version == 2
    assert _cannot_grade(item, reason="hip not assessable (e.g. prosthesis)").read.version == 3
    assert list(
        Read.objects.filter(item=item).values_list("version", "indeterminate", "label",
                                                   "confidence")
    ) == [(1, True, "", None), (2, False, "C1", 65), (3, True, "", None)]


def test_an_indeterminate_unaided_answer_is_locked_before_the_ai_output_like_a_graded_one(
    reading_study, cast
):
    # A study that lets an indeterminate unaided answer unlock the AI output (issue 15 S7: off
    # by default, see the security tests).
    reading_study.indeterminate_unlocks_ai = True
    reading_study.save()
    session = session_create(
        study=reading_study, reader=cast["alice"], name="Seq", condition="sequential_ai"
    )
    item = session.items.first()
    with pytest.raises(ReadingError, match="unaided answer first"):
        _cannot_grade(item, stage="aided")
    _cannot_grade(item, stage="unaided")
    assert selectors.session_next_item(session=session) == item  # the aided answer is missing
    _cannot_grade(item, stage="aided", reason="image quality / artefact")
    reading_study.revisions_allowed = True
    reading_study.save()
    item.refresh_from_db()
    with pytest.raises(ReadingError, match="locked"):
        _submit(item, stage="unaided", label="C2")
    assert selectors.session_next_item(session=session) != item


def test_the_long_table_marks_indeterminate_reads_with_no_class_and_no_confidence(
    reading_study, cast
):
    session = _alice_session(reading_study, cast)
    items = list(session.items.order_by("position")[:3])
    _submit(items[0], label="B", confidence=70)
    _cannot_grade(items[1], confidence=40)
    reading_study.revisions_allowed = True
    reading_study.save()
    items[2].refresh_from_db()
    _cannot_grade(items[2])
    _submit(items[2], label="C2", confidence=90)  # the final version is graded
    rows = {row["order_index"]: row for row in selectors.study_long_table(study=reading_study)}
    assert set(rows) == {0, 1, 2}
    assert [rows[i]["indeterminate"] for i in (0, 1, 2)] == [False, True, False]
    assert (rows[0]["label"], rows[0]["confidence"]) == ("B", 70.0)
    assert (rows[1]["label"], rows[1]["confidence"]) == ("", None)
    assert (rows[2]["label"], rows[2]["confidence"], rows[2]["version"]) == ("C2", 90.0, 2)
    graded, unsure = rows[0], rows[1]
    # nothing else in the row changes: the same columns and kinds of values
    assert set(graded) == set(unsure)
    assert unsure["case"] == str(items[1].image_id) and unsure["time_ms"] == 2100
    assert unsure["condition"] == "unaided" and unsure["session"] == 1
    assert unsure["truth"] == items[1].image.reference.label


def test_a_session_reset_keeps_a_copy_of_an_indeterminate_read_and_its_reason(
    reading_study, cast
):
    from readers.services.reading import session_reset

    session = _alice_session(reading_study, cast)
    _cannot_grade(session.items.order_by("position").first(), reason="image quality / artefact")
    event = session_reset(session=session, by=cast["rachel"], reason="wrong reader")
    [removed] = event.details["removed"]
    assert (removed["indeterminate"], removed["label"], removed["confidence"]) == (True, "", None)
    assert removed["comment"] == "image quality / artefact"
    assert not Read.objects.exists()
