"""Reads of the study domain (HackSoft style: selectors read, services write)."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count

from readers.models import Image, Partition, Study

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
    """Whether any reader has read a case of the study (reads arrive with the reading issue)."""
    from django.apps import apps

    try:
        read_model = apps.get_model("readers", "Read")
    except LookupError:
        return False
    return read_model.objects.filter(session__study=study).exists()
