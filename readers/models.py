"""Reading: reader profiles (seniority, experience), reading sessions and their cases in each
reader's order, reads (versioned answers) and the audit trail of coordinators' interventions.

A reader's cases are the study's cases (:mod:`studies.models`); an AI-aided session names the
model version (:mod:`inference.models`) whose output it shows.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from studies.models import Image, Site, Study


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
    round = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="Reading round of the study design. A session opens for its reader only when "
        "the reader has finished every session of the earlier rounds and the washout has "
        "passed since their last read in them.",
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
            models.CheckConstraint(condition=Q(round__gte=1), name="session_round_positive"),
        ]
        indexes = [models.Index(fields=["reader", "study", "round"], name="session_reader_round")]

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
    measurements = models.JSONField(
        default=list, blank=True,
        help_text="The reader's rulers and thirds overlays on the image: [{kind: line|thirds, "
        "points: [[x, y], [x, y]] in image pixels, length_mm or null}]. For the researcher; "
        "the analysis ignores them.",
    )
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


class AiExposure(models.Model):
    """When a reader was first shown a model's output (probabilities or heat map) on a case,
    in any session. From then on the reader's unaided answer on that case is locked: it can
    never be revised, whatever the study's revision rule (the AI output would leak into it)."""

    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_exposures"
    )
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="ai_exposures")
    session = models.ForeignKey(
        ReadingSession, null=True, on_delete=models.SET_NULL, related_name="ai_exposures",
        help_text="The session in which the output was first shown.",
    )
    first_shown_at = models.DateTimeField()

    class Meta:
        ordering = ["first_shown_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "image"], name="ai_exposure_once"),
        ]

    def __str__(self) -> str:
        return f"{self.reader} saw the AI output on image {self.image_id} at {self.first_shown_at}"


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
