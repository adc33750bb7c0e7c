"""The coordinator's setup of a study, outside the admin: who may do it, the checklist (sites →
cases → labels → split → readers → sessions → model → report, each with its state and counts),
the split from a button, and inviting a reader in one step.

``studies`` imports no other app (``pyproject.toml``'s import contracts), so the later steps
(sessions, model outputs, reports) are counted through the ORM's reverse relations of the
study and its cases, as :func:`studies.selectors.study_has_reads` does, and their pages are
linked by URL name. The checklist is a list of :class:`Step` built by one function per step:
a step's link is the first URL name of its list that resolves, so pages added later (the
per-site uploads) take over from the admin without touching the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from studies import selectors
from studies.models import Image, Membership, Partition, Site, Split, Study
from studies.services.partitions import study_partition

DONE, TODO, BLOCKED = "done", "to do", "blocked"
SPLIT_PARTITIONS = (Partition.TRAIN, Partition.VALIDATION, Partition.TEST)


# --- Who may set a study up: its admins (coordinators), nobody else (404, not 403).


def study_for_coordinator(*, user, slug: str) -> Study:
    """The study ``slug`` if ``user`` is one of its admins; else 404, so that a study's
    existence is not revealed to anyone outside it."""
    if not user.is_authenticated:
        raise Http404("No such study")
    study = Study.objects.filter(
        slug=slug, memberships__user=user, memberships__role=Membership.Role.ADMIN
    ).first()
    if study is None:
        raise Http404("No such study")
    return study


def studies_for_coordinator(*, user) -> QuerySet[Study]:
    if not user.is_authenticated:
        return Study.objects.none()
    return Study.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.ADMIN
    ).distinct()


@transaction.atomic
def study_create(*, user, **fields) -> Study:
    """A new study whose creator is its admin (coordinator)."""
    study = Study(**fields)
    study.full_clean()
    study.save()
    Membership.objects.create(study=study, user=user, role=Membership.Role.ADMIN)
    return study


# --- The checklist.


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    state: str  # DONE, TODO or BLOCKED (by the previous step)
    counts: str
    url: str = ""
    action: str = ""
    warnings: list[str] = field(default_factory=list)
    note: str = ""
    more: list[tuple[str, str]] = field(default_factory=list)  # other links: (text, url)


def _first_url(*candidates: tuple[str, tuple]) -> str:
    """The first of ``(url name, args)`` that resolves ('' when none does)."""
    for name, args in candidates:
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    return ""


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def split_warnings(*, study: Study, counts: dict | None = None) -> list[str]:
    """One warning per class of the scheme missing from train, validation or test (among
    the classes the study's labelled internal cases have), and per class missing from the
    external partition when there is one."""
    counts = counts or selectors.study_case_counts(study=study)
    labels, rows = counts["labels"], counts["rows"]
    present = {
        label
        for part, row in rows.items()
        if part != Partition.EXTERNAL
        for label, n in zip(labels, row, strict=True)
        if n and label != selectors.UNLABELLED
    }
    warnings = []
    parts = [*SPLIT_PARTITIONS, *([Partition.EXTERNAL] if Partition.EXTERNAL in rows else [])]
    for part in parts:
        row = dict(zip(labels, rows.get(part, [0] * len(labels)), strict=True))
        for code in study.label_codes:
            if code in present and not row.get(code):
                warnings.append(f"class {code} missing from {part}")
    return warnings


def _sites_step(study: Study) -> Step:
    with_cases = Site.objects.filter(patients__study=study).distinct()
    ids = set(with_cases.values_list("id", flat=True))
    if hasattr(study, "study_sites"):  # sites that joined the study (per-site uploads)
        ids |= set(study.study_sites.values_list("site_id", flat=True))
    n_external = Site.objects.filter(id__in=ids, external=True).count()
    url = _first_url(("uploads:sites", (study.slug,)), ("admin:studies_site_changelist", ()))
    return Step(
        "sites", "Sites", DONE if ids else TODO,
        f"{_plural(len(ids), 'site')}, {n_external} external",
        url=url, action="Manage sites",
        note="" if url and not url.startswith("/admin/") else "Sites are managed in the admin "
        "until the per-site pages exist.",
    )


def _cases_step(study: Study, previous: Step) -> tuple[Step, dict]:
    agg = Image.objects.filter(study=study).aggregate(
        n=Count("id"), labelled=Count("id", filter=Q(reference__isnull=False))
    )
    state = DONE if agg["n"] else (BLOCKED if previous.state != DONE else TODO)
    url = _first_url(("uploads:uploads", (study.slug,)), ("uploads:sites", (study.slug,)),
                     ("admin:studies_image_changelist", ()))
    step = Step(
        "cases", "Cases", state, _plural(agg["n"], "case"),
        url=url, action="Upload cases",
        more=[("Browse cases", reverse("setup:cases", args=[study.slug]))] if agg["n"] else [],
    )
    return step, agg


def _labels_step(study: Study, agg: dict, previous: Step) -> Step:
    n, labelled = agg["n"], agg["labelled"]
    if n and labelled == n:
        state = DONE
    else:
        state = BLOCKED if previous.state != DONE else TODO
    return Step(
        "labels", "Labels", state,
        f"{_plural(n, 'case')}, {labelled} labelled, {n - labelled} unlabelled",
        url=reverse("setup:labels", args=[study.slug]), action="Upload labels (CSV)",
    )


def _split_step(study: Study, previous: Step) -> Step:
    counts = selectors.study_case_counts(study=study)
    totals = {part: sum(row) for part, row in counts["rows"].items()}
    split = Split.objects.filter(study=study).first()
    unassigned = totals.get(selectors.UNASSIGNED, 0)
    if split is not None and totals and not unassigned:
        state = DONE
    else:
        state = BLOCKED if previous.state != DONE else TODO
    text = "split: " + " / ".join(f"{part} {n}" for part, n in totals.items()) if totals else (
        "no cases"
    )
    if split is None and totals:
        text = "not split yet"
    return Step(
        "split", "Split", state, text,
        url=reverse("setup:split", args=[study.slug]), action="Split by patient",
        warnings=split_warnings(study=study, counts=counts) if split is not None else [],
    )


def _readers_step(study: Study, previous: Step) -> Step:
    n = study.memberships.filter(role=Membership.Role.READER).count()
    state = DONE if n else (BLOCKED if previous.state != DONE else TODO)
    return Step(
        "readers", "Readers", state, _plural(n, "reader"),
        url=reverse("setup:readers", args=[study.slug]), action="Invite readers",
    )


def _sessions_step(study: Study, previous: Step) -> Step:
    # Reading sessions live in the reading app; counted through their reverse relation.
    sessions = study.sessions.annotate(
        n_items=Count("items", distinct=True),
        n_answered=Count("items", filter=Q(items__reads__isnull=False), distinct=True),
    ).values_list("n_items", "n_answered")
    n = len(sessions)
    n_done = sum(1 for items, answered in sessions if items and answered == items)
    state = DONE if n else (BLOCKED if previous.state != DONE else TODO)
    return Step(
        "sessions", "Sessions", state, f"{_plural(n, 'session')}, {n_done} done",
        url=_first_url(("reading:study-sessions", (study.slug,)),
                       ("reading:progress", (study.slug,))),
        action="Create sessions",
        note="One session per reader and round; also manage.py create_sessions.",
    )


def _model_step(study: Study, previous: Step) -> Step:
    ran = list(
        Image.objects.filter(study=study, predictions__isnull=False)
        .values("predictions__model_version", "predictions__model_version__name")
        .annotate(n=Count("id", distinct=True))
        .order_by("-n")
    )
    state = DONE if ran else (BLOCKED if previous.state != DONE else TODO)
    counts = "; ".join(
        f"model {row['predictions__model_version__name']} ran on {_plural(row['n'], 'case')}"
        for row in ran
    ) or "no model has run"
    return Step(
        "model", "Model", state, counts,
        url=_first_url(("inference:study", (study.slug,))), action="Models and inference",
    )


def _report_step(study: Study, previous: Step) -> Step:
    report = study.reports.filter(status="done").order_by("-created_at").first()
    if report is not None:
        state, counts = DONE, f"report built {report.created_at:%Y-%m-%d %H:%M} UTC"
    else:
        state = BLOCKED if previous.state != DONE else TODO
        counts = "no report built"
    return Step(
        "report", "Report", state, counts,
        url=_first_url(("reports:study", (study.slug,))), action="Study report",
    )


def study_setup_checklist(*, study: Study) -> list[Step]:
    """The eight steps in order; a step not done is "blocked" while the one before it is not
    done either (its link still works: a coordinator may prepare ahead)."""
    sites = _sites_step(study)
    cases, agg = _cases_step(study, sites)
    labels = _labels_step(study, agg, cases)
    split = _split_step(study, labels)
    readers = _readers_step(study, split)
    sessions = _sessions_step(study, readers)
    model = _model_step(study, sessions)
    report = _report_step(study, model)
    return [sites, cases, labels, split, readers, sessions, model, report]


# --- The split from a button.


@dataclass(frozen=True)
class SplitTable:
    labels: list[str]
    rows: list[tuple[str, list[int], int]]  # partition, counts per class, total
    warnings: list[str]


def study_split_table(*, study: Study) -> SplitTable:
    counts = selectors.study_case_counts(study=study)
    rows = [(part, row, sum(row)) for part, row in counts["rows"].items()]
    return SplitTable(counts["labels"], rows, split_warnings(study=study, counts=counts))


def study_split(*, study: Study, seed: int, fractions: dict[str, float], user) -> Split:
    """:func:`studies.services.partitions.study_partition`, never forced from the web: once
    reading has begun it refuses (:class:`~studies.services.partitions.PartitionError`)."""
    return study_partition(study=study, seed=seed, fractions=fractions, user=user)


# --- Inviting a reader in one step.


def reader_profile_model():
    """``readers.ReaderProfile``, named through the app registry: ``studies`` may not import
    the reading app (its arrows run readers → studies), yet a reader's invitation creates the
    profile that app reads (seniority and years of experience)."""
    return apps.get_model("readers", "ReaderProfile")


def seniority_choices() -> list[tuple[str, str]]:
    return list(reader_profile_model()._meta.get_field("seniority").choices)


@dataclass(frozen=True)
class Invitation:
    user: object
    created: bool  # a new account (False: an existing one joined the study)
    set_password_path: str  # '' for an existing account that has a password


@transaction.atomic
def reader_invite(
    *, study: Study, username: str, full_name: str = "", email: str = "",
    seniority: str, years_experience: int,
) -> Invitation:
    """Make ``username`` a reader of ``study``: the account (without a usable password), the
    reader profile and the membership, all or nothing. An existing account joins as a reader
    and keeps its profile; its role in the study, if it has one, is not changed (ValueError).
    The set-password link is Django's password-reset link, valid until it is used or the
    password changes (``PASSWORD_RESET_TIMEOUT``)."""
    Profile = reader_profile_model()
    user, created = invited_account(study=study, username=username, full_name=full_name,
                                    email=email)
    if not Profile.objects.filter(user=user).exists():
        profile = Profile(user=user, seniority=seniority, years_experience=years_experience)
        profile.full_clean()
        profile.save()
    Membership.objects.create(study=study, user=user, role=Membership.Role.READER)
    return Invitation(user=user, created=created, set_password_path=set_password_path(user))


def invited_account(*, study: Study, username: str, full_name: str = "", email: str = ""):
    """The account of someone invited into ``study`` (a reader, a site coordinator): made
    without a usable password when new, locked for the transaction; ``(user, created)``.
    ValueError when the account is already in the study (its role is not changed) or was just
    made by a concurrent invitation. Call inside a transaction."""
    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        first, _, last = full_name.strip().partition(" ")
        user = User(username=username, email=email, first_name=first[:150], last_name=last[:150])
        user.set_unusable_password()
        user.full_clean()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # the same username invited twice at once: one wins
            raise ValueError(f"{username} was just created by another request; submit again "
                             "to add that account to the study") from None
    existing = Membership.objects.filter(study=study, user=user).first()
    if existing is not None:
        raise ValueError(f"{username} is already in this study as {existing.get_role_display()}")
    return user, created


def set_password_path(user) -> str:
    """Django's one-time password-reset link for an account without a usable password ('' for
    one that has a password): valid until used or the password changes."""
    if user.has_usable_password():
        return ""
    return reverse("password_reset_confirm", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    })


def study_readers(*, study: Study) -> list:
    """The study's readers with their profiles (when they have one)."""
    members = list(
        study.memberships.filter(role=Membership.Role.READER).select_related("user")
    )
    Profile = reader_profile_model()
    profiles = {p.user_id: p for p in Profile.objects.filter(user__in=[m.user for m in members])}
    return [(m.user, profiles.get(m.user_id)) for m in members]
