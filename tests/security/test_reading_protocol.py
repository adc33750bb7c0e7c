"""S1, S2, S7 (issue 15): the reading protocol is enforced by the server at every request.

- S1: an unaided answer can never change once the reader has been shown the model's output on
  the case, in the same sequential session or in another session.
- S2: a session planned ahead stays closed (page, next, case, pixels, heat map, submit) until
  its reader has finished the round before it and the washout has passed, however early it
  was created.
- S7: an indeterminate unaided answer does not unlock the model's output (unless the study
  says so): marking a case "cannot grade" is no free way to peek at the AI.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import numpy as np
import pytest
import time_machine
from django.urls import reverse

from readers import selectors
from readers.models import AiExposure, Read, ReadingSession
from readers.services.reading import session_create
from studies.storage import media_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def rs(small_reading_study):
    rs = small_reading_study
    rs.study.revisions_allowed = True  # the attacks revise answers; the locks must still hold
    rs.study.save()
    return rs


def _model_outputs(rs, session):
    """A model version with an output (and a heat map) on every case of ``session``."""
    from inference.models import ModelVersion, Prediction

    mv, _ = ModelVersion.objects.get_or_create(
        sha256="b" * 64,
        defaults={"name": "cnn", "architecture": "resnet18", "input_size": 224,
                  "labels": ["A", "B", "C1", "C2"], "card": {}, "weights_file": "models/b.pt",
                  "format": "state_dict"},
    )
    heat = media_path("heatmaps/attack.npy")
    heat.parent.mkdir(parents=True, exist_ok=True)
    np.save(heat, np.full((8, 8), 0.5, dtype=np.float16))
    for item in session.items.all():
        Prediction.objects.get_or_create(
            model_version=mv, image=item.image,
            defaults={"probabilities": [0.1, 0.7, 0.1, 0.1], "predicted_label": "B",
                      "heatmap_file": "heatmaps/attack.npy"},
        )
    ReadingSession.objects.filter(pk=session.pk).update(model_version=mv)
    session.refresh_from_db()
    return mv


def _url(name, session, item=None):
    kwargs = {"session_token": session.token}
    if item is not None:
        kwargs["case_token"] = item.token
    return reverse(f"reading:{name}", kwargs=kwargs)


def _post(client, session, item, **body):
    body = {"stage": "unaided", "time_ms": 1500, "request_id": str(uuid.uuid4()), **body}
    if not body.get("indeterminate"):
        body.setdefault("confidence", 60)
    return client.post(_url("api-read", session, item), json.dumps(body),
                       content_type="application/json")


def _sequential(rs, reader="alice"):
    rs.session(reader).delete()  # this reader reads the cases in one sequential session
    session = session_create(study=rs.study, reader=rs.users[reader], name="Seq",
                             condition="sequential_ai")
    _model_outputs(rs, session)
    return session


def test_s1_the_unaided_answer_cannot_be_revised_after_the_ai_output_was_shown(client, rs):
    session = _sequential(rs)
    item = session.items.order_by("position").first()
    client.force_login(rs.users["alice"])
    first = _post(client, session, item, label="A")
    assert first.status_code == 201
    assert first.json()["case"]["ai"]["predicted_label"] == "B"  # the AI output is shown now
    assert AiExposure.objects.filter(reader=rs.users["alice"], image=item.image).exists()
    # The attack: change the unaided answer to the AI's class.
    attack = _post(client, session, item, label="B")
    assert attack.status_code == 409 and "locked" in attack.json()["error"]["message"]
    attack = _post(client, session, item, indeterminate=True, comment="motion")
    assert attack.status_code == 409
    assert list(Read.objects.filter(item=item).values_list("stage", "version", "label")) == [
        ("unaided", 1, "A")]
    assert client.get(_url("api-case", session, item)).json()["stage"] == "aided"


def test_s1_an_unaided_session_read_is_locked_after_the_ai_output_in_another_session(
    client, rs
):
    alice = rs.users["alice"]
    unaided = rs.session("alice")
    # Overrides lift the washout so that the lock itself is what refuses (not the gate).
    ReadingSession.objects.filter(pk=unaided.pk).update(washout_override_reason="test")
    aided = session_create(study=rs.study, reader=alice, name="AI", condition="ai_aided",
                           round=2, override_reason="test")
    _model_outputs(rs, aided)
    client.force_login(alice)
    items = list(unaided.items.order_by("position"))
    for item in items:
        assert _post(client, unaided, item, label="A").status_code == 201
    case = items[0]
    aided_item = aided.items.get(image=case.image)
    # Seen only through the heat map: that counts as being shown the output too.
    assert client.get(_url("api-heatmap", aided, aided_item)).status_code == 200
    attack = _post(client, unaided, case, label="B")
    assert attack.status_code == 409 and "locked" in attack.json()["error"]["message"]
    # A case whose output alice has not been shown can still be revised (the study allows it).
    assert _post(client, unaided, items[1], label="C1").status_code == 201
    assert client.get(_url("api-case", aided, aided.items.get(image=items[1].image))).json()[
        "ai"] is not None
    assert _post(client, unaided, items[1], label="C2").status_code == 409


def test_s2_a_planned_ahead_round_is_closed_at_every_request_until_its_time(client, rs):
    alice = rs.users["alice"]
    round_1 = rs.session("alice")
    round_2 = session_create(study=rs.study, reader=alice, name="Round 2 (AI)",
                             condition="ai_aided", round=2)
    _model_outputs(rs, round_2)
    item = round_2.items.order_by("position").first()
    client.force_login(alice)

    def attempts():
        return {
            "session page": client.get(_url("session", round_2)),
            "case page": client.get(_url("case", round_2, item)),
            "next": client.get(_url("api-next", round_2)),
            "case": client.get(_url("api-case", round_2, item)),
            "pixels": client.get(_url("api-pixels", round_2, item)),
            "heat map": client.get(_url("api-heatmap", round_2, item)),
            "submit": _post(client, round_2, item, stage="aided", label="B"),
        }

    def assert_closed(responses):
        for name, response in responses.items():
            if name == "session page":
                assert response.status_code == 200 and b"not open yet" in response.content
            elif name == "case page":
                assert response.status_code == 302, name  # back to the session page
            else:
                assert response.status_code == 409, name
                assert response.json()["error"]["code"] == "session_not_open", name
        assert not Read.objects.filter(item__session=round_2).exists()
        assert not AiExposure.objects.filter(reader=alice).exists()

    assert_closed(attempts())  # round 1 not started
    for case in round_1.items.order_by("position"):
        assert _post(client, round_1, case, label="A").status_code == 201
    assert_closed(attempts())  # round 1 finished, the washout not over
    opens_at = selectors.session_gate(session=round_2).opens_at
    with time_machine.travel(opens_at - timedelta(seconds=30)):
        client.force_login(alice)  # weeks later: a new login
        assert_closed(attempts())
    with time_machine.travel(opens_at + timedelta(seconds=30)):
        client.force_login(alice)
        responses = attempts()
        assert responses["submit"].status_code == 201
        assert responses["case"].json()["ai"]["predicted_label"] == "B"


def test_s7_an_indeterminate_unaided_answer_does_not_unlock_the_ai_output(client, rs):
    session = _sequential(rs)
    items = list(session.items.order_by("position"))
    client.force_login(rs.users["alice"])
    response = _post(client, session, items[0], indeterminate=True, comment="motion artefact")
    assert response.status_code == 201
    case = response.json()["case"]
    assert case["ai"] is None and case["n_done"] == 1  # complete without an aided answer
    assert client.get(_url("api-case", session, items[0])).json()["ai"] is None
    assert client.get(_url("api-heatmap", session, items[0])).status_code == 404
    assert _post(client, session, items[0], stage="aided", label="B").status_code == 409
    assert not AiExposure.objects.exists()
    # The reader moves on to the next case, and the session can be finished without the AI.
    assert client.get(_url("api-next", session)).json()["case"]["token"] == items[1].token
    # A graded revision (allowed: no AI output was shown) unlocks it as usual.
    graded = _post(client, session, items[0], label="C1")
    assert graded.status_code == 201 and graded.json()["case"]["ai"] is not None
