"""A report build never stays stuck (issue 15 item 8): a build holds a lease, the sweep every
worker runs queues a build whose worker died again (or fails it after the redeliveries allowed),
a worker restarted under the same name takes its builds back at once, a copy of the task leaves
a build another live worker holds, and asking for the report again rebuilds one whose worker
died. Worker processes killed for real: tests/security/test_stuck_report_worker.py."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.leases import heartbeat
from reports.models import StudyReport
from reports.services import build

pytestmark = pytest.mark.django_db
N_BOOT = 20


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def requested(built_study, django_capture_on_commit_callbacks):
    """A report of the study's current inputs, asked for (its task not run)."""
    with django_capture_on_commit_callbacks(execute=False):
        return build.study_report_request(study=built_study.study, seed=4, n_bootstrap=N_BOOT)


def held(report: StudyReport, *, worker: str, beat_ago: float, redeliveries: int = 0):
    StudyReport.objects.filter(pk=report.pk).update(
        status="running", worker=worker, started_at=ago(beat_ago + 5),
        heartbeat_at=ago(beat_ago), redeliveries=redeliveries)
    report.refresh_from_db()
    return report


def test_the_sweep_queues_again_a_build_whose_worker_stopped_beating(
        requested, settings, django_capture_on_commit_callbacks):
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    held(requested, worker="default@dead", beat_ago=61)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert build.study_reports_sweep() == [requested.pk]
        assert build.study_reports_sweep() == []  # claimed once, however often it runs
    assert len(sent) == 1
    requested.refresh_from_db()
    assert (requested.status, requested.redeliveries) == ("queued", 1)
    assert "default@dead stopped answering" in requested.error


def test_the_sweep_leaves_a_build_with_a_live_lease_alone(requested, settings):
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    held(requested, worker="default@alive", beat_ago=10)
    assert build.study_reports_sweep() == []
    requested.refresh_from_db()
    assert (requested.status, requested.worker) == ("running", "default@alive")


def test_a_worker_restarted_under_its_name_takes_its_builds_back_at_once(
        requested, settings, django_capture_on_commit_callbacks):
    settings.READERBENCH_JOB_LEASE_SECONDS = 600
    held(requested, worker="default@box", beat_ago=1)
    assert build.study_reports_sweep(restarted_worker="default@other") == []
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert build.study_reports_sweep(restarted_worker="default@box") == [requested.pk]
    assert len(sent) == 1
    assert StudyReport.objects.get(pk=requested.pk).status == "queued"


def test_a_build_lost_too_often_is_failed_with_a_message_and_rebuilt_when_asked_again(
        requested, built_study, settings, django_capture_on_commit_callbacks):
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    settings.READERBENCH_JOB_MAX_REDELIVERIES = 2
    held(requested, worker="default@dead", beat_ago=61, redeliveries=2)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert build.study_reports_sweep() == [requested.pk]
    assert sent == []
    requested.refresh_from_db()
    assert requested.status == "failed" and requested.finished_at is not None
    assert "already queued again 2 time(s); ask for the report again" in requested.error
    # A copy of the task still in the broker leaves the failed report alone.
    assert build.study_report_run(report_id=requested.pk, worker="default@late").status == (
        "failed")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        again = build.study_report_request(study=built_study.study, seed=4,
                                           n_bootstrap=N_BOOT)
    assert again.pk == requested.pk and len(sent) == 1
    assert (again.status, again.redeliveries, again.error) == ("queued", 0, "")


def test_asking_again_rebuilds_a_build_whose_worker_died_but_not_a_live_one(
        requested, built_study, settings, django_capture_on_commit_callbacks):
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    held(requested, worker="default@alive", beat_ago=5)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        same = build.study_report_request(study=built_study.study, seed=4, n_bootstrap=N_BOOT)
    assert sent == [] and (same.status, same.worker) == ("running", "default@alive")
    held(requested, worker="default@dead", beat_ago=61, redeliveries=1)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        again = build.study_report_request(study=built_study.study, seed=4,
                                           n_bootstrap=N_BOOT)
    assert len(sent) == 1 and (again.status, again.redeliveries) == ("queued", 0)
    assert StudyReport.objects.count() == 1


def test_a_copy_of_the_task_leaves_a_build_that_a_live_worker_holds(requested, settings):
    settings.READERBENCH_JOB_LEASE_SECONDS = 60
    held(requested, worker="default@alive", beat_ago=2)
    report = build.study_report_run(report_id=requested.pk, worker="default@late-copy")
    assert (report.status, report.worker, report.progress) == ("running", "default@alive", 0)


def test_the_task_takes_the_lease_and_builds_the_report_once(requested):
    report = build.study_report_run(report_id=requested.pk, worker="default@here")
    assert (report.status, report.worker, report.progress) == ("done", "default@here", 100)
    report.refresh_from_db()
    assert report.started_at is not None and report.heartbeat_at is not None
    assert report.finished_at >= report.started_at
    # A redelivered message finds it done and builds nothing.
    assert build.study_report_run(report_id=requested.pk, worker="default@again").worker == (
        "default@here")


def test_asking_for_a_missing_report_does_nothing():
    assert build.study_report_run(report_id=987654, worker="default@here") is None


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_a_build_lease_and_never_revives_a_finished_one(
        requested, settings):
    settings.READERBENCH_JOB_LEASE_SECONDS = 2  # a beat every 0.5 s
    held(requested, worker="default@me", beat_ago=10)
    before = requested.heartbeat_at
    with heartbeat(StudyReport, pk=requested.pk, worker="default@me"):
        time.sleep(1.3)
        beats = StudyReport.objects.get(pk=requested.pk).heartbeat_at
    assert beats > before and timezone.now() - beats < timedelta(seconds=1)
    StudyReport.objects.filter(pk=requested.pk).update(status="done", heartbeat_at=before)
    with heartbeat(StudyReport, pk=requested.pk, worker="default@me"):
        time.sleep(0.8)
    requested.refresh_from_db()
    assert (requested.status, requested.heartbeat_at) == ("done", before)
    StudyReport.objects.filter(pk=requested.pk).update(status="running")
    with heartbeat(StudyReport, pk=requested.pk, worker="default@someone-else"):
        time.sleep(0.8)
    assert StudyReport.objects.get(pk=requested.pk).heartbeat_at == before  # not its lease
