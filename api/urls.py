"""The REST API under ``/api/v1/``: a router of viewsets (read-only but for asking for a
report), the OpenAPI schema (``schema/``, JSON or YAML) and a docs page (``docs/``: the schema
in DRF's browsable API, served from our own static files — no outside assets)."""

from __future__ import annotations

from django.urls import path
from rest_framework.renderers import BrowsableAPIRenderer, JSONOpenAPIRenderer
from rest_framework.routers import DefaultRouter
from rest_framework.schemas import get_schema_view

from api import tokens, views

app_name = "api-v1"

router = DefaultRouter()
router.register("studies", views.StudyViewSet, basename="study")
router.register("sites", views.SiteViewSet, basename="site")
router.register("cases", views.CaseViewSet, basename="case")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("reads", views.ReadViewSet, basename="read")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")
router.register("inference-jobs", views.InferenceJobViewSet, basename="inference-job")
router.register("predictions", views.PredictionViewSet, basename="prediction")
router.register("reports", views.ReportViewSet, basename="report")

SCHEMA = {
    "title": "ReaderBench API",
    "description": "Access to studies, sessions, reads, model output and study reports by "
    "study role; read-only except asking for a report (POST /api/v1/reports/). Authenticate "
    "with a session or `Authorization: Token <key>` (make one at /accounts/tokens/; it expires).",
    "version": "1",
    "urlconf": "config.urls",
    "public": True,  # the whole API is described to anyone logged in, whatever their roles
}

urlpatterns = [
    # The user's own API tokens: list, make (from a login session), revoke (api/tokens.py).
    path("auth/tokens/", tokens.TokenList.as_view(), name="token-list"),
    path("auth/tokens/<str:prefix>/", tokens.TokenDetail.as_view(), name="token-detail"),
    path("schema/", get_schema_view(**SCHEMA), name="schema"),
    path(
        "docs/",
        get_schema_view(
            **SCHEMA, renderer_classes=[BrowsableAPIRenderer, JSONOpenAPIRenderer]
        ),
        name="docs",
    ),
    *router.urls,
]
