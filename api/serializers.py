"""What the REST API shows of each object. Read-only, except asking for a study report
(:class:`ReportRequestSerializer`). Staff-only fields (admins and researchers of the object's
study) are dropped for a reader, who sees their own sessions and reads by opaque tokens only: no
case ids, no seeds, no other people."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.urls import reverse
from rest_framework import serializers

from inference.models import InferenceJob, ModelVersion, Prediction
from readers import selectors
from readers.models import Read, ReadingSession
from reports import files as report_files
from reports.models import StudyReport
from studies.models import Image, Site, Study

# Shapes of JSON fields for the OpenAPI schema (``Meta.json_schema``; api.schema).
STRINGS = {"type": "array", "items": {"type": "string"}}
INTEGER, NUMBER, STRING, BOOLEAN = ({"type": t} for t in ("integer", "number", "string",
                                                          "boolean"))
URL = {"type": "string", "format": "uri"}
ENDPOINTS = {"type": "array", "items": {
    "type": "object", "required": ["name", "positive"],
    "properties": {"name": STRING, "positive": STRINGS},
}}
COUNTS = {"type": "object", "additionalProperties": INTEGER}


def _objects(properties: dict, nullable: tuple[str, ...] = ()) -> dict:
    """A list of objects, each holding every one of ``properties``."""
    properties = {k: {**v, "nullable": True} if k in nullable else v
                  for k, v in properties.items()}
    return {"type": "array", "items": {
        "type": "object", "required": list(properties), "properties": properties}}


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
            "endpoints": ENDPOINTS,
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
    n_done = serializers.SerializerMethodField(
        help_text="Cases complete for the session's condition (its final answer given)."
    )
    median_time_ms = serializers.SerializerMethodField(
        help_text="Median time on case over the final answers; staff only."
    )
    last_activity = serializers.SerializerMethodField(
        help_text="Time of the reader's latest answer in the session (ISO 8601); staff only."
    )

    class Meta:
        model = ReadingSession
        fields = [
            "token", "study", "name", "condition", "round", "opens_at", "n_items", "n_read",
            "n_done", "reader", "seed", "model_version", "repeat_of", "created_at",
            "median_time_ms", "last_activity",
        ]
        staff_fields = ("reader", "seed", "model_version", "repeat_of", "created_at",
                        "median_time_ms", "last_activity")

    def _progress(self, session: ReadingSession):
        """The session's progress: from the view's batch for the page, or on its own."""
        batch = self.context.get("progress") or {}
        if session.pk not in batch:
            batch = selectors.sessions_progress(session_ids=[session.pk])
        return batch[session.pk]

    def get_n_done(self, session: ReadingSession) -> int:
        return self._progress(session).n_done

    def get_median_time_ms(self, session: ReadingSession) -> float | None:
        return self._progress(session).median_time_ms

    def get_last_activity(self, session: ReadingSession) -> str | None:
        last = self._progress(session).last_activity
        return last.isoformat() if last else None

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
            "confidence", "indeterminate", "comment", "time_ms", "submitted_at", "reader", "case",
        ]
        # The read's database id is global and sequential: its gaps would show a reader how much
        # others have read (issue 15 S15). Readers tell their reads apart by session, case token,
        # stage and version.
        staff_fields = ("id", "reader", "case")

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


# reports.services.build: study_report_design() and _inputs_record().
REPORT_DESIGN = {"type": "object", "required": [
    "slug", "title", "synthetic", "labels", "endpoints", "washout_days", "sites",
    "case_counts", "readers", "sessions", "models", "flow", "rejection_reasons",
], "properties": {
    "slug": STRING, "title": STRING, "synthetic": BOOLEAN, "labels": STRINGS,
    "endpoints": ENDPOINTS, "washout_days": INTEGER,
    "sites": _objects({"code": STRING, "name": STRING, "external": BOOLEAN, "n_cases": INTEGER}),
    "case_counts": {"type": "object", "required": ["labels", "rows"], "properties": {
        "labels": STRINGS,
        "rows": {"type": "object", "additionalProperties": {"type": "array", "items": INTEGER}},
    }},
    "readers": _objects({"reader": STRING, "seniority": STRING, "years_experience": INTEGER,
                         "n_sessions": INTEGER}, nullable=("seniority", "years_experience")),
    "sessions": _objects({"name": STRING, "reader": STRING, "condition": STRING,
                          "opens_at": {"type": "string", "format": "date-time"},
                          "repeat_of": STRING, "n_cases": INTEGER, "n_read": INTEGER},
                         nullable=("repeat_of",)),
    "models": _objects({"reader": STRING, "name": STRING, "sha256": STRING,
                        "architecture": STRING, "input_size": INTEGER, "synthetic": BOOLEAN,
                        "card_summary": STRING}),
    "flow": COUNTS,
    "rejection_reasons": COUNTS,
}}
REPORT_INPUTS = {"type": "object", "required": [
    "n_rows", "n_human_rows", "n_model_rows", "n_cases", "seed", "n_bootstrap", "model_version",
    "code_version",
], "properties": {
    "n_rows": INTEGER, "n_human_rows": INTEGER, "n_model_rows": INTEGER, "n_cases": INTEGER,
    "seed": INTEGER, "n_bootstrap": INTEGER,
    "model_version": {**STRING, "description": "SHA-256, or 'all with predictions'."},
    "code_version": STRING,
}}
# analysis.compare.results.Comparison.to_dict(): the top level; site_groups hold the numbers.
REPORT_RESULT = {
    "type": "object",
    "description": "The report's numbers: analysis.compare.comparison's Comparison as JSON "
    "(the same as the export bundle's results.json).",
    "required": ["labels", "endpoints", "level", "n_bootstrap", "seed", "primary_condition",
                 "conditions", "data", "exclusions", "methods", "site_groups"],
    "properties": {
        "labels": STRINGS, "endpoints": ENDPOINTS, "level": NUMBER, "n_bootstrap": INTEGER,
        "seed": INTEGER, "primary_condition": STRING, "conditions": STRINGS,
        "data": {"type": "object"}, "exclusions": {"type": "array", "items": {"type": "object"}},
        "methods": {"type": "object"},
        "site_groups": {"type": "array", "items": {"type": "object"}},
    },
}


class ReportSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_version = serializers.SlugRelatedField(
        slug_field="sha256", read_only=True, allow_null=True,
        help_text="SHA-256 of the model version compared; null: every version with "
        "predictions on the study.",
    )
    page = serializers.SerializerMethodField(help_text="The report's web page.")
    pdf = serializers.SerializerMethodField(help_text="Download of the PDF; null until done.")
    result = serializers.SerializerMethodField(
        help_text="The report's numbers as JSON; null until done."
    )
    exports = serializers.SerializerMethodField(
        help_text="The export bundle (long table and dictionary, iMRMC and MRMCaov files, "
        "XLSX, results.json): name and download URL of each file; empty until done."
    )

    class Meta:
        model = StudyReport
        fields = [
            "id", "study", "status", "progress", "progress_message", "error", "input_hash",
            "code_version", "seed", "n_bootstrap", "model_version", "inputs", "design",
            "created_at", "finished_at", "page", "pdf", "result", "exports",
        ]
        read_only_fields = fields  # written by the report service only
        json_schema = {
            "inputs": REPORT_INPUTS, "design": REPORT_DESIGN, "page": URL, "pdf": URL,
            "result": URL,
            "exports": _objects({"name": STRING, "url": URL}),
        }

    def _url(self, name: str, *args) -> str:
        return self.context["request"].build_absolute_uri(reverse(name, args=args))

    def _done(self, report: StudyReport) -> bool:
        return report.status == StudyReport.Status.DONE

    def get_page(self, report: StudyReport) -> str:
        return self._url("reports:detail", report.study.slug, report.pk)

    def get_pdf(self, report: StudyReport) -> str | None:
        if not (self._done(report) and report.pdf_path):
            return None
        return self._url("api-v1:report-pdf", report.pk)

    def get_result(self, report: StudyReport) -> str | None:
        return self._url("api-v1:report-result", report.pk) if self._done(report) else None

    def get_exports(self, report: StudyReport) -> list:
        return [{"name": name, "url": self._url("api-v1:report-export", report.pk, name)}
                for name in report_files.report_exports(report)]


class ReportRequestSerializer(serializers.Serializer):
    """What POST /api/v1/reports/ takes: the report of the study's current reads and
    predictions with these settings (the same inputs give the same report)."""

    study = serializers.SlugField(help_text="Slug of a study you are admin or researcher of.")
    seed = serializers.IntegerField(
        min_value=0, max_value=2**63 - 1, default=0, help_text="Seed of the bootstrap."
    )
    n_bootstrap = serializers.IntegerField(
        min_value=0, max_value=10_000, default=2000, help_text="Bootstrap resamples."
    )
    model_version = serializers.CharField(
        default=None, allow_null=True,
        validators=[RegexValidator(r"^[0-9a-f]{64}$", "expected 64 lower-case hex digits")],
        help_text="SHA-256 of one model version with predictions on the study; null or "
        "absent: every such version.",
    )
