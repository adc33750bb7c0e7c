"""Training and evaluating a classifier on cached arrays (no Django).

:func:`train_classifier` takes exactly two partitions, named ``train=`` and ``validation=``: it
fits on the first and selects the epoch (and stops early) on the second. It has no argument
through which test or external cases could reach it; the caller (the Django side) decides which
patients form each partition. Runs are deterministic for a seed on the CPU with a given number of
threads (seeded initialisation, shuffling, augmentation and dropout; deterministic algorithms on
CUDA; the caller's global RNG state is restored afterwards). The loss is cross-entropy weighted
by inverse class frequency (King & Zeng 2001) so that rare classes count; the optimiser is AdamW
(Loshchilov & Hutter 2019) with a cosine (Loshchilov & Hutter 2017) or step schedule.

:func:`evaluate` gives the metrics of a model on labelled cases with the functions of
:mod:`analysis.metrics.classification` and :mod:`analysis.roc.auc`, so that numbers in a model card
are computed exactly as in the study report.

References
----------
Loshchilov I, Hutter F (2019). Decoupled weight decay regularization. ICLR.
Loshchilov I, Hutter F (2017). SGDR: stochastic gradient descent with warm restarts. ICLR.
King G, Zeng L (2001). Logistic regression in rare events data. Political Analysis 9:137-163.
Prechelt L (1998). Early stopping -- but when? In: Neural Networks: Tricks of the Trade, 55-69.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from inference.engine.networks import DEFAULT_ARCHITECTURE, build_network
from inference.engine.transforms import Augment, Preprocess, describe_preprocessing

__all__ = ["EpochRecord", "TrainResult", "classification_metrics", "evaluate",
           "train_classifier"]

SELECT_ON = ("macro_f1", "macro_auc", "accuracy")
CLASS_WEIGHTING = ("inverse_frequency", "none")
SCHEDULES = ("cosine", "step")


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation loss and metrics, learning rate, duration."""

    epoch: int
    train_loss: float
    validation_loss: float
    metrics: dict[str, Any]
    lr: float
    seconds: float
    best: bool

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch, "train_loss": self.train_loss,
            "validation_loss": self.validation_loss, "lr": self.lr, "seconds": self.seconds,
            "best": self.best,
            **{k: v for k, v in self.metrics.items() if not isinstance(v, (dict, list))},
        }


@dataclass(frozen=True)
class TrainResult:
    """The model with the best validation epoch's weights loaded (``eval()`` mode, on the CPU),
    the per-epoch history and the validation metrics of that epoch."""

    model: nn.Module = field(repr=False)
    history: tuple[EpochRecord, ...] = field(repr=False)
    best_epoch: int
    validation: dict[str, Any] = field(repr=False)
    architecture: str
    input_size: int
    num_classes: int
    select_on: str
    seed: int
    stopped_early: bool
    train_cases: int
    validation_cases: int
    train_class_counts: tuple[int, ...] = ()
    validation_class_counts: tuple[int, ...] = ()

    def model_card(
        self,
        *,
        labels: Sequence[str],
        training_data: dict | None = None,
        synthetic: bool = False,
    ):
        """A :class:`inference.engine.card.ModelCard` for this model: architecture, input size,
        preprocessing, ``labels`` (the codes of class indices 0..K-1, in order), the validation
        metrics of the best epoch and a training summary (``training_data`` adds to it);
        ``weights_sha256`` is filled in by :func:`inference.engine.card.save_model`."""
        from inference.engine.card import ModelCard

        labels = [str(c) for c in labels]
        if len(labels) != self.num_classes:
            raise ValueError(f"labels: {len(labels)} codes {labels} for a model of "
                             f"{self.num_classes} classes")
        summary = {
            "train_cases": self.train_cases,
            "validation_cases": self.validation_cases,
            "train_class_counts": dict(zip(labels, self.train_class_counts, strict=True)),
            "validation_class_counts": dict(zip(labels, self.validation_class_counts,
                                                strict=True)),
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "select_on": self.select_on,
            "seed": self.seed,
            **(training_data or {}),
        }
        metrics = _relabel(self.validation, labels)
        return ModelCard(
            architecture=self.architecture, input_size=self.input_size,
            num_classes=self.num_classes, labels=tuple(labels),
            preprocessing=describe_preprocessing(self.input_size), training_data=summary,
            metrics={"validation": metrics}, synthetic=synthetic,
        )


def _relabel(metrics: dict, labels: list[str]) -> dict:
    out = dict(metrics)
    if "per_class" in out:
        out["per_class"] = {labels[int(k)]: v for k, v in out["per_class"].items()}
    out["labels"] = labels
    return out


# ------------------------------------------------------------------------------------------------
# Metrics


def classification_metrics(y_true, probabilities, labels_order: Sequence) -> dict[str, Any]:
    """Accuracy (Wilson CI), macro precision/recall/F1, one-vs-rest and macro AUC, per-class
    values and the confusion matrix of probabilistic predictions; the predicted class is the
    column of highest probability. JSON-ready: undefined numbers are ``None``.

    Parameters
    ----------
    y_true : array of shape (N,)
        True classes, values from ``labels_order``.
    probabilities : array of shape (N, K)
        Column k is the probability of ``labels_order[k]``.
    labels_order : sequence of K classes
    """
    from analysis.metrics.classification import accuracy, classification_report
    from analysis.roc.multiclass import one_vs_rest_auc

    levels = list(labels_order)
    probs = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_true, dtype=object if isinstance(levels[0], str) else None)
    if probs.ndim != 2 or probs.shape[1] != len(levels):
        raise ValueError(
            f"probabilities: expected shape (N, {len(levels)}) for labels {levels}, got "
            f"{probs.shape}"
        )
    if probs.shape[0] != len(y):
        raise ValueError(f"labels: {len(y)} values for {probs.shape[0]} predictions")
    predicted = np.array(levels, dtype=object)[probs.argmax(axis=1)]
    if not isinstance(levels[0], str):
        predicted = predicted.astype(np.asarray(levels).dtype)
    report = classification_report(y, predicted, labels=levels)
    acc = accuracy(y, predicted, labels=levels)
    try:
        ovr = one_vs_rest_auc(y, probs, labels=levels)
        auc_of = {r.positive[0]: r.result.auc for r in ovr.per_class}
        macro_auc = ovr.macro_auc
    except ValueError:  # a single class in truth: no AUC is defined
        auc_of, macro_auc = {}, float("nan")
    per_class = {
        str(level): {
            "precision": _num(report.precision[i]), "recall": _num(report.recall[i]),
            "f1": _num(report.f1[i]), "support": int(report.support[i]),
            "auc": _num(auc_of.get(level, float("nan"))),
        }
        for i, level in enumerate(levels)
    }
    return {
        "n": int(len(y)),
        "accuracy": acc.accuracy,
        "accuracy_ci": [acc.wilson_ci[0], acc.wilson_ci[1]],
        "macro_precision": _num(report.macro_precision),
        "macro_recall": _num(report.macro_recall),
        "macro_f1": _num(report.macro_f1),
        "macro_auc": _num(macro_auc),
        "per_class": per_class,
        "confusion_matrix": report.confusion.matrix.astype(int).tolist(),
    }


def _num(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def evaluate(
    model: nn.Module,
    arrays,
    labels,
    labels_order: Sequence,
    *,
    input_size: int | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on labelled cases (see :func:`classification_metrics`).

    Parameters
    ----------
    model : torch.nn.Module
        Output column k is ``labels_order[k]``. It is put in ``eval()`` mode on ``device``.
    arrays : sequence of arrays
        Cached arrays (any H × W; give ``input_size`` to preprocess them) or model inputs
        already ((N, 1, S, S) or a sequence of (1, S, S)).
    labels : sequence of N classes, values from ``labels_order``
    labels_order : sequence of K classes
    """
    from inference.engine.predictor import Predictor

    inputs = _stack(arrays, input_size) if input_size is not None else arrays
    probs = Predictor(model, device=device, batch_size=batch_size).predict(inputs)
    return classification_metrics(labels, probs, labels_order)


# ------------------------------------------------------------------------------------------------
# Training


def _stack(arrays, input_size: int) -> torch.Tensor:
    prep = Preprocess(input_size)
    if len(arrays) == 0:
        raise ValueError("arrays: no cases")
    return torch.stack([prep(a) for a in arrays])


def _partition(name: str, part, num_classes: int, input_size: int):
    try:
        arrays, labels = part
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a pair (arrays, labels)") from None
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(arrays):
        raise ValueError(
            f"{name}: {len(arrays)} arrays but labels of shape {y.shape}; expected one class "
            f"index per array"
        )
    if len(y) == 0:
        raise ValueError(f"{name}: no cases")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(
            f"{name}: labels must be class indices 0..{num_classes - 1}, got values "
            f"{sorted(set(y.tolist()))[:10]}"
        )
    return _stack(arrays, input_size), torch.from_numpy(y.astype(np.int64))


def _class_weights(y: torch.Tensor, num_classes: int, scheme: str) -> torch.Tensor:
    counts = torch.bincount(y, minlength=num_classes).double()
    if scheme == "none":
        return torch.ones(num_classes)
    # w_c = N / (K n_c): a balanced set gets weight 1 everywhere; an absent class weighs 0.
    weights = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp_min(1)), 0.0)
    return weights.float()


def _probabilities(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, device, batch_size: int,
                   loss_fn) -> tuple[np.ndarray, float]:
    model.eval()
    parts, total = [], 0.0
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size].to(device)).float()
            total += float(loss_fn(logits, y[start:start + batch_size].to(device))) * len(logits)
            parts.append(torch.softmax(logits, dim=1).cpu().numpy())
    return np.concatenate(parts), total / len(x)


def train_classifier(
    *,
    train: tuple[Sequence, Sequence[int]],
    validation: tuple[Sequence, Sequence[int]],
    num_classes: int,
    architecture: str = DEFAULT_ARCHITECTURE,
    input_size: int = 160,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    class_weighting: str | None = "inverse_frequency",
    select_on: str = "macro_f1",
    patience: int | None = 10,
    schedule: str = "cosine",
    augment: bool | Augment = True,
    device: str | torch.device | None = None,
    progress: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train a registered network on the ``train`` partition, selecting on ``validation``.

    Parameters
    ----------
    train, validation : (arrays, labels), keyword-only
        Cached arrays (float16 in [0, 1], any H × W; preprocessed here with
        :class:`~inference.engine.transforms.Preprocess`) and class indices 0..K-1. These are the
        only cases the function sees.
    num_classes : int
    architecture : str
        A name from :data:`inference.engine.networks.ARCHITECTURES`.
    input_size : int
        Side of the square model input.
    epochs, batch_size, lr, weight_decay : training settings (AdamW).
    seed : int
        Seeds initialisation, shuffling (a ``torch.Generator``), augmentation and dropout.
    class_weighting : {"inverse_frequency", "none"} or None (= "none")
    select_on : {"macro_f1", "macro_auc", "accuracy"}
        Validation metric that picks the best epoch (ties: lower validation loss).
    patience : int or None
        Stop after this many epochs without a better validation metric; None never stops early.
    schedule : {"cosine", "step"}
        Cosine annealing to 1 % of ``lr`` over ``epochs``, or ×0.1 every third of them.
    augment : bool or Augment
        True: :class:`~inference.engine.transforms.Augment` seeded from ``seed``.
    device : optional; default CUDA when available (bf16 autocast there).
    progress : callable, optional
        Called with each :class:`EpochRecord` as the epoch ends.

    Returns
    -------
    TrainResult
    """
    from inference.engine.predictor import resolve_device

    if class_weighting is None:
        class_weighting = "none"
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on: expected one of {list(SELECT_ON)}, got {select_on!r}")
    if class_weighting not in CLASS_WEIGHTING:
        raise ValueError(f"class_weighting: expected one of {list(CLASS_WEIGHTING)}, got "
                         f"{class_weighting!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {list(SCHEDULES)}, got {schedule!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience: expected a positive integer or None, got {patience!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    dev = resolve_device(device)
    x_train, y_train = _partition("train", train, num_classes, input_size)
    x_val, y_val = _partition("validation", validation, num_classes, input_size)
    if len(torch.unique(y_train)) < 2:
        raise ValueError("train: all cases have the same class; nothing to learn")
    if augment is True:
        augment = Augment(seed)
    elif augment is False:
        augment = None

    cuda = dev.type == "cuda"
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[dev.index or 0] if cuda else []):
        torch.manual_seed(seed)
        # CPU kernels of these networks are deterministic for a given thread count; on CUDA
        # ask for deterministic algorithms (cuDNN, atomics), warning where none exists. (The
        # switch is left alone on the CPU: it imports torch's compiler stack, ~3 s.)
        if cuda:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            return _fit(
                x_train, y_train, x_val, y_val, num_classes=num_classes,
                architecture=architecture, input_size=input_size, epochs=epochs,
                batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                class_weighting=class_weighting, select_on=select_on, patience=patience,
                schedule=schedule, augment=augment, device=dev, progress=progress,
            )
        finally:
            if cuda:
                torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _fit(x_train, y_train, x_val, y_val, *, num_classes, architecture, input_size, epochs,
         batch_size, lr, weight_decay, seed, class_weighting, select_on, patience, schedule,
         augment, device, progress) -> TrainResult:
    model = build_network(architecture, num_classes=num_classes).to(device)
    weights = _class_weights(y_train, num_classes, class_weighting).to(device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    val_loss_fn = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs,
                                                               eta_min=lr * 0.01)
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3),
                                                    gamma=0.1)
    generator = torch.Generator().manual_seed(seed)
    amp = device.type == "cuda"
    levels = list(range(num_classes))
    n = len(x_train)
    history: list[EpochRecord] = []
    best_state, best_key, best_epoch, best_metrics = None, None, 0, {}
    since_best = 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator)
        # A last batch of one case would break batch normalisation: fold it into the previous.
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        total, seen = 0.0, 0
        for i, start in enumerate(starts):
            stop = starts[i + 1] if i + 1 < len(starts) else n
            idx = order[start:stop]
            xb = x_train[idx]
            if augment is not None:
                xb = augment(xb)
            xb, yb = xb.to(device, non_blocking=True), y_train[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(xb)
            loss = loss_fn(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        lr_now = optimizer.param_groups[0]["lr"]
        scheduler.step()
        probs, val_loss = _probabilities(model, x_val, y_val, device=device,
                                         batch_size=2 * batch_size, loss_fn=val_loss_fn)
        metrics = classification_metrics(y_val.numpy(), probs, levels)
        score = metrics[select_on]
        key = (-math.inf if score is None else score, -val_loss)
        better = best_key is None or key > best_key
        if better:
            best_key, best_epoch, best_metrics = key, epoch, metrics
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            since_best = 0
        else:
            since_best += 1
        record = EpochRecord(
            epoch=epoch, train_loss=total / max(1, seen), validation_loss=val_loss,
            metrics=metrics, lr=lr_now, seconds=time.perf_counter() - started, best=better,
        )
        history.append(record)
        if progress is not None:
            progress(record)
        if patience is not None and since_best >= patience:
            break
    model = model.cpu()
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        model=copy.deepcopy(model), history=tuple(history), best_epoch=best_epoch,
        validation=best_metrics, architecture=architecture, input_size=input_size,
        num_classes=num_classes, select_on=select_on, seed=seed,
        stopped_early=len(history) < epochs, train_cases=n, validation_cases=len(x_val),
        train_class_counts=tuple(torch.bincount(y_train, minlength=num_classes).tolist()),
        validation_class_counts=tuple(torch.bincount(y_val, minlength=num_classes).tolist()),
    )
