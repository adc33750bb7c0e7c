"""Stored weights are the registered ones (issue 15 R6): the worker checks the SHA-256 before
loading and fails the job with a clear message; ``inference.repair`` (run by repair_storage)
verifies every model version, and restores what it can."""

from __future__ import annotations

import shutil

import pytest

from inference import services
from inference.engine.card import ModelCard
from inference.models import ModelVersion, Prediction
from inference.repair import repair
from tests.inference import inference_fixtures
from tests.inference.inference_fixtures import register_tiny, tiny_files

array_study = inference_fixtures.array_study
eager_celery = inference_fixtures.eager_celery


def corrupt(version: ModelVersion) -> None:
    path = services.media_path(version.weights_file)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the tensors
    path.write_bytes(bytes(data))


@pytest.mark.django_db
def test_a_job_on_corrupted_weights_fails_naming_the_hash_mismatch(
        tmp_path, array_study, eager_celery, django_capture_on_commit_callbacks):
    study, _ = array_study
    version = register_tiny(tmp_path / "w", study=study)
    corrupt(version)
    services._PREDICTORS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.inference_job_create(study=study, model_version=version)
    job.refresh_from_db()
    assert job.status == "failed" and job.n_done == 0
    assert "do not match the registered SHA-256" in job.error
    assert version.sha256 in job.error and "weights_only" not in job.error
    assert "import_model" in job.error
    assert not Prediction.objects.exists()


@pytest.mark.django_db
def test_importing_the_original_weights_again_heals_the_stored_copy(
        tmp_path, array_study, eager_celery, django_capture_on_commit_callbacks):
    study, _ = array_study
    weights, card = tiny_files(tmp_path / "w")
    version, _ = services.model_version_register(weights_path=weights,
                                                 card=ModelCard.read(card), study=study)
    services.media_path(version.weights_file).unlink()
    again, created = services.model_version_register(weights_path=weights,
                                                     card=ModelCard.read(card), study=study)
    assert again.pk == version.pk and not created
    services._PREDICTORS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.inference_job_create(study=study, model_version=version)
    job.refresh_from_db()
    assert job.status == "done", job.error


@pytest.mark.django_db
def test_repair_counts_bad_weights_and_restores_the_shipped_model(tmp_path, study):
    shipped, _ = services.model_version_register_shipped(study=study)
    good = register_tiny(tmp_path / "good", study=study, seed=1)
    missing = register_tiny(tmp_path / "missing", study=study, seed=2)
    corrupt(shipped)
    services.media_path(missing.weights_file).unlink()
    lines: list[str] = []
    assert repair(fix=False, log=lines.append) == {
        "weights_checked": 3, "weights_bad": 2, "weights_restored": 0}
    assert any(shipped.short_sha in line and "do not match" in line for line in lines)
    assert any(missing.short_sha in line and "are missing" in line for line in lines)
    assert not any(good.short_sha in line for line in lines)
    lines.clear()
    assert repair(fix=True, log=lines.append) == {
        "weights_checked": 3, "weights_bad": 2, "weights_restored": 1}
    assert any("restored" in line and shipped.short_sha in line for line in lines)
    assert services.model_version_weights_problem(model_version=shipped) is None
    assert "are missing" in services.model_version_weights_problem(model_version=missing)
    # Restored from the original: nothing left to repair.
    shutil.copyfile(tmp_path / "missing" / f"model-{missing.sha256[:12]}.pt",
                    services.media_path(missing.weights_file))
    assert repair(fix=False, log=lines.append)["weights_bad"] == 0
