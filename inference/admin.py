"""Django admin for model versions, inference jobs, predictions and training runs. Predictions
and jobs are written by the workers: the admin shows them and never edits their numbers."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q

from inference.models import InferenceJob, ModelVersion, Prediction, TrainingRun
from studies.admin import ONLY_SHOWN, StudyScopedAdmin

# Scoped per study (issue 15 S10): a coordinator who is not a superuser sees the jobs,
# predictions and training runs of the studies they coordinate, and the model versions that
# concern them, never another study's; none of it is theirs to change here.


@admin.register(ModelVersion)
class ModelVersionAdmin(StudyScopedAdmin):
    coordinator_may_change = False

    def scope_q(self, study_ids):
        # Trained on one of the studies, or with predictions on its cases.
        return Q(training_study__in=study_ids) | Q(predictions__image__study__in=study_ids)

    list_display = ["name", "short_sha", "architecture", "input_size", "format", "synthetic",
                    "training_study", "created_at"]
    list_filter = ["synthetic", "format", "architecture"]
    search_fields = ["name", "sha256", "architecture"]
    readonly_fields = ["sha256", "architecture", "input_size", "labels", "card", "weights_file",
                       "format", "synthetic", "training_study", "created_by", "created_at"]

    @admin.display(description="SHA-256")
    def short_sha(self, obj):
        return obj.short_sha


@admin.register(InferenceJob)
class InferenceJobAdmin(StudyScopedAdmin):
    coordinator_may_change = False
    list_display = ["id", "study", "model_version", "status", "n_total", "n_done", "n_failed",
                    "attempts", "created_at", "finished_at"]
    list_filter = ["status", ("study", ONLY_SHOWN)]
    search_fields = ["study__slug", "model_version__sha256", "celery_task_id"]
    readonly_fields = [f.name for f in InferenceJob._meta.fields if f.name != "id"]


@admin.register(Prediction)
class PredictionAdmin(StudyScopedAdmin):
    study_path = "image__study"
    coordinator_may_change = False
    list_display = ["image", "model_version", "predicted_label", "job", "created_at"]
    list_filter = [("model_version", ONLY_SHOWN), "predicted_label"]
    search_fields = ["model_version__sha256"]
    readonly_fields = ["model_version", "image", "job", "probabilities", "predicted_label",
                       "heatmap_file", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(StudyScopedAdmin):
    coordinator_may_change = False
    list_display = ["id", "study", "seed", "status", "model_version", "created_at",
                    "finished_at"]
    list_filter = ["status", ("study", ONLY_SHOWN)]
    readonly_fields = [f.name for f in TrainingRun._meta.fields if f.name != "id"]
