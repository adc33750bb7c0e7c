"""What the inference services share: the refusal error, media paths, chunking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from django.conf import settings

MODELS_DIR = "models"
HEATMAPS_DIR = "heatmaps"

_CHUNK = 900  # ids per IN (...) query: under SQLite's historical 999-parameter limit
TIMING_KEYS = ("load_model", "preprocess", "predict", "heatmaps", "write")


class InferenceError(Exception):
    """A refused request; the message says what was wrong and what to do."""


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name
