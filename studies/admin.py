"""Django admin for study coordinators: every model of the study domain, with list columns,
filters, search and the case counts per class and partition that a coordinator checks first.

Scoped per study (issue 15 S10): a staff user who is not a superuser sees and changes only the
objects of the studies where their :class:`~studies.models.Membership` role is *admin*, through
:class:`StudyScopedAdmin` (here and in ``readers/admin.py``); another study's object is a 404, as
if it did not exist, and its name appears in no filter or choice list. The role is the grant, as
everywhere else (Membership is the one source of access); Django's model permissions are not
consulted for these models. Superusers see everything.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.utils.html import format_html_join

from studies import selectors
from studies.models import (
    Hip,
    Image,
    ImportBatch,
    Membership,
    Patient,
    ReferenceLabel,
    Site,
    Split,
    Study,
)


def coordinated_study_ids(request) -> frozenset[int] | None:
    """The studies the request's user coordinates (Membership role admin); ``None`` for a
    superuser (every study). Asked once per request."""
    user = request.user
    if user.is_active and user.is_superuser:
        return None
    if not hasattr(request, "_coordinated_study_ids"):
        ids = frozenset()
        if user.is_active and user.is_staff:
            ids = frozenset(
                Membership.objects.filter(user=user, role=Membership.Role.ADMIN)
                .values_list("study_id", flat=True)
            )
        request._coordinated_study_ids = ids
    return request._coordinated_study_ids


class StudyScopedAdmin(admin.ModelAdmin):
    """A model admin limited, for staff who are not superusers, to the studies they coordinate.

    ``study_path`` is the ORM path from the model to its study (``""``: the model is Study);
    ``scope_q`` may say it otherwise (a site belongs to the studies it has patients in). With
    ``coordinator_may_change = False`` a coordinator only looks (objects shared by studies).
    """

    study_path = "study"
    coordinator_may_change = True
    coordinator_may_add = True

    def scope_q(self, study_ids: frozenset[int]) -> Q:
        return Q(**{f"{self.study_path}__in" if self.study_path else "pk__in": study_ids})

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        ids = coordinated_study_ids(request)
        if ids is None:
            return queryset
        # A subquery, not a join: no duplicate rows, and the annotations stay right.
        in_scope = self.model._default_manager.filter(self.scope_q(ids)).values("pk")
        return queryset.filter(pk__in=in_scope)

    def _in_scope(self, request, obj) -> bool:
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        ids = coordinated_study_ids(request)
        return super().has_module_permission(request) if ids is None else bool(ids)

    def has_view_permission(self, request, obj=None):
        ids = coordinated_study_ids(request)
        if ids is None:
            return super().has_view_permission(request, obj)
        return bool(ids) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None):
        ids = coordinated_study_ids(request)
        if ids is None:
            return super().has_change_permission(request, obj)
        return bool(ids) and self.coordinator_may_change and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        ids = coordinated_study_ids(request)
        if ids is None:
            return super().has_delete_permission(request, obj)
        return bool(ids) and self.coordinator_may_change and self._in_scope(request, obj)

    def has_add_permission(self, request):
        ids = coordinated_study_ids(request)
        if ids is None:
            return super().has_add_permission(request)
        return bool(ids) and self.coordinator_may_change and self.coordinator_may_add

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A choice of study, case, patient... offers only what this admin may see.
        related = self.admin_site._registry.get(db_field.related_model)
        if isinstance(related, StudyScopedAdmin) and coordinated_study_ids(request) is not None:
            kwargs["queryset"] = related.get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class StudyScopedInline:
    """An inline of a :class:`StudyScopedAdmin`: for a coordinator, allowed exactly when the
    parent object may be changed (and limited in its choices the same way)."""

    def _parent(self):
        return self.admin_site._registry[self.parent_model]

    def _as_parent(self, name, request, obj):
        if coordinated_study_ids(request) is None:
            return getattr(super(), name)(request, obj)
        return self._parent().has_change_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        if coordinated_study_ids(request) is None:
            return super().has_view_permission(request, obj)
        return self._parent().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._as_parent("has_change_permission", request, obj)

    def has_add_permission(self, request, obj=None):
        return self._as_parent("has_add_permission", request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._as_parent("has_delete_permission", request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = self.admin_site._registry.get(db_field.related_model)
        if isinstance(related, StudyScopedAdmin) and coordinated_study_ids(request) is not None:
            kwargs["queryset"] = related.get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# Filters on a study, a site or a user list only those of the objects shown: a coordinator
# never learns another study's name or sites from a filter.
ONLY_SHOWN = admin.RelatedOnlyFieldListFilter


@admin.register(Site)
class SiteAdmin(StudyScopedAdmin):
    # A site may serve several studies: a coordinator sees those of their studies, unchanged.
    coordinator_may_change = False
    list_display = ["code", "name", "external", "n_patients", "n_cases", "created_at"]
    list_filter = ["external"]
    search_fields = ["code", "name"]

    def scope_q(self, study_ids):
        return Q(patients__study__in=study_ids) | Q(import_batches__study__in=study_ids)

    def get_queryset(self, request):
        # Counted within the coordinator's studies: another study's patients at a shared site
        # stay out of sight.
        ids = coordinated_study_ids(request)
        mine = Q() if ids is None else Q(patients__study__in=ids)
        return (
            super()
            .get_queryset(request)
            .annotate(
                _patients=Count("patients", filter=mine, distinct=True),
                _cases=Count("patients__hips__images", filter=mine, distinct=True),
            )
        )

    @admin.display(ordering="_patients", description="patients")
    def n_patients(self, obj):
        return obj._patients

    @admin.display(ordering="_cases", description="cases")
    def n_cases(self, obj):
        return obj._cases


class MembershipInline(StudyScopedInline, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Study)
class StudyAdmin(StudyScopedAdmin):
    study_path = ""
    coordinator_may_add = False  # a new study is the superuser's; its coordinator runs it
    list_display = [
        "slug", "title", "n_cases", "n_labelled", "washout_days", "revisions_allowed",
        "synthetic", "created_at",
    ]
    list_filter = ["synthetic", "randomise_order", "revisions_allowed"]
    search_fields = ["slug", "title"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["case_counts", "created_at"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["slug", "title", "description", "synthetic"]}),
        ("Labels", {"fields": ["label_scheme", "endpoints"]}),
        (
            "Reading rules",
            {"fields": ["randomise_order", "washout_days", "revisions_allowed", "confidence_max"]},
        ),
        ("Cases", {"fields": ["case_counts", "created_at"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _cases=Count("images", distinct=True),
                _labelled=Count("images__reference", distinct=True),
            )
        )

    @admin.display(ordering="_cases", description="cases")
    def n_cases(self, obj):
        return obj._cases

    @admin.display(ordering="_labelled", description="labelled")
    def n_labelled(self, obj):
        return obj._labelled

    @admin.display(description="cases per class and partition")
    def case_counts(self, obj):
        if obj.pk is None:
            return "—"
        table = selectors.study_case_counts(study=obj)
        header = format_html_join(
            "", "<th>{}</th>", ((c,) for c in [*table["labels"], "total"])
        )
        rows = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (
                    part,
                    format_html_join(
                        "", "<td>{}</td>", ((n,) for n in [*counts, sum(counts)])
                    ),
                )
                for part, counts in table["rows"].items()
            ),
        )
        return format_html_join(
            "",
            "<table><tr><th>partition</th>{}</tr>{}</table>",
            [(header, rows)],
        )


class HipInline(StudyScopedInline, admin.TabularInline):
    model = Hip
    extra = 0


@admin.register(Patient)
class PatientAdmin(StudyScopedAdmin):
    list_display = ["pseudonym", "study", "site", "n_hips", "n_cases", "created_at"]
    list_filter = [("study", ONLY_SHOWN), ("site", ONLY_SHOWN)]
    search_fields = ["pseudonym"]
    inlines = [HipInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("study", "site")
            .annotate(
                _hips=Count("hips", distinct=True), _cases=Count("hips__images", distinct=True)
            )
        )

    @admin.display(ordering="_hips", description="hips")
    def n_hips(self, obj):
        return obj._hips

    @admin.display(ordering="_cases", description="cases")
    def n_cases(self, obj):
        return obj._cases


@admin.register(Hip)
class HipAdmin(StudyScopedAdmin):
    study_path = "patient__study"
    list_display = ["patient", "side", "site"]
    list_filter = ["side", ("patient__study", ONLY_SHOWN), ("patient__site", ONLY_SHOWN)]
    search_fields = ["patient__pseudonym"]

    @admin.display(ordering="patient__site__code")
    def site(self, obj):
        return obj.patient.site


class ReferenceLabelInline(StudyScopedInline, admin.StackedInline):
    model = ReferenceLabel
    extra = 0


class LabelFilter(admin.SimpleListFilter):
    title = "reference label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        labels = (
            ReferenceLabel.objects.filter(image__in=model_admin.get_queryset(request))
            .values_list("label", flat=True).distinct()
        )
        return [("__none__", "no label"), *((lab, lab) for lab in sorted(labels))]

    def queryset(self, request, queryset):
        if self.value() == "__none__":
            return queryset.filter(reference__isnull=True)
        if self.value():
            return queryset.filter(reference__label=self.value())
        return queryset


@admin.register(Image)
class ImageAdmin(StudyScopedAdmin):
    list_display = [
        "id", "study", "site", "patient", "side", "label", "partition", "rows", "columns",
        "imported_at",
    ]
    list_filter = [
        ("study", ONLY_SHOWN), "partition", LabelFilter, ("hip__patient__site", ONLY_SHOWN),
        "hip__side",
    ]
    search_fields = ["content_hash", "sop_instance_uid", "hip__patient__pseudonym"]
    list_select_related = ["study", "hip__patient__site", "reference"]
    readonly_fields = [
        "content_hash", "file", "array_file", "mask_file", "sop_instance_uid", "modality",
        "rows", "columns", "pixel_spacing_row", "pixel_spacing_col", "bits_stored",
        "pixel_signed", "rescale_slope", "rescale_intercept", "window_center", "window_width",
        "batch", "imported_at",
    ]
    raw_id_fields = ["hip"]
    inlines = [ReferenceLabelInline]
    list_per_page = 100

    @admin.display(ordering="hip__patient__site__code")
    def site(self, obj):
        return obj.hip.patient.site

    @admin.display(ordering="hip__patient__pseudonym")
    def patient(self, obj):
        return obj.hip.patient

    @admin.display(ordering="hip__side")
    def side(self, obj):
        return obj.hip.side

    @admin.display(ordering="reference__label")
    def label(self, obj):
        ref = getattr(obj, "reference", None)
        return ref.label if ref else "—"


class ReferenceLabelForm(forms.ModelForm):
    def _post_clean(self):
        # ReferenceLabel.clean() reads the case's classes: with no valid case chosen (one of
        # another study, or none) the form already says so, and the model check would crash.
        if "image" in self.errors:
            return
        super()._post_clean()


@admin.register(ReferenceLabel)
class ReferenceLabelAdmin(StudyScopedAdmin):
    study_path = "image__study"
    form = ReferenceLabelForm
    list_display = ["image", "label", "source", "updated_at"]
    list_filter = [("image__study", ONLY_SHOWN), "label", "source"]
    search_fields = ["image__content_hash", "image__hip__patient__pseudonym"]
    raw_id_fields = ["image"]


@admin.register(ImportBatch)
class ImportBatchAdmin(StudyScopedAdmin):
    list_display = [
        "id", "study", "site", "n_imported", "n_duplicates", "n_rejected", "started_at",
        "finished_at", "failure", "created_by",
    ]
    list_filter = [("study", ONLY_SHOWN), ("site", ONLY_SHOWN)]
    readonly_fields = [f.name for f in ImportBatch._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Split)
class SplitAdmin(StudyScopedAdmin):
    list_display = ["study", "seed", "fractions", "created_at", "created_by"]
    list_filter = [("study", ONLY_SHOWN)]
    readonly_fields = ["study", "seed", "fractions", "counts", "created_by", "created_at"]

    def has_add_permission(self, request):
        # Splits are made by the partition service (manage.py partition_study), which checks
        # for existing reads and records the seed.
        return False
