"""Small builders for domain rows in tests (no files behind them: for constraint and split
tests; import tests go through the real importer)."""

from __future__ import annotations

import hashlib
import itertools

from studies.models import Hip, Image, Patient, ReferenceLabel, Site, Study

_counter = itertools.count(1)


def make_case(
    *,
    study: Study,
    site: Site,
    patient: str,
    side: str = "L",
    label: str | None = None,
) -> Image:
    n = next(_counter)
    pat, _ = Patient.objects.get_or_create(study=study, site=site, pseudonym=patient)
    hip, _ = Hip.objects.get_or_create(patient=pat, side=side)
    digest = hashlib.sha256(f"case-{n}".encode()).hexdigest()
    image = Image.objects.create(
        study=study,
        hip=hip,
        content_hash=digest,
        file=f"cases/{digest[:2]}/{digest}.dcm",
        sop_instance_uid=f"2.25.{int(digest[:30], 16)}",
        rows=256,
        columns=256,
        bits_stored=12,
    )
    if label is not None:
        ReferenceLabel.objects.create(image=image, label=label, source="test")
    return image
