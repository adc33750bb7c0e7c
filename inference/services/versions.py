"""Model versions: registering weights and cards (identity: the weights' SHA-256), the shipped
default model, and the per-process cache of loaded models."""

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from inference.engine.card import (
    ModelCard,
    WeightsError,
    check_card_labels,
    load_model,
    weights_sha256,
)
from inference.models import ModelVersion
from inference.services.common import MODELS_DIR, InferenceError, media_path
from studies.models import Study


def model_version_register(
    *,
    weights_path: str | os.PathLike,
    card: ModelCard,
    study: Study | None = None,
    training_study: Study | None = None,
    name: str = "",
    user=None,
) -> tuple[ModelVersion, bool]:
    """Register a weights file and its card as a model version; ``(version, created)``.

    The weights' SHA-256 is the identity: weights already registered return the existing version
    with ``created=False`` and nothing is copied. Otherwise the card's labels are checked against
    ``study`` (when given), the weights are loaded once to prove they fit the card (a corrupt,
    truncated or mismatched file raises :class:`~inference.engine.card.WeightsError`), and the
    file is copied to ``MEDIA_ROOT/models/<sha>.pt``.

    A card without ``weights_sha256`` gets the file's; a card naming another SHA-256 is refused
    (it describes different weights).
    """
    path = Path(weights_path)
    if study is not None:
        check_card_labels(card, study.label_codes)
    sha = weights_sha256(path)
    existing = ModelVersion.objects.filter(sha256=sha).first()
    if existing is not None:
        if model_version_weights_problem(model_version=existing):
            _store_weights(path, media_path(existing.weights_file))  # the original heals it
        return existing, False
    if card.weights_sha256 and card.weights_sha256 != sha:
        raise WeightsError(
            f"weights file {path} has SHA-256 {sha}, but the model card says "
            f"{card.weights_sha256}: the file is not the one the card describes"
        )
    card = dataclasses.replace(card, weights_sha256=sha)
    load_model(path, card, map_location="cpu")  # raises a clear WeightsError if it does not fit
    name_in_media = f"{MODELS_DIR}/{sha}.pt"
    target = media_path(name_in_media)
    if not target.exists():
        _store_weights(path, target)
    label = name or f"{card.architecture}-{card.input_size}px-{sha[:12]}"
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(
                sha256=sha,
                name=label[:200],
                architecture=card.architecture,
                input_size=card.input_size,
                labels=list(card.labels),
                card=card.to_dict(),
                weights_file=name_in_media,
                format=card.format,
                synthetic=card.synthetic,
                training_study=training_study,
                created_by=user,
            )
    except IntegrityError:  # registered concurrently by someone else: same weights, same version
        return ModelVersion.objects.get(sha256=sha), False
    return version, True


def _store_weights(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (a temporary file, then a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".pt", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_version_weights_problem(*, model_version: ModelVersion) -> str | None:
    """What is wrong with the stored weights of ``model_version`` (missing, unreadable, or a
    SHA-256 other than the registered one), or ``None`` when they are the registered ones."""
    path = media_path(model_version.weights_file)
    where = f"the stored weights of model {model_version.short_sha} ({model_version.weights_file})"
    fix = ("import the original weights file again (manage.py import_model) to restore "
           "them; manage.py repair_storage lists every model version affected")
    if not path.is_file():
        return f"{where} are missing; {fix}"
    try:
        actual = weights_sha256(path)
    except WeightsError as exc:
        return f"{where} cannot be read ({exc}); {fix}"
    if actual != model_version.sha256:
        return (f"{where} do not match the registered SHA-256: the file has {actual}, the "
                f"model version is {model_version.sha256}; the file was corrupted or replaced "
                f"after registration; {fix}")
    return None


def model_version_card(*, model_version: ModelVersion) -> ModelCard:
    return ModelCard.from_dict(model_version.card)


# One loaded model per worker process and device, keyed by the weights' SHA-256: a GPU worker
# runs many jobs with the same version and must not re-read and re-check the weights each time.
_PREDICTORS: dict[tuple[str, str], object] = {}


def _predictor_for(model_version: ModelVersion, *, batch_size: int):
    from inference.engine.predictor import Predictor, resolve_device

    # CUDA is touched here, inside the task, never at import: a prefork child initialises it
    # after the fork (a CUDA context does not survive fork()).
    device = resolve_device(settings.READERBENCH_INFERENCE_DEVICE)
    key = (model_version.sha256, str(device))
    predictor = _PREDICTORS.get(key)
    if predictor is None:
        problem = model_version_weights_problem(model_version=model_version)
        if problem:  # before torch reads it: a corrupt file gets this message, not torch's hint
            raise WeightsError(problem)
        card = model_version_card(model_version=model_version)
        model = load_model(media_path(model_version.weights_file), card, map_location=device,
                           verify_sha256=False)  # just checked against the registered SHA-256
        predictor = Predictor(model, device=device, batch_size=batch_size)
        _PREDICTORS.clear()  # keep one model resident: GPU memory is the scarce resource
        _PREDICTORS[key] = predictor
    predictor.batch_size = batch_size
    return predictor


# --- The shipped default model ---------------------------------------------------------------

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"


def shipped_model_files() -> tuple[Path, Path]:
    """(weights, card) of the default model shipped in ``inference/shipped/``."""
    cards = sorted(SHIPPED_DIR.glob("model-*.json"))
    if len(cards) != 1:
        raise InferenceError(
            f"expected exactly one shipped model card (model-*.json) in {SHIPPED_DIR}, "
            f"found {len(cards)}"
        )
    weights = cards[0].with_suffix(".pt")
    if not weights.is_file():
        raise InferenceError(f"the shipped card {cards[0].name} has no weights {weights.name}")
    return weights, cards[0]


def model_version_register_shipped(*, study: Study | None = None, user=None):
    """Register the shipped default model (idempotent); ``(version, created)``."""
    weights, card_path = shipped_model_files()
    card = ModelCard.read(card_path)
    return model_version_register(
        weights_path=weights, card=card, study=study,
        name=f"shipped default ({card.architecture}, SYNTHETIC)", user=user,
    )
