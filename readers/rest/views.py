"""Read-only REST viewsets. Each one takes its objects from :mod:`readers.rest.permissions` for
the requesting user, so anything outside what they may see is a 404 like a made-up id."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.pagination import PageNumberPagination

from readers.rest import permissions as perms
from readers.rest import serializers
from readers.rest.schema import ReadOnlyAutoSchema


class QueryFilter(BaseFilterBackend):
    """Plain equality filters from ``view.query_filters``: ``{param: (lookup, type, help)}``.

    ``study`` (a slug) is special: the view also narrows the user's roles to that study before
    building its queryset (:meth:`ScopedViewSet.roles_for_queryset`), so a filter on a
    many-valued relation can never reveal another study.
    """

    def filter_queryset(self, request, queryset, view):
        for param, (lookup, kind, _help) in view.query_filters.items():
            value = request.query_params.get(param)
            if value in (None, "") or lookup is None:
                continue
            if kind is int:
                try:
                    value = int(value)
                except ValueError:
                    raise ValidationError(
                        {param: f"expected an integer id, received {value!r}"}
                    ) from None
            elif kind is bool:
                if value not in ("true", "false"):
                    raise ValidationError({param: f"expected true or false, received {value!r}"})
                value = value == "true"
            queryset = queryset.filter(**{lookup: value})
        return queryset

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": param,
                "required": False,
                "in": "query",
                "description": help_text,
                "schema": {"type": {int: "integer", bool: "boolean"}.get(kind, "string")},
            }
            for param, (_lookup, kind, help_text) in view.query_filters.items()
        ]


class Pagination(PageNumberPagination):
    """``?page=`` and ``?page_size=`` (default PAGE_SIZE from settings, at most 500)."""

    page_size_query_param = "page_size"
    max_page_size = 500


STUDY_FILTER = "Only objects of the study with this slug."


class ScopedViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only viewset whose objects depend on the user's study roles.

    ``staff_only``: a user who is admin or researcher of no study gets a 404 on list and
    detail alike (readers never learn that the endpoint holds anything).
    """

    staff_only = False
    query_filters: dict[str, tuple[str | None, type, str]] = {}
    filter_backends = [QueryFilter]
    pagination_class = Pagination
    schema = ReadOnlyAutoSchema()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication first: anonymous is a 401
        self.roles = perms.study_roles(user=request.user)
        if self.staff_only and not self.roles.staff:
            raise NotFound()

    def roles_for_queryset(self) -> perms.StudyRoles:
        slug = self.request.query_params.get("study")
        if not slug:
            return self.roles
        ids = set(perms.visible_studies(roles=self.roles).filter(slug=slug).values_list(
            "pk", flat=True))
        return perms.StudyRoles({k: v for k, v in self.roles.by_study.items() if k in ids})

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["roles"] = getattr(self, "roles", perms.StudyRoles({}))
        return context

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "roles"):  # schema generation: no request went through initial()
            return self.queryset_for(perms.StudyRoles({})).none()
        return self.queryset_for(self.roles_for_queryset())

    def queryset_for(self, roles: perms.StudyRoles) -> QuerySet:
        raise NotImplementedError


class StudyViewSet(ScopedViewSet):
    """Studies the user is a member of, in any role."""

    serializer_class = serializers.StudySerializer
    lookup_field = "slug"
    query_filters = {"study": ("slug", str, STUDY_FILTER)}

    def queryset_for(self, roles):
        return perms.visible_studies(roles=roles).order_by("slug")


class SiteViewSet(ScopedViewSet):
    """Sites contributing cases to the studies the user is admin or researcher of."""

    serializer_class = serializers.SiteSerializer
    lookup_field = "code"
    staff_only = True
    query_filters = {
        "study": (None, str, STUDY_FILTER),
        "external": ("external", bool, "true or false: external (held-out) sites."),
    }

    def queryset_for(self, roles):
        return perms.visible_sites(roles=roles).order_by("code")


class CaseViewSet(ScopedViewSet):
    """Cases (images) with truth and partition: admins and researchers of the study only."""

    serializer_class = serializers.CaseSerializer
    staff_only = True
    query_filters = {
        "study": ("study__slug", str, STUDY_FILTER),
        "partition": ("partition", str, "train, validation, test or external."),
        "site": ("hip__patient__site__code", str, "Site code."),
        "truth": ("reference__label", str, "Reference class code."),
    }

    def queryset_for(self, roles):
        return (
            perms.visible_cases(roles=roles)
            .select_related("study", "hip__patient__site", "reference")
            .order_by("study__slug", "id")
        )


class SessionViewSet(ScopedViewSet):
    """Reading sessions: all of the study's for its admins and researchers; a reader's own for
    a reader (read-only here; reading itself is ``/api/reading/``)."""

    serializer_class = serializers.SessionSerializer
    lookup_field = "token"
    query_filters = {
        "study": ("study__slug", str, STUDY_FILTER),
        "reader": ("reader__username", str, "Reader's username."),
        "condition": ("condition", str, "unaided, ai_aided or sequential_ai."),
    }

    def queryset_for(self, roles):
        return (
            perms.visible_sessions(user=self.request.user, roles=roles)
            .select_related("study", "reader", "repeat_of")
            .annotate(
                n_items=Count("items", distinct=True),
                n_read=Count("items", filter=Q(items__reads__isnull=False), distinct=True),
            )
            .order_by("study__slug", "opens_at", "id")
        )


class ReadViewSet(ScopedViewSet):
    """Reads: all of the study's for its admins and researchers; a reader's own for a reader,
    never another reader's."""

    serializer_class = serializers.ReadSerializer
    query_filters = {
        "study": ("item__session__study__slug", str, STUDY_FILTER),
        "session": ("item__session__token", str, "Session token."),
        "reader": ("item__session__reader__username", str, "Reader's username."),
        "stage": ("stage", str, "unaided or aided."),
    }

    def queryset_for(self, roles):
        return (
            perms.visible_reads(user=self.request.user, roles=roles)
            .select_related("item__session__study", "item__session__reader")
            .order_by("item__session__study__slug", "item__session_id", "item__position",
                      "stage", "version")
        )


class ModelVersionViewSet(ScopedViewSet):
    """Model versions that concern the studies the user is admin or researcher of."""

    serializer_class = serializers.ModelVersionSerializer
    staff_only = True
    query_filters = {
        "study": (None, str, STUDY_FILTER),
        "sha256": ("sha256__startswith", str, "Leading hexadecimal digits of the SHA-256."),
    }

    def queryset_for(self, roles):
        return (
            perms.visible_model_versions(roles=roles)
            .select_related("training_study")
            .order_by("-created_at", "id")
        )


class InferenceJobViewSet(ScopedViewSet):
    """Inference jobs of the studies the user is admin or researcher of."""

    serializer_class = serializers.InferenceJobSerializer
    staff_only = True
    query_filters = {
        "study": ("study__slug", str, STUDY_FILTER),
        "status": ("status", str, "queued, running, done or failed."),
        "model_version": ("model_version_id", int, "Model version id."),
    }

    def queryset_for(self, roles):
        return (
            perms.visible_inference_jobs(roles=roles)
            .select_related("study", "model_version")
            .order_by("-created_at", "-id")
        )


class PredictionViewSet(ScopedViewSet):
    """Model output on the cases of the studies the user is admin or researcher of."""

    serializer_class = serializers.PredictionSerializer
    staff_only = True
    query_filters = {
        "study": ("image__study__slug", str, STUDY_FILTER),
        "model_version": ("model_version_id", int, "Model version id."),
        "job": ("job_id", int, "Inference job id."),
        "partition": ("image__partition", str, "Partition of the case."),
        "case": ("image_id", int, "Case id."),
    }

    def queryset_for(self, roles):
        return (
            perms.visible_predictions(roles=roles)
            .select_related("image__study")
            .order_by("model_version_id", "image_id")
        )
