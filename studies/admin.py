"""Django admin for study coordinators: every model of the study domain, with list columns,
filters, search and the case counts per class and partition that a coordinator checks first."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
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


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "external", "n_patients", "n_cases", "created_at"]
    list_filter = ["external"]
    search_fields = ["code", "name"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _patients=Count("patients", distinct=True),
                _cases=Count("patients__hips__images", distinct=True),
            )
        )

    @admin.display(ordering="_patients", description="patients")
    def n_patients(self, obj):
        return obj._patients

    @admin.display(ordering="_cases", description="cases")
    def n_cases(self, obj):
        return obj._cases


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
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


class HipInline(admin.TabularInline):
    model = Hip
    extra = 0


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["pseudonym", "study", "site", "n_hips", "n_cases", "created_at"]
    list_filter = ["study", "site"]
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
class HipAdmin(admin.ModelAdmin):
    list_display = ["patient", "side", "site"]
    list_filter = ["side", "patient__study", "patient__site"]
    search_fields = ["patient__pseudonym"]

    @admin.display(ordering="patient__site__code")
    def site(self, obj):
        return obj.patient.site


class ReferenceLabelInline(admin.StackedInline):
    model = ReferenceLabel
    extra = 0


class LabelFilter(admin.SimpleListFilter):
    title = "reference label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        labels = ReferenceLabel.objects.values_list("label", flat=True).distinct()
        return [("__none__", "no label"), *((lab, lab) for lab in sorted(labels))]

    def queryset(self, request, queryset):
        if self.value() == "__none__":
            return queryset.filter(reference__isnull=True)
        if self.value():
            return queryset.filter(reference__label=self.value())
        return queryset


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "id", "study", "site", "patient", "side", "label", "partition", "rows", "columns",
        "imported_at",
    ]
    list_filter = ["study", "partition", LabelFilter, "hip__patient__site", "hip__side"]
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


@admin.register(ReferenceLabel)
class ReferenceLabelAdmin(admin.ModelAdmin):
    list_display = ["image", "label", "source", "updated_at"]
    list_filter = ["image__study", "label", "source"]
    search_fields = ["image__content_hash", "image__hip__patient__pseudonym"]
    raw_id_fields = ["image"]


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = [
        "id", "study", "site", "n_imported", "n_duplicates", "n_rejected", "started_at",
        "finished_at", "failure", "created_by",
    ]
    list_filter = ["study", "site"]
    readonly_fields = [f.name for f in ImportBatch._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Split)
class SplitAdmin(admin.ModelAdmin):
    list_display = ["study", "seed", "fractions", "created_at", "created_by"]
    list_filter = ["study"]
    readonly_fields = ["study", "seed", "fractions", "counts", "created_by", "created_at"]

    def has_add_permission(self, request):
        # Splits are made by the partition service (manage.py partition_study), which checks
        # for existing reads and records the seed.
        return False
