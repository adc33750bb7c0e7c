"""The study domain: sites, studies, patients → hips → images (cases), reference labels,
partitions, import batches, splits, and who belongs to a study in which role (membership).

Identity never enters these tables: a patient is a keyed-hash pseudonym, an image keeps only its
de-identified UID, and file names of the originals are not stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from config.leases import Leased
from studies.labels import (
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
    indeterminate_unlocks_ai = models.BooleanField(
        default=False,
        help_text="Sequential AI-aided reading: an indeterminate unaided answer shows the AI "
        "output too. Off by default: indeterminate reads are left out of the metrics, so "
        "unlocking on them would let a reader see the model's answer at no cost; the case is "
        "then complete without an aided answer.",
    )
    show_both_hips = models.BooleanField(
        default=False,
        help_text="Readers see the patient's other hip beside the case (its graded slice, "
        "never its truth or model output), as they would on a PACS. Off by default, so that "
        "designs stay blinded as they were; once a session exists, changing it changes what "
        "readers see.",
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
    failure = models.CharField(
        max_length=500, blank=True,
        help_text="Why the import stopped before its end (full disk, time limit, interrupted); "
        "empty when it ran to its end. What it committed before stays.",
    )
    worker = models.CharField(
        max_length=255, blank=True, help_text="host:pid of the process running the import."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the running import (per chunk)."
    )

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"import #{self.pk} into {self.study} from {self.site}"


class PixelFields(models.Model):
    """What displaying and computing on one stored 2-D image needs: the stored DICOM file (and
    its frame), the cached preprocessed array, an optional mask, and the pixel module's values.
    A case (:class:`Image`) carries its designated slice's; each :class:`Slice` its own."""

    content_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the stored de-identified DICOM file."
    )
    file = models.FileField(max_length=255, help_text="De-identified DICOM, stored by hash.")
    frame = models.PositiveIntegerField(
        default=0, help_text="Frame of the stored file (0-based): multi-frame files hold a "
        "series in one file (Enhanced MR)."
    )
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

    #: The fields a case copies from its designated slice.
    COPIED = (
        "content_hash", "file", "frame", "array_file", "mask_file", "sop_instance_uid",
        "modality", "rows", "columns", "pixel_spacing_row", "pixel_spacing_col", "bits_stored",
        "pixel_signed", "rescale_slope", "rescale_intercept", "window_center", "window_width",
    )

    class Meta:
        abstract = True


class Image(PixelFields):
    """A case: one hip series, the unit that is read and predicted.

    Its slices are :class:`Slice` rows, ordered along the slice normal; one of them is the
    **designated** slice, graded by the readers' answer and given to the model, whose file and
    pixel fields the case carries (so that everything that works on one 2-D image per case works
    unchanged). A single-file series is a one-slice case.
    """

    class Designation(models.TextChoices):
        MIDDLE = "middle", "middle of the stack (default)"
        MANIFEST = "manifest", "set by the import manifest"
        COORDINATOR = "coordinator", "set by a coordinator"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images")
    hip = models.ForeignKey(Hip, on_delete=models.CASCADE, related_name="images")
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    series_instance_uid = models.CharField(
        max_length=64, blank=True, db_index=True,
        help_text="De-identified Series Instance UID: the files of one series are one case. "
        "Empty for cases imported before series were grouped (one file, one case).",
    )
    designated_index = models.PositiveIntegerField(
        default=0, help_text="Index (0-based, in stack order) of the slice that is graded."
    )
    designation = models.CharField(
        max_length=16, choices=Designation.choices, default=Designation.MIDDLE
    )
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
            models.CheckConstraint(
                condition=Q(designation__in=["middle", "manifest", "coordinator"]),
                name="image_designation_valid",
            ),
            # One case per hip series, even when two imports (two associations of a PACS, say)
            # bring files of one series at once.
            models.UniqueConstraint(
                fields=["hip", "series_instance_uid"], condition=~Q(series_instance_uid=""),
                name="image_one_case_per_series",
            ),
        ]
        indexes = [models.Index(fields=["study", "partition"])]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.content_hash[:12]})"


class Slice(PixelFields):
    """One slice of a case's series: a stored single-frame file, or one frame of a multi-frame
    file. ``index`` is its place in the stack, ordered by position along the slice normal
    (Image Position and Orientation Patient), else by Instance Number, else by arrival."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="slices")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="slices")
    index = models.PositiveIntegerField(help_text="0-based place in the ordered stack.")
    position = models.FloatField(
        null=True, blank=True, help_text="mm along the slice normal (for ordering)."
    )
    instance_number = models.IntegerField(null=True, blank=True)
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="slices"
    )

    class Meta:
        ordering = ["image", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "content_hash", "frame"], name="slice_unique_content"
            ),
            models.UniqueConstraint(
                fields=["study", "sop_instance_uid", "frame"], name="slice_unique_instance"
            ),
        ]
        indexes = [models.Index(fields=["image", "index"])]

    def __str__(self) -> str:
        return f"slice {self.index} of case {self.image_id}"


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


class Membership(models.Model):
    """A person's role in one study. People see only the studies they are members of."""

    class Role(models.TextChoices):
        ADMIN = "admin", "admin (study coordinator)"
        RESEARCHER = "researcher", "researcher"
        READER = "reader", "reader"
        # Uploads DICOM for one site and sees only that site's upload counts: no cases, no
        # truth, no reads, no model output (not a staff role: api.permissions.STAFF_ROLES).
        SITE_COORDINATOR = "site_coordinator", "site coordinator (uploads for one site)"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="coordinators",
        help_text="The site a site coordinator uploads for; required for that role only.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["admin", "researcher", "reader", "site_coordinator"]),
                name="membership_role_valid",
            ),
            models.CheckConstraint(
                condition=(Q(role="site_coordinator", site__isnull=False)
                           | (~Q(role="site_coordinator") & Q(site__isnull=True))),
                name="membership_site_only_for_site_coordinator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.role} of {self.study}"

    def clean(self) -> None:
        if self.role == self.Role.SITE_COORDINATOR and self.site_id is None:
            raise ValidationError({"site": "A site coordinator needs the site they upload for."})
        if self.role != self.Role.SITE_COORDINATOR and self.site_id is not None:
            raise ValidationError({"site": "Only a site coordinator has a site; leave it empty."})
        if (self.site_id is not None and self.study_id is not None
                and not StudySite.objects.filter(study_id=self.study_id,
                                                 site_id=self.site_id).exists()):
            raise ValidationError({"site": "This site has not joined the study."})


class LabelUpload(models.Model):
    """A labels CSV checked by a dry run and, once the coordinator confirms it, applied.

    Holds only what the upload would do to which case (case ids, labels, sources) and the
    state of those cases when the dry run was made, never the file, its name or its patient
    keys: applying re-reads that state and refuses when it changed since."""

    token = models.UUIDField(unique=True, help_text="Names this dry run in the apply form.")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="label_uploads")
    file_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the uploaded CSV.")
    plan = models.JSONField(help_text="[[case id, label, source, line], ...] of matched rows.")
    state = models.JSONField(
        help_text="{case id: [label, source, has reads]} when the dry run was made."
    )
    unmatched = models.JSONField(default=list, blank=True, help_text="[[line, reason], ...]")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    relabel_read = models.BooleanField(
        default=False, help_text="The coordinator allowed changing cases that were read."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"labels upload {self.token} of {self.study}"


class LabelChange(models.Model):
    """Audit of one change of a case's reference label (truth), made by a labels upload."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="label_changes")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="label_changes")
    batch = models.ForeignKey(
        LabelUpload, on_delete=models.CASCADE, related_name="changes",
        help_text="The upload (batch) that made the change.",
    )
    file_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the uploaded CSV.")
    old_label = models.CharField(max_length=32, blank=True, help_text="Empty: was unlabelled.")
    new_label = models.CharField(max_length=32)
    old_source = models.CharField(max_length=64, blank=True)
    new_source = models.CharField(max_length=64)
    case_was_read = models.BooleanField(
        default=False, help_text="Readers had answered the case before its truth changed."
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "image"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "image"], name="label_change_once_per_batch"),
        ]

    def __str__(self) -> str:
        return f"case {self.image_id}: {self.old_label or '—'} → {self.new_label}"


class StudySite(models.Model):
    """A site taking part in a study. Sites are shared between studies (one hospital, one
    code), and a study lists the ones that joined it: uploads and site coordinators need it."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="study_sites")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="study_sites")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "site__code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "site"], name="study_site_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.site} in {self.study}"


class Upload(Leased):
    """Files a browser sends for one site of a study, in chunks, then imported by a task.

    ``files`` is what the browser declared: ``[{"label", "size", "received"}]``. The label is
    the browser's relative path, kept as text for the results only: the chunks are stored under
    generated names (``MEDIA_ROOT/uploads/<id>/``), removed once the import ran. ``results``
    is the import's outcome per file: ``[{"path", "status", "reason"}]``, paths as labels."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", "receiving files"
        QUEUED = "queued", "queued for import"
        RUNNING = "running", "importing"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="uploads")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="uploads")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVING)
    files = models.JSONField(default=list, blank=True)
    bytes_expected = models.BigIntegerField(default=0)
    bytes_received = models.BigIntegerField(default=0)
    results = models.JSONField(default=list, blank=True)
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="uploads"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["receiving", "queued", "running", "done", "failed"]),
                name="upload_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(bytes_received__gte=0) & Q(bytes_received__lte=models.F(
                    "bytes_expected")),
                name="upload_bytes_within_expected",
            ),
        ]

    def __str__(self) -> str:
        return f"upload #{self.pk} into {self.study} from {self.site}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
