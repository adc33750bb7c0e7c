"""Coordinators: bulk creation of sessions (command and admin form), progress per session and
per reader, and reset / reassignment with an audit record."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from readers import selectors
from readers.models import AuditEvent, Read, ReadingSession
from readers.services.reading import read_submit
from tests.readers import reading_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def rs(tmp_path, study, site, external_site, django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return reading_study.build(
        tmp_path=tmp_path, study=study, site=site, external_site=external_site,
        django_user_model=django_user_model, n_internal=6, n_external=2,
    )


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("coordinator", password="pw-coord-123")
    client.force_login(user)
    return client


def _read(item, label="A", time_ms=1000):
    return read_submit(item=item, stage="unaided", label=label, confidence=40, time_ms=time_ms,
                       request_id=uuid.uuid4())


def test_the_command_creates_one_session_per_reader_on_the_reading_cases(rs):
    out = StringIO()
    call_command(
        "create_sessions", "--study", rs.study.slug, "--readers", "alice,bob",
        "--condition", "unaided", "--name", "Round 2", "--seed", "5",
        "--override-washout", "pilot", stdout=out,
    )
    created = ReadingSession.objects.filter(name="Round 2")
    assert sorted(s.reader.username for s in created) == ["alice", "bob"]
    reading = set(rs.study.images.filter(partition__in=["test", "external"])
                  .values_list("id", flat=True))
    for s in created:
        assert set(s.items.values_list("image_id", flat=True)) == reading
        assert s.condition == "unaided" and s.washout_override_reason == "pilot"
    event = AuditEvent.objects.get(action="sessions_create")
    assert event.details["partitions"] == ["test", "external"] and event.reason == "pilot"
    assert "Created 2 sessions" in out.getvalue()


def test_the_command_reads_only_the_partitions_asked_for(rs):
    call_command("create_sessions", "--study", rs.study.slug, "--readers", "alice",
                 "--condition", "unaided", "--name", "Ext", "--partitions", "external",
                 stdout=StringIO())
    session = ReadingSession.objects.get(name="Ext")
    assert set(session.items.values_list("image__partition", flat=True)) == {"external"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--readers", "alice,nobody"], "no such users: nobody"),
        (["--readers", "rachel"], "not a reader"),
        (["--partitions", "test,holdout"], "--partitions"),
    ],
)
def test_the_command_refuses_bad_input_and_creates_nothing(rs, args, message):
    base = {"--readers": "alice", "--partitions": "test,external"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    before = ReadingSession.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("create_sessions", "--study", rs.study.slug, "--condition", "unaided",
                     "--name", "X", *[x for kv in base.items() for x in kv], stdout=StringIO())
    assert ReadingSession.objects.count() == before


def test_a_repeat_session_waits_for_the_washout_unless_overridden(rs):
    _read(rs.session("alice").items.first())
    call_command("create_sessions", "--study", rs.study.slug, "--readers", "alice",
                 "--condition", "unaided", "--name", "Repeat", stdout=StringIO())
    repeat = ReadingSession.objects.get(name="Repeat")
    assert (repeat.opens_at - repeat.created_at).days >= rs.study.washout_days - 1


def test_the_admin_form_creates_sessions_in_bulk(staff, rs):
    url = reverse("admin:readers_readingsession_add")
    assert staff.get(url).status_code == 200
    response = staff.post(url, {
        "study": rs.study.pk, "readers": [rs.users["alice"].pk, rs.users["bob"].pk],
        "name": "Round 3", "condition": "unaided", "partitions": ["test"], "seed": 3,
        "override_washout": "",
    })
    assert response.status_code == 302
    created = ReadingSession.objects.filter(name="Round 3")
    assert created.count() == 2
    assert {s.created_by.username for s in created} == {"coordinator"}
    assert AuditEvent.objects.filter(action="sessions_create", actor__username="coordinator")


def test_the_admin_form_plans_a_later_round(staff, rs):
    from readers.selectors import session_gate

    response = staff.post(reverse("admin:readers_readingsession_add"), {
        "study": rs.study.pk, "readers": [rs.users["alice"].pk], "name": "Round 2",
        "condition": "unaided", "round": 2, "partitions": ["test", "external"],
    })
    assert response.status_code == 302
    planned = ReadingSession.objects.get(name="Round 2")
    assert planned.round == 2
    gate = session_gate(session=planned)  # alice has not finished her round-1 session
    assert not gate.open and gate.waiting_for == (rs.session("alice").name,)
    assert "Round 2" in staff.get(reverse("admin:readers_readingsession_changelist")).content \
        .decode()


def test_the_admin_form_refuses_people_who_are_not_readers_of_the_study(
    staff, rs, django_user_model
):
    response = staff.post(reverse("admin:readers_readingsession_add"), {
        "study": rs.study.pk, "readers": [rs.users["rachel"].pk], "name": "R",
        "condition": "unaided", "partitions": ["test"], "seed": 0,
    })
    assert response.status_code == 200
    assert not ReadingSession.objects.filter(name="R").exists()


@pytest.mark.parametrize("who", ["alice", "rachel", "charlie"])
def test_non_staff_cannot_reach_the_coordinator_pages(client, rs, who):
    client.force_login(rs.users[who])
    pk = rs.session("alice").pk
    urls = [
        reverse("admin:readers_readingsession_changelist"),
        reverse("admin:readers_readingsession_add"),
        reverse("admin:readers_readingsession_progress"),
        reverse("admin:readers_readingsession_reset", args=[pk]),
        reverse("admin:readers_readingsession_reassign", args=[pk]),
        reverse("admin:readers_auditevent_changelist"),
    ]
    for url in urls:
        for response in (client.get(url), client.post(url, {"reason": "x"})):
            assert response.status_code == 302 and "/admin/login/" in response.url, url
    _read(rs.session("alice").items.first())
    client.post(reverse("admin:readers_readingsession_reset", args=[pk]), {"reason": "x"})
    assert Read.objects.count() == 1


def test_progress_shows_reads_done_median_time_and_last_activity(staff, rs):
    items = list(rs.session("alice").items.order_by("position"))
    for item, ms in zip(items[:3], [1000, 4000, 2000], strict=True):
        _read(item, time_ms=ms)
    progress = selectors.sessions_progress(session_ids=[rs.session("alice").pk])
    p = progress[rs.session("alice").pk]
    assert (p.n_done, p.n_items, p.median_time_ms) == (3, len(items), 2000.0)
    page = staff.get(reverse("admin:readers_readingsession_changelist")).content.decode()
    assert f"3 / {len(items)}" in page and "2.0 s" in page
    per_reader = staff.get(reverse("admin:readers_readingsession_progress")).content.decode()
    assert "alice" in per_reader and f"3 / {len(items)}" in per_reader
    assert f"0 / {len(items)}" in per_reader  # bob has not started


def test_reset_removes_the_reads_and_keeps_a_copy_in_the_audit(staff, rs, client):
    session = rs.session("alice")
    first = session.items.order_by("position").first()
    _read(first, label="C1")
    change = staff.get(reverse("admin:readers_readingsession_change", args=[session.pk]))
    assert change.status_code == 200 and "Reset (remove reads)" in change.content.decode()
    url = reverse("admin:readers_readingsession_reset", args=[session.pk])
    assert staff.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert Read.objects.count() == 1
    assert staff.post(url, {"reason": "reader used the wrong monitor"}).status_code == 302
    assert not Read.objects.exists()
    event = AuditEvent.objects.get(action="session_reset")
    assert event.reason == "reader used the wrong monitor"
    assert event.details["removed"][0]["label"] == "C1"
    assert event.actor.username == "coordinator" and event.session == session


def test_reassign_is_refused_with_reads_and_gives_an_unread_session_new_links(staff, rs, client):
    session = rs.session("alice")
    old_token = session.token
    _read(session.items.first())
    url = reverse("admin:readers_readingsession_reassign", args=[session.pk])
    refused = staff.post(url, {"reader": rs.users["bob"].pk, "reason": "alice left"})
    assert refused.status_code == 200 and "reset it first" in refused.content.decode()
    staff.post(reverse("admin:readers_readingsession_reset", args=[session.pk]),
               {"reason": "alice left"})
    moved = staff.post(url, {"reader": rs.users["bob"].pk, "reason": "alice left",
                             "override_washout": ""})
    assert moved.status_code == 302
    session.refresh_from_db()
    assert session.reader == rs.users["bob"] and session.token != old_token
    event = AuditEvent.objects.get(action="session_reassign")
    assert event.details["from"] == "alice" and event.details["to"] == "bob"
    client.force_login(rs.users["alice"])
    assert client.get(reverse("reading:session", args=[old_token])).status_code == 404
    assert client.get(reverse("reading:session", args=[session.token])).status_code == 404
    client.force_login(rs.users["bob"])
    assert client.get(reverse("reading:session", args=[session.token])).status_code == 302


# --- AI-aided sessions name the model whose output they show -----------------------------------


def _model_version(rs, *, predict_all=True):
    from inference.models import ModelVersion, Prediction

    mv = ModelVersion.objects.create(
        sha256="e" * 64, name="cnn", architecture="resnet18", input_size=224,
        labels=["A", "B", "C1", "C2"], card={}, weights_file="models/e.pt", format="state_dict",
    )
    images = list(rs.study.images.filter(partition__in=["test", "external"]))
    for image in images[: None if predict_all else -1]:
        Prediction.objects.create(model_version=mv, image=image,
                                  probabilities=[0.25] * 4, predicted_label="A")
    return mv


@pytest.mark.parametrize(
    ("condition", "model", "message"),
    [
        ("ai_aided", None, "name the model version"),
        ("sequential_ai", "partial", "has no prediction for 1 of"),
        ("unaided", "full", "shows no model output"),
    ],
)
def test_an_ai_aided_session_needs_a_model_that_predicted_every_case(rs, condition, model,
                                                                     message):
    args = []
    if model:
        args = ["--model-version", _model_version(rs, predict_all=model == "full").sha256[:12]]
    with pytest.raises(CommandError, match=message):
        call_command("create_sessions", "--study", rs.study.slug, "--readers", "alice",
                     "--condition", condition, "--name", "AI", *args, stdout=StringIO())
    assert not ReadingSession.objects.filter(name="AI").exists()


def test_an_unknown_model_version_prefix_is_refused(rs):
    with pytest.raises(CommandError, match="matches no model versions"):
        call_command("create_sessions", "--study", rs.study.slug, "--readers", "alice",
                     "--condition", "ai_aided", "--name", "AI", "--model-version", "0123456789",
                     stdout=StringIO())


def test_the_command_gives_ai_aided_sessions_their_model_version(rs):
    mv = _model_version(rs)
    call_command("create_sessions", "--study", rs.study.slug, "--readers", "alice,bob",
                 "--condition", "ai_aided", "--name", "AI", "--model-version", mv.sha256[:10],
                 stdout=StringIO())
    assert {s.model_version_id for s in ReadingSession.objects.filter(name="AI")} == {mv.pk}
    assert AuditEvent.objects.get(action="sessions_create").details["model_version"] == mv.sha256


def test_the_admin_form_creates_sequential_sessions_with_their_model(staff, rs):
    mv = _model_version(rs)
    response = staff.post(reverse("admin:readers_readingsession_add"), {
        "study": rs.study.pk, "readers": [rs.users["bob"].pk], "name": "Seq",
        "condition": "sequential_ai", "partitions": ["test", "external"], "seed": 1,
        "model_version": mv.pk,
    })
    assert response.status_code == 302
    assert ReadingSession.objects.get(name="Seq").model_version == mv
