"""Frame geometry: classic top-level attributes, enhanced functional groups (per frame over
shared), and malformed values read as unknown, never as an exception."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from studies.dicom.geometry import FrameGeometry, frame_geometry, position_along_normal
from studies.dicom.validate import read_image, to_file_bytes

DATA = Path(__file__).parent / "pydicom_data"


def _item(**values) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _enhanced(n_frames: int = 10, *, per_frame_items: int | None = None) -> Dataset:
    """pydicom-data's Enhanced MR file (stripped of its functional groups) with shared and
    per-frame groups as a scanner writes them: an oblique plane, frames 2 mm apart along it."""
    ds = pydicom.dcmread(DATA / "emri_small.dcm")
    row, column = (1.0, 0.0, 0.0), (0.0, math.cos(0.3), -math.sin(0.3))
    normal = np.cross(row, column)
    shared = _item(
        PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=[*row, *column])]),
        PixelMeasuresSequence=Sequence([_item(PixelSpacing=[0.5, 0.75], SliceThickness=2.0)]),
        FrameVOILUTSequence=Sequence([_item(WindowCenter=600, WindowWidth=1200)]),
        PixelValueTransformationSequence=Sequence(
            [_item(RescaleSlope=1, RescaleIntercept=0, RescaleType="US")]
        ),
    )
    per_frame = []
    for i in range(per_frame_items if per_frame_items is not None else n_frames):
        position = np.array([-10.0, 20.0, 30.0]) + 2.0 * (n_frames - 1 - i) * normal
        item = _item(
            PlanePositionSequence=Sequence([_item(ImagePositionPatient=list(position))]),
        )
        if i == 3:  # one frame with its own window (per-frame overrides shared)
            item.FrameVOILUTSequence = Sequence([_item(WindowCenter=100, WindowWidth=50)])
        per_frame.append(item)
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return ds


def test_a_classic_file_reads_its_top_level_attributes():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    (g,) = frame_geometry(ds, 1)
    assert g.position == pytest.approx((-158.135803, -179.035797, -75.699997))
    assert g.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert g.spacing == pytest.approx((0.661468, 0.661468))
    assert (g.slice_thickness, g.rescale_slope, g.rescale_intercept) == (5.0, 1.0, -1024.0)
    assert (g.window_center, g.window_width) == (None, None)
    assert position_along_normal(g) == pytest.approx(-75.699997)


def test_reading_a_classic_file_leaves_its_elements_raw():
    """The writer copies raw elements as read; converting them would cost the import."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    frame_geometry(ds, 1)
    for keyword in ("ImagePositionPatient", "PixelSpacing", "WindowCenter"):
        assert isinstance(ds.get_item(keyword), RawDataElement), keyword


def test_an_enhanced_file_reads_its_functional_groups_per_frame_over_shared():
    frames = frame_geometry(_enhanced(), 10)
    assert len(frames) == 10
    assert {g.orientation for g in frames} == {(1.0, 0.0, 0.0, 0.0, math.cos(0.3), -math.sin(0.3))}
    assert {(g.spacing, g.slice_thickness) for g in frames} == {((0.5, 0.75), 2.0)}
    windows = [(g.window_center, g.window_width) for g in frames]
    assert windows[3] == (100.0, 50.0) and set(windows[:3] + windows[4:]) == {(600.0, 1200.0)}
    assert {(g.rescale_slope, g.rescale_intercept) for g in frames} == {(1.0, 0.0)}
    along = [position_along_normal(g) for g in frames]
    # Stored last-slice-first: 2 mm steps down the normal, frame by frame.
    np.testing.assert_allclose(np.diff(along), -2.0)


def test_frames_without_a_per_frame_item_keep_the_shared_values_only():
    frames = frame_geometry(_enhanced(per_frame_items=4), 10)
    assert [g.position is None for g in frames] == [False] * 4 + [True] * 6
    assert frames[9].spacing == (0.5, 0.75) and frames[9].window_center == 600.0


def test_read_image_gives_the_enhanced_geometry_and_stores_the_groups():
    ds = _enhanced()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    image = read_image(buffer.getvalue())
    assert image.n_frames == 10 and image.frames == frame_geometry(ds, 10)
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    assert len(stored.PerFrameFunctionalGroupsSequence) == 10


def test_the_stripped_enhanced_test_file_has_frames_of_unknown_geometry():
    ds = pydicom.dcmread(DATA / "emri_small.dcm")
    assert frame_geometry(ds, 10) == [FrameGeometry()] * 10


def test_a_classic_multi_frame_file_places_its_frames_by_grid_frame_offsets():
    ds = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    frames = frame_geometry(ds, 15)
    along = [position_along_normal(g) for g in frames]
    np.testing.assert_allclose(along, -761.87 + np.array(ds.GridFrameOffsetVector, dtype=float))
    del ds.GridFrameOffsetVector
    frames = frame_geometry(ds, 15)
    assert frames[0].position is not None and {g.position for g in frames[1:]} == {None}


@pytest.mark.parametrize(
    ("keyword", "value", "field"),
    [
        ("ImagePositionPatient", "a\\b\\c", "position"),
        ("ImagePositionPatient", "1\\2", "position"),
        ("ImagePositionPatient", "1\\nan\\3", "position"),
        ("ImageOrientationPatient", "1\\0\\0\\0\\1", "orientation"),
        ("ImageOrientationPatient", "0\\0\\0\\0\\1\\0", "orientation"),
        ("ImageOrientationPatient", "1\\0\\0\\0\\inf\\0", "orientation"),
        ("PixelSpacing", "-0.5\\0.5", "spacing"),
        ("PixelSpacing", "0.5", "spacing"),
        ("PixelSpacing", "", "spacing"),
        ("SliceThickness", "thick", "slice_thickness"),
        ("WindowCenter", "\\", "window_center"),
        ("WindowWidth", "0", "window_width"),
        ("RescaleSlope", "x1", "rescale_slope"),
    ],
)
def test_a_malformed_value_is_unknown_never_an_exception(keyword, value, field):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    tag = pydicom.datadict.tag_for_keyword(keyword)
    raw = value.encode() + (b" " if len(value) % 2 else b"")
    data = to_file_bytes(ds)  # Explicit VR Little Endian, then the value swapped in raw
    ds = pydicom.dcmread(io.BytesIO(data))
    ds[tag] = RawDataElement(pydicom.tag.Tag(tag), "DS", len(raw), raw, 0, False, True)
    (g,) = frame_geometry(ds, 1)
    assert getattr(g, field) is None
    if field in ("position", "orientation"):
        assert position_along_normal(g) is None


def test_malformed_functional_groups_are_unknown_never_an_exception():
    ds = _enhanced()
    ds.SharedFunctionalGroupsSequence = Sequence([])
    ds.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence = Sequence([])
    ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient = [1, 2]
    frames = frame_geometry(ds, 10)
    assert frames[0].position is None and frames[1].position is None
    assert frames[2].position is not None and frames[2].orientation is None
    assert position_along_normal(frames[2]) is None
