"""Partitioning a study's cases into train / validation / test / external.

Rules (DESIGN.md, "Partition"): the unit is the *patient* — both hips and every image of a
patient land in one partition; internal patients are split 7:1:2 by default, stratified by
class; every case of an external site goes to *external*; the split is reproducible from a seed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from studies import selectors
from studies.models import Image, Partition, Split, Study

DEFAULT_FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}
INTERNAL = (Partition.TRAIN, Partition.VALIDATION, Partition.TEST)


class PartitionError(Exception):
    """The split was refused; the message says why and what to do."""


@dataclass(frozen=True)
class _PatientCases:
    key: tuple[str, str]  # (site code, pseudonym): stable across re-imports, unlike primary keys
    stratum: str
    image_ids: list[int]


def parse_fractions(text: str) -> dict[str, float]:
    """``"0.7,0.1,0.2"`` (train, validation, test) → a validated fractions dict."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise PartitionError(f"fractions {text!r}: expected three numbers train,validation,test")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise PartitionError(f"fractions {text!r}: expected numbers like 0.7,0.1,0.2") from None
    return _check_fractions(dict(zip(DEFAULT_FRACTIONS, values, strict=True)))


def _check_fractions(fractions: dict[str, float]) -> dict[str, float]:
    if set(fractions) != set(DEFAULT_FRACTIONS):
        raise PartitionError(f"fractions need exactly the keys {sorted(DEFAULT_FRACTIONS)}")
    if any(v < 0 for v in fractions.values()):
        raise PartitionError(f"fractions must not be negative: {fractions}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise PartitionError(f"fractions must add up to 1, they add up to {total:g}")
    if fractions["train"] <= 0 or fractions["test"] <= 0:
        raise PartitionError("train and test fractions must be above zero")
    return {k: float(fractions[k]) for k in DEFAULT_FRACTIONS}


def _patients(study: Study, order: list[str]) -> tuple[list[_PatientCases], list[int]]:
    """Internal patients with their stratum, and the ids of all external-site cases."""
    rank = {code: i for i, code in enumerate(order)}
    by_patient: dict[tuple[str, str], list[tuple[int, str | None]]] = defaultdict(list)
    external_ids: list[int] = []
    rows = Image.objects.filter(study=study).values_list(
        "id", "hip__patient__site__code", "hip__patient__pseudonym",
        "hip__patient__site__external", "reference__label",
    )
    for image_id, site_code, pseudonym, external, label in rows:
        if external:
            external_ids.append(image_id)
        else:
            by_patient[(site_code, pseudonym)].append((image_id, label))
    patients = []
    for key in sorted(by_patient):
        cases = by_patient[key]
        labels = [lab for _, lab in cases if lab in rank]
        # A patient with hips of different classes is stratified by the highest class: the
        # rarer severe classes then spread over the partitions instead of clumping by chance.
        stratum = max(labels, key=rank.__getitem__) if labels else "unlabelled"
        patients.append(_PatientCases(key, stratum, sorted(i for i, _ in cases)))
    return patients, sorted(external_ids)


def _allocate(patients: list[_PatientCases], fractions: dict[str, float], rng) -> dict:
    """Within one stratum, give each patient (in seeded random order) to the partition whose
    case count lags its target most, so case proportions follow the fractions."""
    n_cases = sum(len(p.image_ids) for p in patients)
    targets = {part: fractions[part] * n_cases for part in fractions}
    assigned = dict.fromkeys(fractions, 0)
    result: dict[str, list[int]] = {part: [] for part in fractions}
    for i in rng.permutation(len(patients)):
        patient = patients[i]
        # Largest relative deficit; ties go to the earlier partition (train, validation, test).
        part = max(
            (p for p in fractions if fractions[p] > 0),
            key=lambda p: (targets[p] - assigned[p]) / targets[p],
        )
        assigned[part] += len(patient.image_ids)
        result[part].extend(patient.image_ids)
    return result


def study_partition(
    *,
    study: Study,
    seed: int,
    fractions: dict[str, float] | None = None,
    force: bool = False,
    user=None,
) -> Split:
    """Split ``study``'s cases by patient, stratified by class, and record the split.

    Refuses a study that already has reads unless ``force`` is given, because moving a read
    case between partitions changes what was trained on and what was tested.
    """
    fractions = _check_fractions(dict(fractions or DEFAULT_FRACTIONS))
    if not force and selectors.study_has_reads(study=study):
        raise PartitionError(
            f"study {study.slug!r} already has reads: re-splitting would change which cases "
            "were tested; pass force=True (--force) if you really mean it"
        )
    with transaction.atomic():
        # Lock the study row so two concurrent splits do not interleave.
        Study.objects.select_for_update().filter(pk=study.pk).first()
        patients, external_ids = _patients(study, study.label_codes)
        if not patients and not external_ids:
            raise PartitionError(f"study {study.slug!r} has no cases to split")
        rng = np.random.default_rng(seed)
        strata: dict[str, list[_PatientCases]] = defaultdict(list)
        for patient in patients:
            strata[patient.stratum].append(patient)
        assignment: dict[str, list[int]] = {part: [] for part in DEFAULT_FRACTIONS}
        for stratum in sorted(strata):
            for part, ids in _allocate(strata[stratum], fractions, rng).items():
                assignment[part].extend(ids)
        assignment[Partition.EXTERNAL] = external_ids
        for part, ids in assignment.items():
            for start in range(0, len(ids), 900):  # stay under SQLite's parameter limit
                Image.objects.filter(id__in=ids[start : start + 900]).update(partition=part)
        counts = selectors.study_case_counts(study=study)
        return Split.objects.create(
            study=study,
            seed=seed,
            fractions=fractions,
            counts={
                part: dict(zip(counts["labels"], row, strict=True))
                for part, row in counts["rows"].items()
            },
            created_by=user,
        )
