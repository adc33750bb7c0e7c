"""Forms: a submitted read (the reading API) and bulk creation of sessions (staff)."""

from __future__ import annotations

import math

from django import forms
from django.contrib.auth import get_user_model

from readers.models import Read, ReadingSession
from studies.models import READING_PARTITIONS, Membership, Partition, Study

MAX_TIME_MS = 24 * 3600 * 1000
MAX_MEASUREMENTS = 20
MEASUREMENT_KINDS = ("line", "thirds")
MEASUREMENT_KEYS = {"kind", "points", "length_mm"}


def measurement_length_mm(points, spacing: tuple[float, float] | None) -> float | None:
    """The length of the segment ``points`` ([[x, y], [x, y]] in image pixels) in mm, from
    Pixel Spacing (row mm, column mm): x runs along a row, so a step in x is a column step of
    ``spacing[1]`` mm and a step in y is a row step of ``spacing[0]`` mm. None without spacing."""
    if not spacing:
        return None
    (x0, y0), (x1, y1) = points
    return math.hypot((x1 - x0) * spacing[1], (y1 - y0) * spacing[0])


def measurements_clean(value, *, rows: int, columns: int,
                       spacing: tuple[float, float] | None) -> list[dict]:
    """The reader's measurements, checked: a list of at most ``MAX_MEASUREMENTS`` items, each
    ``{kind: "line"|"thirds", points: [[x, y], [x, y]] within the image (0..columns,
    0..rows), length_mm: a number or null}``. The length stored is the one the points and the
    pixel spacing give; a length sent that disagrees with it (by more than 1 %) is refused,
    so a stored length is never the client's arithmetic. Raises ValidationError naming the
    item and the key."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise forms.ValidationError(
            f"Measurements must be a list (got {type(value).__name__})."
        )
    if len(value) > MAX_MEASUREMENTS:
        raise forms.ValidationError(
            f"Measurements: at most {MAX_MEASUREMENTS} (got {len(value)})."
        )
    cleaned = []
    for i, item in enumerate(value):
        where = f"Measurement {i + 1}"
        if not isinstance(item, dict):
            raise forms.ValidationError(f"{where} must be an object with kind, points, length_mm.")
        unknown = sorted(set(item) - MEASUREMENT_KEYS)
        if unknown:
            raise forms.ValidationError(
                f"{where} has unknown keys {', '.join(map(repr, unknown))}: "
                "only kind, points, length_mm."
            )
        kind = item.get("kind")
        if kind not in MEASUREMENT_KINDS:
            raise forms.ValidationError(
                f"{where}: kind must be 'line' or 'thirds' (got {kind!r})."
            )
        points = item.get("points")
        if not (isinstance(points, list) and len(points) == 2 and all(
            isinstance(p, list) and len(p) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                    for c in p)
            for p in points
        )):
            raise forms.ValidationError(
                f"{where}: points must be two [x, y] pairs of numbers (image pixels)."
            )
        for x, y in points:
            if not (0 <= x <= columns and 0 <= y <= rows):
                raise forms.ValidationError(
                    f"{where}: point [{x}, {y}] is outside the image (x 0 to {columns}, "
                    f"y 0 to {rows})."
                )
        length = measurement_length_mm(points, spacing)
        sent = item.get("length_mm")
        if sent is not None:
            if not isinstance(sent, int | float) or isinstance(sent, bool) or not (
                math.isfinite(sent) and sent >= 0
            ):
                raise forms.ValidationError(
                    f"{where}: length_mm must be a number of mm, 0 or more, or null."
                )
            if length is None:
                raise forms.ValidationError(
                    f"{where}: length_mm must be null: the image has no pixel spacing."
                )
            if abs(sent - length) > max(0.01 * length, 0.05):
                raise forms.ValidationError(
                    f"{where}: length_mm {sent} disagrees with the points and the pixel "
                    f"spacing ({length:.2f} mm)."
                )
        cleaned.append({
            "kind": kind,
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in points],
            "length_mm": None if length is None else round(length, 2),
        })
    return cleaned


class ReadSubmitForm(forms.Form):
    """A graded read (``label`` and ``confidence``) or an indeterminate one (``indeterminate``
    true, no label, the reason in ``comment``; any confidence is dropped).

    Every error message names its field and what the field accepts, so that the viewer can
    show it next to the field and a script author can fix the request from the message alone.
    """

    stage = forms.ChoiceField(
        choices=Read.Stage.choices,
        error_messages={
            "required": "Stage is required: 'unaided' or 'aided'.",
            "invalid_choice": "Stage must be 'unaided' or 'aided' (got %(value)r).",
        },
    )
    indeterminate = forms.BooleanField(required=False)
    label = forms.CharField(
        max_length=32, required=False,
        error_messages={"max_length": "Class must be at most %(limit_value)d characters."},
    )
    confidence = forms.IntegerField(required=False)  # its range is the study's: __init__
    comment = forms.CharField(
        max_length=2000, required=False,
        error_messages={
            "max_length": "Comment must be at most %(limit_value)d characters "
            "(it has %(show_value)d)."
        },
    )
    time_ms = forms.IntegerField(
        min_value=0, max_value=MAX_TIME_MS,
        error_messages={
            "required": f"Time on case (time_ms) is required: 0 to {MAX_TIME_MS} ms.",
            "invalid": f"Time on case (time_ms) must be a whole number of ms, 0 to {MAX_TIME_MS}.",
            "min_value": f"Time on case (time_ms) must be 0 to {MAX_TIME_MS} ms.",
            "max_value": f"Time on case (time_ms) must be 0 to {MAX_TIME_MS} ms.",
        },
    )
    request_id = forms.UUIDField(
        error_messages={
            "required": "Request id (request_id) is required: a UUID made by the client.",
            "invalid": "Request id (request_id) must be a UUID.",
        }
    )
    # Any JSON; measurements_clean checks it against the image (a list, checked item by item).
    measurements = forms.Field(required=False)

    def __init__(self, *args, study: Study, image=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.image = image
        self.fields["confidence"].error_messages["invalid"] = (
            f"Confidence must be {self._confidence_range()}."
        )

    def _confidence_range(self) -> str:
        return f"a whole number from 0 to {self.study.confidence_max}"

    def clean_confidence(self) -> int | None:
        confidence = self.cleaned_data["confidence"]
        if confidence is not None and not 0 <= confidence <= self.study.confidence_max:
            raise forms.ValidationError(
                f"Confidence must be {self._confidence_range()} (got {confidence})."
            )
        return confidence

    def clean_measurements(self) -> list[dict]:
        value = self.cleaned_data.get("measurements")
        if self.image is None:
            if value:
                raise forms.ValidationError("Measurements need the case's image.")
            return []
        spacing = None
        if self.image.pixel_spacing_row and self.image.pixel_spacing_col:
            spacing = (float(self.image.pixel_spacing_row), float(self.image.pixel_spacing_col))
        return measurements_clean(value, rows=int(self.image.rows),
                                  columns=int(self.image.columns), spacing=spacing)

    def clean_label(self) -> str:
        label = self.cleaned_data["label"]
        codes = ", ".join(self.study.label_codes)
        if label and self.cleaned_data.get("indeterminate"):
            raise forms.ValidationError(
                f"Class must be empty for an indeterminate read (got {label!r})."
            )
        if label and label not in self.study.label_codes:
            raise forms.ValidationError(f"Class must be one of {codes} (got {label!r}).")
        return label

    def clean(self):
        data = super().clean()
        if data.get("indeterminate"):
            if not (data.get("comment") or "").strip() and "comment" not in self.errors:
                self.add_error(
                    "comment",
                    "Reason (comment) is required for an indeterminate read: say why the case "
                    "cannot be graded (e.g. motion artefact, wrong slice).",
                )
            data["confidence"] = None
            return data
        if not data.get("label") and "label" not in self.errors:
            self.add_error(
                "label", f"Class is required: one of {', '.join(self.study.label_codes)}, or "
                "mark the case indeterminate with a reason."
            )
        if data.get("confidence") is None and "confidence" not in self.errors:
            self.add_error("confidence", f"Confidence is required: {self._confidence_range()}.")
        return data


class SessionBulkForm(forms.Form):
    """Readers × the study's reading cases: one session each (admin: bulk creation)."""

    study = forms.ModelChoiceField(queryset=Study.objects.all())
    readers = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(memberships__role=Membership.Role.READER)
        .distinct().order_by("username"),
        widget=forms.CheckboxSelectMultiple,
    )
    name = forms.CharField(max_length=100)
    condition = forms.ChoiceField(choices=ReadingSession.Condition.choices)
    round = forms.IntegerField(
        min_value=1, max_value=99, initial=1, required=False,
        help_text="Reading round (empty: 1). A session opens for its reader once they have "
        "finished their sessions of earlier rounds and the study's washout has passed since "
        "their last read there; an AI-aided session also waits for the reader's unaided "
        "session of its round on the same cases. Rounds can be created ahead, in any order.",
    )
    partitions = forms.MultipleChoiceField(
        choices=[(p, Partition(p).label) for p in READING_PARTITIONS],
        initial=list(READING_PARTITIONS),
        widget=forms.CheckboxSelectMultiple,
    )
    seed = forms.IntegerField(
        min_value=0, required=False,
        help_text="Leave empty: each session gets a secret random order (recorded). A number "
        "makes the orders reproducible from it, and predictable to whoever knows it.")
    model_version = forms.ModelChoiceField(
        queryset=None, required=False,
        help_text="AI-aided conditions: the model whose output readers see.",
    )
    override_washout = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Open the sessions now despite the washout: the reason is recorded.",
    )

    def __init__(self, *args, **kwargs):
        from inference.models import ModelVersion

        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = ModelVersion.objects.all()

    def clean_round(self) -> int:
        return self.cleaned_data.get("round") or 1

    def clean(self):
        data = super().clean()
        study, readers = data.get("study"), data.get("readers")
        if study is not None and readers:
            members = set(
                Membership.objects.filter(study=study, role=Membership.Role.READER)
                .values_list("user_id", flat=True)
            )
            outside = [r.get_username() for r in readers if r.pk not in members]
            if outside:
                self.add_error(
                    "readers", f"not readers of {study.slug}: {', '.join(sorted(outside))}"
                )
        return data


class SessionResetForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the reads are removed; kept in the audit record with a copy of them.",
    )


class SessionReassignForm(forms.Form):
    reader = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    override_washout = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Open the session now even if the new reader read these cases recently.",
    )

    def __init__(self, *args, session: ReadingSession, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reader"].queryset = (
            get_user_model().objects.filter(
                memberships__study=session.study, memberships__role=Membership.Role.READER
            )
            .exclude(pk=session.reader_id)
            .order_by("username")
        )


class SessionsCreateForm(forms.Form):
    """The coordinator's form for one round of sessions: one per chosen reader, on the study's
    reading cases (:func:`readers.services.reading.sessions_create_audited`)."""

    name = forms.CharField(max_length=200, help_text="Shown to the readers, e.g. 'Round 1'.")
    condition = forms.ChoiceField(choices=ReadingSession.Condition.choices)
    round = forms.IntegerField(
        min_value=1, max_value=99, initial=1,
        help_text="A session opens for its reader once they have finished their earlier "
        "rounds and the study's washout has passed.",
    )
    readers = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    partitions = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        choices=[(p.value, p.label) for p in READING_PARTITIONS],
        initial=[p.value for p in READING_PARTITIONS],
    )
    model_version = forms.ChoiceField(
        required=False, help_text="AI-aided and sequential sessions: the model whose output "
        "is shown (it must have a prediction for every case).",
    )
    override_washout = forms.CharField(
        required=False, max_length=500, label="Override washout (reason)",
        help_text="Opens the sessions now despite the washout; the reason is recorded.",
    )

    def __init__(self, *args, readers: list, model_versions: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["readers"].choices = [(u.get_username(), u.get_username()) for u in readers]
        self.fields["model_version"].choices = [("", "—")] + [
            (m.sha256, f"{m.name} ({m.sha256[:12]})") for m in model_versions
        ]

    def clean(self):
        data = super().clean()
        ai = data.get("condition") in (
            ReadingSession.Condition.AI_AIDED, ReadingSession.Condition.SEQUENTIAL
        )
        if ai and not data.get("model_version"):
            self.add_error("model_version", "An AI-aided or sequential session needs a model.")
        return data
