"""``import_model``, ``train_model`` and ``run_inference``."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from inference import services
from inference.engine import training
from inference.models import InferenceJob, ModelVersion, Prediction, TrainingRun
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import tiny_files

array_study = inference_fixtures.array_study
eager_celery = inference_fixtures.eager_celery


def run(*args):
    out = StringIO()
    call_command(*map(str, args), stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_import_model_registers_once_and_says_so_the_second_time(tmp_path, study):
    weights, card = tiny_files(tmp_path / "w")
    text = run("import_model", weights, "--card", card, "--study", study.slug)
    version = ModelVersion.objects.get()
    assert "registered" in text and version.sha256 in text and "SYNTHETIC" in text
    again = run("import_model", weights, "--card", card)
    assert "already registered" in again and ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_import_model_refuses_a_card_with_another_label_scheme(tmp_path, study):
    weights, card = tiny_files(tmp_path / "w", labels=("none", "mild", "severe"))
    with pytest.raises(CommandError, match=r"refused: model card labels \['none', 'mild', "
                       r"'severe'\] do not match the study's \['A', 'B', 'C1', 'C2'\]"):
        run("import_model", weights, "--card", card, "--study", study.slug)
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_import_model_refuses_corrupt_weights_clearly(tmp_path):
    weights, card = tiny_files(tmp_path / "w")
    data = json.loads(card.read_text())
    data["weights_sha256"] = ""  # a card written by hand, without a checksum
    card.write_text(json.dumps(data))
    weights.write_bytes(b"PK\x03\x04 this is not a torch file")
    with pytest.raises(CommandError, match="refused: cannot read weights file"):
        run("import_model", weights, "--card", card)
    with pytest.raises(CommandError, match="refused: model card: not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        run("import_model", weights, "--card", tmp_path / "bad.json")


@pytest.mark.django_db(transaction=True)  # the job is queued on commit, as in production
def test_import_model_takes_torchscript_which_then_predicts(tmp_path, array_study, eager_celery):
    study, cases = array_study
    weights, card = tiny_files(tmp_path / "w", fmt="torchscript")
    run("import_model", weights, "--card", card, "--study", study.slug)
    version = ModelVersion.objects.get()
    assert version.format == "torchscript"
    text = run("run_inference", "--study", study.slug, "--model", version.sha256[:10],
               "--partitions", "test")
    assert "done: 3/3 predicted, 0 failed" in text
    assert Prediction.objects.count() == 3


@pytest.mark.django_db
def test_run_inference_reports_an_unknown_model_or_study(tmp_path, array_study):
    study, _ = array_study
    with pytest.raises(CommandError, match="no model version has that SHA-256"):
        run("run_inference", "--study", study.slug, "--model", "abcdef12")
    with pytest.raises(CommandError, match="no such study"):
        run("run_inference", "--study", "nope", "--model", "abcdef12")


@pytest.mark.django_db
def test_train_model_never_shows_test_or_external_cases_to_training(
        tmp_path, array_study, monkeypatch):
    study, cases = array_study
    stored = {c.pk: np.load(services.media_path(c.array_file.name))
              for part in cases.values() for c in part}

    def ids_of(arrays):
        return sorted(next(pk for pk, a in stored.items() if np.array_equal(a, x))
                      for x in arrays)

    seen = {}
    real_train, real_evaluate = training.train_classifier, training.evaluate

    def spy_train(*, train, validation, **kwargs):
        seen["train"] = (ids_of(train[0]), list(train[1]))
        seen["validation"] = (ids_of(validation[0]), list(validation[1]))
        return real_train(train=train, validation=validation, **kwargs)

    def spy_evaluate(model, arrays, labels, labels_order, **kwargs):
        seen.setdefault("evaluated", []).append(ids_of(arrays))
        return real_evaluate(model, arrays, labels, labels_order, **kwargs)

    monkeypatch.setattr(training, "train_classifier", spy_train)
    monkeypatch.setattr(training, "evaluate", spy_evaluate)
    text = run("train_model", "--study", study.slug, "--architecture", "tiny", "--input-size",
               16, "--epochs", 2, "--seed", 3, "--output", tmp_path / "out")
    ids = {part: sorted(c.pk for c in cs) for part, cs in cases.items()}
    assert seen["train"] == (ids["train"], [0, 1, 2])  # A, B, C1 as class indices
    assert seen["validation"] == (ids["validation"], [3])
    assert seen["evaluated"] == [ids["test"], ids["external"]]
    run_row = TrainingRun.objects.get()
    assert run_row.status == "done" and run_row.model_version.training_study == study
    assert run_row.metrics["test"]["n"] == 3 and run_row.metrics["external"]["n"] == 2
    card = run_row.model_version.card
    assert set(card["metrics"]) >= {"validation", "test", "external"}
    assert card["training_data"]["cases"] == {"train": 3, "validation": 1, "test": 3,
                                              "external": 2}
    assert "test and external were not used for training or selection" in text
    assert (tmp_path / "out" / f"model-{run_row.model_version.sha256[:12]}.pt").is_file()


@pytest.mark.django_db
def test_train_model_refuses_a_study_without_a_validation_partition(tmp_path, study, site):
    from tests.inference.inference_fixtures import make_array_case

    for i, label in enumerate("AB"):
        make_array_case(study=study, site=site, patient=f"p{i}", label=label, partition="train")
    with pytest.raises(CommandError, match="no labelled cases with arrays in the validation"):
        run("train_model", "--study", study.slug, "--architecture", "tiny", "--epochs", 1,
            "--input-size", 16)
    assert TrainingRun.objects.get().status == "failed"


@pytest.mark.django_db
def test_train_model_async_queues_a_run(tmp_path, array_study, eager_celery,
                                        django_capture_on_commit_callbacks):
    study, _ = array_study
    with django_capture_on_commit_callbacks(execute=True):
        run("train_model", "--study", study.slug, "--architecture", "tiny", "--epochs", 1,
            "--input-size", 16, "--async", "--output", tmp_path / "o")
    row = TrainingRun.objects.get()
    assert row.status == "done" and row.celery_task_id and row.model_version


@pytest.mark.django_db(transaction=True)
def test_run_inference_with_the_shipped_model(array_study, eager_celery):
    study, cases = array_study
    text = run("run_inference", "--study", study.slug, "--shipped", "--wait", "--timeout", 60)
    version = ModelVersion.objects.get()
    assert version.synthetic and "SYNTHETIC" in version.name
    assert "done: 5/5 predicted" in text
    job = InferenceJob.objects.get()
    assert job.model_version == version and job.n_done == 5


@pytest.mark.django_db
def test_evaluate_localisation_scores_heat_on_the_masked_cases(tmp_path, array_study):
    from inference.management.commands.evaluate_localisation import localisation_of
    from studies import storage
    from tests.inference.inference_fixtures import register_tiny

    study, cases = array_study
    version = register_tiny(tmp_path / "w", study=study)
    for case in cases["test"]:
        mask = np.zeros((case.rows, case.columns), bool)
        mask[10:30, 5:25] = True
        import io
        buffer = io.BytesIO()
        np.save(buffer, mask)
        stored = storage.store_content(kind="masks", digest=case.content_hash,
                                       data=buffer.getvalue())
        case.mask_file = stored.name
        case.save(update_fields=["mask_file"])
    every = localisation_of(version, study, "test", correct_only=False)
    assert every["cases_with_mask"] == 3 and every["n"] == 3
    assert 0 <= every["pointing_game"] <= 1 and 0 <= every["mean_heat_inside"] <= 1
    assert every["lesion_share"] == pytest.approx(20 * 20 / 48**2)
    assert 0 <= every["heat_on_lesion"] <= 1 and 0 < every["heat_on_image"] <= 1
    correct = localisation_of(version, study, "test")
    assert correct["n"] == correct["correct"] <= 3
    assert localisation_of(version, study, "external")["cases_with_mask"] == 0
    text = run("evaluate_localisation", "--study", study.slug, "--model", version.sha256[:8],
               "--partitions", "test", "--all-cases")
    assert "pointing game" in text and "SYNTHETIC" in text
