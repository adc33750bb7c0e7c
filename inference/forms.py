"""The form that starts an inference job."""

from __future__ import annotations

from django import forms

from studies.models import READING_PARTITIONS, Partition


class InferenceJobForm(forms.Form):
    model_version = forms.ChoiceField(label="Model version")
    partitions = forms.MultipleChoiceField(
        choices=Partition.choices,
        initial=[str(p) for p in READING_PARTITIONS],
        widget=forms.CheckboxSelectMultiple,
        help_text="Cases to run; the reading partitions (test, external) by default.",
    )
    heatmaps = forms.BooleanField(required=False, label="Store Grad-CAM heat maps")

    def __init__(self, *args, model_versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.versions = {str(v.pk): v for v in model_versions}
        self.fields["model_version"].choices = [
            (str(v.pk), f"{v.name} — {v.short_sha}" + (" (SYNTHETIC)" if v.synthetic else ""))
            for v in model_versions
        ]

    def clean_model_version(self):
        return self.versions[self.cleaned_data["model_version"]]
