"""Django admin for model versions, inference jobs, predictions and training runs. Predictions
and jobs are written by the workers: the admin shows them and never edits their numbers."""

from __future__ import annotations

from django.contrib import admin

from inference.models import InferenceJob, ModelVersion, Prediction, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
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
class InferenceJobAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "model_version", "status", "n_total", "n_done", "n_failed",
                    "attempts", "created_at", "finished_at"]
    list_filter = ["status", "study"]
    search_fields = ["study__slug", "model_version__sha256", "celery_task_id"]
    readonly_fields = [f.name for f in InferenceJob._meta.fields if f.name != "id"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "predicted_label", "job", "created_at"]
    list_filter = ["model_version", "predicted_label"]
    search_fields = ["model_version__sha256"]
    readonly_fields = ["model_version", "image", "job", "probabilities", "predicted_label",
                       "heatmap_file", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "seed", "status", "model_version", "created_at",
                    "finished_at"]
    list_filter = ["status", "study"]
    readonly_fields = [f.name for f in TrainingRun._meta.fields if f.name != "id"]
