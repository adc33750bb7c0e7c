"""A training run never stays stuck (issue 15 item 8): a run holds the same lease as inference
jobs and study reports (:mod:`config.leases`); the sweep every worker runs queues a run whose
worker died again (or fails it), a worker restarted under its name takes its runs back, a copy
of the task leaves a run another live worker holds, and any run that is not running can be
retried by its owner (:func:`inference.services.training.training_run_retry`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inference.models import TrainingRun
from inference.services import InferenceError
from inference.services.training import (
    training_run_execute,
    training_run_retry,
    training_runs_sweep,
)
from tests.inference import inference_fixtures

array_study = inference_fixtures.array_study
eager_celery = inference_fixtures.eager_celery

pytestmark = pytest.mark.django_db
TINY = {"architecture": "tiny", "input_size": 16, "epochs": 1}


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def make_run(study, tmp_path, **fields) -> TrainingRun:
    return TrainingRun.objects.create(study=study, seed=1, parameters=TINY,
                                      output_dir=str(tmp_path / "out"), **fields)


def test_the_sweep_queues_again_a_run_whose_worker_stopped_beating(
        array_study, tmp_path, settings, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    lost = make_run(study, tmp_path, status="running", worker="gpu@dead",
                    started_at=ago(300), heartbeat_at=ago(61))
    alive = make_run(study, tmp_path, status="running", worker="gpu@alive",
                     started_at=ago(300), heartbeat_at=ago(5))
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert training_runs_sweep() == [lost.pk]
        assert training_runs_sweep() == []
    assert len(sent) == 1
    lost.refresh_from_db()
    assert (lost.status, lost.redeliveries) == ("queued", 1)
    assert "gpu@dead stopped answering" in lost.error
    assert TrainingRun.objects.get(pk=alive.pk).status == "running"


def test_a_worker_restarted_under_its_name_takes_its_runs_back_at_once(
        array_study, tmp_path, settings, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 600
    run = make_run(study, tmp_path, status="running", worker="gpu@box",
                   started_at=ago(10), heartbeat_at=ago(1))
    assert training_runs_sweep(restarted_worker="gpu@elsewhere") == []
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert training_runs_sweep(restarted_worker="gpu@box") == [run.pk]
    assert len(sent) == 1 and TrainingRun.objects.get(pk=run.pk).status == "queued"


def test_a_run_lost_too_often_is_failed_with_a_message(array_study, tmp_path, settings):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    settings.READERBENCH_JOB_MAX_REDELIVERIES = 1
    run = make_run(study, tmp_path, status="running", worker="gpu@dead", redeliveries=1,
                   started_at=ago(300), heartbeat_at=ago(61))
    assert training_runs_sweep() == [run.pk]
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at is not None
    assert "already queued again 1 time(s); retry it" in run.error
    # A copy of the task still in the broker leaves the failed run alone.
    assert training_run_execute(run_id=run.pk, worker="gpu@late").status == "failed"


def test_a_copy_of_the_task_leaves_a_run_that_a_live_worker_holds(array_study, tmp_path,
                                                                  settings):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    run = make_run(study, tmp_path, status="running", worker="gpu@alive",
                   started_at=ago(30), heartbeat_at=ago(2))
    same = training_run_execute(run_id=run.pk, worker="gpu@late-copy")
    assert (same.status, same.worker, same.model_version) == ("running", "gpu@alive", None)


def test_any_run_that_is_not_running_can_be_retried_but_a_running_one_cannot(
        array_study, tmp_path, settings, eager_celery, django_capture_on_commit_callbacks):
    study, _ = array_study
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    run = make_run(study, tmp_path, status="running", worker="gpu@alive",
                   started_at=ago(30), heartbeat_at=ago(2))
    with pytest.raises(InferenceError, match=r"training run #\d+ is running on gpu@alive"):
        training_run_retry(run=run)
    # Its worker died: the lease expired, so it counts as not running, and the retry trains it.
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=ago(61), redeliveries=2)
    with django_capture_on_commit_callbacks(execute=True) as sent:
        training_run_retry(run=run)
    assert len(sent) == 1
    run.refresh_from_db()
    assert (run.status, run.redeliveries, run.error) == ("done", 0, "")
    assert run.model_version is not None and run.worker.startswith("inline@")
    assert run.heartbeat_at is not None and run.finished_at is not None


def test_a_failed_run_is_retried_by_its_owner(array_study, tmp_path, eager_celery,
                                              django_capture_on_commit_callbacks):
    study, _ = array_study
    run = make_run(study, tmp_path, status="failed", error="CUDA out of memory",
                   finished_at=ago(5))
    with django_capture_on_commit_callbacks(execute=True):
        training_run_retry(run=run)
    run.refresh_from_db()
    assert run.status == "done" and run.error == "" and run.model_version is not None
