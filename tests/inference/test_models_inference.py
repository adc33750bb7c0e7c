"""Database constraints of model versions, jobs, predictions and training runs."""

import pytest
from django.db import IntegrityError, transaction

from inference.models import InferenceJob, ModelVersion, Prediction, TrainingRun
from tests.inference import inference_fixtures

array_study = inference_fixtures.array_study

SHA = "ab" * 32


def version(**overrides):
    fields = dict(sha256=SHA, name="m", architecture="tiny", input_size=32,
                  labels=["A", "B", "C1", "C2"], card={}, weights_file=f"models/{SHA}.pt",
                  format="state_dict")
    fields.update(overrides)
    return ModelVersion.objects.create(**fields)


def refused(**overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        version(**overrides)


@pytest.mark.django_db
def test_the_weights_sha256_is_the_identity_of_a_model_version():
    version()
    refused(name="another name")


@pytest.mark.django_db
def test_it_refuses_a_malformed_model_version():
    refused(sha256="abc")
    refused(sha256="cd" * 32, format="onnx")
    refused(sha256="ef" * 32, input_size=4)


@pytest.mark.django_db
def test_a_case_gets_one_prediction_per_model_version(array_study):
    study, cases = array_study
    v = version()
    image = cases["test"][0]
    Prediction.objects.create(model_version=v, image=image, probabilities=[1, 0, 0, 0],
                              predicted_label="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(model_version=v, image=image, probabilities=[0, 1, 0, 0],
                                  predicted_label="B")
    other = version(sha256="cd" * 32)
    Prediction.objects.create(model_version=other, image=image, probabilities=[0, 1, 0, 0],
                              predicted_label="B")
    assert image.predictions.count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Prediction.objects.create(model_version=other, image=cases["test"][1],
                                  probabilities=[1, 0, 0, 0], predicted_label="")


@pytest.mark.django_db
def test_a_job_counts_never_exceed_its_total_and_its_status_is_known(study):
    v = version()
    with pytest.raises(IntegrityError), transaction.atomic():
        InferenceJob.objects.create(study=study, model_version=v, n_total=2, n_done=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        InferenceJob.objects.create(study=study, model_version=v, status="paused")
    with pytest.raises(IntegrityError), transaction.atomic():
        InferenceJob.objects.create(study=study, model_version=v, batch_size=0)
    job = InferenceJob.objects.create(study=study, model_version=v, n_total=2, n_done=2)
    assert job.percent == 100


@pytest.mark.django_db
def test_a_model_version_with_jobs_cannot_be_deleted(study):
    v = version()
    InferenceJob.objects.create(study=study, model_version=v)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v.pk).delete()


@pytest.mark.django_db
def test_a_finished_training_run_names_its_model(study):
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(study=study, seed=1, status="done")
    TrainingRun.objects.create(study=study, seed=1, status="done", model_version=version())


@pytest.mark.django_db
def test_a_model_version_a_training_run_produced_cannot_be_deleted(study):
    v = version()
    TrainingRun.objects.create(study=study, seed=1, status="done", model_version=v)
    with pytest.raises(IntegrityError), transaction.atomic():
        v.delete()
