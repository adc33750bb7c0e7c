"""Model versions, inference jobs, predictions and training runs.

A model version *is* its weights: the SHA-256 of the weights file is its identity, so the same
network registered twice is one version, and a prediction names exactly the weights that made it.
A prediction is unique per model version × case, which makes an inference task idempotent: a
re-run (a redelivered Celery message, a retry after a crash) fills only what is missing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact

from config.leases import Leased
from studies.models import Image, Study


class ModelVersion(models.Model):
    """One set of weights with its card (architecture, input size, ordered labels, metrics)."""

    class Format(models.TextChoices):
        STATE_DICT = "state_dict", "state dict"
        TORCHSCRIPT = "torchscript", "TorchScript"

    sha256 = models.CharField(
        max_length=64, unique=True, help_text="SHA-256 of the weights file: the identity."
    )
    name = models.CharField(max_length=200)
    architecture = models.CharField(max_length=100)
    input_size = models.PositiveIntegerField(help_text="Side of the square model input, pixels.")
    labels = models.JSONField(help_text="Ordered class codes; output column c is labels[c].")
    card = models.JSONField(help_text="The model card as saved with the weights.")
    weights_file = models.CharField(
        max_length=255, help_text="Weights, relative to MEDIA_ROOT (models/<sha>.pt)."
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    synthetic = models.BooleanField(
        default=False, help_text="Trained on synthetic (phantom) data, labelled as such."
    )
    training_study = models.ForeignKey(
        Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="trained_models"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Exact(Length("sha256"), 64), name="model_version_sha256_length"
            ),
            models.CheckConstraint(
                condition=Q(format__in=["state_dict", "torchscript"]),
                name="model_version_format_valid",
            ),
            models.CheckConstraint(
                condition=Q(input_size__gte=8) & Q(input_size__lte=4096),
                name="model_version_input_size_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"

    @property
    def short_sha(self) -> str:
        return self.sha256[:12]


class TaskStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class CeleryTracked(models.Model):
    """Who asked for a piece of Celery work, its task id and when it ran (jobs, trainings)."""

    celery_task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class InferenceJob(CeleryTracked, Leased):
    """One model version run on a frozen set of a study's cases, with progress and timings."""

    Status = TaskStatus

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="inference_jobs")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="jobs"
    )
    partitions = models.JSONField(
        default=list, blank=True, help_text="Partitions the cases were chosen from."
    )
    case_ids = models.JSONField(
        default=list, help_text="The requested cases (image ids), frozen when the job is made."
    )
    batch_size = models.PositiveIntegerField(default=32)
    heatmaps = models.BooleanField(default=False, help_text="Also store Grad-CAM heat maps.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    n_total = models.PositiveIntegerField(default=0)
    n_done = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    timings = models.JSONField(
        default=dict, blank=True,
        help_text="Seconds spent: load_model, preprocess, predict, heatmaps, write.",
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker started on the job (a redelivery adds one)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="inference_job_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(n_done__lte=F("n_total")) & Q(n_failed__lte=F("n_total")),
                name="inference_job_counts_within_total",
            ),
            models.CheckConstraint(
                condition=Q(batch_size__gte=1), name="inference_job_batch_size_positive"
            ),
        ]
        indexes = [models.Index(fields=["study", "status"])]

    def __str__(self) -> str:
        return f"job #{self.pk}: {self.model_version} on {self.study} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if not self.n_total:
            return 100 if self.finished else 0
        return int(100 * (self.n_done + self.n_failed) / self.n_total)


class Prediction(models.Model):
    """One model version's output on one case: probabilities in the model's label order."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    job = models.ForeignKey(
        InferenceJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    probabilities = models.JSONField(help_text="One probability per class, in label order.")
    predicted_label = models.CharField(max_length=32)
    heatmap_file = models.CharField(
        max_length=255, blank=True,
        help_text="Grad-CAM heat map (.npy float16 in [0, 1]), relative to MEDIA_ROOT.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model_version", "image"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "image"], name="prediction_once_per_model_and_case"
            ),
            models.CheckConstraint(
                condition=~Q(predicted_label=""), name="prediction_label_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version.short_sha} on case {self.image_id}: {self.predicted_label}"


class TrainingRun(CeleryTracked, Leased):
    """A training of a network on a study's train partition, selected on its validation
    partition; test and external metrics are reported, never used."""

    Status = TaskStatus

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="training_runs")
    seed = models.BigIntegerField()
    parameters = models.JSONField(default=dict, help_text="architecture, input size, epochs ...")
    metrics = models.JSONField(default=dict, blank=True, help_text="{partition: {metric: value}}")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    output_dir = models.CharField(max_length=500, blank=True)
    # PROTECT: a finished run must keep naming the version it produced.
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="training_run_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="done", model_version__isnull=False) | ~Q(status="done"),
                name="training_run_done_has_model",
            ),
        ]

    def __str__(self) -> str:
        return f"training #{self.pk} on {self.study} (seed {self.seed}, {self.status})"
