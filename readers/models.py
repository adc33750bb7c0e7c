"""The study domain: sites, studies, patients → hips → images (cases), reference labels,
partitions, readers and study membership.

Identity never enters these tables: a patient is a keyed-hash pseudonym, an image keeps only its
de-identified UID, and file names of the originals are not stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from readers.labels import (
    default_endpoints,
    default_label_scheme,
    validate_endpoints,
    validate_label_scheme,
)

code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    "Use letters, digits, '.', '_' or '-' (no spaces), starting with a letter or digit.",
)


class Site(models.Model):
    """An institution contributing cases or readers. External sites are held out of training."""

    code = models.CharField(max_length=32, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200, blank=True)
    external = models.BooleanField(
        default=False, help_text="Held out for external validation: its cases form the "
        "external partition and are never used for training or model selection."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} (external)" if self.external else self.code


class Study(models.Model):
    """A reader study: its ordered label scheme, binary endpoints and reading rules."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    label_scheme = models.JSONField(
        default=default_label_scheme,
        validators=[validate_label_scheme],
        help_text="Ordered classes, lowest first: [{code, name, definition}, ...].",
    )
    endpoints = models.JSONField(
        default=default_endpoints,
        blank=True,
        help_text="Binary endpoints: [{name, positive: [codes]}, ...].",
    )
    randomise_order = models.BooleanField(
        default=True, help_text="Each reader reads each session in a seeded random order."
    )
    washout_days = models.PositiveSmallIntegerField(
        default=28,
        validators=[MaxValueValidator(365)],
        help_text="Days between two sessions of one reader on the same cases.",
    )
    revisions_allowed = models.BooleanField(
        default=False, help_text="Readers may revise a submitted read (kept as a new version)."
    )
    confidence_max = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Confidence is given on 0..confidence_max.",
    )
    synthetic = models.BooleanField(
        default=False, help_text="The study holds synthetic (phantom) data, labelled as such."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.slug

    @property
    def label_codes(self) -> list[str]:
        return [str(item["code"]) for item in self.label_scheme]

    def clean(self) -> None:
        try:
            validate_label_scheme(self.label_scheme)
        except ValidationError as exc:
            raise ValidationError({"label_scheme": exc.messages}) from None
        try:
            validate_endpoints(self.endpoints, self.label_codes)
        except ValidationError as exc:
            raise ValidationError({"endpoints": exc.messages}) from None


class Patient(models.Model):
    """A patient of one site in one study, known only by a keyed-hash pseudonym."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="patients")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    pseudonym = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "site", "pseudonym"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "site", "pseudonym"], name="patient_unique_per_site"
            ),
        ]

    def __str__(self) -> str:
        return self.pseudonym


class Hip(models.Model):
    class Side(models.TextChoices):
        LEFT = "L", "left"
        RIGHT = "R", "right"
        UNKNOWN = "U", "unknown"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="hips")
    side = models.CharField(max_length=1, choices=Side.choices)

    class Meta:
        ordering = ["patient", "side"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "side"], name="hip_unique_side"),
            models.CheckConstraint(condition=Q(side__in=["L", "R", "U"]), name="hip_side_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.side}"


class Partition(models.TextChoices):
    TRAIN = "train", "train"
    VALIDATION = "validation", "validation"
    TEST = "test", "test"
    EXTERNAL = "external", "external"


READING_PARTITIONS = (Partition.TEST, Partition.EXTERNAL)


class ImportBatch(models.Model):
    """One run of the DICOM import: counts and reasons, never file names (they may identify)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="import_batches")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    n_imported = models.PositiveIntegerField(default=0)
    n_duplicates = models.PositiveIntegerField(default=0)
    n_rejected = models.PositiveIntegerField(default=0)
    rejection_reasons = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"import #{self.pk} into {self.study} from {self.site}"


class Image(models.Model):
    """A case: one de-identified 2-D image, the unit that is read and predicted."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images")
    hip = models.ForeignKey(Hip, on_delete=models.CASCADE, related_name="images")
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    content_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the stored de-identified DICOM file."
    )
    file = models.FileField(max_length=255, help_text="De-identified DICOM, stored by hash.")
    array_file = models.FileField(
        max_length=255, blank=True, help_text="Cached preprocessed array (.npy)."
    )
    mask_file = models.FileField(
        max_length=255, blank=True, help_text="Optional lesion mask (.npy), e.g. for phantoms."
    )
    sop_instance_uid = models.CharField(max_length=64, help_text="De-identified SOP UID.")
    modality = models.CharField(max_length=16, blank=True)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    pixel_spacing_row = models.FloatField(null=True, blank=True, help_text="mm")
    pixel_spacing_col = models.FloatField(null=True, blank=True, help_text="mm")
    bits_stored = models.PositiveSmallIntegerField()
    pixel_signed = models.BooleanField(default=False)
    rescale_slope = models.FloatField(default=1.0)
    rescale_intercept = models.FloatField(default=0.0)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    partition = models.CharField(max_length=16, choices=Partition.choices, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "content_hash"], name="image_unique_content"),
            models.UniqueConstraint(
                fields=["study", "sop_instance_uid"], name="image_unique_instance"
            ),
            models.CheckConstraint(
                condition=Q(rows__gte=1) & Q(columns__gte=1), name="image_dimensions_positive"
            ),
            models.CheckConstraint(
                condition=Q(partition__in=["", *Partition.values]), name="image_partition_valid"
            ),
        ]
        indexes = [models.Index(fields=["study", "partition"])]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.content_hash[:12]})"


class ReferenceLabel(models.Model):
    """The truth of a case: its class in the study's scheme, and where it came from."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="reference")
    label = models.CharField(max_length=32)
    source = models.CharField(
        max_length=64, help_text="e.g. consensus panel, follow-up, phantom geometry"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image"]
        constraints = [
            models.CheckConstraint(condition=~Q(label=""), name="reference_label_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.image_id}: {self.label}"

    def clean(self) -> None:
        codes = self.image.study.label_codes
        if self.label not in codes:
            raise ValidationError({"label": f"{self.label!r} is not one of {codes}."})


class Split(models.Model):
    """A recorded partitioning of a study's cases, reproducible from its seed."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="splits")
    seed = models.BigIntegerField()
    fractions = models.JSONField(help_text="{train, validation, test} fractions.")
    counts = models.JSONField(default=dict, help_text="{partition: {class: cases}}")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"split of {self.study} (seed {self.seed})"


class ReaderProfile(models.Model):
    class Seniority(models.TextChoices):
        CHIEF = "chief", "chief surgeon"
        DEPUTY_CHIEF = "deputy_chief", "deputy chief surgeon"
        ATTENDING = "attending", "attending surgeon"
        RESIDENT = "resident", "resident"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reader_profile"
    )
    seniority = models.CharField(max_length=16, choices=Seniority.choices)
    years_experience = models.PositiveSmallIntegerField(validators=[MaxValueValidator(70)])
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="readers"
    )

    class Meta:
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(seniority__in=["chief", "deputy_chief", "attending", "resident"]),
                name="reader_seniority_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_seniority_display()}, {self.years_experience} y)"


class Membership(models.Model):
    """A person's role in one study. People see only the studies they are members of."""

    class Role(models.TextChoices):
        ADMIN = "admin", "admin (study coordinator)"
        RESEARCHER = "researcher", "researcher"
        READER = "reader", "reader"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["admin", "researcher", "reader"]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.role} of {self.study}"


class ReadingSession(models.Model):
    """One reader reading a set of cases under one condition, in a seeded order of their own."""

    class Condition(models.TextChoices):
        UNAIDED = "unaided", "unaided"
        AI_AIDED = "ai_aided", "AI-aided"
        SEQUENTIAL = "sequential_ai", "sequential AI-aided (unaided answer locked first)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="sessions")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reading_sessions"
    )
    token = models.CharField(max_length=32, unique=True, help_text="Opaque id used in URLs.")
    name = models.CharField(max_length=100)
    condition = models.CharField(max_length=16, choices=Condition.choices)
    seed = models.BigIntegerField(help_text="Seed of this reader's case order (reproducible).")
    opens_at = models.DateTimeField(help_text="Washout: the session opens at this time.")
    washout_override_reason = models.TextField(blank=True)
    washout_overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="The model whose output an AI-aided session shows.",
    )
    repeat_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="repeats",
        help_text="The earlier session this one repeats (intra-reader agreement).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "reader", "opens_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(condition__in=["unaided", "ai_aided", "sequential_ai"]),
                name="session_condition_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} — {self.reader} ({self.get_condition_display()})"


class SessionCase(models.Model):
    """A case in a session, at its position in the reader's order, behind an opaque token."""

    session = models.ForeignKey(ReadingSession, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="session_items")
    position = models.PositiveIntegerField()
    token = models.CharField(max_length=32, unique=True)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "image"], name="session_case_once"),
            models.UniqueConstraint(fields=["session", "position"], name="session_position_once"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.position}"


class Read(models.Model):
    """A reader's answer on a case. Never changed: a revision is a new version, and analyses
    use the latest version of each stage."""

    class Stage(models.TextChoices):
        UNAIDED = "unaided", "unaided answer"
        AIDED = "aided", "answer with AI output shown"

    item = models.ForeignKey(SessionCase, on_delete=models.CASCADE, related_name="reads")
    stage = models.CharField(max_length=8, choices=Stage.choices)
    version = models.PositiveSmallIntegerField(default=1)
    label = models.CharField(max_length=32, blank=True, help_text="Empty when indeterminate.")
    confidence = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="0..the study's confidence_max; empty when indeterminate."
    )
    indeterminate = models.BooleanField(
        default=False,
        help_text="The reader could not grade the case (non-diagnostic image: motion, wrong "
        "slice, poor quality...); the comment gives the reason. Counted as a read, with no class "
        "and no confidence (STARD: an indeterminate result).",
    )
    comment = models.TextField(blank=True, max_length=2000)
    time_ms = models.PositiveIntegerField(help_text="Active time on case, hidden tab excluded.")
    request_id = models.UUIDField(help_text="Client-made key: a retried submit stores one read.")
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "stage", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "stage", "version"], name="read_version_once"
            ),
            models.UniqueConstraint(fields=["item", "request_id"], name="read_request_once"),
            models.CheckConstraint(condition=Q(version__gte=1), name="read_version_positive"),
            models.CheckConstraint(
                condition=Q(stage__in=["unaided", "aided"]), name="read_stage_valid"
            ),
            # A graded read has a class and a confidence; an indeterminate one has neither.
            models.CheckConstraint(
                condition=Q(indeterminate=True, label="") | (Q(indeterminate=False) & ~Q(label="")),
                name="read_label_or_indeterminate",
            ),
            models.CheckConstraint(
                condition=Q(indeterminate=True, confidence__isnull=True)
                | Q(indeterminate=False, confidence__isnull=False),
                name="read_confidence_unless_indeterminate",
            ),
        ]

    def __str__(self) -> str:
        answer = "indeterminate" if self.indeterminate else self.label
        return f"read {self.item} {self.stage} v{self.version}: {answer}"


class AuditEvent(models.Model):
    """A coordinator's intervention in reading (reset, reassignment), kept for the record."""

    class Action(models.TextChoices):
        SESSION_RESET = "session_reset", "session reset (reads removed)"
        SESSION_REASSIGN = "session_reassign", "session reassigned to another reader"
        SESSIONS_CREATE = "sessions_create", "sessions created"

    action = models.CharField(max_length=32, choices=Action.choices)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="audit_events")
    session = models.ForeignKey(
        ReadingSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["session_reset", "session_reassign", "sessions_create"]),
                name="audit_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"


class StudyReport(models.Model):
    """A built study report (web page, figures, PDF), cached by the hash of its inputs: the long
    table (reads, predictions, truth), the design, the settings and the code version."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    input_hash = models.CharField(max_length=64, help_text="SHA-256 of every input.")
    model_version = models.ForeignKey(
        "inference.ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text="Empty: every model version with predictions on the study.",
    )
    seed = models.BigIntegerField(default=0)
    n_bootstrap = models.PositiveIntegerField(default=2000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    progress_message = models.CharField(max_length=200, blank=True)
    code_version = models.CharField(max_length=100)
    inputs = models.JSONField(default=dict, blank=True,
                              help_text="What made it: row counts, settings, code version.")
    design = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="Comparison.to_dict().")
    figures = models.JSONField(default=list, blank=True,
                               help_text="[{name, title, section, site_group}] PNGs on disk.")
    pdf_path = models.CharField(max_length=255, blank=True, help_text="Relative to MEDIA_ROOT.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "input_hash"], name="report_inputs_once"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="report_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.study} {self.input_hash[:12]} ({self.status})"
