"""Inference jobs: choosing cases, queueing after commit, and running a job batch by batch,
idempotently (a prediction is unique per model version and case)."""

import logging
import os
import time
import traceback
from collections.abc import Sequence

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.celery import enqueue_on_commit
from config.leases import lease_claim, lease_recover, leases_sweep
from inference.engine.card import ModelCardError, ModelError, check_card_labels
from inference.models import InferenceJob, ModelVersion, Prediction
from inference.services.common import (
    _CHUNK,
    HEATMAPS_DIR,
    TIMING_KEYS,
    InferenceError,
    _chunks,
    media_path,
)
from inference.services.leases import heartbeat, inline_worker_name, lease_alive, lease_seconds
from inference.services.versions import _predictor_for, model_version_card
from studies.models import READING_PARTITIONS, Image, Partition, Study

logger = logging.getLogger(__name__)


def study_cases_select(
    *, study: Study, partitions: Sequence[str] | None = None,
    case_ids: Sequence[int] | None = None,
) -> list[int]:
    """Image ids of ``study`` to run: ``case_ids`` (checked to belong to the study), else every
    case in ``partitions`` (default the reading partitions, test and external)."""
    if case_ids is not None:
        wanted = sorted({int(i) for i in case_ids})
        found: set[int] = set()
        for chunk in _chunks(wanted, _CHUNK):
            found.update(
                Image.objects.filter(study=study, id__in=chunk).values_list("id", flat=True)
            )
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise InferenceError(
                f"case_ids: {len(unknown)} case(s) are not in study {study.slug!r}, e.g. "
                f"{unknown[:5]}"
            )
        return wanted
    parts = list(partitions) if partitions else [str(p) for p in READING_PARTITIONS]
    bad = [p for p in parts if p not in Partition.values]
    if bad:
        raise InferenceError(f"partitions: {bad} are not partitions; expected {Partition.values}")
    return list(
        Image.objects.filter(study=study, partition__in=parts)
        .order_by("id").values_list("id", flat=True)
    )


def inference_job_create(
    *,
    study: Study,
    model_version: ModelVersion,
    partitions: Sequence[str] | None = None,
    case_ids: Sequence[int] | None = None,
    batch_size: int | None = None,
    heatmaps: bool = False,
    user=None,
) -> InferenceJob:
    """Make a job for ``model_version`` on the study's cases and queue it on the ``gpu`` queue
    once the transaction commits (with no Redis the task runs inline at that moment)."""
    try:
        check_card_labels(model_version_card(model_version=model_version), study.label_codes)
    except ModelCardError as exc:
        raise InferenceError(
            f"model {model_version.short_sha} cannot run on {study.slug}: {exc}"
        ) from None
    if heatmaps and model_version.format == ModelVersion.Format.TORCHSCRIPT:
        raise InferenceError(
            "heatmaps: Grad-CAM needs a state-dict model of a known architecture; this model "
            "version is TorchScript"
        )
    if batch_size is None:
        batch_size = settings.READERBENCH_INFERENCE_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InferenceError(f"batch_size: expected a positive integer, got {batch_size!r}")
    ids = study_cases_select(study=study, partitions=partitions, case_ids=case_ids)
    if not ids:
        asked = list(partitions or READING_PARTITIONS)
        where = "the given cases" if case_ids is not None else f"partitions {asked}"
        raise InferenceError(
            f"study {study.slug!r} has no cases in {where}; import cases and partition the "
            "study first (manage.py partition_study)"
        )
    with transaction.atomic():
        job = InferenceJob.objects.create(
            study=study,
            model_version=model_version,
            partitions=[] if case_ids is not None else list(partitions or READING_PARTITIONS),
            case_ids=ids,
            n_total=len(ids),
            batch_size=batch_size,
            heatmaps=heatmaps,
            created_by=user,
            timings=dict.fromkeys(TIMING_KEYS, 0.0),
        )
        inference_job_enqueue(job_id=job.pk)
    return job


def inference_job_enqueue(*, job_id: int) -> None:
    """Queue the job on the ``gpu`` queue once the transaction commits; its Celery id is kept,
    and a broker that refuses it fails the job with a message (never a silent loss)."""

    def sent(result) -> None:
        InferenceJob.objects.filter(pk=job_id).update(celery_task_id=result.id or "")

    def refused(exc: Exception) -> None:
        logger.error("inference job %s could not be queued", job_id, exc_info=exc)
        InferenceJob.objects.filter(pk=job_id).update(
            status=InferenceJob.Status.FAILED, finished_at=timezone.now(),
            error=f"could not queue the job on the gpu queue ({type(exc).__name__}: {exc}); "
            "check REDIS_URL and the broker, then retry",
        )

    enqueue_on_commit("inference.run_inference_job", job_id=job_id, on_sent=sent,
                      on_error=refused)


def inference_job_retry(*, job: InferenceJob) -> InferenceJob:
    """Queue a job again, whatever its state, unless a live worker is running it; only the
    cases without a prediction are run (a done job with nothing missing ends done at once).

    A job marked running whose lease expired (its worker died) counts as not running."""
    with transaction.atomic():
        current = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if lease_alive(current):
            last = current.heartbeat_at or current.started_at
            raise InferenceError(
                f"job #{current.pk} is running on {current.worker or 'a worker'} (last heartbeat "
                f"{int((timezone.now() - last).total_seconds())} s ago); retry it once it "
                f"stops, or after {lease_seconds()} s without a heartbeat"
            )
        InferenceJob.objects.filter(pk=job.pk).update(
            status=InferenceJob.Status.QUEUED, error="", n_failed=0, finished_at=None,
            redeliveries=0,
        )
        inference_job_enqueue(job_id=job.pk)
    job.refresh_from_db()
    return job


def inference_jobs_sweep(*, study: Study | None = None, restarted_worker: str = "") -> list[int]:
    """Find running jobs whose worker is gone and queue each again, or fail it once it was
    queued again ``READERBENCH_JOB_MAX_REDELIVERIES`` times; the ids of the jobs handled
    (:func:`config.leases.leases_sweep`: no heartbeat for a whole lease, or last held by a
    ``restarted_worker`` of this very name)."""
    jobs = InferenceJob.objects.only("pk", "status", "worker", "heartbeat_at", "started_at",
                                     "redeliveries", "model_version_id", "case_ids", "n_total")
    if study is not None:
        jobs = jobs.filter(study=study)
    return leases_sweep(jobs, restarted_worker=restarted_worker, **_RECOVER)


def _requeue_lost(job: InferenceJob, *, now) -> bool:
    return lease_recover(job, now=now, **_RECOVER)


_RECOVER = {
    "what": "inference job",
    "requeue": lambda pk: inference_job_enqueue(job_id=pk),
    "retry_hint": "retry it (only the missing cases are run)",
    "fail_fields": lambda job: {"n_done": min(_count_done(job), job.n_total)},
}


def _missing_case_ids(job: InferenceJob) -> list[int]:
    done: set[int] = set()
    for chunk in _chunks(job.case_ids, _CHUNK):
        done.update(
            Prediction.objects.filter(model_version_id=job.model_version_id, image_id__in=chunk)
            .values_list("image_id", flat=True)
        )
    return [i for i in job.case_ids if i not in done]


def _count_done(job: InferenceJob) -> int:
    return sum(
        Prediction.objects.filter(model_version_id=job.model_version_id, image_id__in=chunk)
        .count()
        for chunk in _chunks(job.case_ids, _CHUNK)
    )


def _batch_delay() -> float:
    # Test hook: slows every batch so that a test can kill a worker in the middle of a job.
    return settings.READERBENCH_TEST_BATCH_DELAY


class _CaseError(Exception):
    """One case could not be predicted; the message names it."""


def _load_arrays(image_ids: Sequence[int], study_id: int, preprocess) -> tuple[list[int], list]:
    images = {
        pk: name for pk, name in Image.objects.filter(id__in=image_ids, study_id=study_id)
        .values_list("id", "array_file")
    }
    tensors = []
    for pk in image_ids:
        name = images.get(pk)
        if name is None:
            raise _CaseError(f"case {pk} no longer exists in the study")
        if not name:
            raise _CaseError(f"case {pk} has no cached array (re-import it)")
        try:
            array = np.load(media_path(name), allow_pickle=False)
            tensors.append(preprocess(array))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is this case's failure
            raise _CaseError(
                f"case {pk}: cannot read its cached array {name} ({type(exc).__name__}: {exc})"
            ) from exc
    return list(image_ids), tensors


def _predict_batch(job, version, predictor, preprocess, ids, *, timings) -> None:
    import torch

    t0 = time.perf_counter()
    ids, tensors = _load_arrays(ids, job.study_id, preprocess)
    x = torch.stack(tensors)
    t1 = time.perf_counter()
    probs = predictor.predict(x)
    t2 = time.perf_counter()
    heat_names = [""] * len(ids)
    if job.heatmaps:
        heat_names = _write_heatmaps(version, predictor, x, ids, probs.argmax(axis=1))
    t3 = time.perf_counter()
    labels = list(version.labels)
    rows = [
        Prediction(
            model_version=version,
            image_id=pk,
            job=job,
            probabilities=[round(float(p), 6) for p in row],
            predicted_label=labels[int(np.argmax(row))],
            heatmap_file=heat,
        )
        for pk, row, heat in zip(ids, probs, heat_names, strict=True)
    ]
    # ignore_conflicts: a redelivered task, or a second worker on the same job, never makes a
    # second prediction for a case; the unique constraint decides.
    Prediction.objects.bulk_create(rows, ignore_conflicts=True)
    t4 = time.perf_counter()
    timings["preprocess"] += t1 - t0
    timings["predict"] += t2 - t1
    timings["heatmaps"] += t3 - t2
    timings["write"] += t4 - t3
    delay = _batch_delay()
    if delay:
        time.sleep(delay)


def _write_heatmaps(version, predictor, x, ids, classes) -> list[str]:
    from inference.engine.gradcam import grad_cam
    from inference.engine.networks import gradcam_layer

    heat, _ = grad_cam(
        predictor.module, x, layer=gradcam_layer(version.architecture),
        class_index=np.asarray(classes), device=predictor.device,
    )
    names = []
    for pk, h in zip(ids, heat, strict=True):
        name = f"{HEATMAPS_DIR}/{version.sha256[:12]}/{pk}.npy"
        path = media_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, h.astype(np.float16), allow_pickle=False)
        os.replace(tmp, path)
        names.append(name)
    return names


def _save_progress(job: InferenceJob, **fields) -> None:
    InferenceJob.objects.filter(pk=job.pk).update(**fields)
    for key, value in fields.items():
        setattr(job, key, value)


def _fail(job: InferenceJob, message: str, *, n_failed: int | None = None) -> InferenceJob:
    fields = {"status": InferenceJob.Status.FAILED, "error": message[:10000],
              "finished_at": timezone.now(), "n_done": min(_count_done(job), job.n_total)}
    if n_failed is not None:
        fields["n_failed"] = n_failed
    _save_progress(job, **fields)
    logger.error("inference job %s failed: %s", job.pk, message)
    return job


def inference_job_run(*, job_id: int, worker: str = "") -> InferenceJob | None:
    """Run a job: predict every requested case that has no prediction of the job's model
    version yet, batch by batch, writing predictions, progress and timings after each batch.

    Idempotent: a second run (a redelivered message after a worker was killed) predicts only
    what is missing and ends with exactly one prediction per case. A batch that fails is redone
    case by case so that one unreadable case does not sink its neighbours; the job then ends
    ``failed`` with every failing case and its reason in ``error``. If every case of a batch
    fails (a broken model, say), the job stops there. Errors never propagate: they are stored
    on the job, where the researcher sees them.

    ``worker`` (the Celery worker's name) takes the job's lease, renewed while it runs
    (:mod:`inference.services.leases`); a job that another live worker holds is left to it.
    """
    worker = worker or inline_worker_name()
    with transaction.atomic():
        job, claimed = lease_claim(
            InferenceJob, pk=job_id, worker=worker, what="inference job",
            # A failed job runs again only through inference_job_retry.
            finished=lambda j: j.status == InferenceJob.Status.DONE or (
                j.status == InferenceJob.Status.FAILED and j.finished_at is not None),
        )
    if not claimed:
        return job
    with heartbeat(job_id=job.pk, worker=job.worker):
        return _run(job)


def _run(job: InferenceJob) -> InferenceJob:
    from inference.engine.transforms import Preprocess

    version = job.model_version
    timings = {key: float(job.timings.get(key, 0.0)) for key in TIMING_KEYS}
    try:
        missing = _missing_case_ids(job)
        n_done = job.n_total - len(missing)
        _save_progress(job, n_done=n_done, n_failed=0, error="")
        t0 = time.perf_counter()
        predictor = _predictor_for(version, batch_size=job.batch_size)
        timings["load_model"] += time.perf_counter() - t0
        preprocess = Preprocess(version.input_size)
    except (ModelError, OSError) as exc:
        return _fail(job, f"cannot load model {version.short_sha}: {exc}")
    except Exception as exc:  # noqa: BLE001 - stored on the job rather than lost in a log
        return _fail(job, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")

    errors: list[str] = []
    for ids in _chunks(missing, job.batch_size):
        try:
            _predict_batch(job, version, predictor, preprocess, ids, timings=timings)
            n_done += len(ids)
        except Exception as exc:  # noqa: BLE001 - isolate the failing case(s)
            logger.warning("job %s: batch of %d failed (%s); retrying case by case",
                           job.pk, len(ids), exc)
            batch_errors = []
            for pk in ids:
                try:
                    _predict_batch(job, version, predictor, preprocess, [pk], timings=timings)
                    n_done += 1
                except Exception as one:  # noqa: BLE001
                    batch_errors.append(str(one) if isinstance(one, _CaseError)
                                        else f"case {pk}: {type(one).__name__}: {one}")
            errors.extend(batch_errors)
            if len(batch_errors) == len(ids) and len(ids) > 1:
                return _fail(
                    job, "every case of a batch failed, so the job stopped:\n"
                    + "\n".join(batch_errors[:20]), n_failed=len(errors),
                )
        _save_progress(job, n_done=min(n_done, job.n_total), n_failed=len(errors),
                       timings={k: round(v, 4) for k, v in timings.items()})

    done = min(_count_done(job), job.n_total)
    fields = {
        "n_done": done,
        "n_failed": len(errors),
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "finished_at": timezone.now(),
    }
    if errors:
        fields["status"] = InferenceJob.Status.FAILED
        shown = "\n".join(errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        fields["error"] = f"{len(errors)} of {job.n_total} case(s) failed:\n{shown}{more}"
    else:
        fields["status"] = InferenceJob.Status.DONE
    _save_progress(job, **fields)
    return job
