"""A job never stays stuck (issue 15 R1): the lease a running job holds, the sweep that finds a
job whose worker died and queues it again (or fails it), the owner's retry of any job that is
not running, and the job page. Worker processes killed for real: tests/security/test_stuck_jobs.py.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from inference import services
from inference.models import InferenceJob, Prediction
from inference.services.leases import heartbeat
from studies.models import Membership
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import register_tiny

array_study = inference_fixtures.array_study
eager_celery = inference_fixtures.eager_celery


def make_job(study, version, **fields) -> InferenceJob:
    ids = sorted(study.images.filter(partition__in=["test", "external"])
                 .values_list("id", flat=True))
    return InferenceJob.objects.create(study=study, model_version=version, case_ids=ids,
                                       n_total=len(ids), batch_size=2, **fields)


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def version(tmp_path, array_study):
    return register_tiny(tmp_path / "w", study=array_study[0])


@pytest.mark.django_db
def test_the_sweep_queues_again_a_job_whose_worker_stopped_beating_and_it_completes(
        array_study, version, eager_celery, django_capture_on_commit_callbacks, settings):
    study, cases = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    job = make_job(study, version, status="running", worker="gpu@dead", attempts=1,
                   started_at=ago(300), heartbeat_at=ago(61))
    # One case was predicted before the worker died.
    first = cases["test"][0]
    Prediction.objects.create(model_version=version, image=first, job=job,
                              probabilities=[1, 0, 0, 0], predicted_label="A")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.inference_jobs_sweep() == [job.pk]
    job.refresh_from_db()
    assert job.status == "done", job.error
    assert (job.n_done, job.attempts, job.redeliveries) == (5, 2, 1)
    assert job.worker.startswith("inline@")
    ids = list(Prediction.objects.filter(model_version=version).values_list("image_id",
                                                                           flat=True))
    assert sorted(ids) == sorted(job.case_ids)  # one prediction per case, the first kept
    assert Prediction.objects.get(image=first).predicted_label == "A"


@pytest.mark.django_db
def test_the_sweep_leaves_a_job_with_a_live_lease_alone(array_study, version, settings,
                                                        django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    job = make_job(study, version, status="running", worker="gpu@alive", attempts=1,
                   started_at=ago(300), heartbeat_at=ago(59))
    queued = make_job(study, version, status="queued")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert services.inference_jobs_sweep() == []
    assert not sent
    job.refresh_from_db()
    queued.refresh_from_db()
    assert (job.status, job.heartbeat_at is not None, queued.status) == ("running", True,
                                                                         "queued")


@pytest.mark.django_db
def test_a_worker_that_starts_again_under_its_name_takes_back_its_job_at_once(
        array_study, version, settings, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 600
    mine = make_job(study, version, status="running", worker="gpu@host", attempts=1,
                    started_at=ago(5), heartbeat_at=ago(1))
    other = make_job(study, version, status="running", worker="gpu@other", attempts=1,
                     started_at=ago(5), heartbeat_at=ago(1))
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert services.inference_jobs_sweep(restarted_worker="gpu@host") == [mine.pk]
    assert len(sent) == 1  # one message for the one job queued again
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.status, mine.redeliveries, other.status) == ("queued", 1, "running")
    assert "gpu@host stopped answering" in mine.error and "queued again" in mine.error


@pytest.mark.django_db
def test_a_job_lost_too_often_is_failed_with_a_message_and_its_owner_can_retry_it(
        array_study, version, eager_celery, settings, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    settings.READERBENCH_JOB_MAX_REDELIVERIES = 2
    job = make_job(study, version, status="running", worker="gpu@dead", attempts=3,
                   redeliveries=2, started_at=ago(900), heartbeat_at=ago(120))
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert services.inference_jobs_sweep() == [job.pk]
    assert not sent
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert "gpu@dead stopped answering" in job.error
    assert "already queued again 2 time(s); retry it" in job.error
    with django_capture_on_commit_callbacks(execute=True):
        services.inference_job_retry(job=job)
    job.refresh_from_db()
    assert (job.status, job.n_done, job.redeliveries, job.error) == ("done", 5, 0, "")


@pytest.mark.django_db
def test_two_sweepers_never_both_queue_one_job(array_study, version, settings,
                                               django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    job = make_job(study, version, status="running", worker="gpu@dead", attempts=1,
                   started_at=ago(300), heartbeat_at=ago(100))
    seen = InferenceJob.objects.get(pk=job.pk)  # what a second sweeper read before the first
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert services.inference_jobs_sweep() == [job.pk]
        from inference.services.jobs import _requeue_lost

        assert _requeue_lost(seen, now=timezone.now()) is False
    assert len(sent) == 1
    assert InferenceJob.objects.get(pk=job.pk).redeliveries == 1


@pytest.mark.django_db
def test_a_copy_of_the_task_leaves_a_job_that_a_live_worker_holds(array_study, version,
                                                                  settings):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    job = make_job(study, version, status="running", worker="gpu@alive", attempts=1,
                   started_at=ago(30), heartbeat_at=ago(2))
    services.inference_job_run(job_id=job.pk, worker="gpu@late-copy")
    job.refresh_from_db()
    assert (job.status, job.worker, job.attempts) == ("running", "gpu@alive", 1)
    assert not Prediction.objects.exists()


@pytest.mark.django_db
def test_any_job_that_is_not_running_can_be_retried_but_a_running_one_cannot(
        array_study, version, eager_celery, settings, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    running = make_job(study, version, status="running", worker="gpu@alive", attempts=1,
                       started_at=ago(30), heartbeat_at=ago(2))
    with pytest.raises(services.InferenceError, match="is running on gpu@alive"):
        services.inference_job_retry(job=running)
    running.refresh_from_db()
    assert running.status == "running"
    for status in ("queued", "done", "failed"):
        job = make_job(study, version, status=status)
        with django_capture_on_commit_callbacks(execute=True):
            services.inference_job_retry(job=job)
        job.refresh_from_db()
        assert job.status == "done" and job.n_done == 5, status
    # A running job whose lease expired (its worker died) is not running.
    InferenceJob.objects.filter(pk=running.pk).update(heartbeat_at=ago(61))
    with django_capture_on_commit_callbacks(execute=True):
        services.inference_job_retry(job=running)
    running.refresh_from_db()
    assert running.status == "done"
    assert Prediction.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_the_lease_while_the_task_runs(array_study, version, settings):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 2  # a beat every 0.5 s
    job = make_job(study, version, status="running", worker="gpu@me", attempts=1,
                   started_at=ago(10), heartbeat_at=ago(10))
    finished = make_job(study, version, status="done", worker="gpu@me", heartbeat_at=ago(10))
    before = job.heartbeat_at
    with heartbeat(job_id=job.pk, worker="gpu@me"):
        time.sleep(1.3)
        beats = InferenceJob.objects.get(pk=job.pk).heartbeat_at
    assert beats > before and timezone.now() - beats < timedelta(seconds=1)
    with heartbeat(job_id=finished.pk, worker="gpu@me"):
        time.sleep(0.8)
    finished.refresh_from_db()
    assert finished.status == "done" and finished.heartbeat_at < before + timedelta(seconds=1)


@pytest.fixture
def alice(array_study):
    user = get_user_model().objects.create_user("alice", password="x")
    Membership.objects.create(study=array_study[0], user=user, role="researcher")
    return user


@pytest.mark.django_db
def test_the_job_page_finds_a_dead_worker_and_offers_retry_only_when_not_running(
        client, alice, array_study, version, settings, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    client.force_login(alice)
    job = make_job(study, version, status="running", worker="gpu@alive", attempts=1,
                   started_at=ago(30), heartbeat_at=ago(2))
    url = reverse("inference:job", args=[study.slug, job.pk])
    retry = reverse("inference:job-retry", args=[study.slug, job.pk])
    page = client.get(url).content.decode()
    assert "gpu@alive" in page and retry not in page
    response = client.post(retry)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1  # refused: a live worker holds it
    InferenceJob.objects.filter(pk=job.pk).update(heartbeat_at=ago(61))
    with django_capture_on_commit_callbacks(execute=False) as sent:
        page = client.get(url).content.decode()
    assert len(sent) == 1  # reading the page queued it again
    job.refresh_from_db()
    assert job.status == "queued" and "stopped answering" in page and retry in page
    InferenceJob.objects.filter(pk=job.pk).update(status="done")
    assert retry in client.get(url).content.decode()  # a done job can be run again too
