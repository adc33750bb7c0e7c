"""Writes of the inference app (HackSoft style): registering model versions, making and running
inference jobs, storing predictions, training runs.

The engine (``inference.engine``) does the numerical work and imports no Django; these modules
turn database rows into arrays and engine outputs into rows. Celery tasks (``tasks.py``) are thin
wrappers around :func:`inference_job_run` and :func:`training_run_execute`.
"""

from inference.services.common import (
    HEATMAPS_DIR,
    MODELS_DIR,
    TIMING_KEYS,
    InferenceError,
    media_path,
)
from inference.services.jobs import (
    inference_job_create,
    inference_job_enqueue,
    inference_job_retry,
    inference_job_run,
    inference_jobs_sweep,
    study_cases_select,
)
from inference.services.leases import lease_alive
from inference.services.training import (
    AUGMENTATIONS,
    REPORTED_PARTITIONS,
    TRAINING_PARTITIONS,
    study_labelled_cases,
    training_run_create,
    training_run_execute,
)
from inference.services.versions import (
    _PREDICTORS,
    SHIPPED_DIR,
    model_version_card,
    model_version_register,
    model_version_register_shipped,
    model_version_weights_problem,
    shipped_model_files,
)

__all__ = [
    "AUGMENTATIONS", "HEATMAPS_DIR", "MODELS_DIR", "REPORTED_PARTITIONS",
    "SHIPPED_DIR", "TIMING_KEYS", "TRAINING_PARTITIONS", "_PREDICTORS", "InferenceError",
    "inference_job_create", "inference_job_enqueue", "inference_job_retry", "inference_job_run",
    "inference_jobs_sweep", "lease_alive", "media_path", "model_version_card",
    "model_version_register", "model_version_register_shipped", "model_version_weights_problem",
    "shipped_model_files", "study_cases_select",
    "study_labelled_cases", "training_run_create", "training_run_execute",
]
