"""Rounds and washout as a study design (issue 11, item 2): a session planned to follow another
opens for its reader only when they have finished the earlier round and the washout has passed
since their last read in it, whatever order the sessions were created in. The clock is moved
with time-machine; every check goes through the same gate the pages and the API use."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from readers import selectors
from readers.models import Read
from readers.services.reading import (
    ReadingError,
    read_submit,
    session_create,
    sessions_create_bulk,
)

pytestmark = pytest.mark.django_db


def _answer(item, stage="unaided", **kw):
    return read_submit(item=item, stage=stage, label=kw.pop("label", "B"), confidence=60,
                       time_ms=3000, request_id=uuid.uuid4(), **kw)


def _finish(session, stage="unaided"):
    for item in session.items.order_by("position"):
        _answer(item, stage=stage)
    assert selectors.session_next_item(session=session) is None


def _plan(study, cast, order=("unaided", "sequential_ai")):
    """Round 1 (unaided) and round 2 (sequential AI-aided) for alice and bob, created in bulk
    at the same moment, in the given order of creation."""
    rounds = {"unaided": 1, "sequential_ai": 2, "ai_aided": 2}
    made = {}
    for condition in order:
        made[condition] = sessions_create_bulk(
            study=study, readers=[cast["alice"], cast["bob"]], name=f"Round {rounds[condition]}",
            condition=condition, round=rounds[condition],
        )
    aided = next(c for c in order if c != "unaided")
    return made["unaided"], made[aided]


@pytest.mark.parametrize("order", [("unaided", "sequential_ai"), ("sequential_ai", "unaided")])
def test_a_planned_ahead_ai_round_opens_after_the_unaided_round_and_the_washout(
    reading_study, cast, order
):
    (alice_1, bob_1), (alice_2, _) = _plan(reading_study, cast, order)
    gate = selectors.session_gate(session=alice_2)
    assert not gate.open and gate.reason == "earlier_round" and gate.waiting_for == ("Round 1",)
    assert gate.opens_at is None  # not known: it depends on when alice finishes
    with pytest.raises(ReadingError, match="finished “Round 1”"):
        _answer(alice_2.items.first())
    assert selectors.session_gate(session=alice_1).open  # round 1 opens at once

    _finish(alice_1)
    last = Read.objects.filter(item__session=alice_1).latest("submitted_at").submitted_at
    gate = selectors.session_gate(session=alice_2)
    assert not gate.open and gate.reason == "washout"
    assert gate.opens_at == last + timedelta(days=reading_study.washout_days)
    with pytest.raises(ReadingError, match="washout"):
        _answer(alice_2.items.first())

    with time_machine.travel(gate.opens_at - timedelta(minutes=1)):
        assert not selectors.session_gate(session=alice_2).open
    with time_machine.travel(gate.opens_at + timedelta(minutes=1)):
        assert selectors.session_gate(session=alice_2).open
        _answer(alice_2.items.first())  # the unaided answer of the sequential round
        # Round 1 stays closed now: round 2's reads start a washout on the same cases.
        assert not selectors.session_gate(session=alice_1).open


def test_creation_order_does_not_change_when_a_round_opens(reading_study, cast):
    """The same design created in either order gives the same gates, step by step."""
    (alice_1, _), (alice_2, _) = _plan(reading_study, cast, ("sequential_ai", "unaided"))
    _finish(alice_1)
    opens = selectors.session_gate(session=alice_2).opens_at
    assert opens == Read.objects.filter(item__session=alice_1).latest(
        "submitted_at").submitted_at + timedelta(days=reading_study.washout_days)


def test_a_reader_who_finishes_early_is_not_held_back_by_one_who_never_finishes(
    reading_study, cast
):
    (alice_1, bob_1), (alice_2, bob_2) = _plan(reading_study, cast)
    _finish(alice_1)
    _answer(bob_1.items.order_by("position").first())  # bob reads one case and stops
    later = timezone.now() + timedelta(days=reading_study.washout_days + 1)
    with time_machine.travel(later):
        assert selectors.session_gate(session=alice_2).open
        gate = selectors.session_gate(session=bob_2)
        assert not gate.open and gate.reason == "earlier_round"
    with time_machine.travel(timezone.now() + timedelta(days=365)):
        # A reader who never finishes round 1 never sees round 2.
        assert selectors.session_gate(session=bob_2).reason == "earlier_round"
        with pytest.raises(ReadingError, match="finished “Round 1”"):
            _answer(bob_2.items.first())


def test_an_ai_round_created_in_the_same_round_still_waits_for_the_unaided_session(
    reading_study, cast
):
    """No round given (both round 1): a session that shows AI output on the cases of an
    unaided session waits for it — and a washout override does not lift that."""
    unaided = session_create(study=reading_study, reader=cast["alice"], name="U",
                             condition="unaided")
    aided = session_create(study=reading_study, reader=cast["alice"], name="AI",
                           condition="ai_aided", override_reason="staff leaves early")
    assert selectors.session_gate(session=aided).waiting_for == ("U",)
    _finish(unaided)
    assert selectors.session_gate(session=aided).open  # the override lifts the washout only


def test_a_crossover_design_puts_the_ai_round_first_explicitly(reading_study, cast):
    aided = session_create(study=reading_study, reader=cast["alice"], name="AI first",
                           condition="ai_aided", round=1)
    unaided = session_create(study=reading_study, reader=cast["alice"], name="Unaided second",
                             condition="unaided", round=2)
    assert selectors.session_gate(session=aided).open
    assert selectors.session_gate(session=unaided).waiting_for == ("AI first",)


def test_sessions_created_before_any_read_keep_the_washout_at_read_time(reading_study, cast):
    """Issue 15 S2: two sessions on the same cases, created before any read, both open; the
    first read in one closes the other until the washout has passed."""
    first = session_create(study=reading_study, reader=cast["alice"], name="A", condition="unaided")
    repeat = session_create(study=reading_study, reader=cast["alice"], name="B",
                            condition="unaided", repeat_of=first)
    assert selectors.session_gate(session=first).open and selectors.session_gate(
        session=repeat).open
    _answer(first.items.first())
    gate = selectors.session_gate(session=repeat)
    assert not gate.open and gate.reason == "washout"
    with pytest.raises(ReadingError, match="washout"):
        _answer(repeat.items.first())
    assert selectors.session_gate(session=first).open  # the session being read stays open


def test_the_worklist_and_the_reading_api_say_when_a_session_opens(reading_study, cast, client):
    (alice_1, _), (alice_2, _) = _plan(reading_study, cast)
    client.force_login(cast["alice"])
    rows = {s["token"]: s for s in client.get("/api/reading/sessions/").json()["sessions"]}
    assert rows[alice_1.token]["open"] and rows[alice_1.token]["round"] == 1
    waiting = rows[alice_2.token]
    assert not waiting["open"] and waiting["closed_reason"] == "earlier_round"
    assert waiting["waiting_for"] == ["Round 1"] and waiting["opens_at"] is None
    page = client.get("/read/").content.decode()
    assert "opens when you have finished Round 1" in page
    closed = client.get(f"/read/{alice_2.token}/").content.decode()
    assert "opens when you have finished" in closed and "Round 1" in closed
    assert client.get(f"/api/reading/{alice_2.token}/next/").status_code == 409
    _finish(alice_1)
    rows = {s["token"]: s for s in client.get("/api/reading/sessions/").json()["sessions"]}
    opens_at = selectors.session_gate(session=alice_2).opens_at
    assert rows[alice_2.token]["closed_reason"] == "washout"
    assert rows[alice_2.token]["opens_at"] == opens_at.isoformat()
    assert opens_at.strftime("%Y-%m-%d %H:%M") in client.get("/read/").content.decode()


def test_the_long_table_numbers_sessions_by_round_whatever_the_creation_order(reading_study,
                                                                               cast):
    """A repeat planned first (round 3) and the first reading created after it (round 1): the
    first reading is session 1 in the long table, the repeat session 2."""
    repeat = session_create(study=reading_study, reader=cast["alice"], name="Repeat",
                            condition="unaided", round=3)
    first = session_create(study=reading_study, reader=cast["alice"], name="First",
                           condition="unaided", round=1)
    _finish(first)
    later = timezone.now() + timedelta(days=reading_study.washout_days + 1)
    with time_machine.travel(later):
        _finish(repeat)
    numbers = {(row["order_index"], row["session"]) for row in
               selectors.study_long_table(study=reading_study)}
    by_session = {n for _, n in numbers}
    assert by_session == {1, 2}
    first_rows = [r for r in selectors.study_long_table(study=reading_study)
                  if r["read_at"] < later.isoformat()]
    assert {r["session"] for r in first_rows} == {1}
