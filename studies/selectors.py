"""Reads of the study domain (HackSoft style: selectors read, services write): case counts per
class and partition, whether reading has begun, and the case columns of the long table."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count

from studies.models import Image, Partition, Study

UNASSIGNED = "unassigned"
UNLABELLED = "unlabelled"


def study_case_counts(*, study: Study) -> dict:
    """Cases per partition (rows) and reference class (columns), in the study's class order.

    Returns ``{"labels": [...classes, "unlabelled"], "rows": {partition: [counts...]}}`` with the
    partitions in their natural order and "unassigned" last; empty partitions are left out.
    """
    labels = [*study.label_codes, UNLABELLED]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(labels, 0))
    grouped = (
        Image.objects.filter(study=study)
        .values("partition", "reference__label")
        .annotate(n=Count("id"))
    )
    for row in grouped:
        part = row["partition"] or UNASSIGNED
        label = row["reference__label"] or UNLABELLED
        if label not in counts[part]:  # a label outside the scheme: show it, don't hide it
            for other in counts.values():
                other.setdefault(label, 0)
            labels.append(label)
            counts[part].setdefault(label, 0)
        counts[part][label] += row["n"]
    order = [*Partition.values, UNASSIGNED]
    rows = {
        part: [counts[part].get(label, 0) for label in labels]
        for part in order
        if part in counts
    }
    return {"labels": labels, "rows": rows}


def study_has_reads(*, study: Study) -> bool:
    """Whether any reader has submitted a read on a case of the study.

    Asked through the reverse relation of the reading app's session cases, so that the study
    domain needs no import of reading (the arrows run readers -> studies)."""
    return Image.objects.filter(study=study, session_items__reads__isnull=False).exists()


def long_table_case_fields(*, study: Study, image: Image) -> dict:
    """The columns of a long-table row that describe the case, the same for every reader and
    model: study, case id, patient pseudonym, hip, site, partition and truth ("" when
    unlabelled). Needs ``image.hip.patient.site`` and ``image.reference`` (select_related)."""
    patient = image.hip.patient
    reference = getattr(image, "reference", None)
    return {
        "study": study.slug,
        "case": str(image.pk),
        "patient": patient.pseudonym,
        "hip": f"{patient.pseudonym}-{image.hip.side}",
        "site": patient.site.code,
        "partition": image.partition,
        "truth": reference.label if reference else "",
    }
