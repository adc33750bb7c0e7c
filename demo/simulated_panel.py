"""A SIMULATED reader panel for the demo study: made-up surgeons whose reads are drawn at random.

SIMULATED: no person read these cases. The demo has phantom cases and only two human demo
accounts, so without a panel its report would compare the model with nobody. These readers
exist so that the README's one command shows the whole story (reads, per-reader and seniority
statistics, model vs readers); their usernames start with ``sim-`` and say so on every page.

The behaviour is plausible, not calibrated: a reader's accuracy rises with seniority (per-case
difficulty is shared, so readers agree more than chance beyond their accuracy), a wrong answer
is usually a neighbouring class on the ordered scale, confidence (40-95 on a 0-100 scale) is
higher when right, and time on case is log-normal with a median of 20-60 s. Everything comes
from one ``numpy.random.Generator`` seeded by the caller, so a seed gives the same panel.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction

from readers.models import Read, ReaderProfile, ReadingSession, SessionCase
from readers.services.reading import read_submit, sessions_create_audited
from studies.models import Membership, Study

__all__ = ["AIDED_SESSION_NAME", "PANEL", "SIMULATED_SESSION_NAME", "SimulatedReader",
           "SimulatedReads", "panel_simulate", "panel_simulate_aided", "simulated_panel_create"]

INDETERMINATE_REASONS = ("image quality / artefact", "wrong or missing slice")
SIMULATED_SESSION_NAME = "SIMULATED panel (unaided)"
AIDED_SESSION_NAME = "SIMULATED panel (AI-aided)"
AIDED_OVERRIDE = ("SIMULATED panel: its reads are drawn at random, so there is no memory of "
                  "the unaided round to wash out")
_REQUEST_NS = uuid.UUID("5b1d0c3e-8a7f-4c52-9d2e-2f6a1c9e7b40")  # request ids of simulated reads


@dataclass(frozen=True)
class SimulatedReader:
    """One made-up reader: ``accuracy`` is the proportion correct on a case of average
    difficulty, ``median_seconds`` the median time on case."""

    username: str
    seniority: str
    years_experience: int
    accuracy: float
    median_seconds: float

    @property
    def reliance(self) -> float:
        """Probability of taking the model's call, when it differs from one's own, in an
        AI-aided read: higher for less accurate (junior) readers, 0.19 to 0.43 on the panel."""
        return float(np.clip(1.0 - self.accuracy + 0.05, 0.05, 0.95))


PANEL: tuple[SimulatedReader, ...] = (
    SimulatedReader("sim-chief-1", "chief", 26, 0.86, 22.0),
    SimulatedReader("sim-chief-2", "chief", 19, 0.83, 26.0),
    SimulatedReader("sim-deputy-1", "deputy_chief", 13, 0.77, 32.0),
    SimulatedReader("sim-deputy-2", "deputy_chief", 10, 0.74, 36.0),
    SimulatedReader("sim-attending-1", "attending", 6, 0.66, 45.0),
    SimulatedReader("sim-attending-2", "attending", 4, 0.62, 55.0),
)


@dataclass(frozen=True)
class SimulatedReads:
    """One simulated reader's answers, aligned with the ``truth`` they were drawn for."""

    labels: np.ndarray  # (n_cases,) str
    confidence: np.ndarray  # (n_cases,) int, 40..95
    time_ms: np.ndarray  # (n_cases,) int
    indeterminate: np.ndarray | None = None  # (n_cases,) bool: "cannot grade" (then reason)
    reason: np.ndarray | None = None  # (n_cases,) str, "" where graded


def panel_simulate(truth: Sequence[str], *, labels: Sequence[str], rng: np.random.Generator,
                   panel: Sequence[SimulatedReader] = PANEL) -> dict[str, SimulatedReads]:
    """Draw every panel reader's answers on cases whose true classes are ``truth``.

    Case ``i`` has a difficulty ``d_i ~ N(0, 1)`` shared by all readers; a reader with accuracy
    ``p`` is right with probability ``expit(logit(p) - 0.8 d_i)``. A wrong answer is class ``k``
    with probability proportional to ``exp(-2 (|k - t| - 1))`` over the classes ``k != t``, so
    neighbours of the true class ``t`` on the ordered scale are the usual errors. Confidence is
    ``N(80, 8)`` when right and ``N(58, 9)`` when wrong, rounded and clipped to 40..95; time on
    case is log-normal, ``median_seconds * exp(N(0, 0.45))``, clipped to 4..600 s. A reader
    finds a case not gradable (indeterminate, with one of :data:`INDETERMINATE_REASONS`) with
    probability 1 %, or 6 % on the hardest cases (difficulty above 1.5).

    Parameters
    ----------
    truth : sequence of str, shape (n_cases,)
        True class of each case; each must be in ``labels``.
    labels : sequence of str
        The ordered classes, lowest first (at least two).
    rng : numpy.random.Generator
        The only source of randomness.
    panel : sequence of SimulatedReader

    Returns
    -------
    dict
        ``username -> SimulatedReads`` in panel order.
    """
    labels = [str(x) for x in labels]
    if len(labels) < 2:
        raise ValueError(f"labels: expected at least two ordered classes, got {labels}")
    index = {code: i for i, code in enumerate(labels)}
    unknown = sorted({str(t) for t in truth} - set(index))
    if unknown:
        raise ValueError(f"truth: classes {unknown} are not in labels {labels}")
    t = np.array([index[str(x)] for x in truth], dtype=int)
    k = np.arange(len(labels))
    distance = np.abs(k[None, :] - k[:, None])
    error_weights = np.where(distance > 0, np.exp(-2.0 * (distance - 1)), 0.0)
    error_p = error_weights / error_weights.sum(axis=1, keepdims=True)  # row t: P(answer | t)
    difficulty = rng.normal(0.0, 1.0, size=t.size)
    out: dict[str, SimulatedReads] = {}
    for reader in panel:
        if not 0.0 < reader.accuracy < 1.0:
            raise ValueError(f"accuracy of {reader.username}: got {reader.accuracy}; "
                             "expected a proportion strictly between 0 and 1")
        logit = np.log(reader.accuracy / (1.0 - reader.accuracy)) - 0.8 * difficulty
        right = rng.random(t.size) < 1.0 / (1.0 + np.exp(-logit))
        # Inverse-CDF draw of a wrong class per case from its true class's error row.
        cdf = np.cumsum(error_p[t], axis=1)
        wrong = np.minimum((rng.random(t.size)[:, None] > cdf).sum(axis=1), len(labels) - 1)
        answer = np.where(right, t, wrong)
        confidence = np.where(right, rng.normal(80.0, 8.0, t.size), rng.normal(58.0, 9.0, t.size))
        seconds = reader.median_seconds * np.exp(rng.normal(0.0, 0.45, t.size))
        undecided = rng.random(t.size) < np.where(difficulty > 1.5, 0.06, 0.01)
        why = np.array(INDETERMINATE_REASONS, dtype=object)[
            rng.integers(0, len(INDETERMINATE_REASONS), t.size)]
        out[reader.username] = SimulatedReads(
            labels=np.array(labels, dtype=object)[answer],
            confidence=np.clip(np.rint(confidence), 40, 95).astype(int),
            time_ms=np.rint(np.clip(seconds, 4.0, 600.0) * 1000).astype(int),
            indeterminate=undecided, reason=np.where(undecided, why, ""),
        )
    return out


def panel_simulate_aided(unaided: dict[str, SimulatedReads], truth: Sequence[str],
                         model: Sequence[str], *, labels: Sequence[str],
                         rng: np.random.Generator,
                         panel: Sequence[SimulatedReader] = PANEL) -> dict[str, SimulatedReads]:
    """Draw the panel's AI-aided reads of the same cases, given its ``unaided`` reads and the
    ``model``'s call on each case.

    A reader starts from their unaided answer, redrawn with probability 0.15 (a reader does not
    answer the same case the same way every time: a fresh :func:`panel_simulate` draw). Where
    the model's call differs, they take it with probability ``reader.reliance`` when the model
    is right and a third of that when it is wrong (people catch many, not all, of a model's
    errors: automation bias). Confidence rises by 6 where the answer agrees with the model and
    falls by 4 where it does not; time on case is 0.85 times the unaided draw. A case the
    reader could not grade unaided stays indeterminate (the image is the same).
    """
    labels = [str(x) for x in labels]
    truth = np.array([str(x) for x in truth], dtype=object)
    model = np.array([str(x) for x in model], dtype=object)
    if model.shape != truth.shape:
        raise ValueError(f"model: got {model.size} calls for {truth.size} cases")
    unknown = sorted(set(model) - set(labels))
    if unknown:
        raise ValueError(f"model: classes {unknown} are not in labels {labels}")
    fresh = panel_simulate(list(truth), labels=labels, rng=rng, panel=panel)
    model_right = model == truth
    out: dict[str, SimulatedReads] = {}
    for reader in panel:
        base, again = unaided[reader.username], fresh[reader.username]
        answer = np.where(rng.random(truth.size) < 0.15, again.labels, base.labels)
        take = rng.random(truth.size) < np.where(model_right, reader.reliance,
                                                 reader.reliance / 3.0)
        answer = np.where((answer != model) & take, model, answer).astype(object)
        confidence = base.confidence + np.where(answer == model, 6, -4)
        out[reader.username] = SimulatedReads(
            labels=answer, confidence=np.clip(confidence, 40, 95).astype(int),
            time_ms=np.rint(base.time_ms * 0.85).astype(int),
            indeterminate=base.indeterminate, reason=base.reason)
    return out


def simulated_panel_create(*, study: Study, seed: int, by=None,
                           panel: Sequence[SimulatedReader] = PANEL,
                           model_version=None) -> int:
    """Add the SIMULATED ``panel`` to ``study``: accounts without a usable password, reader
    profiles and memberships, one unaided session each on the reading cases, and a read on every
    session case that has a reference label. With ``model_version`` (which must have predicted
    every reading case), also a second, AI-aided session each showing that model, read by
    :func:`panel_simulate_aided` (its washout overridden with a recorded reason: simulated
    readers remember nothing). Reads go through :func:`read_submit` with request ids derived
    from the session and case, so a second call adds nothing. Returns the number of reads
    created."""
    user_model = get_user_model()
    with transaction.atomic():
        readers = []
        for r in panel:
            user, created = user_model.objects.get_or_create(
                username=r.username, defaults={"first_name": "SIMULATED", "last_name": "reader"})
            if created:
                user.set_unusable_password()  # nobody logs in as a simulated reader
                user.save(update_fields=["password"])
            ReaderProfile.objects.update_or_create(
                user=user, defaults={"seniority": r.seniority,
                                     "years_experience": r.years_experience})
            Membership.objects.get_or_create(study=study, user=user,
                                             defaults={"role": Membership.Role.READER})
            readers.append(user)
        _sessions_for(study, readers, SIMULATED_SESSION_NAME, ReadingSession.Condition.UNAIDED,
                      by=by, seed=seed)
        if model_version is not None:
            _sessions_for(study, readers, AIDED_SESSION_NAME, ReadingSession.Condition.AI_AIDED,
                          by=by, seed=seed + 1, override_reason=AIDED_OVERRIDE,
                          model_version=model_version, round=2)
    items = list(SessionCase.objects.filter(
        session__study=study, session__name=SIMULATED_SESSION_NAME,
        session__reader__in=readers, image__reference__isnull=False,
    ).select_related("session", "session__reader", "image__reference").order_by("image_id"))
    image_ids = sorted({it.image_id for it in items})
    truth = {it.image_id: it.image.reference.label for it in items}
    # Draw on every case in case-id order, so a reader's answers do not depend on what is
    # already stored (a resumed run draws the same answers for the cases still unread).
    rng = np.random.default_rng(seed)
    draws = panel_simulate([truth[i] for i in image_ids], labels=study.label_codes, rng=rng,
                           panel=panel)
    created = _submit(study, items, draws, image_ids, stage=Read.Stage.UNAIDED)
    if model_version is None:
        return created
    from inference.models import Prediction

    calls = dict(Prediction.objects.filter(model_version=model_version, image_id__in=image_ids)
                 .values_list("image_id", "predicted_label"))
    aided = panel_simulate_aided(draws, [truth[i] for i in image_ids],
                                 [calls[i] for i in image_ids], labels=study.label_codes,
                                 rng=rng, panel=panel)
    aided_items = list(SessionCase.objects.filter(
        session__study=study, session__name=AIDED_SESSION_NAME, session__reader__in=readers,
        image_id__in=image_ids,
    ).select_related("session", "session__reader").order_by("image_id"))
    return created + _submit(study, aided_items, aided, image_ids, stage=Read.Stage.AIDED)


def _sessions_for(study, readers, name, condition, *, by, seed, override_reason="",
                  model_version=None, round=1) -> None:  # noqa: A002
    new = [u for u in readers
           if not ReadingSession.objects.filter(study=study, reader=u, name=name).exists()]
    if new:
        sessions_create_audited(study=study, readers=new, name=name, condition=condition, by=by,
                                base_seed=seed, override_reason=override_reason,
                                model_version=model_version, round=round)


def _submit(study, items, draws, image_ids, *, stage) -> int:
    column = {image_id: j for j, image_id in enumerate(image_ids)}
    scale = study.confidence_max / 100.0
    read_items = set(Read.objects.filter(item__in=items).values_list("item_id", flat=True))
    created = 0
    with transaction.atomic():
        for it in items:
            if it.pk in read_items:
                continue
            sim, j = draws[it.session.reader.get_username()], column[it.image_id]
            request_id = uuid.uuid5(_REQUEST_NS, f"{it.session.token}:{it.pk}")
            if sim.indeterminate is not None and sim.indeterminate[j]:
                result = read_submit(
                    item=it, stage=stage, indeterminate=True, time_ms=int(sim.time_ms[j]),
                    request_id=request_id, comment=f"{sim.reason[j]} (SIMULATED read)",
                )
            else:
                result = read_submit(
                    item=it, stage=stage, label=str(sim.labels[j]),
                    confidence=int(round(sim.confidence[j] * scale)),
                    time_ms=int(sim.time_ms[j]), request_id=request_id,
                    comment="SIMULATED read",
                )
            created += result.created
    return created
