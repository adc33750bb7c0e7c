"""Training runs: train on the train partition, select on validation, report test and external
separately, register the result as a model version."""

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.celery import enqueue_on_commit
from config.leases import lease_alive, lease_claim, lease_refusal, leases_sweep
from inference.engine.card import ModelCard
from inference.models import TrainingRun
from inference.services.common import MODELS_DIR, InferenceError, media_path
from inference.services.leases import inline_worker_name, training_heartbeat
from inference.services.versions import model_version_register
from studies.models import Image, Partition, Study

TRAINING_PARTITIONS = (Partition.TRAIN, Partition.VALIDATION)
REPORTED_PARTITIONS = (Partition.TEST, Partition.EXTERNAL)

logger = logging.getLogger(__name__)


def study_labelled_cases(*, study: Study, partition: str) -> tuple[list[int], list[str]]:
    """Ids and reference labels of the study's labelled cases in one partition, by id."""
    rows = (
        Image.objects.filter(study=study, partition=partition, reference__isnull=False)
        .exclude(array_file="")
        .order_by("id")
        .values_list("id", "reference__label")
    )
    ids, labels = [], []
    codes = set(study.label_codes)
    for pk, label in rows:
        if label in codes:
            ids.append(pk)
            labels.append(label)
    return ids, labels


def _arrays_of(ids: Sequence[int]) -> list[np.ndarray]:
    names = dict(Image.objects.filter(id__in=ids).values_list("id", "array_file"))
    return [np.load(media_path(names[pk]), allow_pickle=False) for pk in ids]


def training_run_create(*, study: Study, seed: int, parameters: dict, output_dir: str = "",
                        user=None, enqueue: bool = False):
    """Record a training run; with ``enqueue`` it is queued on the ``gpu`` queue after commit."""
    with transaction.atomic():
        run = TrainingRun.objects.create(study=study, seed=seed, parameters=dict(parameters),
                                         output_dir=str(output_dir), created_by=user)
        if enqueue:
            training_run_enqueue(run_id=run.pk)
    return run


def training_run_enqueue(*, run_id: int) -> None:
    """Queue run ``run_id`` on the ``gpu`` queue once the transaction commits; its Celery id is
    kept, and a broker that refuses it fails the run with a message (never a silent loss)."""

    def sent(result) -> None:
        TrainingRun.objects.filter(pk=run_id).update(celery_task_id=result.id or "")

    def refused(exc: Exception) -> None:
        logger.error("training run %s could not be queued", run_id, exc_info=exc)
        TrainingRun.objects.filter(pk=run_id).update(
            status=TrainingRun.Status.FAILED, finished_at=timezone.now(),
            error=f"could not queue the run on the gpu queue ({type(exc).__name__}: {exc}); "
            "check REDIS_URL and the broker, then retry it",
        )

    enqueue_on_commit("inference.train_model", run_id=run_id, on_sent=sent, on_error=refused)


def training_run_retry(*, run: TrainingRun) -> TrainingRun:
    """Queue a run again, whatever its state, unless a live worker is running it (a run marked
    running whose lease expired counts as not running); a done run trains again."""
    with transaction.atomic():
        current = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if lease_alive(current):
            raise InferenceError(lease_refusal(current, what="training run"))
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.QUEUED, error="", finished_at=None, redeliveries=0)
        training_run_enqueue(run_id=run.pk)
    run.refresh_from_db()
    return run


def training_runs_sweep(*, study: Study | None = None, restarted_worker: str = "") -> list[int]:
    """Queue again every training run whose worker is gone, or fail it after
    ``READERBENCH_JOB_MAX_REDELIVERIES`` (:func:`config.leases.leases_sweep`); the ids."""
    runs = TrainingRun.objects.only("pk", "status", "worker", "heartbeat_at", "started_at",
                                    "redeliveries")
    if study is not None:
        runs = runs.filter(study=study)
    return leases_sweep(runs, restarted_worker=restarted_worker, what="training run",
                        requeue=lambda pk: training_run_enqueue(run_id=pk),
                        retry_hint="retry it (training_run_retry)")


def training_run_execute(*, run_id: int, progress=None, worker: str = ""):
    """Train on the train partition, select the epoch on validation, then evaluate the chosen
    model on test and on external, separately, and register it as a model version.

    Only train and validation cases reach :func:`inference.engine.training.train_classifier`;
    test and external cases go to :func:`~inference.engine.training.evaluate` once, after
    training, and their numbers are reported, never used for a choice. Errors are stored on
    the run (status ``failed``) and re-raised for a caller that waits.

    ``worker`` (the Celery worker's name) takes the run's lease, renewed while it trains
    (:mod:`config.leases`); a run that is done, failed (it trains again only through
    :func:`training_run_retry`) or held by another live worker is left as it is.
    """
    worker = worker or inline_worker_name()
    with transaction.atomic():
        run, claimed = lease_claim(
            TrainingRun, pk=run_id, worker=worker, what="training run",
            finished=lambda r: r.status in (TrainingRun.Status.DONE, TrainingRun.Status.FAILED))
        if claimed:
            TrainingRun.objects.filter(pk=run.pk).update(error="")
    if not claimed:
        return run
    with training_heartbeat(run_id=run.pk, worker=run.worker):
        return _train(TrainingRun.objects.select_related("study").get(pk=run.pk), progress)


def _train(run: TrainingRun, progress):
    from inference.engine import training
    from inference.engine.card import save_model

    study, params = run.study, dict(run.parameters)
    codes = study.label_codes
    index = {c: i for i, c in enumerate(codes)}
    try:
        started = time.perf_counter()
        parts = {}
        for part in (*TRAINING_PARTITIONS, *REPORTED_PARTITIONS):
            parts[part] = study_labelled_cases(study=study, partition=part)
        for part in TRAINING_PARTITIONS:
            if not parts[part][0]:
                raise InferenceError(
                    f"study {study.slug!r} has no labelled cases with arrays in the {part} "
                    "partition; partition the study first (manage.py partition_study)"
                )
        train_ids, train_labels = parts[Partition.TRAIN]
        val_ids, val_labels = parts[Partition.VALIDATION]
        result = training.train_classifier(
            train=(_arrays_of(train_ids), [index[c] for c in train_labels]),
            validation=(_arrays_of(val_ids), [index[c] for c in val_labels]),
            num_classes=len(codes),
            architecture=params["architecture"],
            input_size=params["input_size"],
            epochs=params["epochs"],
            seed=run.seed,
            select_on=params.get("select_on", "macro_f1"),
            patience=params.get("patience", 10),
            batch_size=params.get("batch_size", 32),
            lr=params.get("lr", 1e-3),
            augment=_augmentation(params.get("augment", "standard"), run.seed),
            device=settings.READERBENCH_INFERENCE_DEVICE,
            progress=progress,
        )
        train_seconds = time.perf_counter() - started
        metrics: dict = {"validation": dict(result.validation)}
        for part in REPORTED_PARTITIONS:
            ids, labels = parts[part]
            metrics[part] = (
                training.evaluate(result.model, _arrays_of(ids), labels, codes,
                                  input_size=result.input_size, device="cpu")
                if ids else None
            )
        summary = {
            "study": study.slug,
            "synthetic": study.synthetic,
            "cases": {part: len(parts[part][0]) for part in parts},
            "patients_train": Image.objects.filter(id__in=train_ids)
            .values("hip__patient").distinct().count(),
            "selected_on": f"validation {result.select_on}",
            "never_used_for_training_or_selection": list(REPORTED_PARTITIONS),
            "train_seconds": round(train_seconds, 1),
            "command": params.get("command", ""),
        }
        card = result.model_card(labels=codes, training_data=summary, synthetic=study.synthetic)
        card_metrics = dict(card.metrics)
        card_metrics.update({k: v for k, v in metrics.items() if k != "validation"})
        if study.synthetic:
            card_metrics["note"] = ("SYNTHETIC: measured on phantom data; says nothing about "
                                    "performance on patients")
        card = dataclasses.replace(card, metrics=card_metrics)
        out_dir = Path(run.output_dir) if run.output_dir else media_path(
            f"{MODELS_DIR}/training-run-{run.pk}")
        weights_path, card_path = save_model(result.model, card, out_dir)
        version, created = model_version_register(
            weights_path=weights_path, card=ModelCard.read(card_path), study=study,
            training_study=study, name=params.get("name", "")
            or f"{result.architecture} trained on {study.slug} (seed {run.seed})",
        )
        run_metrics = {
            "validation": metrics["validation"],
            **{p: metrics[p] for p in REPORTED_PARTITIONS},
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "train_seconds": round(train_seconds, 1),
            "weights": str(weights_path),
            "card": str(card_path),
            "new_version": created,  # False: these exact weights were registered before
        }
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.DONE, metrics=_json_safe(run_metrics),
            model_version=version, finished_at=timezone.now(),
        )
    except Exception as exc:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        raise
    run.refresh_from_db()
    return run


AUGMENTATIONS = ("standard", "intensity", "none")


def _augmentation(name: str, seed: int):
    """The engine's standard augmentation; ``intensity``: left-right flips and the intensity
    part only (bias field, gamma, scale, noise at about half the standard ranges), which keeps
    every lesion where it is and learns faster on a small set; or none."""
    from inference.engine.transforms import Augment

    if name == "standard":
        return True
    if name == "none":
        return False
    if name == "intensity":
        return Augment(seed, rotate_deg=0.0, translate=0.0, scale=(1.0, 1.0), flip_lr=0.5,
                       bias_field=0.15, gamma=(0.9, 1.1), intensity_scale=(0.95, 1.05),
                       noise_std=0.015)
    raise InferenceError(f"augment: expected one of {list(AUGMENTATIONS)}, got {name!r}")


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value
