"""Builders shared by the inference tests: cases with cached arrays, a registered tiny model,
and Celery forced inline (CI sets REDIS_URL, which would otherwise queue tasks to Redis)."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
import torch

from inference.engine.card import ModelCard, save_model
from inference.engine.networks import build_network
from inference.engine.transforms import describe_preprocessing
from studies.models import Hip, Image, Patient, ReferenceLabel, Study

_counter = itertools.count(1)
JIC = ("A", "B", "C1", "C2")


def make_array_case(*, study: Study, site, patient: str, label: str | None, partition: str,
                    side: str = "L", shape=(48, 40), array: np.ndarray | None = None) -> Image:
    """A case whose cached array (float16 in [0, 1]) is really stored under MEDIA_ROOT."""
    from studies import storage

    n = next(_counter)
    digest = hashlib.sha256(f"inference-case-{n}-{patient}".encode()).hexdigest()
    if array is None:
        array = np.random.default_rng(n).random(shape).astype(np.float16)
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    stored = storage.store_content(kind="arrays", digest=digest, data=buffer.getvalue())
    pat, _ = Patient.objects.get_or_create(study=study, site=site, pseudonym=patient)
    hip, _ = Hip.objects.get_or_create(patient=pat, side=side)
    image = Image.objects.create(
        study=study, hip=hip, content_hash=digest, file=f"cases/{digest[:2]}/{digest}.dcm",
        array_file=stored.name, sop_instance_uid=f"2.25.{int(digest[:30], 16)}",
        rows=array.shape[0], columns=array.shape[1], bits_stored=12, partition=partition,
    )
    if label is not None:
        ReferenceLabel.objects.create(image=image, label=label, source="test")
    return image


def tiny_files(directory, *, labels=JIC, input_size: int = 32, architecture: str = "tiny",
               seed: int = 0, synthetic: bool = True, fmt: str = "state_dict"):
    """Save a freshly initialised network and its card; (weights_path, card_path)."""
    torch.manual_seed(seed)
    model = build_network(architecture, num_classes=len(labels))
    card = ModelCard(
        architecture=architecture, input_size=input_size, num_classes=len(labels),
        labels=tuple(labels), preprocessing=describe_preprocessing(input_size),
        synthetic=synthetic, format=fmt, training_data={"note": "untrained, for tests"},
    )
    return save_model(model, card, directory)


def register_tiny(directory, *, study=None, **kwargs):
    from inference import services

    weights, card = tiny_files(directory, **kwargs)
    version, _ = services.model_version_register(
        weights_path=weights, card=ModelCard.read(card), study=study
    )
    return version


@pytest.fixture
def eager_celery():
    """Run tasks inline in this process, whatever REDIS_URL says."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before


@pytest.fixture
def array_study(study, site, external_site):
    """Nine cases with stored arrays: three train, one validation, three test, two external."""
    cases = {}
    plan = [("train", "p1", "A"), ("train", "p2", "B"), ("train", "p3", "C1"),
            ("validation", "p4", "C2"), ("test", "p5", "A"), ("test", "p6", "C1"),
            ("test", "p7", "C2")]
    for part, patient, label in plan:
        cases.setdefault(part, []).append(
            make_array_case(study=study, site=site, patient=patient, label=label, partition=part)
        )
    for patient, label in (("e1", "B"), ("e2", "C2")):
        cases.setdefault("external", []).append(make_array_case(
            study=study, site=external_site, patient=patient, label=label, partition="external"))
    return study, cases
