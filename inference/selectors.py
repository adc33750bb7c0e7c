"""Reads of the inference app (HackSoft style): who may see a study's models and jobs, the
model versions that fit a study, jobs and predictions.

A study's inference pages are for its researchers and admins only; everyone else (a reader of
the study, a member of another study, a stranger) gets a 404, so that a study's existence does
not leak.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from inference.models import InferenceJob, ModelVersion, Prediction
from studies.models import Membership, Study
from studies.selectors import long_table_case_fields

INFERENCE_ROLES = (Membership.Role.RESEARCHER, Membership.Role.ADMIN)


def study_for_researcher(*, user, slug: str) -> Study:
    """The study ``slug`` if ``user`` is one of its researchers or admins; else 404."""
    if not user.is_authenticated:
        raise Http404("No such study")
    study = Study.objects.filter(
        slug=slug, memberships__user=user, memberships__role__in=INFERENCE_ROLES
    ).first()
    if study is None:
        raise Http404("No such study")
    return study


def studies_for_researcher(*, user) -> QuerySet[Study]:
    if not user.is_authenticated:
        return Study.objects.none()
    return Study.objects.filter(
        memberships__user=user, memberships__role__in=INFERENCE_ROLES
    ).distinct()


def model_versions_for_study(*, study: Study) -> list[ModelVersion]:
    """Model versions whose ordered labels are the study's (only those can run on it)."""
    codes = study.label_codes
    return [v for v in ModelVersion.objects.all() if list(v.labels) == codes]


def model_version_by_prefix(*, prefix: str) -> ModelVersion:
    """The one model version whose SHA-256 starts with ``prefix`` (at least 6 hex digits)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 6:
        raise ModelVersion.DoesNotExist(
            f"model {prefix!r}: give at least 6 hexadecimal digits of the SHA-256"
        )
    matches = list(ModelVersion.objects.filter(sha256__startswith=prefix)[:2])
    if not matches:
        raise ModelVersion.DoesNotExist(f"model {prefix!r}: no model version has that SHA-256")
    if len(matches) > 1:
        raise ModelVersion.MultipleObjectsReturned(
            f"model {prefix!r}: several model versions start so; give more digits"
        )
    return matches[0]


def inference_jobs_for_study(*, study: Study) -> QuerySet[InferenceJob]:
    return InferenceJob.objects.filter(study=study).select_related("model_version", "created_by")


def inference_job_get(*, study: Study, pk: int) -> InferenceJob:
    job = inference_jobs_for_study(study=study).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job")
    return job


def model_long_table(*, study: Study, model_version: ModelVersion) -> list[dict]:
    """The model's predictions on the study as long-table rows (DESIGN.md): reader kind
    ``model``, condition ``unaided``, session 1, ``score_<class>`` the probabilities and
    ``confidence`` the top probability on 0-100."""
    codes = list(model_version.labels)
    rows = []
    predictions = (
        Prediction.objects.filter(model_version=model_version, image__study=study)
        .select_related("image__hip__patient__site", "image__reference")
        .order_by("image_id")
    )
    for order, p in enumerate(predictions):
        rows.append({
            **long_table_case_fields(study=study, image=p.image),
            "reader": f"model:{model_version.short_sha}",
            "reader_kind": "model",
            "seniority": "",
            "condition": "unaided",
            "session": 1,
            "label": p.predicted_label,
            "confidence": round(100 * max(p.probabilities), 3),
            **{f"score_{c}": float(v) for c, v in zip(codes, p.probabilities, strict=True)},
            "time_ms": None,
            "order_index": order,
            "read_at": p.created_at.isoformat(),
            "version": 1,
        })
    return rows
