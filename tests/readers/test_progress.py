"""Reading progress for coordinators and researchers (issue 11, item 5): per reader and session,
done / total, median time per case, last activity and whether the session is open — on the
study's progress page and in the REST API, never for readers."""

import uuid

import pytest

from readers import selectors
from readers.services.reading import read_submit, sessions_create_bulk

pytestmark = pytest.mark.django_db


def _answer(item, time_ms):
    return read_submit(item=item, stage="unaided", label="A", confidence=50, time_ms=time_ms,
                       request_id=uuid.uuid4())


@pytest.fixture
def planned(reading_study, cast):
    readers = [cast["alice"], cast["bob"]]
    round_1 = sessions_create_bulk(study=reading_study, readers=readers, name="Round 1",
                                   condition="unaided")
    round_2 = sessions_create_bulk(study=reading_study, readers=readers, name="Round 2",
                                   condition="ai_aided", round=2)
    alice_1, bob_1 = round_1
    for n, item in enumerate(alice_1.items.order_by("position")):
        _answer(item, 1000 * (n + 1))
    for item in bob_1.items.order_by("position")[:3]:
        _answer(item, 2000)
    return round_1, round_2


def test_progress_rows_per_reader_and_session(reading_study, planned):
    (alice_1, bob_1), _ = planned
    rows = {(r.reader, r.session): r for r in selectors.study_reading_progress(study=reading_study)}
    assert list(rows) == [("alice", "Round 1"), ("bob", "Round 1"), ("alice", "Round 2"),
                          ("bob", "Round 2")]  # by round, then reader
    alice = rows[("alice", "Round 1")]
    n = alice_1.items.count()
    assert (alice.n_done, alice.n_items, alice.status) == (n, n, "done")
    assert alice.median_time_ms == pytest.approx(1000 * (n + 1) / 2)
    bob = rows[("bob", "Round 1")]
    assert (bob.n_done, bob.status, bob.median_time_ms) == (3, "reading", 2000)
    assert bob.last_activity is not None
    waiting = rows[("alice", "Round 2")]
    assert waiting.status == "waiting" and "washout" in waiting.opens
    assert "alice" in waiting.opens  # written for the coordinator, about the reader
    bob_2 = rows[("bob", "Round 2")]
    assert bob_2.status == "waiting" and "bob has finished “Round 1”" in bob_2.opens
    assert (bob_2.n_done, bob_2.median_time_ms, bob_2.last_activity) == (0, None, None)


def test_the_progress_page_is_for_the_studys_admins_and_researchers(reading_study, cast, planned,
                                                                      client):
    (_, bob_1), _ = planned
    bob_1.name = '<script>alert("x")</script> Round 1'  # a coordinator's free text
    bob_1.save()
    url = f"/studies/{reading_study.slug}/progress/"
    for name in ("alice", "bob", "charlie"):  # readers and outsiders: as if it did not exist
        client.force_login(cast[name])
        assert client.get(url).status_code == 404
    client.force_login(cast["rachel"])  # the researcher
    page = client.get(url).content.decode()
    assert "Reading progress" in page
    assert '<script>alert("x")</script>' not in page and "&lt;script&gt;" in page
    n = bob_1.items.count()
    assert f"3 / {n}" in page and "reading" in page and "waiting" in page
    assert "opens when bob has finished" in page
    assert client.get(f"/studies/{reading_study.slug}x/progress/").status_code == 404


def test_the_rest_api_gives_the_same_progress_to_staff_and_the_count_to_readers(
    reading_study, cast, planned, client
):
    from django.urls import reverse

    expected = {r.token: r for r in selectors.study_reading_progress(study=reading_study)}
    client.force_login(cast["rachel"])
    body = client.get(reverse("api-v1:session-list") + f"?study={reading_study.slug}").json()
    rows = {s["token"]: s for s in body["results"]}
    assert set(rows) == set(expected)
    for token, row in rows.items():
        want = expected[token]
        assert (row["n_done"], row["n_items"], row["round"]) == (want.n_done, want.n_items,
                                                                  want.round)
        assert row["median_time_ms"] == want.median_time_ms
        assert row["last_activity"] == (want.last_activity.isoformat()
                                        if want.last_activity else None)
    client.force_login(cast["bob"])  # a reader: his own sessions, his count, no staff fields
    own = client.get(reverse("api-v1:session-list")).json()["results"]
    assert {s["token"] for s in own} == {t for t, r in expected.items() if r.reader == "bob"}
    assert all("median_time_ms" not in s and "last_activity" not in s for s in own)
    assert sorted(s["n_done"] for s in own) == [0, 3]
