"""The values an import takes from a validated DICOM data set: text and numbers read leniently
(a malformed optional value counts as absent, a malformed required one rejects the file), the
patient key, the hip side, the case's display fields; and a fast ``.npy`` serialiser for the
cached arrays. Pure pydicom and numpy."""

from __future__ import annotations

import io

import numpy as np

from studies.dicom.validate import Rejected, ValidatedImage, peek


def text(ds, keyword: str) -> str:
    try:
        value = peek(ds, keyword)
    except Exception:  # noqa: BLE001 - a malformed optional value is treated as absent
        return ""
    return "" if value is None else str(value).strip()


def number(ds, keyword: str, *, required: bool = False, default=None, index: int = 0):
    value = text(ds, keyword)
    if not value:
        return default
    parts = value.split("\\")
    try:
        parsed = float(parts[index]) if index < len(parts) else None
    except ValueError:
        parsed = None
    if parsed is None or not np.isfinite(parsed):
        if required:
            raise Rejected(f"invalid {keyword}: {value[:40]!r}")
        return default
    return parsed


def patient_key(ds) -> str:
    for prefix, keyword in (("", "PatientID"), ("study:", "StudyInstanceUID")):
        value = text(ds, keyword)
        if value:
            return prefix + value
    return "instance:" + text(ds, "SOPInstanceUID")


def laterality(ds) -> str:
    for keyword in ("ImageLaterality", "Laterality"):
        value = text(ds, keyword).upper()
        if value in ("L", "R"):
            return value
    return "U"


def image_fields(image: ValidatedImage) -> dict:
    ds = image.dataset
    slope = number(ds, "RescaleSlope", required=True, default=1.0)
    if slope == 0:
        raise Rejected("Rescale Slope (0028,1053) is 0")
    return {
        "modality": text(ds, "Modality")[:16],
        "rows": image.rows,
        "columns": image.columns,
        "pixel_spacing_row": number(ds, "PixelSpacing", index=0),
        "pixel_spacing_col": number(ds, "PixelSpacing", index=1),
        "bits_stored": image.bits_stored,
        "pixel_signed": image.signed,
        "rescale_slope": slope,
        "rescale_intercept": number(ds, "RescaleIntercept", required=True, default=0.0),
        "window_center": number(ds, "WindowCenter"),
        "window_width": number(ds, "WindowWidth"),
    }


_NPY_HEADERS: dict[tuple, bytes] = {}


def npy_bytes(array: np.ndarray) -> bytes:
    """``np.save``'s bytes, with the header built once per shape and dtype (``np.save``
    rebuilds it every time, which costs more than copying a slice's values)."""
    if not array.flags.c_contiguous or array.dtype.hasobject:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    key = (array.shape, array.dtype.str)
    header = _NPY_HEADERS.get(key)
    if header is None:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buffer, np.lib.format.header_data_from_array_1_0(array)
        )
        header = _NPY_HEADERS[key] = buffer.getvalue()
    return header + array.tobytes()
