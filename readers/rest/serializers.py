"""What the REST API shows of each object. Read-only. Staff-only fields (admins and
researchers of the object's study) are dropped for a reader, who sees their own sessions and
reads by opaque tokens only: no case ids, no seeds, no other people."""

from __future__ import annotations

from rest_framework import serializers

from inference.models import InferenceJob, ModelVersion, Prediction
from readers.models import Image, Read, ReadingSession, Site, Study

# Shapes of JSON fields for the OpenAPI schema (``Meta.json_schema``; readers.rest.schema).
STRINGS = {"type": "array", "items": {"type": "string"}}


class StudySerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The requesting user's role here.")

    class Meta:
        model = Study
        fields = [
            "slug", "title", "description", "label_scheme", "endpoints", "randomise_order",
            "washout_days", "revisions_allowed", "confidence_max", "synthetic", "created_at",
            "role",
        ]
        json_schema = {
            "label_scheme": {"type": "array", "items": {
                "type": "object", "required": ["code"],
                "properties": {k: {"type": "string"} for k in ("code", "name", "definition")},
            }},
            "endpoints": {"type": "array", "items": {
                "type": "object", "required": ["name", "positive"],
                "properties": {"name": {"type": "string"}, "positive": STRINGS},
            }},
        }

    def get_role(self, study: Study) -> str:
        return self.context["roles"].role_in(study.pk)


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["code", "name", "external", "created_at"]


class CaseSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    site = serializers.CharField(source="hip.patient.site.code", read_only=True)
    patient = serializers.CharField(source="hip.patient.pseudonym", read_only=True)
    side = serializers.CharField(source="hip.side", read_only=True)
    truth = serializers.SerializerMethodField(help_text="The reference label, or null.")

    class Meta:
        model = Image
        fields = [
            "id", "study", "site", "patient", "side", "partition", "truth", "modality",
            "rows", "columns", "pixel_spacing_row", "pixel_spacing_col", "imported_at",
        ]

    def get_truth(self, image: Image) -> str | None:
        reference = getattr(image, "reference", None)
        return reference.label if reference else None


class _StaffFieldsMixin:
    """Drops ``Meta.staff_fields`` unless the user is an admin or researcher of the object's
    study (a reader looking at their own session or read)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self._study_id(instance) not in self.context["roles"].staff:
            for name in self.Meta.staff_fields:
                data.pop(name, None)
        return data


class SessionSerializer(_StaffFieldsMixin, serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    n_items = serializers.IntegerField(read_only=True)
    n_read = serializers.IntegerField(read_only=True, help_text="Cases with at least one read.")
    reader = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Staff only."
    )
    repeat_of = serializers.SlugRelatedField(
        slug_field="token", read_only=True, allow_null=True, help_text="Staff only."
    )

    class Meta:
        model = ReadingSession
        fields = [
            "token", "study", "name", "condition", "opens_at", "n_items", "n_read",
            "reader", "seed", "model_version", "repeat_of", "created_at",
        ]
        staff_fields = ("reader", "seed", "model_version", "repeat_of", "created_at")

    @staticmethod
    def _study_id(session: ReadingSession) -> int:
        return session.study_id


class ReadSerializer(_StaffFieldsMixin, serializers.ModelSerializer):
    session = serializers.CharField(source="item.session.token", read_only=True)
    case_token = serializers.CharField(
        source="item.token", read_only=True, help_text="The case's opaque per-session token."
    )
    study = serializers.CharField(source="item.session.study.slug", read_only=True)
    reader = serializers.CharField(
        source="item.session.reader.username", read_only=True, help_text="Staff only."
    )
    case = serializers.IntegerField(
        source="item.image_id", read_only=True, help_text="Case id; staff only."
    )
    position = serializers.IntegerField(
        source="item.position", read_only=True, help_text="0-based place in the reader's order."
    )

    class Meta:
        model = Read
        fields = [
            "id", "study", "session", "case_token", "position", "stage", "version", "label",
            "confidence", "comment", "time_ms", "submitted_at", "reader", "case",
        ]
        staff_fields = ("reader", "case")

    @staticmethod
    def _study_id(read: Read) -> int:
        return read.item.session.study_id


class ModelVersionSerializer(serializers.ModelSerializer):
    training_study = serializers.SerializerMethodField(
        help_text="Slug of the study it was trained on, if the user is staff there."
    )
    card = serializers.SerializerMethodField(
        help_text="The model card (it may hold metrics of its training study): shown only for "
        "a version trained on one of the user's studies or on none."
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id", "sha256", "name", "architecture", "input_size", "labels", "format",
            "synthetic", "training_study", "card", "created_at",
        ]
        json_schema = {"labels": STRINGS}

    def _trained_here_or_nowhere(self, version: ModelVersion) -> bool:
        return (
            version.training_study_id is None
            or version.training_study_id in self.context["roles"].staff
        )

    def get_training_study(self, version: ModelVersion) -> str | None:
        if version.training_study_id is None or not self._trained_here_or_nowhere(version):
            return None
        return version.training_study.slug

    def get_card(self, version: ModelVersion) -> dict | None:
        return version.card if self._trained_here_or_nowhere(version) else None


class InferenceJobSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_sha256 = serializers.CharField(source="model_version.sha256", read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = InferenceJob
        fields = [
            "id", "study", "model_version", "model_sha256", "partitions", "batch_size",
            "heatmaps", "status", "n_total", "n_done", "n_failed", "percent", "error",
            "timings", "attempts", "created_at", "started_at", "finished_at",
        ]
        json_schema = {
            "partitions": STRINGS,
            "timings": {"type": "object", "additionalProperties": {"type": "number"}},
        }


class PredictionSerializer(serializers.ModelSerializer):
    study = serializers.CharField(source="image.study.slug", read_only=True)
    case = serializers.IntegerField(source="image_id", read_only=True)
    has_heatmap = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id", "study", "case", "model_version", "job", "probabilities", "predicted_label",
            "has_heatmap", "created_at",
        ]
        json_schema = {"probabilities": {"type": "array", "items": {"type": "number"}}}

    def get_has_heatmap(self, prediction: Prediction) -> bool:
        return bool(prediction.heatmap_file)
