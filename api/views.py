"""REST viewsets, read-only except asking for a study report. Each one takes its objects from
:mod:`api.permissions` for the requesting user, so anything outside what they may see
is a 404 like a made-up id."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import FileResponse
from django.urls import reverse
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAcceptable, NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from api import permissions as perms
from api import serializers
from api.schema import ApiAutoSchema
from inference.models import Prediction
from readers import selectors
from reports import files as report_files
from reports.models import StudyReport

MAX_ID = 2**63 - 1  # the largest primary key PostgreSQL's bigint (and SQLite) can hold


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
                if not 0 < value <= MAX_ID:  # beyond the database's bigint: a 400, not a 500
                    raise ValidationError(
                        {param: f"expected an id between 1 and {MAX_ID}, received {value}"}
                    )
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


class DownloadNegotiation(DefaultContentNegotiation):
    """A file answers in its own type, which no renderer has: a client that accepts only that
    (``Accept: text/csv``) still gets the file, and an error as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class ScopedViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only viewset whose objects depend on the user's study roles.

    ``staff_only``: a user who is admin or researcher of no study gets a 404 on list and
    detail alike (readers never learn that the endpoint holds anything).

    For the schema (:mod:`api.schema`), an ``@action`` may set ``download_types``
    (it answers with a file) or ``response_schema`` (it answers with JSON of that shape), and a
    viewset ``path_help`` (descriptions of its path parameters).
    """

    staff_only = False
    query_filters: dict[str, tuple[str | None, type, str]] = {}
    filter_backends = [QueryFilter]
    pagination_class = Pagination
    schema = ApiAutoSchema()
    download_types: tuple[str, ...] = ()
    response_schema: dict | None = None
    path_help: dict[str, str] = {}

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
            .order_by("study__slug", "round", "opens_at", "id")
        )

    def paginate_queryset(self, queryset):
        # Progress (done, median time, last activity) for the whole page in two queries.
        page = super().paginate_queryset(queryset)
        rows = page if page is not None else queryset
        self._progress = selectors.sessions_progress(session_ids=[s.pk for s in rows])
        return page

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "progress": getattr(self, "_progress", None)}


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
        if getattr(self, "action", None) == "retrieve":
            # By id for admins and researchers only: a reader never sees read ids, and probing
            # ids for their own would show, by the gaps, how much others read (issue 15 S15).
            roles = perms.StudyRoles({k: v for k, v in roles.by_study.items()
                                      if k in roles.staff})
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


class ReportViewSet(ScopedViewSet):
    """Study reports (the human-vs-machine comparison) of the studies the user is admin or
    researcher of: status and progress, inputs and design, and links to the web page, the PDF,
    the numbers (``result/``) and the export files, all downloadable with a token.

    POST asks for the report of the study's current reads and predictions: 202 with the report
    queued (poll it until ``status`` is done or failed), or 200 with the cached report when one
    with the same inputs is done. A study outside the user's admin or researcher roles is a 404,
    like one that does not exist."""

    serializer_class = serializers.ReportSerializer
    request_serializer_class = serializers.ReportRequestSerializer
    staff_only = True
    query_filters = {
        "study": ("study__slug", str, STUDY_FILTER),
        "status": ("status", str, "queued, running, done or failed."),
        "model_version": ("model_version__sha256__startswith", str,
                          "Leading hexadecimal digits of the model version's SHA-256."),
    }
    path_help = {"name": "A file name from the report's exports, e.g. long_table.csv."}

    def queryset_for(self, roles):
        return (
            perms.visible_reports(roles=roles)
            .select_related("study", "model_version")
            .defer("result", "figures")  # large: only result/ reads them
            .order_by("-created_at", "-id")
        )

    def create(self, request, *args, **kwargs):
        asked = self.request_serializer_class(data=request.data)
        asked.is_valid(raise_exception=True)
        ask = asked.validated_data
        study = perms.report_studies(roles=self.roles).filter(slug=ask["study"]).first()
        if study is None:
            raise NotFound("No such study.")
        version = None
        if ask["model_version"] is not None:
            here = perms.StudyRoles({study.pk: self.roles.role_in(study.pk)})
            version = (
                perms.visible_model_versions(roles=here)
                .filter(sha256=ask["model_version"]).first()
            )
            if version is None or not Prediction.objects.filter(
                model_version=version, image__study=study
            ).exists():
                raise ValidationError({"model_version": [
                    f"no model version with this SHA-256 has predictions on {study.slug}"]})
        try:
            from reports.services import build  # the analysis: imported on first use (R5)

            report = build.study_report_request(
                study=study, model_version=version, seed=ask["seed"],
                n_bootstrap=ask["n_bootstrap"], user=request.user,
            )
        except ValueError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        done = report.status == StudyReport.Status.DONE
        return Response(
            self.get_serializer(report).data,
            status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(
                reverse("api-v1:report-detail", args=[report.pk]))},
        )

    def _done_report(self) -> StudyReport:
        report = self.get_object()
        if report.status != StudyReport.Status.DONE:
            raise NotFound(f"The report is not done: it is {report.status}.")
        return report

    @action(detail=True, response_schema=serializers.REPORT_RESULT)
    def result(self, request, pk=None):
        """The report's numbers: the comparison as JSON (results.json of its exports)."""
        return Response(self._done_report().result)

    @action(detail=True, download_types=("application/pdf",),
            content_negotiation_class=DownloadNegotiation)
    def pdf(self, request, pk=None):
        """The report as a PDF."""
        report = self._done_report()
        path = report_files.report_directory(report) / "report.pdf"
        if not path.is_file():
            raise NotFound("The report's PDF is missing.")
        return FileResponse(
            path.open("rb"), content_type="application/pdf", as_attachment=True,
            filename=f"{report.study.slug}-report-{report.input_hash[:12]}.pdf",
        )

    @action(detail=True, url_path=r"exports/(?P<name>[^/]+)", url_name="export",
            download_types=tuple(dict.fromkeys(report_files.EXPORT_TYPES.values())),
            content_negotiation_class=DownloadNegotiation)
    def export(self, request, pk=None, name=None):
        """One file of the report's export bundle (the names its ``exports`` list)."""
        report = self._done_report()
        path = report_files.report_export_path(report, name)
        if path is None:
            raise NotFound("No such export.")
        return FileResponse(
            path.open("rb"), as_attachment=True,
            content_type=report_files.EXPORT_TYPES[path.suffix],
            filename=f"{report.study.slug}-{report.input_hash[:12]}-{name}",
        )
