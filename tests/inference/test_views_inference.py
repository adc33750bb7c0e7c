"""The researcher's inference pages: who may see them, starting a job, the job page.

Cast: alice (researcher), dora (admin of the study), bob (reader of the study), charlie (member
of another study only, "should have no access"), and an anonymous visitor."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from inference.models import InferenceJob, Prediction
from studies.models import Membership, Study
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import register_tiny

array_study = inference_fixtures.array_study
eager_celery = inference_fixtures.eager_celery


@pytest.fixture
def cast(array_study):
    study, _ = array_study
    users = {}
    other = Study.objects.create(slug="other", title="Another study")
    for name, role, where in (("alice", "researcher", study), ("dora", "admin", study),
                              ("bob", "reader", study), ("charlie", "researcher", other)):
        users[name] = get_user_model().objects.create_user(name, password="x")
        Membership.objects.create(study=where, user=users[name], role=role)
    return users


@pytest.fixture
def version(tmp_path, array_study):
    return register_tiny(tmp_path / "w", study=array_study[0])


def pages(study, job=None):
    urls = [reverse("inference:study", args=[study.slug])]
    if job:
        urls.append(reverse("inference:job", args=[study.slug, job.pk]))
    return urls


@pytest.mark.django_db
def test_it_shows_researchers_and_admins_the_models_with_their_card(client, cast, version,
                                                                    array_study):
    study, _ = array_study
    for name in ("alice", "dora"):
        client.force_login(cast[name])
        response = client.get(reverse("inference:study", args=[study.slug]))
        assert response.status_code == 200
        body = response.content.decode()
        assert version.short_sha in body and "SYNTHETIC" in body and "Model card" in body
        checked = [line for line in body.splitlines() if "checked" in line]
        assert [v for v in ("train", "validation", "test", "external")
                if any(f'value="{v}"' in line for line in checked)] == ["test", "external"]


@pytest.mark.django_db
def test_it_hides_the_pages_from_readers_outsiders_and_strangers(client, cast, version,
                                                                 array_study):
    study, _ = array_study
    job = InferenceJob.objects.create(study=study, model_version=version, n_total=0)
    for name in ("bob", "charlie"):
        client.force_login(cast[name])
        for url in pages(study, job):
            assert client.get(url).status_code == 404, (name, url)
        response = client.post(reverse("inference:job-create", args=[study.slug]),
                               {"model_version": version.pk, "partitions": ["test"]})
        assert response.status_code == 404
    client.logout()
    for url in pages(study, job):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert InferenceJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_researcher_starts_a_job_and_follows_it(client, cast, version, array_study,
                                                  eager_celery):
    study, cases = array_study
    client.force_login(cast["alice"])
    response = client.post(reverse("inference:job-create", args=[study.slug]),
                           {"model_version": version.pk, "partitions": ["test", "external"]})
    job = InferenceJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("inference:job", args=[study.slug, job.pk])
    assert job.created_by == cast["alice"] and Prediction.objects.count() == 5
    page = client.get(response["Location"]).content.decode()
    assert "5 predicted, 0 failed of 5" in page and "http-equiv=\"refresh\"" not in page
    assert "predict" in page and "load_model" in page


@pytest.mark.django_db
def test_a_running_job_page_refreshes_itself_and_a_failed_one_shows_its_error(
        client, cast, version, array_study):
    study, _ = array_study
    client.force_login(cast["alice"])
    job = InferenceJob.objects.create(study=study, model_version=version, n_total=4, n_done=1,
                                      status="running")
    page = client.get(reverse("inference:job", args=[study.slug, job.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and "1 predicted" in page
    InferenceJob.objects.filter(pk=job.pk).update(
        status="failed", error="case 17: cannot read its cached array", n_failed=1)
    page = client.get(reverse("inference:job", args=[study.slug, job.pk])).content.decode()
    assert "case 17: cannot read its cached array" in page and "Retry" in page


@pytest.mark.django_db
def test_it_refuses_a_job_without_partitions(client, cast, version, array_study):
    study, _ = array_study
    client.force_login(cast["alice"])
    response = client.post(reverse("inference:job-create", args=[study.slug]),
                           {"model_version": version.pk})
    assert response.status_code == 400 and not InferenceJob.objects.exists()
    response = client.post(reverse("inference:job-create", args=[study.slug]),
                           {"model_version": version.pk, "partitions": ["train"],
                            "heatmaps": "on"})
    assert response.status_code == 302  # train cases are allowed explicitly
