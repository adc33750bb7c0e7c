"""Pixel data of a case for the browser viewer: stored values as 16-bit little-endian bytes, and
the few numbers needed to display them (size, rescale, default window, spacing, signedness).

Nothing identifying leaves this module: no UIDs, dates, file names or patient tags — the metadata
is built from an explicit list of display fields, never by copying the dataset. Files are
content-addressed (named by their SHA-256) and never change, so decoded pixels are cached by name.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import pydicom

from studies.dicom.validate import native_pixels
from studies.models import PixelFields
from studies.storage import media_path

_CACHE_BYTES = 64 * 1024 * 1024  # per process: ~128 slices of 512², or 2 of 4096²


@dataclass(frozen=True)
class PixelMeta:
    """What the viewer needs to turn the stored values into grey levels.

    Modality value = stored × ``rescale_slope`` + ``rescale_intercept``; the window is in
    modality units; spacing in mm (``None`` when unknown). ``invert`` is true for MONOCHROME1
    images (low values are bright). ``dtype`` is ``uint16`` or ``int16``.
    """

    rows: int
    columns: int
    dtype: str
    bits_stored: int
    rescale_slope: float
    rescale_intercept: float
    window_center: float
    window_width: float
    pixel_spacing: tuple[float, float] | None
    invert: bool
    min_value: float
    max_value: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Decoded:
    data: bytes  # 16-bit little-endian stored values, row-major
    dtype: str
    invert: bool
    min_stored: int
    max_stored: int


class _ByteBoundedCache:
    """Least-recently-used decoded slices, bounded by their bytes (thread-safe: gunicorn's
    threaded workers share it)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: OrderedDict[tuple[str, int], _Decoded] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, name: str, frame: int = 0) -> _Decoded:
        key = (name, frame)
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
                return hit
        decoded = _read(name, frame)  # outside the lock: two threads may decode one file each
        with self.lock:
            if key not in self.items:
                self.items[key] = decoded
                self.size += len(decoded.data)
                while self.size > self.limit and len(self.items) > 1:
                    _, old = self.items.popitem(last=False)
                    self.size -= len(old.data)
        return decoded

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.size = 0


def _read(name: str, frame: int = 0) -> _Decoded:
    """One frame of a stored file (uncompressed Explicit VR Little Endian, as the import
    stores every file; a multi-frame file's frames follow each other in Pixel Data)."""
    ds = pydicom.dcmread(media_path(name), force=True)
    rows, columns = int(ds.Rows), int(ds.Columns)
    bits = int(ds.BitsAllocated)
    signed = int(getattr(ds, "PixelRepresentation", 0)) == 1
    if bits not in (8, 16):
        raise ValueError(f"Bits Allocated: expected 8 or 16, got {bits} in stored case {name}")
    size = rows * columns * bits // 8
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if not 0 <= frame < frames:
        raise ValueError(f"stored case {name} has {frames} frame(s), not frame {frame + 1}")
    data = ds.PixelData[frame * size : (frame + 1) * size] if frames > 1 else ds.PixelData
    pixels, _ = native_pixels(
        data, rows=rows, columns=columns, bits=bits,
        bits_stored=int(getattr(ds, "BitsStored", bits)), signed=signed,
    )  # fmt: skip
    dtype = np.dtype("<i2" if signed else "<u2")
    values = np.ascontiguousarray(pixels, dtype=dtype)
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).strip().upper()
    return _Decoded(
        data=values.tobytes(),
        dtype="int16" if signed else "uint16",
        invert=photometric == "MONOCHROME1",
        min_stored=int(values.min()) if values.size else 0,
        max_stored=int(values.max()) if values.size else 0,
    )


_cache = _ByteBoundedCache(_CACHE_BYTES)
_decode = _cache.get


def image_pixels(*, image: PixelFields) -> bytes:
    """The stored values of ``image`` (a case: its designated slice; or one :class:`Slice`)
    as 16-bit little-endian bytes (rows × columns × 2)."""
    return _decode(image.file.name, image.frame).data


def image_pixel_meta(*, image: PixelFields) -> PixelMeta:
    """Display metadata of ``image`` (a case or a slice); the default window is the stored
    one, or the full range of modality values when the file gave none."""
    decoded = _decode(image.file.name, image.frame)
    slope, intercept = float(image.rescale_slope), float(image.rescale_intercept)
    ends = sorted((decoded.min_stored * slope + intercept, decoded.max_stored * slope + intercept))
    if image.window_width and image.window_width > 0 and image.window_center is not None:
        center, width = float(image.window_center), float(image.window_width)
    else:
        center, width = (ends[0] + ends[1]) / 2, max(ends[1] - ends[0], 1.0)
    spacing = None
    if image.pixel_spacing_row and image.pixel_spacing_col:
        spacing = (float(image.pixel_spacing_row), float(image.pixel_spacing_col))
    return PixelMeta(
        rows=int(image.rows),
        columns=int(image.columns),
        dtype=decoded.dtype,
        bits_stored=int(image.bits_stored),
        rescale_slope=slope,
        rescale_intercept=intercept,
        window_center=center,
        window_width=width,
        pixel_spacing=spacing,
        invert=decoded.invert,
        min_value=ends[0],
        max_value=ends[1],
    )


def heatmap_on_image(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The part of a square heat map (S, S) that covers an image of ``shape`` (rows, columns).

    The model saw the image padded to a square (centred, :class:`inference.engine.transforms.
    ResizeToInput` with ``square="pad"``) and resized to S × S; the heat map lies on that grid.
    This drops the padding, so that the result stretched over the image lines up with it (to
    within half a heat-map pixel). A map that is not square is returned as it is.
    """
    heat = np.asarray(heat)
    if heat.ndim != 2:
        raise ValueError(f"heat map: expected a 2-D array, got shape {heat.shape}")
    rows, columns = (int(v) for v in shape)
    if rows < 1 or columns < 1:
        raise ValueError(f"shape: expected positive (rows, columns), got {shape!r}")
    size = heat.shape[0]
    if heat.shape[1] != size or rows == columns:
        return heat
    side = max(rows, columns)
    top, left = (side - rows) // 2, (side - columns) // 2

    def span(start: int, length: int) -> slice:
        a = min(size - 1, int(round(start * size / side)))
        b = max(a + 1, min(size, int(round((start + length) * size / side))))
        return slice(a, b)

    return heat[span(top, rows), span(left, columns)]


def heatmap_bytes(*, name: str, shape: tuple[int, int] | None = None) -> tuple[bytes, int, int]:
    """A stored heat map (``.npy``, values in [0, 1]) as 8-bit bytes with its rows and columns;
    with ``shape`` (the image's rows, columns), only the part that covers the image
    (:func:`heatmap_on_image`), ready to be stretched over it."""
    array = np.load(media_path(name), allow_pickle=False)
    if array.ndim != 2:
        raise ValueError(f"heat map {name}: expected a 2-D array, got shape {array.shape}")
    if shape is not None:
        array = heatmap_on_image(array, shape)
    scaled = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0) * 255.0
    return np.rint(scaled).astype(np.uint8).tobytes(), int(array.shape[0]), int(array.shape[1])
