"""Reading and validating one file: what is accepted, and the reason for what is not."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_decoder
from pydicom.uid import (
    JPEG2000,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from studies.dicom.validate import Rejected, read_image, to_file_bytes
from tests.studies.dicom_files import mr_dataset

# The DICOM files pydicom ships inside its package (listed directly: nothing is downloaded).
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _reason(data: bytes, **kwargs) -> str:
    with pytest.raises(Rejected) as caught:
        read_image(data, **kwargs)
    return caught.value.reason


def _pydicom_file(name: str) -> bytes:
    return (TEST_FILES / name).read_bytes()


def test_it_reads_a_16_bit_mr_slice():
    image = read_image(_bytes(mr_dataset(rows=40, columns=48)))
    assert image.pixels.shape == (40, 48)
    assert image.pixels.dtype == np.uint16
    assert (image.rows, image.columns, image.bits_stored, image.signed) == (40, 48, 12, False)
    assert image.photometric == "MONOCHROME2"
    assert (image.pixels == mr_dataset(rows=40, columns=48).pixel_array).all()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("SC_rgb.dcm" if (TEST_FILES / "SC_rgb.dcm").exists() else "examples_rgb_color.dcm",
         "RGB image, expected grayscale"),
        ("SC_ybr_full_422_uncompressed.dcm", "colour image (YBR_FULL_422), expected grayscale"),
        ("examples_palette.dcm", "palette colour image, expected grayscale"),
        ("rtdose.dcm", "32-bit pixel data, expected 8 or 16 bits allocated"),
        ("rtdose_1frame.dcm", "32-bit pixel data, expected 8 or 16 bits allocated"),
        ("rtplan.dcm", "no pixel data"),
        ("test-SR.dcm", "no pixel data"),
        ("README.txt", "not a DICOM file"),
        ("crayons.icc", "not a DICOM file"),
        ("MR_truncated.dcm", "truncated pixel data (8130 of 8192 bytes)"),
        ("JPEGLSNearLossless_08.dcm", "image 10x45 is smaller than 16x16"),
    ],
)  # fmt: skip
def test_it_rejects_pydicom_test_files_with_a_reason(name, reason):
    assert _reason(_pydicom_file(name)) == reason


def test_it_rejects_a_truncated_copy():
    data = _pydicom_file("MR_small.dcm")
    assert _reason(data[: len(data) // 2]).startswith("truncated pixel data (")


def test_it_rejects_a_file_cut_inside_its_header():
    assert _reason(_pydicom_file("MR_small.dcm")[:100]) == "not a DICOM file"


def test_it_rejects_an_empty_file_and_random_bytes():
    assert _reason(b"") == "empty file"
    assert _reason(np.random.default_rng(1).bytes(5000)) == "not a DICOM file"


def test_it_reads_a_multi_frame_image_as_one_file_with_every_frame():
    ds = mr_dataset(rows=20, columns=24)
    frames = np.stack([ds.pixel_array + i for i in range(3)])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    image = read_image(_bytes(ds))
    assert (image.n_frames, image.pixels.shape, len(image.frames)) == (3, (3, 20, 24), 3)
    for i in range(3):
        np.testing.assert_array_equal(image.frame_pixels(i), frames[i])
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    assert stored.NumberOfFrames == 3
    np.testing.assert_array_equal(stored.pixel_array, frames)
    with pytest.raises(IndexError):
        image.frame_pixels(3)


def test_a_single_frame_keeps_its_2_d_pixels():
    image = read_image(_bytes(mr_dataset(rows=20, columns=24)))
    assert (image.n_frames, image.pixels.shape, len(image.frames)) == (1, (20, 24), 1)
    assert image.frame_pixels(0) is image.pixels
    assert image.frames[0].spacing == (0.7, 0.7)


def test_it_rejects_a_truncated_multi_frame_image_and_too_many_frames():
    ds = mr_dataset(rows=20, columns=24)
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 2
    assert _reason(_bytes(ds)) == "truncated pixel data (1920 of 2880 bytes)"
    ds.PixelData = ds.PixelData * 2
    ds.NumberOfFrames = 4
    assert _reason(_bytes(ds), max_frames=3) == "4 frames, more than the 3 accepted in one file"
    ds.NumberOfFrames = 0
    assert _reason(_bytes(ds)) == "Number Of Frames (0028,0008) is 0, expected at least 1"


def test_it_rejects_images_outside_the_size_limits():
    assert _reason(_bytes(mr_dataset(rows=8, columns=8))) == "image 8x8 is smaller than 16x16"
    data = _bytes(mr_dataset(rows=64, columns=80))
    assert _reason(data, max_side=64) == "image 80x64 is larger than 64x64"


def test_it_names_a_malformed_attribute():
    ds = mr_dataset()
    ds.NumberOfFrames = 1
    element = b"\x28\x00\x08\x00IS\x02\x00"
    data = _bytes(ds).replace(element + b"1 ", element + b"1A")
    assert _reason(data) == "invalid Number Of Frames (0028,0008): '1A'"


def test_it_rejects_a_file_without_sop_instance_uid():
    ds = mr_dataset()
    del ds.SOPInstanceUID
    assert _reason(_bytes(ds)) == "missing SOP Instance UID (0008,0018)"


def test_a_compressed_syntax_without_a_decoder_is_rejected_by_name():
    data = _pydicom_file("MR_small_jp2klossless.dcm")
    if get_decoder(pydicom.uid.JPEG2000Lossless).is_available:
        assert read_image(data).pixels.shape == (64, 64)
    else:
        assert _reason(data) == (
            "compressed transfer syntax JPEG 2000 Image Compression (Lossless Only) "
            "cannot be decoded here"
        )
    assert JPEG2000.is_compressed


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("MR_small_RLE.dcm", RLELossless),
        ("MR_small_bigendian.dcm", ExplicitVRBigEndian),
        ("MR_small_implicit.dcm", ImplicitVRLittleEndian),
        ("MR_small_padded.dcm", ExplicitVRLittleEndian),
    ],
)
def test_every_decodable_encoding_becomes_explicit_little_endian_with_the_same_pixels(name, syntax):
    reference = pydicom.dcmread(TEST_FILES / "MR_small.dcm").pixel_array
    image = read_image(_pydicom_file(name))
    assert image.original_transfer_syntax == syntax
    assert (image.pixels == reference).all()
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert not stored["PixelData"].is_undefined_length
    assert len(stored.PixelData) == 64 * 64 * 2
    assert (stored.pixel_array == reference).all()


def test_a_deflated_8_bit_file_is_read_and_stored_uncompressed():
    image = read_image(_pydicom_file("image_dfl.dcm"))
    assert image.pixels.dtype == np.uint8 and image.pixels.shape == (512, 512)
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (stored.pixel_array == image.pixels).all()


def test_every_pydicom_test_file_is_read_or_rejected_with_a_reason_never_an_exception():
    files = [p for p in sorted(TEST_FILES.rglob("*")) if p.is_file()]
    assert len(files) > 80
    accepted = 0
    for path in files:
        try:
            read_image(path.read_bytes())
            accepted += 1
        except Rejected as exc:
            assert exc.reason and "\n" not in exc.reason, path.name
    assert accepted >= 10


def test_the_stored_bytes_are_exactly_what_pydicom_would_write():
    from studies.dicom.deid import deidentify

    datas = [p.read_bytes() for p in sorted(TEST_FILES.rglob("*")) if p.is_file()]
    datas.append(_bytes(mr_dataset()))
    compared = 0
    for data in datas:
        for de_identify in (False, True):
            try:
                image = read_image(data)
            except Rejected:
                break
            if de_identify:
                deidentify(image.dataset, key=b"k", pseudonym="P-0000000000000000")
            ours = to_file_bytes(image.dataset)
            image.dataset.preamble = None  # ours is always zeros, never the original's
            reference = io.BytesIO()
            pydicom.dcmwrite(
                reference, image.dataset, implicit_vr=False, little_endian=True,
                enforce_file_format=True,
            )  # fmt: skip
            assert ours == reference.getvalue()
            compared += 1
    assert compared >= 40


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits_stored", [16, 12, 10])
def test_native_pixels_match_pydicom_and_clear_unused_high_bits(signed, bits_stored):
    raw = np.random.default_rng(bits_stored).integers(0, 2**16, size=(20, 24), dtype=np.uint16)
    ds = mr_dataset(rows=20, columns=24)
    ds.PixelRepresentation = int(signed)
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    ds.PixelData = raw.tobytes()
    expected = ds.pixel_array
    image = read_image(_bytes(ds))
    assert image.pixels.dtype == expected.dtype
    np.testing.assert_array_equal(image.pixels, expected)
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    stored_raw = np.frombuffer(stored.PixelData, dtype=expected.dtype).reshape(20, 24)
    np.testing.assert_array_equal(stored_raw, expected)  # garbage high bits are gone


def test_a_file_claiming_more_pixels_than_memory_allows_is_rejected_before_decoding():
    ds = pydicom.dcmread(TEST_FILES / "MR_small_RLE.dcm")
    ds.NumberOfFrames, ds.Rows, ds.Columns = 2000, 1024, 1024  # 4 GiB decoded, a few bytes here
    assert _reason(_bytes(ds)) == (
        "2000 frames of 1024x1024 make 4000 MiB of pixels, more than 1024 MiB"
    )
