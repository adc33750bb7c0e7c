"""Forms of the coordinator's setup pages: they parse and validate input, and the services in
:mod:`studies.services.setup` and :mod:`studies.services.relabel` do the writing."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator

from studies.models import Study
from studies.services.relabel import MAX_UPLOAD_BYTES


class StudyCreateForm(forms.ModelForm):
    """A study with the model's defaults (the JIC label scheme and its endpoints)."""

    class Meta:
        model = Study
        fields = ["slug", "title", "description", "washout_days", "revisions_allowed"]


class LabelsUploadForm(forms.Form):
    file = forms.FileField(
        label="Labels CSV",
        help_text="Columns patient_key, side, label, label_source, and sop_instance_uid (the "
        "original SOP Instance UID of a file of the case) or file; site when the study has "
        "several sites.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file has {upload.size} bytes; a labels CSV may have at most "
                f"{MAX_UPLOAD_BYTES}."
            )
        return upload


class LabelsApplyForm(forms.Form):
    token = forms.UUIDField(widget=forms.HiddenInput)
    relabel_read = forms.BooleanField(
        required=False, label="Relabel cases already read",
        help_text="Change the truth of cases that readers have answered (recorded in the audit).",
    )


class SplitForm(forms.Form):
    seed = forms.IntegerField(min_value=0, max_value=2**63 - 1, initial=20260101)
    train = forms.FloatField(min_value=0, initial=7)
    validation = forms.FloatField(min_value=0, initial=1)
    test = forms.FloatField(min_value=0, initial=2)

    def clean(self):
        data = super().clean()
        parts = [data.get(p) for p in ("train", "validation", "test")]
        if None not in parts and sum(parts) <= 0:
            raise forms.ValidationError("The proportions must not all be zero.")
        return data

    def fractions(self) -> dict[str, float]:
        """The proportions (7:1:2 or 0.7/0.1/0.2 alike) as fractions summing to 1."""
        parts = {p: float(self.cleaned_data[p]) for p in ("train", "validation", "test")}
        total = sum(parts.values())
        return {p: v / total for p, v in parts.items()}


class ReaderInviteForm(forms.Form):
    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    full_name = forms.CharField(max_length=300, required=False)
    email = forms.EmailField(required=False)
    seniority = forms.ChoiceField(choices=())
    years_experience = forms.IntegerField(min_value=0, max_value=70, label="Years of experience")

    def __init__(self, *args, seniority_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seniority"].choices = list(seniority_choices)

    def clean_username(self) -> str:
        return get_user_model().normalize_username(self.cleaned_data["username"].strip())


class DesignateSliceForm(forms.Form):
    """Which slice of a case's stack is graded (0-based index)."""

    index = forms.IntegerField(min_value=0, max_value=100_000)
