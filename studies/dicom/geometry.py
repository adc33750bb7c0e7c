"""Where each frame of an image lies in the patient, and how its values are meant to be shown.

A classic single-frame file (MR Image Storage, CT Image Storage...) states its geometry in
top-level attributes: Image Position (Patient) (0020,0032), Image Orientation (Patient)
(0020,0037), Pixel Spacing (0028,0030), Slice Thickness (0018,0050), Window Center/Width
(0028,1050/1051), Rescale Slope/Intercept (0028,1053/1052). An enhanced multi-frame file
(Enhanced MR, Enhanced CT...) states it per frame in functional groups (PS3.3 C.7.6.16): each
item of the Per-Frame Functional Groups Sequence (5200,9230) describes one frame, and the one
item of the Shared Functional Groups Sequence (5200,9229) what all frames share; a macro found
per frame overrides the shared one. :func:`frame_geometry` reads both forms into one
:class:`FrameGeometry` per frame, in stored frame order.

The values come from files made by many scanners and tools: a missing, malformed or non-finite
value becomes ``None`` (never an exception), so a file with broken geometry is still imported
and the caller decides what an unknown position means (the series ordering, for instance).

This module imports no Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

__all__ = ["FrameGeometry", "frame_geometry", "position_along_normal"]


@dataclass(frozen=True)
class FrameGeometry:
    """One frame's geometry and display values; ``None`` where the file does not say (or says
    something unusable).

    ``position`` is the patient-space position (mm) of the centre of the frame's first pixel;
    ``orientation`` the direction cosines of its first row then first column (6 values);
    ``spacing`` the (row, column) pixel spacing in mm, i.e. the distance between rows, then
    between columns, as Pixel Spacing stores it.
    """

    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    window_center: float | None = None
    window_width: float | None = None
    rescale_slope: float | None = None
    rescale_intercept: float | None = None


_TEXT_VRS = {"DS", "IS", "CS", "LO", "SH"}
_TAGS: dict[str, BaseTag] = {}


def _value(ds: Dataset, keyword: str) -> Any:
    """A top-level value, without converting an element still raw from the file (converting
    it would make the writer re-encode it: see ``studies.dicom.validate.peek``). Text comes
    back as ``str`` with multiple values joined by ``\\``."""
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = Tag(tag_for_keyword(keyword))
    elem = ds.get_item(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement):
        if elem.VR in _TEXT_VRS or (elem.VR is None and isinstance(elem.value, bytes)):
            return (elem.value or b"").decode("ascii", "replace").strip(" \0")
        return ds[tag].value
    return elem.value


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers from a DS/FD value (a list, a ``\\``-joined string, one
    number), else ``None``."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        items: list[Any] = [v for v in value.strip(" \0").split("\\")]
    elif isinstance(value, list | tuple) or hasattr(value, "__iter__"):
        items = list(value)
    else:
        items = [value]
    if len(items) != count:
        return None
    try:
        numbers = tuple(float(str(v).strip(" \0")) for v in items)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(n) for n in numbers):
        return None
    return numbers


def _first_float(value: Any) -> float | None:
    """The first of possibly several numbers (Window Center may hold one per VOI choice)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        value = value.strip(" \0").split("\\")[0]
    elif not isinstance(value, int | float) and hasattr(value, "__iter__"):
        items = list(value)
        if not items:
            return None
        value = items[0]
    try:
        number = float(str(value).strip(" \0"))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive(number: float | None) -> float | None:
    return number if number is not None and number > 0 else None


def _spacing(value: Any) -> tuple[float, float] | None:
    pair = _floats(value, 2)
    if pair is None or pair[0] <= 0 or pair[1] <= 0:
        return None
    return (pair[0], pair[1])


def _orientation(value: Any) -> tuple[float, ...] | None:
    cosines = _floats(value, 6)
    if cosines is None:
        return None
    row, column = cosines[:3], cosines[3:]
    if math.hypot(*row) < 1e-3 or math.hypot(*column) < 1e-3:
        return None
    return cosines


def _position(value: Any) -> tuple[float, float, float] | None:
    triple = _floats(value, 3)
    return (triple[0], triple[1], triple[2]) if triple is not None else None


def _safe(read: Callable[[], Any]) -> Any:
    """``read()``, or ``None`` when a malformed element fails on conversion."""
    try:
        return read()
    except Exception:  # noqa: BLE001 - any malformed value means "unknown"
        return None


def _classic(ds: Dataset) -> FrameGeometry:
    get = _value
    return FrameGeometry(
        position=_safe(lambda: _position(get(ds, "ImagePositionPatient"))),
        orientation=_safe(lambda: _orientation(get(ds, "ImageOrientationPatient"))),
        spacing=_safe(lambda: _spacing(get(ds, "PixelSpacing"))),
        slice_thickness=_safe(lambda: _positive(_first_float(get(ds, "SliceThickness")))),
        window_center=_safe(lambda: _first_float(get(ds, "WindowCenter"))),
        window_width=_safe(lambda: _positive(_first_float(get(ds, "WindowWidth")))),
        rescale_slope=_safe(lambda: _first_float(get(ds, "RescaleSlope"))),
        rescale_intercept=_safe(lambda: _first_float(get(ds, "RescaleIntercept"))),
    )


def _item(seq_owner: Dataset | None, keyword: str) -> Dataset | None:
    """The first item of a functional group macro's sequence in ``seq_owner``, if any."""
    if seq_owner is None:
        return None
    try:
        seq = seq_owner.get(keyword)
        if seq is None or isinstance(seq, str | bytes) or len(seq) == 0:
            return None
        item = seq[0]
    except Exception:  # noqa: BLE001 - a malformed sequence is an absent one
        return None
    return item if isinstance(item, Dataset) else None


def _group_value(groups: list[Dataset | None], macro: str, keyword: str) -> Any:
    """``keyword`` from the first of ``groups`` (per-frame first, then shared) whose ``macro``
    item has it."""
    for group in groups:
        item = _item(group, macro)
        if item is None:
            continue
        value = _safe(lambda item=item: item.get(keyword))
        if value is not None and value != "":
            return value
    return None


def _enhanced(
    per_frame: Dataset | None, shared: Dataset | None, top: FrameGeometry
) -> FrameGeometry:
    groups = [per_frame, shared]

    def get(macro: str, keyword: str) -> Any:
        return _group_value(groups, macro, keyword)

    voi = "FrameVOILUTSequence"
    transform = "PixelValueTransformationSequence"
    measures = "PixelMeasuresSequence"
    spacing = _safe(lambda: _spacing(get(measures, "PixelSpacing")))
    thickness = _safe(lambda: _positive(_first_float(get(measures, "SliceThickness"))))
    center = _safe(lambda: _first_float(get(voi, "WindowCenter")))
    width = _safe(lambda: _positive(_first_float(get(voi, "WindowWidth"))))
    slope = _safe(lambda: _first_float(get(transform, "RescaleSlope")))
    intercept = _safe(lambda: _first_float(get(transform, "RescaleIntercept")))
    return FrameGeometry(
        position=_safe(lambda: _position(get("PlanePositionSequence", "ImagePositionPatient"))),
        orientation=_safe(
            lambda: _orientation(get("PlaneOrientationSequence", "ImageOrientationPatient"))
        )
        or top.orientation,
        # Values a file states only at the top level (against the enhanced IODs, but seen)
        # still count; a position never does: it differs per frame.
        spacing=spacing or top.spacing,
        slice_thickness=thickness if thickness is not None else top.slice_thickness,
        window_center=center if center is not None else top.window_center,
        window_width=width if width is not None else top.window_width,
        rescale_slope=slope if slope is not None else top.rescale_slope,
        rescale_intercept=intercept if intercept is not None else top.rescale_intercept,
    )


def frame_geometry(ds: Dataset, n_frames: int) -> list[FrameGeometry]:
    """One :class:`FrameGeometry` per frame of ``ds``, in stored frame order.

    Enhanced files (with a Shared or Per-Frame Functional Groups Sequence) are read from their
    functional groups, per frame overriding shared; a per-frame sequence with fewer items than
    frames leaves the missing frames with the shared values only. Classic files are read from
    the top-level attributes; in a classic multi-frame file (NM, RT Dose...) the top-level
    position is the first frame's, and the others' follow along the normal by Grid Frame
    Offset Vector (3004,000C) when the file has one, else are unknown (``None``).
    """
    n_frames = max(int(n_frames), 1)
    top = _classic(ds)
    shared_seq = _safe(lambda: ds.get("SharedFunctionalGroupsSequence"))
    per_frame_seq = _safe(lambda: ds.get("PerFrameFunctionalGroupsSequence"))
    if shared_seq is not None or per_frame_seq is not None:
        shared = _safe(lambda: shared_seq[0]) if shared_seq else None
        per_frame = list(per_frame_seq) if per_frame_seq else []
        shared = shared if isinstance(shared, Dataset) else None
        return [
            _enhanced(per_frame[i] if i < len(per_frame) else None, shared, top)
            for i in range(n_frames)
        ]
    if n_frames == 1:
        return [top]
    offsets = _safe(lambda: _floats(_value(ds, "GridFrameOffsetVector"), n_frames))
    normal = _unit_normal(top.orientation) if top.orientation else None
    frames = []
    for i in range(n_frames):
        position = top.position if i == 0 else None
        if offsets is not None and normal is not None and top.position is not None:
            # PS3.3 C.8.8.3.2: offsets relative to the first frame's position (when the first
            # offset is 0) or absolute along the normal; both read as displacement from it
            # once the first offset is subtracted.
            shift = offsets[i] - offsets[0]
            position = tuple(p + shift * n for p, n in zip(top.position, normal, strict=True))
        frames.append(
            FrameGeometry(
                position=position,  # type: ignore[arg-type]
                orientation=top.orientation,
                spacing=top.spacing,
                slice_thickness=top.slice_thickness,
                window_center=top.window_center,
                window_width=top.window_width,
                rescale_slope=top.rescale_slope,
                rescale_intercept=top.rescale_intercept,
            )
        )
    return frames


def _unit_normal(orientation: tuple[float, ...]) -> tuple[float, float, float] | None:
    """The unit normal of the image plane (row cosines x column cosines), or ``None`` when
    the two directions are parallel."""
    rx, ry, rz, cx, cy, cz = orientation
    nx, ny, nz = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
    length = math.sqrt(nx * nx + ny * ny + nz * nz)
    if not math.isfinite(length) or length < 1e-6:
        return None
    return (nx / length, ny / length, nz / length)


def position_along_normal(g: FrameGeometry) -> float | None:
    """Where the frame lies along its plane's normal (mm): the dot product of its position with
    the cross product of its row and column direction cosines (normalised), the quantity that
    orders the slices of a stack. ``None`` when the position or orientation is unknown or the
    direction cosines are parallel."""
    if g.position is None or g.orientation is None:
        return None
    normal = _unit_normal(g.orientation)
    if normal is None:
        return None
    return sum(p * n for p, n in zip(g.position, normal, strict=True))
