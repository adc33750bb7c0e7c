"""Who sees what in the REST API: the one place that turns study memberships into what a user
may list. Everything outside it is a 404, never a 403, so that existence does not leak.

Roles are per study (:class:`studies.models.Membership`): a person may read in one study and
research in another, and sees each study only in the role they hold there.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from inference.models import InferenceJob, ModelVersion, Prediction
from inference.selectors import model_versions_for_study
from readers import selectors
from readers.models import Read, ReadingSession
from reports.models import StudyReport
from studies.models import Image, Membership, Site, Study

STAFF_ROLES = (Membership.Role.ADMIN, Membership.Role.RESEARCHER)


@dataclass(frozen=True)
class StudyRoles:
    """The user's role in each study they belong to (study id → role)."""

    by_study: dict[int, str]

    @property
    def member(self) -> frozenset[int]:
        """Studies in any role."""
        return frozenset(self.by_study)

    @property
    def staff(self) -> frozenset[int]:
        """Studies where the user is admin or researcher: cases, truth and model output."""
        return frozenset(k for k, role in self.by_study.items() if role in STAFF_ROLES)

    def role_in(self, study_id: int) -> str | None:
        return self.by_study.get(study_id)


def study_roles(*, user) -> StudyRoles:
    """The studies ``user`` may see, by role; nothing for an anonymous or inactive user.

    Django's ``is_staff``/``is_superuser`` grant nothing here: the API follows study roles only
    (the Django admin is the superuser's tool).
    """
    if not user.is_authenticated or not user.is_active:
        return StudyRoles({})
    return StudyRoles(dict(Membership.objects.filter(user=user).values_list("study_id", "role")))


def visible_studies(*, roles: StudyRoles) -> QuerySet[Study]:
    # Grant: every member sees the study itself (title, classes, endpoints, reading rules).
    return Study.objects.filter(pk__in=roles.member)


def visible_sites(*, roles: StudyRoles) -> QuerySet[Site]:
    # Grant: admins and researchers see the sites that contribute cases to their studies.
    # Readers see none: a case's site is blinded (DESIGN.md), and so is which site is external.
    return Site.objects.filter(
        Q(patients__study__in=roles.staff) | Q(import_batches__study__in=roles.staff)
    ).distinct()


def visible_cases(*, roles: StudyRoles) -> QuerySet[Image]:
    # Grant: admins and researchers see their studies' cases with truth and partition.
    # Readers never: they reach cases only through their sessions' opaque tokens
    # (/api/reading/), and a reader here gets a 404.
    return Image.objects.filter(study__in=roles.staff)


def visible_sessions(*, user, roles: StudyRoles) -> QuerySet[ReadingSession]:
    # Grant: admins and researchers see all sessions of their studies.
    # Grant: a reader sees their own sessions, through the blinding selector, and no others.
    own = selectors.reader_sessions(user=user).values("pk") if roles.member else []
    return ReadingSession.objects.filter(Q(study__in=roles.staff) | Q(pk__in=own))


def visible_reads(*, user, roles: StudyRoles) -> QuerySet[Read]:
    # Grant: admins and researchers see every read of their studies.
    # Grant: a reader sees the reads of their own sessions only — never another reader's.
    own = selectors.reader_sessions(user=user).values("pk") if roles.member else []
    return Read.objects.filter(
        Q(item__session__study__in=roles.staff) | Q(item__session__in=own)
    )


def visible_model_versions(*, roles: StudyRoles) -> QuerySet[ModelVersion]:
    # Grant: admins and researchers see the model versions that concern their studies: trained
    # on one of them, run on one of them, shown in one of their sessions, or not trained on any
    # study and fitting one's classes (what the inference page offers). A version trained on
    # another study stays out unless it was used here. Readers: none.
    ids: set[int] = set()
    for study in Study.objects.filter(pk__in=roles.staff):
        ids |= {
            v.pk for v in model_versions_for_study(study=study) if v.training_study_id is None
        }
    return ModelVersion.objects.filter(
        Q(pk__in=ids)
        | Q(training_study__in=roles.staff)
        | Q(jobs__study__in=roles.staff)
        | Q(pk__in=ReadingSession.objects.filter(study__in=roles.staff).values("model_version"))
    ).distinct()


def visible_inference_jobs(*, roles: StudyRoles) -> QuerySet[InferenceJob]:
    # Grant: admins and researchers see their studies' inference jobs. Readers: none.
    return InferenceJob.objects.filter(study__in=roles.staff)


def visible_predictions(*, roles: StudyRoles) -> QuerySet[Prediction]:
    # Grant: admins and researchers see model output on their studies' cases. Readers never
    # (they see a prediction only inside an AI-aided session, through /api/reading/).
    return Prediction.objects.filter(image__study__in=roles.staff)



def visible_reports(*, roles: StudyRoles) -> QuerySet[StudyReport]:
    # Grant: admins and researchers see their studies' reports and download their files, as
    # on the report pages (inference.selectors.study_for_researcher). Readers never: a report
    # holds truth, every reader's answers and model output.
    return StudyReport.objects.filter(study__in=roles.staff)


def report_studies(*, roles: StudyRoles) -> QuerySet[Study]:
    # Grant: admins and researchers may ask for a report of their studies. Anyone else gets
    # the same 404 as for a study that does not exist.
    return Study.objects.filter(pk__in=roles.staff)
