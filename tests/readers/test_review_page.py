"""The review step through real URLs: once every case of a session is answered, its entry page
lists the reader's own latest answers (class, confidence, indeterminate with its reason), each
a link to its case by the opaque token, and nothing else: not another reader's answers, not the
truth, not the model, not the case's identity. Free text is escaped. And the submit endpoint's
per-field errors name the field and the range."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.urls import reverse

from readers.models import Read, ReadingSession
from readers.services.reading import read_submit, session_create
from studies.models import ReferenceLabel
from tests.readers import reading_study
from tests.readers.test_reading_views import assert_nothing_leaks, case_url, login, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def rs(tmp_path, study, site, external_site, django_user_model):
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=6, n_external=2,
    )


def answer_all(session, *, label="B", confidence=60):
    for item in session.items.order_by("position"):
        read_submit(item=item, stage="unaided", label=label, confidence=confidence, time_ms=10,
                    request_id=uuid.uuid4())


def review_rows(html: str) -> list[tuple[str, str]]:
    """(case link text, answer text) per row of the review table."""
    rows = re.findall(r'<tr data-case="[^"]+"[^>]*>(.*?)</tr>', html, flags=re.S)
    out = []
    for row in rows:
        cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split())
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        out.append((cells[0], " ".join(cells[1:])))
    return out


def test_the_done_page_lists_every_answer_in_the_readers_order_with_links(client, rs):
    alice_s = rs.session("alice")
    items = list(alice_s.items.order_by("position"))
    for i, item in enumerate(items):
        if i == 1:
            read_submit(item=item, stage="unaided", indeterminate=True,
                        comment="image quality / artefact", time_ms=10, request_id=uuid.uuid4())
        else:
            read_submit(item=item, stage="unaided", label=["A", "B", "C1", "C2"][i % 4],
                        confidence=10 * i, time_ms=10, request_id=uuid.uuid4())
    page = login(client, rs, "alice").get(reverse("reading:session", args=[alice_s.token]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "done" in html and "1 marked indeterminate" in html
    rows = review_rows(html)
    assert [r[0] for r in rows] == [f"Case {n}" for n in range(1, len(items) + 1)]
    assert rows[0][1] == "A · confidence 0"
    assert rows[1][1] == "indeterminate (image quality / artefact)"
    assert rows[2][1] == "C1 · confidence 20"
    for item in items:  # each row jumps to its case, by the case's opaque token
        assert f'href="{case_url("case", alice_s, item)}"' in html
    assert "allows no revisions" in html  # the study's rule, stated


def test_the_review_shows_the_latest_version_of_a_revised_answer(client, rs):
    rs.study.revisions_allowed = True
    rs.study.save(update_fields=["revisions_allowed"])
    alice_s = rs.session("alice")
    answer_all(alice_s)
    first = alice_s.items.get(position=0)
    login(client, rs, "alice")
    assert submit(client, alice_s, first, label="C2", confidence=95).status_code == 201
    html = client.get(reverse("reading:session", args=[alice_s.token])).content.decode()
    assert review_rows(html)[0][1] == "C2 · confidence 95 (revised, version 2)"
    assert "a changed answer is stored as a new version" in html


def test_the_review_shows_only_the_readers_own_answers_and_nothing_about_the_cases(client, rs):
    alice_s, bob_s = rs.session("alice"), rs.session("bob")
    answer_all(alice_s, label="A", confidence=11)
    answer_all(bob_s, label="C2", confidence=99)
    ReferenceLabel.objects.filter(image__study=rs.study).update(source="consensus-panel-xyz")
    html = login(client, rs, "alice").get(
        reverse("reading:session", args=[alice_s.token])
    ).content.decode()
    assert {r[1] for r in review_rows(html)} == {"A · confidence 11"}
    assert "confidence 99" not in html and "consensus-panel-xyz" not in html
    assert bob_s.token not in html
    for item in bob_s.items.all():
        assert item.token not in html
    assert_nothing_leaks(html, rs.study)
    # and bob's review is bob's alone: alice cannot open it
    assert client.get(reverse("reading:session", args=[bob_s.token])).status_code == 404


def test_a_reason_with_markup_is_shown_as_text(client, rs):
    alice_s = rs.session("alice")
    items = list(alice_s.items.order_by("position"))
    read_submit(item=items[0], stage="unaided", indeterminate=True,
                comment='other: <img src=x onerror="alert(1)">', time_ms=10,
                request_id=uuid.uuid4())
    for item in items[1:]:
        read_submit(item=item, stage="unaided", label="B", confidence=60, time_ms=10,
                    request_id=uuid.uuid4())
    html = login(client, rs, "alice").get(
        reverse("reading:session", args=[alice_s.token])
    ).content.decode()
    assert "<img src=x" not in html
    assert "other: &lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_a_session_not_yet_done_resumes_instead_of_reviewing(client, rs):
    alice_s = rs.session("alice")
    items = list(alice_s.items.order_by("position"))
    login(client, rs, "alice")
    for item in items[:-1]:
        submit(client, alice_s, item)
    response = client.get(reverse("reading:session", args=[alice_s.token]))
    assert response.status_code == 302 and response.url == case_url("case", alice_s, items[-1])


# --- per-field errors of the submit endpoint -----------------------------------------------------


def post_read(client, session, item, body):
    return client.post(case_url("api-read", session, item), data=json.dumps(body),
                       content_type="application/json")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"confidence": 101}, "confidence",
         "Confidence must be a whole number from 0 to 100 (got 101)."),
        ({"confidence": -1}, "confidence",
         "Confidence must be a whole number from 0 to 100 (got -1)."),
        ({"confidence": "high"}, "confidence", "Confidence must be a whole number from 0 to 100."),
        ({"confidence": None}, "confidence",
         "Confidence is required: a whole number from 0 to 100."),
        ({"label": "C3"}, "label", "Class must be one of A, B, C1, C2 (got 'C3')."),
        ({"stage": "later"}, "stage", "Stage must be 'unaided' or 'aided' (got 'later')."),
        ({"time_ms": -5}, "time_ms", "Time on case (time_ms) must be 0 to 86400000 ms."),
        ({"request_id": "again"}, "request_id", "Request id (request_id) must be a UUID."),
    ],
)
def test_each_invalid_field_is_named_with_what_it_accepts(client, rs, change, field, message):
    alice_s = rs.session("alice")
    item = alice_s.items.first()
    body = {"stage": "unaided", "label": "A", "confidence": 5, "time_ms": 1,
            "request_id": str(uuid.uuid4()), **change}
    response = post_read(login(client, rs, "alice"), alice_s, item, body)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}
    assert not Read.objects.filter(item=item).exists()


def test_the_confidence_range_is_the_studys(client, rs):
    rs.study.confidence_max = 5
    rs.study.save(update_fields=["confidence_max"])
    alice_s = rs.session("alice")
    item = alice_s.items.first()
    body = {"stage": "unaided", "label": "A", "confidence": 6, "time_ms": 1,
            "request_id": str(uuid.uuid4())}
    response = post_read(login(client, rs, "alice"), alice_s, item, body)
    assert response.json()["error"]["fields"] == {
        "confidence": ["Confidence must be a whole number from 0 to 5 (got 6)."]
    }
    assert post_read(client, alice_s, item, {**body, "confidence": 5}).status_code == 201


def test_a_sequential_session_reviews_both_answers_and_never_the_models(client, rs):
    from tests.readers.test_reading_views import _prediction_for

    # Alice reads these cases in one sequential session (her unaided session would come first).
    rs.session("alice").delete()
    session = session_create(
        study=rs.study, reader=rs.users["alice"], name="Seq", condition="sequential_ai",
    )
    items = list(session.items.order_by("position"))
    mv = None
    for item in items:
        mv = _prediction_for(item)  # the model says C2 at 0.4
    ReadingSession.objects.filter(pk=session.pk).update(model_version=mv)
    # The first case cannot be graded: complete without an AI-aided answer (the study's default).
    read_submit(item=items[0], stage="unaided", indeterminate=True,
                comment="wrong or missing slice", time_ms=10, request_id=uuid.uuid4())
    for item in items[1:]:
        for stage, label, confidence in (("unaided", "B", 60), ("aided", "C1", 85)):
            read_submit(item=item, stage=stage, label=label, confidence=confidence, time_ms=10,
                        request_id=uuid.uuid4())
    html = login(client, rs, "alice").get(
        reverse("reading:session", args=[session.token])
    ).content.decode()
    assert "<th>Unaided</th><th>With AI</th>" in html
    rows = review_rows(html)
    assert rows[0] == ("Case 1", "indeterminate (wrong or missing slice) —")
    assert {r[1] for r in rows[1:]} == {"B · confidence 60 C1 · confidence 85"}
    assert "unaided answer stays locked" not in html  # no revisions in this study
    assert "0.4" not in html and "40.0" not in html and "probab" not in html.lower()
