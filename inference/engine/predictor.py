"""Batched prediction: class probabilities of preprocessed cases, on CPU or GPU (no Django).

:class:`Predictor` owns a model in ``eval()`` mode on one device and turns model inputs into
softmax probabilities under ``torch.inference_mode()``. On CUDA it uses bf16 autocast, the
channels-last memory layout, pinned host memory with non-blocking copies, and copies each batch's
probabilities back while the next batch runs; it can wrap the model in ``torch.compile``.

Inputs are model inputs already (see :class:`inference.engine.transforms.Preprocess`): a batch
array/tensor (N, C, S, S) or (N, S, S), or any iterable of single cases (C, S, S) or (S, S) --
e.g. a generator that loads cached arrays -- which is stacked into batches here, or an iterable
of ready batches (:meth:`Predictor.predict_batches`, e.g. a ``DataLoader``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

__all__ = ["Predictor", "resolve_device"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` picks CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: cannot use {device!r} ({exc})") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} was asked for, but CUDA is not available here")
    return resolved


class Predictor:
    """Softmax probabilities of a classifier over batches of model inputs.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K). It is moved to ``device`` and put in ``eval()``
        mode (in place, as ``nn.Module.to`` does).
    device : str or torch.device, optional
        Default: CUDA when available, else the CPU.
    batch_size : int
        Cases per forward pass when the input is not already batched.
    amp : bool, optional
        bf16 autocast; default on for CUDA, off on the CPU. Probabilities are computed in
        float32 from the logits either way.
    channels_last : bool, optional
        Channels-last layout for model and inputs; default on for CUDA.
    compile : bool
        Wrap the model in ``torch.compile``; the last, short batch is zero-padded to
        ``batch_size`` so that one compiled graph serves every batch.

    Examples
    --------
    >>> from inference.engine.networks import build_network
    >>> p = Predictor(build_network("tiny", num_classes=3), device="cpu")
    >>> p.predict(np.zeros((5, 1, 32, 32), np.float32)).shape
    (5, 3)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        amp: bool | None = None,
        channels_last: bool | None = None,
        compile: bool = False,  # noqa: A002 - the torch.compile switch, named as in torch
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.device = resolve_device(device)
        cuda = self.device.type == "cuda"
        self.batch_size = batch_size
        self.amp = cuda if amp is None else bool(amp)
        self.channels_last = cuda if channels_last is None else bool(channels_last)
        self.pin_memory = cuda
        model = model.to(self.device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.module = model
        self.compiled = bool(compile)
        # One static graph per batch shape (the last batch is padded to batch_size) rather
        # than a slower dynamic-shape graph after the first recompilation.
        self.model = torch.compile(model, dynamic=False) if compile else model

    # ---------------------------------------------------------------------------------------
    # Public

    def predict(self, inputs) -> np.ndarray:
        """Probabilities (N, K), float32, rows summing to 1, in input order.

        ``inputs``: an array or tensor (N, C, S, S) or (N, S, S), or an iterable of single cases
        (C, S, S) or (S, S) (arrays or tensors), stacked into batches of ``batch_size``.
        """
        parts = list(self.predict_batches(self._batches(inputs)))
        if not parts:
            raise ValueError("inputs: no cases to predict")
        return np.concatenate(parts, axis=0)

    def predict_batches(self, batches: Iterable) -> Iterator[np.ndarray]:
        """Probabilities of each batch in turn, for batches (n, C, S, S) already formed (e.g.
        by a ``DataLoader``; float16 is fine and halves the host-to-device traffic). On CUDA the
        copy back of one batch overlaps the computation of the next."""
        pending: tuple[torch.Tensor, torch.cuda.Event, int] | None = None
        with torch.inference_mode():
            for batch in batches:
                probs, n = self._forward(batch)
                if self.device.type != "cuda":
                    yield probs[:n].numpy()
                    continue
                host = torch.empty(probs.shape, dtype=probs.dtype, pin_memory=True)
                host.copy_(probs, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                if pending is not None:
                    yield _collect(pending)
                pending = (host, event, n)
            if pending is not None:
                yield _collect(pending)

    def probabilities(self, batch) -> torch.Tensor:
        """Probabilities (n, K) of one batch (n, C, S, S), float32, left on the device (no copy
        back, no synchronisation): for timing the model alone, or for callers that keep
        results on the GPU."""
        with torch.inference_mode():
            probs, n = self._forward(batch)
        return probs[:n]

    # ---------------------------------------------------------------------------------------
    # Internals

    def _batches(self, inputs) -> Iterator[torch.Tensor]:
        if isinstance(inputs, (np.ndarray, torch.Tensor)):
            x = _as_tensor(inputs)
            if x.ndim == 3:
                x = x.unsqueeze(1)
            if x.ndim != 4:
                raise ValueError(
                    f"inputs: expected a batch (N, C, S, S) or (N, S, S), got shape "
                    f"{tuple(x.shape)}; pass single cases as a list"
                )
            for start in range(0, x.shape[0], self.batch_size):
                yield x[start:start + self.batch_size]
            return
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
            raise TypeError(
                f"inputs: expected an array, a tensor or an iterable of cases, got "
                f"{type(inputs).__name__}"
            )
        chunk: list[torch.Tensor] = []
        for i, item in enumerate(inputs):
            x = _as_tensor(item)
            if x.ndim == 2:
                x = x.unsqueeze(0)
            if x.ndim != 3:
                raise ValueError(
                    f"inputs[{i}]: expected one case (C, S, S) or (S, S), got shape "
                    f"{tuple(x.shape)}"
                )
            if chunk and x.shape != chunk[0].shape:
                raise ValueError(
                    f"inputs[{i}]: shape {tuple(x.shape)} differs from the batch's "
                    f"{tuple(chunk[0].shape)}; preprocess every case to the model's input size"
                )
            chunk.append(x)
            if len(chunk) == self.batch_size:
                yield torch.stack(chunk)
                chunk = []
        if chunk:
            yield torch.stack(chunk)

    def _forward(self, batch) -> tuple[torch.Tensor, int]:
        x = _as_tensor(batch)
        if x.ndim != 4:
            raise ValueError(f"batch: expected shape (n, C, S, S), got {tuple(x.shape)}")
        n = x.shape[0]
        if self.compiled and n < self.batch_size:
            x = torch.cat([x, x.new_zeros((self.batch_size - n, *x.shape[1:]))])
        if self.device.type == "cuda":
            if self.pin_memory and x.device.type == "cpu" and not x.is_pinned():
                x = x.pin_memory()
            x = x.to(self.device, non_blocking=True)
        x = x.to(torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else nullcontext()
        )
        with autocast:
            logits = self.model(x)
        if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(
                f"model: returned shape {tuple(logits.shape)} for {x.shape[0]} inputs; expected "
                f"logits (N, K)"
            )
        return torch.softmax(logits.float(), dim=1), n


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    a = np.asarray(x)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(a))


def _collect(pending: tuple[torch.Tensor, torch.cuda.Event, int]) -> np.ndarray:
    host, event, n = pending
    event.synchronize()
    return host[:n].numpy()
