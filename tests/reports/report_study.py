"""A study ready for a report: 40 internal and 12 external cases, each with a cached array as an
import stores it, three readers' unaided reads (each wrong on a third of the cases, a class too
high) and one model version's predictions, with heat maps, on every case. The cast: alice
(researcher), bob, dave and erin (readers of three seniorities), charlie (no access), each with
a password so a browser can log in. Mirrors the fixtures of ``tests/reports/test_report.py``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np

from inference.models import ModelVersion, Prediction
from readers.models import ReaderProfile
from readers.services.reading import read_submit, session_create
from studies.models import Membership, Study
from studies.services.partitions import study_partition
from studies.storage import content_name, media_path
from tests.studies.factories import make_case

LABELS = ["A", "B", "C1", "C2"]
ROWS, COLUMNS = 48, 80  # the cached arrays: not square, as MR often is not
SHA = "7a" * 32
PASSWORDS = {
    "alice": "pw-alice-research-1",
    "bob": "pw-bob-reads-22",
    "charlie": "pw-charlie-outside-3",
    "dave": "pw-dave-reads-44",
    "erin": "pw-erin-reads-55",
}
READERS = (("bob", "chief"), ("dave", "attending"), ("erin", "resident"))
# The heat map, on the model's 32 x 32 input grid: the 48 x 80 image padded to 80 x 80 (16 rows
# above and below) covers rows 6.4..25.6; 1 there, 0 over the padding.
HEAT = np.zeros((32, 32), dtype=np.float16)
HEAT[6:26] = 1.0


@dataclass
class ReportStudy:
    study: Study
    users: dict
    model_version: ModelVersion


def make_cast(*, study, django_user_model) -> dict:
    users = {name: django_user_model.objects.create_user(name, password=password)
             for name, password in PASSWORDS.items()}
    Membership.objects.create(study=study, user=users["alice"], role="researcher")
    for name, seniority in READERS:
        ReaderProfile.objects.create(user=users[name], seniority=seniority, years_experience=9)
        Membership.objects.create(study=study, user=users[name], role="reader")
    return users  # charlie: should have no access


def build(*, study, site, external_site, django_user_model) -> ReportStudy:
    users = make_cast(study=study, django_user_model=django_user_model)
    for n in range(40):
        make_case(study=study, site=site, patient=f"P{n // 2}", side="LR"[n % 2],
                  label=LABELS[n % 4])
    for n in range(12):
        make_case(study=study, site=external_site, patient=f"E{n}", label=LABELS[(n + 1) % 4])
    study_partition(study=study, seed=3)
    for i, (name, _) in enumerate(READERS):
        session = session_create(study=study, reader=users[name], name="R1",
                                 condition="unaided")
        for item in session.items.select_related("image__reference"):
            truth = item.image.reference.label
            wrong = (item.position + i) % 3 == 0
            label = LABELS[min(3, LABELS.index(truth) + 1)] if wrong else truth
            read_submit(item=item, stage="unaided", label=label, confidence=50 + 15 * i,
                        time_ms=2000 + 37 * item.position, request_id=uuid.uuid4())
    yy, xx = np.mgrid[0:ROWS, 0:COLUMNS] / np.array([ROWS, COLUMNS])[:, None, None]
    for k, image in enumerate(study.images.order_by("pk")):
        # A bright disc on a dim ramp, 0..1 float16 like an imported case's array.
        disc = ((yy - 0.5) ** 2 + (xx - 0.3 - 0.01 * (k % 20)) ** 2 < 0.05).astype(float)
        name = content_name(kind="arrays", digest=image.content_hash)
        media_path(name).parent.mkdir(parents=True, exist_ok=True)
        np.save(media_path(name), (0.2 + 0.3 * yy + 0.5 * disc).astype(np.float16))
        image.array_file, image.rows, image.columns = name, ROWS, COLUMNS
        image.save(update_fields=["array_file", "rows", "columns"])
    heatmap = "heatmaps/report-study.npy"
    media_path(heatmap).parent.mkdir(parents=True, exist_ok=True)
    np.save(media_path(heatmap), HEAT)
    version = ModelVersion.objects.create(
        sha256=SHA, name="m", architecture="tiny", input_size=32, labels=LABELS,
        card={"task": "JIC grading"}, weights_file=f"models/{SHA}.pt", format="state_dict")
    rng = np.random.default_rng(5)
    for image in study.images.select_related("reference"):
        logits = rng.normal(size=4)
        logits[LABELS.index(image.reference.label)] += 1.5
        p = np.exp(logits) / np.exp(logits).sum()
        Prediction.objects.create(model_version=version, image=image,
                                  probabilities=[float(x) for x in p],
                                  predicted_label=LABELS[int(np.argmax(p))],
                                  heatmap_file=heatmap)
    return ReportStudy(study=study, users=users, model_version=version)
