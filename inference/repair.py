"""The inference part of ``manage.py repair_storage`` (found by ``autodiscover_modules("repair")``):
every registered model version's stored weights are checked against its SHA-256 (issue 15 R6).

A file that is missing, unreadable or not the registered weights cannot be rebuilt from the
database; with ``fix`` it is restored from the one copy the installation holds itself, the
shipped default model, when that is the version's file. Any other is reported with the way to
restore it: import the original weights file again (``manage.py import_model``), which
rewrites the stored copy when the file's SHA-256 is the version's.
"""

from __future__ import annotations

from collections.abc import Callable

from inference.engine.card import WeightsError, weights_sha256
from inference.models import ModelVersion
from inference.services import media_path, shipped_model_files
from inference.services.versions import _store_weights, model_version_weights_problem


def _shipped_copy(sha256: str):
    """The shipped weights file when its SHA-256 is ``sha256``, else ``None``."""
    try:
        weights, _ = shipped_model_files()
        return weights if weights_sha256(weights) == sha256 else None
    except Exception:  # noqa: BLE001 - no usable shipped model: nothing to restore from
        return None


def repair(*, fix: bool, log: Callable[[str], None]) -> dict:
    """Verify every model version's weights; with ``fix``, restore the shipped one.

    Returns counts: ``weights_checked``, ``weights_bad`` (found missing, unreadable or
    mismatched) and ``weights_restored`` (of those, put right by this call)."""
    checked = bad = restored = 0
    for version in ModelVersion.objects.order_by("id").iterator():
        checked += 1
        problem = model_version_weights_problem(model_version=version)
        if problem is None:
            continue
        bad += 1
        source = _shipped_copy(version.sha256) if fix else None
        if source is not None:
            try:
                _store_weights(source, media_path(version.weights_file))
            except (OSError, WeightsError) as exc:
                log(f"model {version.short_sha}: {problem}; restoring from {source} failed: "
                    f"{exc}")
                continue
            if model_version_weights_problem(model_version=version) is None:
                restored += 1
                log(f"model {version.short_sha}: restored its weights from {source}")
                continue
        log(f"model {version.short_sha}: {problem}")
    return {"weights_checked": checked, "weights_bad": bad, "weights_restored": restored}
