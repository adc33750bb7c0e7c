"""Preprocessing shared by import (the cached array), training and inference.

Transforms are callable objects in the MONAI manner: settings in ``__init__``, work in
``__call__``. This module imports no Django.
"""

from __future__ import annotations

import numpy as np


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
