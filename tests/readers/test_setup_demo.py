"""The README's main command builds the whole demo: phantoms, import, split, the shipped model's
predictions, accounts and open reading sessions — and a second run changes nothing."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.utils import timezone

from inference.models import Prediction
from readers.models import Image, ReadingSession, Site, Study

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


def test_the_demo_is_built_end_to_end_and_idempotent(settings, tmp_path, inline_tasks):
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
        assert authenticate(username=username, password=password) is not None
        assert f"{username:<12} password {password}" in text
    sessions = ReadingSession.objects.filter(study=study)
    assert {s.reader.username for s in sessions} == {"alice", "bob"}
    assert all(s.opens_at <= timezone.now() for s in sessions)
    assert all(s.items.count() == reading.count() for s in sessions)

    counts = (images.count(), Prediction.objects.count(), sessions.count())
    call_command("setup_demo", "--patients", "16", "--seed", "5", stdout=StringIO())
    assert (images.count(), Prediction.objects.count(), sessions.count()) == counts
