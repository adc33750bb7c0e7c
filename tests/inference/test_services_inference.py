"""Inference through the services: registering versions, a job end to end, idempotent re-runs,
a failing case, the long-table rows of a model."""

from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from inference import selectors, services
from inference.engine.card import ModelCard, ModelCardError, WeightsError
from inference.models import InferenceJob, ModelVersion, Prediction
from studies.models import Image, Study
from studies.services.partitions import study_partition
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import register_tiny, tiny_files

array_study = inference_fixtures.array_study
eager_celery = inference_fixtures.eager_celery


def run_job(django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.inference_job_create(**kwargs)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_registering_copies_the_weights_under_media_and_records_the_card(tmp_path, study,
                                                                          settings):
    v = register_tiny(tmp_path / "w", study=study)
    assert (Path(settings.MEDIA_ROOT) / v.weights_file).is_file()
    assert v.weights_file == f"models/{v.sha256}.pt"
    assert v.card["weights_sha256"] == v.sha256
    assert v.labels == ["A", "B", "C1", "C2"] and v.synthetic


@pytest.mark.django_db
def test_registering_the_same_weights_twice_gives_the_same_version(tmp_path):
    weights, card = tiny_files(tmp_path / "w")
    first, created = services.model_version_register(weights_path=weights,
                                                     card=ModelCard.read(card))
    again, created_again = services.model_version_register(weights_path=weights,
                                                            card=ModelCard.read(card))
    assert created and not created_again and first.pk == again.pk
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_card_whose_labels_are_not_the_studys(tmp_path, study):
    weights, card = tiny_files(tmp_path / "w", labels=("A", "B", "C2", "C1"))
    with pytest.raises(ModelCardError, match="different order"):
        services.model_version_register(weights_path=weights, card=ModelCard.read(card),
                                        study=study)
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_it_refuses_corrupt_weights(tmp_path):
    weights, card = tiny_files(tmp_path / "w")
    weights.write_bytes(weights.read_bytes()[:200])
    card_obj = ModelCard.read(card)
    with pytest.raises(WeightsError, match="SHA-256|cannot read"):
        services.model_version_register(weights_path=weights, card=card_obj)
    import dataclasses
    with pytest.raises(WeightsError, match="cannot read weights file"):
        services.model_version_register(weights_path=weights,
                                        card=dataclasses.replace(card_obj, weights_sha256=""))
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_a_job_predicts_every_reading_case_once(tmp_path, array_study, eager_celery,
                                                django_capture_on_commit_callbacks):
    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v,
                  batch_size=2)
    reading = {c.pk for c in cases["test"] + cases["external"]}
    assert job.status == InferenceJob.Status.DONE, job.error
    assert (job.n_total, job.n_done, job.n_failed) == (5, 5, 0)
    assert set(job.case_ids) == reading
    assert job.attempts == 1 and job.started_at and job.finished_at and job.celery_task_id
    assert set(Prediction.objects.values_list("image_id", flat=True)) == reading
    assert all(job.timings[k] >= 0 for k in services.TIMING_KEYS)
    assert job.timings["predict"] > 0 and job.timings["preprocess"] > 0
    for p in Prediction.objects.all():
        assert len(p.probabilities) == 4 and abs(sum(p.probabilities) - 1) < 1e-4
        assert p.predicted_label == v.labels[int(np.argmax(p.probabilities))]
        assert p.job_id == job.pk


@pytest.mark.django_db
def test_predictions_match_the_engine_on_the_cached_arrays(tmp_path, array_study, eager_celery,
                                                           django_capture_on_commit_callbacks):
    from inference.engine.card import load_model
    from inference.engine.predictor import Predictor
    from inference.engine.transforms import Preprocess

    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    run_job(django_capture_on_commit_callbacks, study=study, model_version=v, batch_size=3)
    model = load_model(services.media_path(v.weights_file), ModelCard.from_dict(v.card))
    images = sorted(cases["test"] + cases["external"], key=lambda c: c.pk)
    x = [Preprocess(v.input_size)(np.load(services.media_path(c.array_file.name)))
         for c in images]
    expected = Predictor(model, device="cpu").predict(x)
    got = np.array([Prediction.objects.get(image=c).probabilities for c in images])
    np.testing.assert_allclose(got, expected, atol=2e-6)


@pytest.mark.django_db
def test_a_rerun_fills_only_the_missing_cases(tmp_path, array_study, eager_celery,
                                              django_capture_on_commit_callbacks):
    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v)
    first = {p.image_id: (p.pk, p.created_at) for p in Prediction.objects.all()}
    gone = cases["test"][1].pk
    Prediction.objects.filter(image_id=gone).delete()
    # A redelivered message: the job is found running again (a worker died mid-job).
    InferenceJob.objects.filter(pk=job.pk).update(status="running", finished_at=None)
    services.inference_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.n_done == 5 and job.attempts == 2
    after = {p.image_id: (p.pk, p.created_at) for p in Prediction.objects.all()}
    assert set(after) == set(first)
    assert all(after[i] == first[i] for i in first if i != gone)
    # A finished job run again is left alone.
    services.inference_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.attempts == 2 and Prediction.objects.count() == 5


@pytest.mark.django_db
def test_a_corrupt_array_fails_the_job_naming_the_case(tmp_path, array_study, eager_celery,
                                                       django_capture_on_commit_callbacks):
    study, cases = array_study
    bad = cases["test"][0]
    services.media_path(bad.array_file.name).write_bytes(b"\x93NUMPY garbage")
    v = register_tiny(tmp_path / "w", study=study)
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v,
                  batch_size=4)
    assert job.status == InferenceJob.Status.FAILED
    assert (job.n_total, job.n_done, job.n_failed) == (5, 4, 1)
    assert f"case {bad.pk}" in job.error and "cannot read its cached array" in job.error
    assert not Prediction.objects.filter(image=bad).exists()
    # Repaired and retried: only the missing case runs.
    np.save(services.media_path(bad.array_file.name), np.zeros((20, 20), np.float16))
    with django_capture_on_commit_callbacks(execute=True):
        services.inference_job_retry(job=job)
    job.refresh_from_db()
    assert job.status == "done" and job.n_done == 5 and job.n_failed == 0 and not job.error


@pytest.mark.django_db
def test_a_model_that_breaks_on_every_case_stops_the_job(tmp_path, array_study, eager_celery,
                                                         django_capture_on_commit_callbacks):
    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    services.media_path(v.weights_file).write_bytes(b"not weights")
    services._PREDICTORS.clear()
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v)
    assert job.status == "failed" and "cannot load model" in job.error and job.n_done == 0


@pytest.mark.django_db
def test_it_refuses_a_job_without_cases_or_with_foreign_cases(tmp_path, study, array_study):
    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    with pytest.raises(services.InferenceError, match="no cases"):
        services.inference_job_create(study=study, model_version=v, partitions=["train"],
                                      case_ids=[])
    other = Study.objects.create(slug="other", title="other")
    with pytest.raises(services.InferenceError, match="not in study"):
        services.inference_job_create(study=other, model_version=v,
                                      case_ids=[cases["test"][0].pk])
    with pytest.raises(services.InferenceError, match="not partitions"):
        services.inference_job_create(study=study, model_version=v, partitions=["tset"])
    assert not InferenceJob.objects.exists()


@pytest.mark.django_db
def test_the_heat_maps_are_stored_per_case(tmp_path, array_study, eager_celery,
                                           django_capture_on_commit_callbacks):
    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v,
                  partitions=["external"], heatmaps=True)
    assert job.status == "done", job.error
    for p in Prediction.objects.all():
        heat = np.load(services.media_path(p.heatmap_file))
        assert heat.dtype == np.float16 and heat.shape == (32, 32)
        assert 0 <= heat.min() and heat.max() <= 1


@pytest.mark.django_db
def test_the_model_long_table_gives_scores_in_label_order(tmp_path, array_study, eager_celery,
                                                          django_capture_on_commit_callbacks):
    study, cases = array_study
    v = register_tiny(tmp_path / "w", study=study)
    run_job(django_capture_on_commit_callbacks, study=study, model_version=v)
    rows = selectors.model_long_table(study=study, model_version=v)
    assert len(rows) == 5 and {r["reader_kind"] for r in rows} == {"model"}
    for row in rows:
        p = Prediction.objects.get(image_id=int(row["case"]))
        assert [row[f"score_{c}"] for c in v.labels] == p.probabilities
        assert row["label"] == p.predicted_label and row["truth"]


@pytest.mark.django_db
def test_a_job_runs_on_an_imported_phantom_study(tmp_path, eager_celery,
                                                 django_capture_on_commit_callbacks):
    out = tmp_path / "phantoms"
    call_command("make_phantoms", str(out), "--patients", "10", "--sites", "2",
                 "--external-sites", "1", "--seed", "5", stdout=open("/dev/null", "w"))
    for code, external in (("SITE1", False), ("SITE2", True)):
        args = [str(out / code), "--study", "ph", "--site", code, "--manifest",
                str(out / "manifest.csv"), "--create"] + (["--external"] if external else [])
        call_command("import_dicom", *args, stdout=open("/dev/null", "w"))
    study = Study.objects.get(slug="ph")
    study_partition(study=study, seed=1)
    v = register_tiny(tmp_path / "w", study=study)
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v)
    reading = set(Image.objects.filter(study=study, partition__in=["test", "external"])
                  .values_list("id", flat=True))
    assert job.status == "done" and job.n_done == len(reading) > 0
    assert set(Prediction.objects.values_list("image_id", flat=True)) == reading


@pytest.mark.django_db
def test_a_job_that_cannot_be_queued_fails_with_the_reason(tmp_path, array_study, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    from inference import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_inference_job, "apply_async", broker_down)
    study, _ = array_study
    v = register_tiny(tmp_path / "w", study=study)
    job = run_job(django_capture_on_commit_callbacks, study=study, model_version=v)
    assert job.status == "failed" and "could not queue the job" in job.error
    assert "Connection refused" in job.error and not Prediction.objects.exists()
