"""Model cards and weights files: what a model version is, and loading it safely (no Django).

A model version is its weights file plus a small JSON card: architecture (a registry name of
:mod:`inference.engine.networks`, or a free description for TorchScript), input size,
preprocessing, the ordered label scheme, a training-data summary, metrics, the SHA-256 of the
weights (the version's identity), creation time, framework versions, the file format
(``"state_dict"`` saved by ``torch.save``, or ``"torchscript"``) and whether it was trained on
synthetic data. Loading checks the weights against the card -- checksum, architecture, number of
classes -- and says precisely what does not match.

References
----------
Mitchell M et al. (2019). Model cards for model reporting. FAT* '19, 220-229.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import platform
import re
import tempfile
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from inference.engine.networks import ARCHITECTURES, build_network

__all__ = [
    "CARD_VERSION",
    "FORMATS",
    "ModelCard",
    "ModelCardError",
    "ModelError",
    "WeightsError",
    "check_card_labels",
    "framework_versions",
    "load_model",
    "save_model",
    "weights_sha256",
]

CARD_VERSION = 1
FORMATS = ("state_dict", "torchscript")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelError(ValueError):
    """A model card or weights file that cannot be used; the message says why."""


class ModelCardError(ModelError):
    """The card itself is malformed, or does not fit the study."""


class WeightsError(ModelError):
    """The weights file cannot be read, or does not match its card."""


def framework_versions() -> dict[str, str]:
    """Versions of Python, torch and MONAI (when installed) in this process (MONAI's from its
    package metadata, so that writing a card does not import it)."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        versions["monai"] = metadata.version("monai")
    except metadata.PackageNotFoundError:  # pragma: no cover - a bare host may lack MONAI
        pass
    return versions


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class ModelCard:
    """What a weights file is: enough to rebuild, feed and judge the model.

    ``weights_sha256`` is empty until the weights are saved (:func:`save_model` fills it); a card
    used to load weights must have it. ``metrics`` and ``training_data`` are JSON objects
    (numbers, strings, lists, nested objects; ``None`` for an undefined number).
    """

    architecture: str
    input_size: int
    num_classes: int
    labels: tuple[str, ...]
    preprocessing: str
    training_data: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    created: str = field(default_factory=_now)
    framework: Mapping[str, str] = field(default_factory=framework_versions)
    format: str = "state_dict"
    synthetic: bool = False
    in_channels: int = 1
    card_version: int = CARD_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels) if _is_seq(self.labels)
                           else self.labels)
        _validate(self)

    # -- JSON ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["labels"] = list(self.labels)
        out["training_data"] = dict(self.training_data)
        out["metrics"] = dict(self.metrics)
        out["framework"] = dict(self.framework)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        if not isinstance(data, Mapping):
            raise ModelCardError(
                f"model card: expected a JSON object, got {type(data).__name__}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        unknown = sorted(set(data) - names)
        missing = sorted(required - set(data))
        if unknown:
            raise ModelCardError(
                f"model card: unknown field(s) {unknown}; expected fields from {sorted(names)}"
            )
        if missing:
            raise ModelCardError(f"model card: missing required field(s) {missing}")
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelCard:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelCardError(f"model card: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    @classmethod
    def read(cls, path: str | os.PathLike) -> ModelCard:
        """The card stored in the JSON file ``path``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelCardError(f"cannot read model card {path}: {exc}") from None
        return cls.from_json(text)

    def summary(self) -> str:
        rows = [
            ("architecture", self.architecture),
            ("format", self.format),
            ("input", f"{self.in_channels} x {self.input_size} x {self.input_size}"),
            ("labels", ", ".join(self.labels)),
            ("weights SHA-256", self.weights_sha256 or "(not saved yet)"),
            ("created", self.created),
            ("synthetic data", "yes" if self.synthetic else "no"),
        ]
        rows += [(f"metric {k}", _fmt_metric(v)) for k, v in sorted(self.metrics.items())]
        return "\n".join(["Model card"] + [f"  {k:<20}{v}" for k, v in rows])


def _fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return json.dumps(value)


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelCardError(
            f"model card: {name} must be an integer from {low} to {high}, got {value!r}"
        )


def _check_json(name: str, value: Any, path: str = "") -> None:
    where = f"{name}{path}"
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ModelCardError(
                f"model card: {where} is {value!r}; use null for an undefined number"
            )
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ModelCardError(f"model card: {where} has a non-string key {k!r}")
            _check_json(name, v, f"{path}.{k}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(name, v, f"{path}[{i}]")
        return
    raise ModelCardError(
        f"model card: {where} holds a {type(value).__name__}; expected JSON values "
        f"(numbers, strings, lists, objects)"
    )


def _validate(card: ModelCard) -> None:
    if not isinstance(card.format, str) or card.format not in FORMATS:
        raise ModelCardError(f"model card: format must be one of {list(FORMATS)}, "
                             f"got {card.format!r}")
    if not isinstance(card.architecture, str) or not card.architecture.strip():
        raise ModelCardError(
            f"model card: architecture must be a non-empty string, got {card.architecture!r}"
        )
    if card.format == "state_dict" and card.architecture not in ARCHITECTURES:
        raise ModelCardError(
            f"model card: architecture {card.architecture!r} is not a known network, so a state "
            f"dict cannot be rebuilt; expected one of {list(ARCHITECTURES)} (or format "
            f"'torchscript')"
        )
    _check_int("input_size", card.input_size, 8, 4096)
    _check_int("num_classes", card.num_classes, 2, 1000)
    _check_int("in_channels", card.in_channels, 1, 64)
    _check_int("card_version", card.card_version, 1, CARD_VERSION)
    labels = card.labels
    if not isinstance(labels, tuple) or not all(
        isinstance(c, str) and c.strip() for c in labels
    ):
        raise ModelCardError(
            f"model card: labels must be a list of non-empty strings (the ordered class codes), "
            f"got {labels!r}"
        )
    if len(set(labels)) != len(labels):
        raise ModelCardError(f"model card: labels has duplicates: {list(labels)}")
    if len(labels) != card.num_classes:
        raise ModelCardError(
            f"model card: labels has {len(labels)} classes {list(labels)} but num_classes is "
            f"{card.num_classes}"
        )
    if not isinstance(card.preprocessing, str) or not card.preprocessing.strip():
        raise ModelCardError("model card: preprocessing must describe the input pipeline "
                             f"(a non-empty string), got {card.preprocessing!r}")
    if not isinstance(card.weights_sha256, str) or (
        card.weights_sha256 and not _SHA256.match(card.weights_sha256)
    ):
        raise ModelCardError(
            f"model card: weights_sha256 must be 64 lower-case hexadecimal digits (or empty "
            f"before saving), got {card.weights_sha256!r}"
        )
    try:
        datetime.fromisoformat(card.created)
    except (TypeError, ValueError):
        raise ModelCardError(
            f"model card: created must be an ISO 8601 date-time, got {card.created!r}"
        ) from None
    if not isinstance(card.synthetic, bool):
        raise ModelCardError(f"model card: synthetic must be true or false, "
                             f"got {card.synthetic!r}")
    for name in ("training_data", "metrics", "framework"):
        value = getattr(card, name)
        if not isinstance(value, Mapping):
            raise ModelCardError(f"model card: {name} must be a JSON object, "
                                 f"got {type(value).__name__}")
        _check_json(name, value)


def check_card_labels(card: ModelCard, study_labels: Sequence[str]) -> None:
    """Refuse a model whose ordered label scheme differs from the study's.

    The model's output column c means ``card.labels[c]``; a different order (or set) would
    silently relabel its predictions, so the codes must match exactly, in order.
    """
    theirs = [str(c) for c in study_labels]
    if list(card.labels) != theirs:
        hint = ""
        if sorted(card.labels) == sorted(theirs):
            hint = " (same classes in a different order: the output columns would be mislabelled)"
        raise ModelCardError(
            f"model card labels {list(card.labels)} do not match the study's {theirs}{hint}"
        )


def weights_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    return digest.hexdigest()


def save_model(
    model: nn.Module, card: ModelCard, directory: str | os.PathLike
) -> tuple[Path, Path]:
    """Write the weights and the card (with the weights' SHA-256 filled in) into ``directory``.

    ``card.format == "state_dict"``: ``torch.save(model.state_dict())`` (tensors moved to the
    CPU); ``"torchscript"``: ``torch.jit.save`` of the model, scripted if it is not already a
    ScriptModule. Files are named ``model-<first 12 hex digits>.pt`` / ``.json`` and written
    atomically (temporary file, then rename), so a crash never leaves a half-written version.
    The same weights give the same bytes, hence the same SHA-256 and file names.

    Returns
    -------
    (weights_path, card_path)
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".weights-", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if card.format == "state_dict":
            module = getattr(model, "_orig_mod", model)  # a torch.compile'd model
            state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
            # Through a buffer: torch.save names the archive's top folder after the file, and
            # the same weights must give the same bytes (the SHA-256 is the version's identity).
            buffer = io.BytesIO()
            torch.save(state, buffer)
            tmp.write_bytes(buffer.getvalue())
        else:
            scripted = model if isinstance(model, torch.jit.ScriptModule) else torch.jit.script(
                model.cpu().eval()
            )
            buffer = io.BytesIO()
            torch.jit.save(scripted, buffer)
            tmp.write_bytes(buffer.getvalue())
        sha = weights_sha256(tmp)
        weights_path = directory / f"model-{sha[:12]}.pt"
        os.replace(tmp, weights_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    final = dataclasses.replace(card, weights_sha256=sha)
    card_path = directory / f"model-{sha[:12]}.json"
    tmp_card = card_path.with_suffix(".json.tmp")
    tmp_card.write_text(final.to_json(), encoding="utf-8")
    os.replace(tmp_card, card_path)
    return weights_path, card_path


def load_model(
    weights_path: str | os.PathLike,
    card: ModelCard,
    *,
    map_location: str | torch.device = "cpu",
    verify_sha256: bool = True,
) -> nn.Module:
    """The model of ``card`` with the weights in ``weights_path``, in ``eval()`` mode.

    State dicts are read with ``torch.load(weights_only=True)`` (no code from the file runs)
    into a freshly built network of the card's architecture; TorchScript files with
    ``torch.jit.load``. Then one dummy forward pass checks that the model takes
    ``in_channels × input_size × input_size`` and returns ``num_classes`` logits.

    Raises
    ------
    WeightsError
        The file is missing, corrupt or truncated ("cannot read weights file ..."), its SHA-256
        differs from the card's, or its tensors do not fit the card's architecture/classes.
    ModelCardError
        The card has no ``weights_sha256`` while ``verify_sha256`` is on.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise WeightsError(f"cannot read weights file {path}: no such file")
    if card.format == "torchscript":
        try:
            with _quiet_jit():
                model = torch.jit.load(str(path), map_location=map_location)
        except Exception as exc:  # noqa: BLE001 - any parse failure means an unusable file
            raise WeightsError(f"cannot read weights file {path}: {_reason(exc)}") from None
    else:
        if _is_torchscript_archive(path):
            raise WeightsError(
                f"cannot read weights file {path}: it is a TorchScript archive, not a state "
                f"dict; a TorchScript file needs format 'torchscript' on its card"
            )
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(f"cannot read weights file {path}: {_reason(exc)}") from None
        if not isinstance(state, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise WeightsError(
                f"cannot read weights file {path}: expected a state dict (a mapping of tensor "
                f"names to tensors, as torch.save(model.state_dict()) writes), got "
                f"{type(state).__name__}; a TorchScript file needs format 'torchscript' on its "
                f"card"
            )
        model = build_network(card.architecture, num_classes=card.num_classes,
                              in_channels=card.in_channels)
        _check_state_fits(model, state, path, card)
        model.load_state_dict(state, strict=True)
        model = model.to(map_location)
    if verify_sha256:
        if not card.weights_sha256:
            raise ModelCardError(
                "model card: weights_sha256 is empty; a card must name the SHA-256 of its "
                "weights (pass verify_sha256=False only for weights you trust)"
            )
        actual = weights_sha256(path)
        if actual != card.weights_sha256:
            raise WeightsError(
                f"weights file {path} has SHA-256 {actual}, but the model card says "
                f"{card.weights_sha256}: the file is not the one the card describes"
            )
    model.eval()
    _check_forward(model, card, path, map_location)
    return model


@contextmanager
def _quiet_jit():
    """TorchScript is deprecated in recent torch but remains the documented way to import an
    outside model (DESIGN.md); keep its deprecation warnings out of every load and save."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
        yield


def _is_torchscript_archive(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'unreadable'}"


def _check_state_fits(model: nn.Module, state: Mapping, path: Path, card: ModelCard) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, network {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return
    problems = []
    if shapes:
        problems.append(f"shape mismatch in {len(shapes)} tensor(s): " + "; ".join(shapes[:3]))
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing, e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
    raise WeightsError(
        f"weights file {path} does not fit the model card (architecture "
        f"{card.architecture!r}, num_classes {card.num_classes}, in_channels "
        f"{card.in_channels}): " + "; ".join(problems)
    )


def _check_forward(model: nn.Module, card: ModelCard, path: Path, device) -> None:
    x = torch.zeros(1, card.in_channels, card.input_size, card.input_size, device=device)
    try:
        with torch.inference_mode():
            out = model(x)
    except Exception as exc:  # noqa: BLE001 - report what the card's input does to the model
        raise WeightsError(
            f"weights file {path}: the model fails on the card's input "
            f"(1, {card.in_channels}, {card.input_size}, {card.input_size}): {_reason(exc)}"
        ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, card.num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise WeightsError(
            f"weights file {path}: the model returns {shape} for one input, but the model card "
            f"says num_classes {card.num_classes} (expected (1, {card.num_classes}))"
        )
