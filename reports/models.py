"""The study report: one row per built (or queued) report, cached by the hash of its inputs."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from config.leases import Leased
from studies.models import Study


class StudyReport(Leased):
    """A built study report (web page, figures, PDF), cached by the hash of its inputs: the long
    table (reads, predictions, truth), the design, the settings and the code version.

    A build holds a lease (:class:`config.leases.Leased`): a worker killed mid-build stops
    beating, and every default-queue worker's sweep queues the build again or fails it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    input_hash = models.CharField(max_length=64, help_text="SHA-256 of every input.")
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="Empty: every model version with predictions on the study.",
    )
    seed = models.BigIntegerField(default=0)
    n_bootstrap = models.PositiveIntegerField(default=2000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    progress_message = models.CharField(max_length=200, blank=True)
    code_version = models.CharField(max_length=100)
    inputs = models.JSONField(default=dict, blank=True,
                              help_text="What made it: row counts, settings, code version.")
    design = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="Comparison.to_dict().")
    figures = models.JSONField(default=list, blank=True,
                               help_text="[{name, title, section, site_group}] PNGs on disk.")
    pdf_path = models.CharField(max_length=255, blank=True, help_text="Relative to MEDIA_ROOT.")
    error = models.TextField(blank=True)
    requeue = models.BooleanField(
        default=False, help_text="The broker refused the build: the sweep of every worker "
        "queues it again once the broker answers (issue 15 R2).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True,
                                      help_text="When a worker first started building it.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "input_hash"], name="report_inputs_once"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="report_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.study} {self.input_hash[:12]} ({self.status})"
