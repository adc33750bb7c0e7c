"""Preprocessing shared by import (the cached array), training and inference.

Transforms are callable objects in the MONAI manner: settings in ``__init__``, work in
``__call__``. This module imports no Django.

Path of a case: stored pixels -> :class:`ModalityLUT` -> :class:`RobustNormalize` -> float16
(:func:`cached_array`, kept with the case at import) -> :class:`Preprocess` (pad to square,
resize to the model's input size) -> network. :func:`preprocess_dicom` runs the whole path from a
DICOM file, so training, import and inference share it. :class:`Augment` adds seeded MRI-like
variation for training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# torch is imported where it is used: the importer (a Django web process) needs only
# :func:`cached_array` and should not pay for loading torch.


class ModalityLUT:
    """Stored pixel values to modality units: ``value * slope + intercept`` (DICOM PS3.3
    C.11.1, Rescale Slope/Intercept), as float32."""

    def __init__(self, slope: float = 1.0, intercept: float = 0.0) -> None:
        self.slope = float(slope)
        self.intercept = float(intercept)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        out = pixels.astype(np.float32, copy=True)
        if self.slope != 1.0:
            out *= np.float32(self.slope)
        if self.intercept != 0.0:
            out += np.float32(self.intercept)
        return out


class RobustNormalize:
    """Scale intensities to [0, 1] between two percentiles, clipping outside them.

    MR intensities have no absolute scale and differ between scanners, so a robust percentile
    window (default 0.5 %–99.5 %) removes the site's intensity scale without letting a few hot
    pixels decide it. Percentiles are taken on a regular subsample (every ``stride``-th pixel in
    each direction), which is deterministic and 4–16× cheaper on a 2-D slice.
    """

    def __init__(self, lower: float = 0.5, upper: float = 99.5, stride: int = 2) -> None:
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(
                f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}"
            )
        self.lower = float(lower)
        self.upper = float(upper)
        self.stride = max(1, int(stride))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        sample = image[:: self.stride, :: self.stride] if image.ndim == 2 else image
        lo, hi = np.percentile(sample, [self.lower, self.upper])
        out = image.astype(np.float32, copy=True)
        if hi <= lo:
            return np.zeros_like(out)
        out -= np.float32(lo)
        out *= np.float32(1.0 / (hi - lo))
        np.clip(out, 0.0, 1.0, out=out)
        return out


def cached_array(pixels: np.ndarray, *, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    """The array cached with each case at import: modality LUT, then robust normalisation, at
    native resolution, as float16 (half the bytes; 11 bits of mantissa exceed MR precision).
    Model-specific resizing happens later, in the model's own transforms."""
    return RobustNormalize()(ModalityLUT(slope, intercept)(pixels)).astype(np.float16)


def cached_array_from_dicom(dataset) -> np.ndarray:
    """The cached array of a DICOM slice: :func:`cached_array` with the dataset's Rescale
    Slope/Intercept (defaults 1 and 0), inverted for MONOCHROME1 so that high values are bright,
    exactly as the importer stores it.

    Parameters
    ----------
    dataset : pydicom.Dataset
        A single-frame grayscale image with pixel data.
    """
    pixels = np.asarray(dataset.pixel_array)
    if pixels.ndim != 2:
        raise ValueError(
            f"dataset: expected a single-frame grayscale image (2-D pixel data), got pixel data "
            f"of shape {pixels.shape}"
        )
    slope = float(getattr(dataset, "RescaleSlope", None) or 1.0)
    intercept = float(getattr(dataset, "RescaleIntercept", None) or 0.0)
    array = cached_array(pixels, slope=slope, intercept=intercept)
    photometric = str(getattr(dataset, "PhotometricInterpretation", "")).strip().upper()
    if photometric == "MONOCHROME1":
        array = np.float16(1.0) - array
    return array


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= size <= 4096:
        raise ValueError(f"input_size: expected an integer from 8 to 4096, got {size!r}")
    return int(size)


class ResizeToInput:
    """Make an image square and resize it to ``size`` × ``size`` for the network.

    ``square="pad"`` (default) pads the shorter side symmetrically with ``fill`` so that the whole
    field of view is kept and the aspect ratio is preserved; ``square="crop"`` takes the centred
    square of the shorter side instead. The square is then resized with ``mode`` (torch
    ``interpolate``; bilinear with antialiasing by default, ``"area"`` gives exact coverage
    fractions for masks, ``"nearest"`` keeps label values).

    Input: array or tensor of shape (H, W) or (C, H, W); output: float32 tensor (C, size, size).
    """

    def __init__(self, size: int, *, square: str = "pad", mode: str = "bilinear",
                 fill: float = 0.0) -> None:
        self.size = _check_size(size)
        if square not in ("pad", "crop"):
            raise ValueError(f"square: expected 'pad' or 'crop', got {square!r}")
        if mode not in ("bilinear", "bicubic", "area", "nearest"):
            raise ValueError(
                f"mode: expected 'bilinear', 'bicubic', 'area' or 'nearest', got {mode!r}"
            )
        self.square = square
        self.mode = mode
        self.fill = float(fill)

    def __call__(self, image) -> torch.Tensor:
        import torch
        from torch.nn import functional as F  # noqa: N812

        if not isinstance(image, torch.Tensor):
            image = torch.from_numpy(np.ascontiguousarray(image))
        x = image
        if x.ndim == 2:
            x = x.unsqueeze(0)
        if x.ndim != 3 or min(x.shape[-2:]) < 1:
            raise ValueError(
                f"image: expected shape (H, W) or (C, H, W), got {tuple(x.shape)}"
            )
        x = x.to(torch.float32)
        h, w = x.shape[-2:]
        if h != w:
            if self.square == "pad":
                side = max(h, w)
                top, left = (side - h) // 2, (side - w) // 2
                x = F.pad(x, (left, side - w - left, top, side - h - top), value=self.fill)
            else:
                side = min(h, w)
                top, left = (h - side) // 2, (w - side) // 2
                x = x[:, top:top + side, left:left + side]
        if x.shape[-1] == self.size:
            # Already the right size: never hand back (a view of) the caller's own buffer.
            return x.clone() if x.data_ptr() == image.data_ptr() else x.contiguous()
        kwargs = {}
        if self.mode in ("bilinear", "bicubic"):
            kwargs = {"align_corners": False, "antialias": True}
        out = F.interpolate(x.unsqueeze(0), size=(self.size, self.size), mode=self.mode, **kwargs)
        return out[0]


class Preprocess:
    """The model input of a case from its cached array (float16 in [0, 1], any H × W): a float32
    tensor of shape (1, ``input_size``, ``input_size``), padded to square and resized.

    The same object serves training, inference and the benchmark, so that all of them see
    identical inputs. A 3-D input (1, H, W) is accepted as well.
    """

    def __init__(self, input_size: int, *, square: str = "pad") -> None:
        self.input_size = _check_size(input_size)
        self.resize = ResizeToInput(self.input_size, square=square)

    def __call__(self, array) -> torch.Tensor:
        a = array if hasattr(array, "detach") else np.asarray(array)  # a tensor stays one
        if a.ndim == 3 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 2:
            raise ValueError(
                f"array: expected a cached 2-D image (H, W) or (1, H, W), got shape "
                f"{tuple(a.shape)}"
            )
        return self.resize(a)

    def __repr__(self) -> str:
        return f"Preprocess(input_size={self.input_size}, square={self.resize.square!r})"


def describe_preprocessing(input_size: int, *, square: str = "pad") -> str:
    """One line for a model card: what :func:`preprocess_dicom` does, in order."""
    size = _check_size(input_size)
    shape = "zero-pad to square" if square == "pad" else "centre-crop to square"
    return (
        "DICOM modality LUT (RescaleSlope/RescaleIntercept); MONOCHROME1 inverted; robust "
        "normalisation to [0, 1] between the 0.5th and 99.5th percentiles (clipped); float16 "
        f"cache; {shape}; bilinear antialiased resize to {size}x{size}; 1 channel float32"
    )


def preprocess_dicom(dataset_or_path, input_size: int, *, square: str = "pad") -> torch.Tensor:
    """Model input (float32 tensor, shape (1, ``input_size``, ``input_size``)) from a DICOM file
    or dataset, by the path import and cache take: :func:`cached_array_from_dicom`, then
    :class:`Preprocess` (the float16 rounding of the cache included, so that a case predicted
    from its file and from its cached array gets exactly the same input)."""
    if isinstance(dataset_or_path, (str, Path)):
        import pydicom

        dataset = pydicom.dcmread(dataset_or_path)
    else:
        dataset = dataset_or_path
    return Preprocess(input_size, square=square)(cached_array_from_dicom(dataset))


class Augment:
    """Random MRI-plausible augmentation of model inputs, reproducible from a seed.

    Applied to a float32 tensor (C, S, S) or a batch (N, C, S, S) in [0, 1]; each image draws its
    own parameters from the object's ``numpy.random.Generator`` (or from ``rng`` given to the
    call), in this order:

    - geometry (one affine resampling, bilinear, zero outside): rotation within
      ± ``rotate_deg``, translation within ± ``translate`` of the side, isotropic scaling within
      ``scale``, left-right flip with probability ``flip_lr`` (both hips occur, and a left hip is
      the mirror image of a right one);
    - a smooth multiplicative bias field ``exp(b · g(x, y))`` with g a random second-order
      polynomial scaled to [-1, 1] and b uniform in [0, ``bias_field``] (coil sensitivity,
      Sled et al. 1998);
    - gamma ``x ** γ`` with log γ uniform in log ``gamma``, then an intensity scale uniform in
      ``intensity_scale``;
    - additive Gaussian noise with a standard deviation uniform in [0, ``noise_std``];

    and the result is clipped to [0, 1]. Set a range to its identity (e.g. ``rotate_deg=0``,
    ``flip_lr=0``) to switch that part off.

    References
    ----------
    Sled JG, Zijdenbos AP, Evans AC (1998). A nonparametric method for automatic correction of
    intensity nonuniformity in MRI data. IEEE Trans Med Imaging 17:87-97.
    Shorten C, Khoshgoftaar TM (2019). A survey on image data augmentation for deep learning.
    J Big Data 6:60.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        rotate_deg: float = 10.0,
        translate: float = 0.06,
        scale: tuple[float, float] = (0.9, 1.1),
        flip_lr: float = 0.5,
        bias_field: float = 0.3,
        gamma: tuple[float, float] = (0.8, 1.25),
        intensity_scale: tuple[float, float] = (0.9, 1.1),
        noise_std: float = 0.03,
    ) -> None:
        for name, value in (("rotate_deg", rotate_deg), ("translate", translate),
                            ("bias_field", bias_field), ("noise_std", noise_std)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        if not 0.0 <= flip_lr <= 1.0:
            raise ValueError(f"flip_lr: expected a probability in [0, 1], got {flip_lr!r}")
        for name, pair in (("scale", scale), ("gamma", gamma),
                           ("intensity_scale", intensity_scale)):
            if len(pair) != 2 or not 0 < pair[0] <= pair[1]:
                raise ValueError(f"{name}: expected (low, high) with 0 < low <= high, got {pair!r}")
        self.rng = np.random.default_rng(seed)
        self.rotate_deg = float(rotate_deg)
        self.translate = float(translate)
        self.scale = (float(scale[0]), float(scale[1]))
        self.flip_lr = float(flip_lr)
        self.bias_field = float(bias_field)
        self.gamma = (float(gamma[0]), float(gamma[1]))
        self.intensity_scale = (float(intensity_scale[0]), float(intensity_scale[1]))
        self.noise_std = float(noise_std)

    def __call__(self, images: torch.Tensor, rng: np.random.Generator | None = None):
        import torch

        rng = self.rng if rng is None else rng
        x = torch.as_tensor(images)
        single = x.ndim == 3
        if single:
            x = x.unsqueeze(0)
        if x.ndim != 4:
            raise ValueError(
                f"images: expected (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}"
            )
        x = x.to(torch.float32)
        n, _, h, w = x.shape
        x = self._geometry(x, rng, n)
        x = self._bias(x, rng, n, h, w)
        g = np.exp(rng.uniform(np.log(self.gamma[0]), np.log(self.gamma[1]), n))
        k = rng.uniform(*self.intensity_scale, n)
        sd = rng.uniform(0.0, self.noise_std, n)
        noise = torch.from_numpy(rng.standard_normal(x.shape, dtype=np.float32))
        x = x.clamp_min(0.0).pow(_col(g)) * _col(k) + noise * _col(sd)
        x = x.clamp_(0.0, 1.0)
        return x[0] if single else x

    def _geometry(self, x: torch.Tensor, rng: np.random.Generator, n: int) -> torch.Tensor:
        import torch
        from torch.nn import functional as F  # noqa: N812

        angle = np.deg2rad(rng.uniform(-self.rotate_deg, self.rotate_deg, n))
        zoom = rng.uniform(*self.scale, n)
        shift = rng.uniform(-self.translate, self.translate, (n, 2)) * 2.0  # grid units: [-1, 1]
        flip = np.where(rng.random(n) < self.flip_lr, -1.0, 1.0)
        if self.rotate_deg == 0 and self.translate == 0 and self.scale == (1.0, 1.0) and (
            flip > 0
        ).all():
            return x
        # affine_grid maps output to input coordinates: sample input at A @ [x_out, y_out, 1].
        cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
        theta = np.zeros((n, 2, 3), dtype=np.float32)
        theta[:, 0, 0] = cos * flip
        theta[:, 0, 1] = -sin
        theta[:, 1, 0] = sin * flip
        theta[:, 1, 1] = cos
        theta[:, :, 2] = shift
        grid = F.affine_grid(torch.from_numpy(theta), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _bias(self, x: torch.Tensor, rng: np.random.Generator, n: int, h: int, w: int):
        import torch

        if self.bias_field == 0:
            return x
        yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
        basis = np.stack([xx, yy, xx * yy, xx**2 - 1 / 3, yy**2 - 1 / 3])  # (5, h, w)
        field = np.tensordot(rng.standard_normal((n, 5)), basis, axes=1)  # (n, h, w)
        field /= np.maximum(np.abs(field).reshape(n, -1).max(axis=1), 1e-6)[:, None, None]
        b = rng.uniform(0.0, self.bias_field, n)[:, None, None]
        gain = torch.from_numpy(np.exp(b * field).astype(np.float32))
        return x * gain[:, None]


def _col(values: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.asarray(values, dtype=np.float32)).view(-1, 1, 1, 1)
