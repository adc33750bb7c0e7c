"""The README's main command builds the whole demo: phantoms, import, split, the shipped model's
predictions, accounts, open reading sessions, a SIMULATED reader panel with its reads and the
study report — and a second run changes nothing."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from demo.simulated_panel import PANEL
from inference.models import Prediction
from readers.models import Read, ReaderProfile, ReadingSession
from reports.models import StudyReport
from studies.models import Image, Site, Study

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inline_tasks():
    """The embedded default runs tasks inline; with REDIS_URL set (CI) this test does too, as
    the demo does without a worker. Jobs through a real worker are tested in tests/inference."""
    from config.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_the_demo_is_built_end_to_end_and_idempotent(settings, tmp_path, inline_tasks, client):
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("setup_demo", "--patients", "16", "--seed", "5", stdout=out)
    text = out.getvalue()
    study = Study.objects.get(slug="onfh-demo")
    assert study.synthetic and "SYNTHETIC" in text
    assert Site.objects.filter(external=True).count() == 1
    images = Image.objects.filter(study=study)
    assert images.exists() and not images.filter(partition="").exists()
    assert not images.filter(reference__isnull=True).exists()
    reading = images.filter(partition__in=["test", "external"])
    assert Prediction.objects.filter(image__in=reading).count() == reading.count()
    for username, password in [("alice", "demo-alice"), ("coordinator", "demo-coordinator")]:
        # through the login form, as a person logs in (the throttled authentication needs it)
        response = client.post(reverse("login"), {"username": username, "password": password})
        assert response.status_code == 302 and "_auth_user_id" in client.session, username
        client.logout()
        assert f"{username:<12} password {password}" in text
    sessions = ReadingSession.objects.filter(study=study)
    human = sessions.exclude(reader__username__startswith="sim-")
    assert {s.reader.username for s in human} == {"alice", "bob"}
    assert all(s.opens_at <= timezone.now() for s in sessions)
    assert all(s.items.count() == reading.count() for s in sessions)
    assert not Read.objects.filter(item__session__in=human).exists()

    # The SIMULATED panel: labelled as such, every reading case read once by each reader
    # unaided, and once more AI-aided with the shipped model shown.
    simulated = sessions.filter(reader__username__startswith="sim-")
    assert sorted(s.reader.username for s in simulated) == sorted(
        [r.username for r in PANEL] * 2)
    assert all("SIMULATED" in s.name for s in simulated)
    aided = simulated.filter(condition="ai_aided")
    shipped = Prediction.objects.filter(image__in=reading).first().model_version
    assert aided.count() == len(PANEL) and all(s.model_version == shipped for s in aided)
    assert all(s.washout_override_reason.startswith("SIMULATED") for s in aided)
    assert set(Read.objects.filter(item__session__in=aided).values_list("stage", flat=True)) \
        == {"aided"}
    assert "SIMULATED reader panel" in text and "sim-*" in text
    seniorities = ReaderProfile.objects.filter(user__username__startswith="sim-")
    assert sorted(seniorities.values_list("seniority", flat=True)) == sorted(
        ["chief", "chief", "deputy_chief", "deputy_chief", "attending", "attending"])
    for s in simulated:
        reads = Read.objects.filter(item__session=s)
        assert reads.count() == reading.count()
        assert set(reads.values_list("item__image", flat=True)) == set(
            reading.values_list("pk", flat=True))
        graded = reads.filter(indeterminate=False)
        assert all(40 <= c <= 95 for c in graded.values_list("confidence", flat=True))
        assert all(r.comment.endswith("(SIMULATED read)") and r.label == ""
                   for r in reads.filter(indeterminate=True))

    # The study report, built synchronously, compares the shipped model with the panel.
    report = StudyReport.objects.get(study=study)
    assert report.status == StudyReport.Status.DONE and report.n_bootstrap == 500
    assert f"/reports/{study.slug}/" in text and "mean reader" in text
    listed = {r["reader"]: r for r in report.result["data"]["readers"]}
    assert {r.username for r in PANEL} <= set(listed)
    assert [r["kind"] for r in listed.values()].count("model") == 1
    everyone = report.result["site_groups"][0]
    assert {r["reader"] for r in everyone["readers"]} >= {r.username for r in PANEL}
    assert len(everyone["models"]) == 1
    # Both conditions are there: the unaided vs AI-aided MRMC is in the report.
    assert report.result["conditions"] == ["ai_aided", "unaided"]
    assert report.result["primary_condition"] == "unaided"
    # Indeterminate reads (the panel cannot grade ~1 % of cases) are in the STARD flow.
    undecided = Read.objects.filter(item__session__in=simulated, indeterminate=True,
                                    stage="unaided")
    assert report.design["flow"]["indeterminate_reads"] == Read.objects.filter(
        item__session__in=simulated, indeterminate=True).count()
    if undecided.exists():
        assert sum(report.design["indeterminate_reasons"].values()) == \
            report.design["flow"]["indeterminate_reads"]
        assert sum(r["n_indeterminate"] for r in everyone["readers"]) == undecided.count()

    counts = (images.count(), Prediction.objects.count(), sessions.count(),
              Read.objects.count(), StudyReport.objects.count())
    again = StringIO()
    call_command("setup_demo", "--patients", "16", "--seed", "5", stdout=again)
    assert (images.count(), Prediction.objects.count(), sessions.count(),
            Read.objects.count(), StudyReport.objects.count()) == counts
    assert "0 new simulated reads" in again.getvalue()
