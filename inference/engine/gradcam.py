"""Grad-CAM heat maps and how well they localise a lesion (no Django).

:func:`grad_cam` weighs the activations of a network's last convolutional stage (the layer named
in :mod:`inference.engine.networks`) by the spatially averaged gradients of the predicted class's
logit, keeps the positive part, upsamples to the input size and scales each map to [0, 1] by its
maximum (zero stays "no evidence"; an all-zero map stays zero). It uses
``monai.visualize.GradCAM`` with a per-case class score and without MONAI's default
post-processing, which maps (min, max) to (1, 0), i.e. inverts the map.

:func:`localisation_metrics` scores heat maps against lesion masks: the pointing game (is the
hottest pixel inside the lesion?) and the share of the heat that falls inside the lesion.

References
----------
Selvaraju RR, Cogswell M, Das A, Vedantam R, Parikh D, Batra D (2017). Grad-CAM: visual
explanations from deep networks via gradient-based localization. ICCV 618-626.
Zhang J, Bargal SA, Lin Z, Brandt J, Shen X, Sclaroff S (2018). Top-down neural attention by
excitation backprop. IJCV 126:1084-1102 (the pointing game).
Wang H et al. (2020). Score-CAM: score-weighted visual explanations for convolutional neural
networks. CVPR Workshops 24-25 (energy-based pointing game: share of the map inside the box).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from inference.engine.transforms import ResizeToInput

__all__ = ["LocalisationResult", "grad_cam", "heat_inside", "heat_to_native",
           "localisation_metrics", "pointing_game"]


def _hooks_class():
    from monai.visualize.class_activation_maps import ModelWithHooks

    class PerCaseHooks(ModelWithHooks):
        # MONAI indexes logits[:, class_idx], which for a vector of classes mixes the cases of a
        # batch (an N x N block); gather each case's own class instead.
        def class_score(self, logits, class_idx):
            idx = torch.as_tensor(class_idx, device=logits.device).long().reshape(-1)
            if idx.numel() == 1:
                idx = idx.expand(logits.shape[0])
            return logits.gather(1, idx.view(-1, 1)).squeeze(1)

    return PerCaseHooks


def grad_cam(
    model: nn.Module,
    images,
    *,
    layer: str,
    class_index: int | np.ndarray | None = None,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps of a batch of model inputs.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (not a TorchScript module: Grad-CAM needs module hooks). It is copied,
        so the caller's model gets no hooks and keeps its mode and device.
    images : array or tensor, shape (N, C, S, S) or (N, S, S)
        Model inputs (see :class:`inference.engine.transforms.Preprocess`).
    layer : str, keyword-only
        Name of the target layer in ``model.named_modules()``; for a registered architecture
        :func:`inference.engine.networks.gradcam_layer` gives it.
    class_index : int or array of N ints, optional
        Class whose evidence to show; default the predicted class of each case.
    batch_size : int
    device : str or torch.device, optional
        Default CUDA when available.

    Returns
    -------
    heat : ndarray of float32, shape (N, S, S)
        In [0, 1], each map divided by its maximum.
    classes : ndarray of int64, shape (N,)
        The class each map explains.
    """
    from monai.visualize import GradCAM

    from inference.engine.predictor import resolve_device

    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError("model: Grad-CAM needs module hooks, which a TorchScript model lacks; "
                        "import the model as a state dict of a registered architecture")
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(f"images: expected (N, C, S, S) or (N, S, S), got {tuple(x.shape)}")
    dev = resolve_device(device)
    net = copy.deepcopy(model).to(dev).eval()
    if layer not in dict(net.named_modules()):
        raise ValueError(f"layer: {layer!r} is not a module of the model")
    for p in net.parameters():
        p.requires_grad_(True)
    n = x.shape[0]
    if class_index is not None:
        classes = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,)).copy()
    cam = GradCAM(nn_module=_hooks_class()(net, layer, register_forward=True,
                                           register_backward=True),
                  target_layers=layer, postprocessing=lambda m: m)
    heat, chosen = [], []
    with torch.inference_mode(False), torch.enable_grad():
        for start in range(0, n, batch_size):
            xb = x[start:start + batch_size].to(dev, torch.float32).clone().requires_grad_(True)
            if class_index is None:
                with torch.no_grad():
                    cb = net(xb).argmax(dim=1)
            else:
                cb = torch.from_numpy(classes[start:start + batch_size]).to(dev)
            maps = cam(xb, class_idx=cb)[:, 0].detach().float()
            peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            heat.append((maps / peak).clamp_(0.0, 1.0).cpu().numpy())
            chosen.append(cb.cpu().numpy())
    return np.concatenate(heat).astype(np.float32), np.concatenate(chosen).astype(np.int64)


def heat_to_native(heat, shape: tuple[int, int], *, square: str = "pad") -> np.ndarray:
    """A heat map (S, S) on the model-input grid brought back onto the native image (H, W), for
    an overlay in the viewer: the inverse of pad (or crop) to square and resize (bilinear).
    With ``square="crop"`` the cropped-away margins get 0."""
    from torch.nn import functional as F  # noqa: N812

    h, w = (int(v) for v in shape)
    m = torch.as_tensor(np.asarray(heat, dtype=np.float32))
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"heat: expected one square map (S, S), got shape {tuple(m.shape)}")
    if h < 1 or w < 1:
        raise ValueError(f"shape: expected a positive (rows, columns), got {shape!r}")
    side = max(h, w) if square == "pad" else min(h, w)
    up = F.interpolate(m[None, None], size=(side, side), mode="bilinear", align_corners=False)
    up = up[0, 0].clamp_(0.0, 1.0)
    if square == "pad":
        top, left = (side - h) // 2, (side - w) // 2
        return up[top:top + h, left:left + w].numpy().copy()
    out = torch.zeros((h, w))
    top, left = (h - side) // 2, (w - side) // 2
    out[top:top + side, left:left + side] = up
    return out.numpy()


def _masks_like(masks, heat: np.ndarray, *, square: str) -> np.ndarray:
    """Lesion masks as coverage fractions on the heat-map grid: each mask goes through the same
    pad-to-square as the image, then an area resize (a pixel half covered counts 0.5)."""
    heat = np.asarray(heat)
    if heat.ndim != 3:
        raise ValueError(f"heat: expected (N, S, S), got shape {heat.shape}")
    n, size = heat.shape[0], heat.shape[-1]
    if len(masks) != n:
        raise ValueError(f"masks: got {len(masks)} masks for {n} heat maps")
    resize = ResizeToInput(size, square=square, mode="area")
    out = np.empty(heat.shape, np.float32)
    for i, m in enumerate(masks):
        m = np.asarray(m)
        if m.ndim != 2:
            raise ValueError(f"masks[{i}]: expected a 2-D mask, got shape {m.shape}")
        out[i] = resize(m.astype(np.float32))[0].numpy()
    return out


def pointing_game(heat, masks, *, square: str = "pad") -> np.ndarray:
    """Whether each map's hottest pixel lies on the lesion (a pixel the mask covers at all).

    ``masks``: one boolean mask per map at the image's native size (as stored at import);
    ``square`` must be the image's pad/crop mode. Cases with an empty mask get ``nan``.
    Returns float64 (N,) of 1.0 (hit), 0.0 (miss) or nan. Zhang et al. (2018).
    """
    frac = _masks_like(masks, heat, square=square)
    heat = np.asarray(heat)
    flat = heat.reshape(heat.shape[0], -1)
    peak = flat.argmax(axis=1)
    hit = frac.reshape(frac.shape[0], -1)[np.arange(len(peak)), peak] > 0
    out = hit.astype(np.float64)
    out[frac.reshape(frac.shape[0], -1).sum(axis=1) == 0] = np.nan
    return out


def heat_inside(heat, masks, *, square: str = "pad") -> np.ndarray:
    """Share of each map's heat on the lesion: sum(heat * coverage) / sum(heat), in [0, 1].

    Cases with an empty mask or an all-zero map get ``nan``. Wang et al. (2020).
    """
    frac = _masks_like(masks, heat, square=square)
    heat = np.asarray(heat, dtype=np.float64)
    total = heat.reshape(heat.shape[0], -1).sum(axis=1)
    inside = (heat * frac).reshape(heat.shape[0], -1).sum(axis=1)
    empty = frac.reshape(frac.shape[0], -1).sum(axis=1) == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where((total > 0) & ~empty, inside / total, np.nan)
    return share


@dataclass(frozen=True)
class LocalisationResult:
    """Pointing game and heat share over the cases that have a lesion mask."""

    pointing_game: float
    mean_heat_inside: float
    n: int
    hits: np.ndarray = field(repr=False)
    heat_inside: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "pointing_game": None if np.isnan(self.pointing_game) else self.pointing_game,
            "mean_heat_inside": (None if np.isnan(self.mean_heat_inside)
                                 else self.mean_heat_inside),
            "n": self.n,
        }


def localisation_metrics(heat, masks, *, square: str = "pad") -> LocalisationResult:
    """Pointing-game hit rate and mean heat share inside the lesion, over cases with a
    non-empty mask (see :func:`pointing_game`, :func:`heat_inside`)."""
    hits = pointing_game(heat, masks, square=square)
    share = heat_inside(heat, masks, square=square)
    valid = ~np.isnan(hits)
    return LocalisationResult(
        pointing_game=float(np.mean(hits[valid])) if valid.any() else float("nan"),
        mean_heat_inside=float(np.nanmean(share)) if np.isfinite(share).any() else float("nan"),
        n=int(valid.sum()),
        hits=hits,
        heat_inside=share,
    )
