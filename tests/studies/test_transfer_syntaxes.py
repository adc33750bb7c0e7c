"""Every common transfer syntax in, Explicit VR Little Endian out (issue 12 item 2).

The inputs are pydicom's own test files (the ones packaged with pydicom, plus the few from
pydicom-data kept in ``tests/studies/pydicom_data``: multi-frame grayscale and JPEG Lossless),
each judged against an expectation built from the file's own attributes and from what pydicom
itself can decode, never from a list of names: a grayscale image with 8 or 16 bits allocated
whose pixels pydicom decodes must be accepted with exactly those pixels; anything else must be
rejected with a reason naming what is unsupported.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from PIL import Image as PILImage
from pydicom.data import get_testdata_files
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from studies.dicom.validate import Rejected, read_image, to_file_bytes
from studies.models import Image

DATA = Path(__file__).parent / "pydicom_data"
GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99",
                "1.2.840.10008.1.2.2"}  # fmt: skip
#: Words a rejection reason uses for each kind of unsupported input.
REASON_WORDS = {
    "colour": ("colour", "RGB", "expected grayscale"),
    "no pixels": ("no pixel data", "floating-point"),
    "bits": ("-bit pixel data",),
    "damaged": ("cannot be decoded", "damaged", "truncated", "invalid", "missing", "smaller"),
    "not DICOM": ("not a DICOM file", "empty file"),
}


def _all_test_files() -> list[Path]:
    packaged = [Path(p) for p in get_testdata_files() if Path(p).is_file()]
    return sorted(packaged + [p for p in DATA.glob("*.dcm")], key=lambda p: p.name)


@dataclass
class Outcome:
    name: str
    syntax: str
    expected: str  # "accept" or a key of REASON_WORDS
    got: str  # "accepted (shape)" or the rejection reason
    problem: str = ""


def _expectation(path: Path) -> tuple[str, str, np.ndarray | None]:
    """(syntax name, what must happen, pydicom's own decoded pixels) from the file itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            # No preamble: DICOM all the same when it parses into an instance (read_image's rule).
            try:
                ds = pydicom.dcmread(path, force=True)
            except Exception:  # noqa: BLE001 - not parseable as DICOM by pydicom either
                return "-", "not DICOM", None
            if "SOPClassUID" not in ds:
                return "-", "not DICOM", None
        except Exception:  # noqa: BLE001 - not parseable as DICOM by pydicom either
            return "-", "not DICOM", None
        meta = getattr(ds, "file_meta", None)
        syntax = pydicom.uid.UID(str(meta.get("TransferSyntaxUID", "")) if meta else "")
        name = syntax.name if syntax else "-"
        if "PixelData" not in ds:
            return name, "no pixels", None
        if (
            ds.get("SamplesPerPixel", 1) != 1
            or ds.get("PhotometricInterpretation") not in GRAYSCALE
        ):
            return name, "colour", None
        if ds.get("BitsAllocated") not in (8, 16):
            return name, "bits", None
        decodable = syntax in UNCOMPRESSED or (
            syntax.is_transfer_syntax and get_decoder(syntax).is_available
        )
        if not decodable:
            return name, "damaged", None
        try:
            reference = ds.pixel_array
        except Exception:  # noqa: BLE001 - a file pydicom cannot decode is a damaged one
            return name, "damaged", None
        return name, "accept", reference


def _judge(path: Path) -> Outcome:
    syntax, expected, reference = _expectation(path)
    outcome = Outcome(path.name, syntax, expected, "")
    data = path.read_bytes()
    try:
        image = read_image(data, min_side=1)
    except Rejected as exc:
        outcome.got = exc.reason
        if expected == "accept":
            outcome.problem = "rejected, but pydicom decodes this grayscale image"
        elif "\n" in exc.reason or not any(
            # A file may have several faults: a missing or malformed attribute named
            # instead of the one the expectation looked at is a right reason too.
            w in exc.reason
            for w in REASON_WORDS[expected] + REASON_WORDS["damaged"]
        ):
            outcome.problem = f"reason does not name {expected!r}"
        return outcome
    outcome.got = f"accepted {image.pixels.shape}"
    if expected != "accept":
        outcome.problem = f"accepted, expected a rejection for {expected!r}"
        return outcome
    shape = reference.shape
    problems = []
    if image.photometric not in GRAYSCALE:
        problems.append(f"photometric {image.photometric}")
    if image.pixels.shape != shape or image.n_frames != (shape[0] if len(shape) == 3 else 1):
        problems.append(f"shape {image.pixels.shape}, pydicom {shape}")
    elif not np.array_equal(image.pixels, reference):
        problems.append("pixels differ from pydicom's decoding")
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    if stored.file_meta.TransferSyntaxUID != ExplicitVRLittleEndian:
        problems.append(f"stored as {stored.file_meta.TransferSyntaxUID}")
    elif not np.array_equal(stored.pixel_array, reference):
        problems.append("stored pixels differ from pydicom's decoding of the original")
    if len(image.frames) != image.n_frames:
        problems.append(f"{len(image.frames)} geometries for {image.n_frames} frames")
    outcome.problem = "; ".join(problems)
    return outcome


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return [_judge(path) for path in _all_test_files()]


def test_every_test_file_is_imported_or_rejected_with_a_reason_naming_what_is_unsupported(
    outcomes,
):
    table = "\n".join(
        f"{o.name[:44]:44} {o.syntax[:40]:40} {o.expected:9} {o.got[:70]}"
        + (f"  <-- {o.problem}" if o.problem else "")
        for o in outcomes
    )
    print(table)  # shown with -s, or with the failure
    problems = [o for o in outcomes if o.problem]
    assert not problems, "\n" + table
    accepted = [o for o in outcomes if o.expected == "accept"]
    syntaxes = {o.syntax for o in accepted}
    # What the inputs cover, so that the test cannot pass by finding nothing to decode.
    assert len(accepted) >= 40 and len(outcomes) >= 150
    # (No grayscale JPEG baseline among pydicom's files: see the lossy test below.)
    for name in (
        "JPEG Extended", "JPEG Lossless", "JPEG-LS Lossless", "JPEG-LS Lossy",
        "JPEG 2000 Image Compression (Lossless Only)", "JPEG 2000 Image Compression",
        "RLE Lossless", "Explicit VR Big Endian", "Deflated Explicit VR Little Endian",
        "Implicit VR Little Endian",
    ):  # fmt: skip
        assert any(s.startswith(name) for s in syntaxes), name
    multi_frame = [o for o in accepted if o.got.startswith("accepted (10,")]
    assert len(multi_frame) == 5  # emri_small in five syntaxes
    assert {o.expected for o in outcomes} == {"accept", *REASON_WORDS}


def _emri_reference() -> np.ndarray:
    return pydicom.dcmread(DATA / "emri_small.dcm").pixel_array


@pytest.mark.parametrize(
    "name",
    [
        "emri_small.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ],
)
def test_an_enhanced_mr_file_stays_one_multi_frame_file_with_every_frame(name):
    reference = _emri_reference()
    image = read_image((DATA / name).read_bytes())
    assert (image.n_frames, image.pixels.shape) == (10, (10, 64, 64))
    for i in range(10):
        np.testing.assert_array_equal(image.frame_pixels(i), reference[i])
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert stored.NumberOfFrames == 10 and len(stored.PixelData) == 10 * 64 * 64 * 2
    np.testing.assert_array_equal(stored.pixel_array, reference)
    assert stored.LossyImageCompression == "00"  # lossless in, never marked lossy


def _jpeg_baseline_file(tmp_path: Path, *, quality: int = 60) -> Path:
    """A grayscale 8-bit JPEG baseline file, its bitstream written by Pillow (libjpeg)."""
    from tests.studies.dicom_files import mr_dataset

    y, x = np.mgrid[0:64, 0:80]
    pixels = ((x * 3 + y * 2) % 256).astype(np.uint8)
    stream = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(stream, format="JPEG", quality=quality)
    ds = mr_dataset(rows=64, columns=80, instance=f"jpeg-baseline-{tmp_path.name}")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([stream.getvalue()])
    ds["PixelData"].VR = "OB"
    path = tmp_path / "jpeg_baseline.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_lossy_original_is_stored_decoded_and_marked_lossy(tmp_path):
    path = _jpeg_baseline_file(tmp_path)
    reference = pydicom.dcmread(path).pixel_array
    image = read_image(path.read_bytes())
    np.testing.assert_array_equal(image.pixels, reference)
    stored = pydicom.dcmread(io.BytesIO(to_file_bytes(image.dataset)))
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert stored.LossyImageCompression == "01"
    assert stored.LossyImageCompressionMethod == "ISO_10918_1"
    np.testing.assert_array_equal(stored.pixel_array, reference)

    # A ratio and method the original states are kept as they are.
    ds = pydicom.dcmread(path)
    ds.LossyImageCompressionRatio = "7.5"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    kept = read_image(buffer.getvalue()).dataset
    assert (kept.LossyImageCompression, kept.LossyImageCompressionRatio) == ("01", 7.5)


def test_jpeg_2000_is_marked_lossy_only_when_its_wavelet_is_irreversible():
    irreversible = read_image(Path(get_testdata_files("693_J2KI.dcm")[0]).read_bytes())
    assert irreversible.original_transfer_syntax == JPEG2000
    assert irreversible.dataset.LossyImageCompression == "01"
    # The same syntax UID around a reversible (5-3) codestream: lossless, not marked.
    ds = pydicom.dcmread(get_testdata_files("MR_small_jp2klossless.dcm")[0])
    assert ds.file_meta.TransferSyntaxUID == JPEG2000Lossless
    ds.file_meta.TransferSyntaxUID = JPEG2000
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    reversible = read_image(buffer.getvalue())
    assert "LossyImageCompression" not in reversible.dataset


# --- End to end: the import command on compressed single-frame files ------------------------

COMPRESSED_SINGLE_FRAME = {
    # file: transfer syntax it must arrive in (checked, so a changed test file is noticed)
    "MR_small_RLE.dcm": RLELossless,
    "JPGExtended.dcm": JPEGExtended12Bit,
    "JPEG-LL.dcm": JPEGLosslessSV1,
    "MR_small_jpeg_ls_lossless.dcm": JPEGLSLossless,
    "MR_small_jp2klossless.dcm": JPEG2000Lossless,
    "JPEG2000.dcm": JPEG2000,
}


def _copy_with_new_uid(source: Path, target: Path) -> Path:
    """The file as it is (pixel data untouched), under a new SOP Instance UID: several of
    pydicom's files are the same instance in different syntaxes, which an import would
    rightly call duplicates."""
    ds = pydicom.dcmread(source)
    uid = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(target, enforce_file_format=True)
    return target


@pytest.mark.django_db
def test_the_import_command_imports_every_compressed_grayscale_syntax_quietly(
    tmp_path, study, site, caplog, capfd, settings
):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, syntax in COMPRESSED_SINGLE_FRAME.items():
        source = DATA / name if (DATA / name).exists() else Path(get_testdata_files(name)[0])
        assert pydicom.dcmread(source).file_meta.TransferSyntaxUID == syntax, name
        _copy_with_new_uid(source, folder / name)
    _jpeg_baseline_file(folder)
    for name in ("JPEG-lossy.dcm", "SC_rgb_jpeg.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"):
        (folder / f"bad-{name}").write_bytes(Path(get_testdata_files(name)[0]).read_bytes())
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    out, err = StringIO(), StringIO()
    call_command("import_dicom", str(folder), "--study", "onfh", "--site", "SITE1",
                 stdout=out, stderr=err)  # fmt: skip
    text = out.getvalue()
    assert "7 imported, 0 duplicates, 3 rejected" in text, text
    rejected = [line for line in text.splitlines() if line.startswith("rejected")]
    assert len(rejected) == 3
    assert any("bad-SC_rgb_jpeg.dcm: RGB image, expected grayscale" in r for r in rejected)
    assert any(
        "bad-JPEG-lossy.dcm: pixel data cannot be decoded (JPEG Extended" in r for r in rejected
    )
    # Nothing else reached the terminal: no log record of a library, no warning, nothing
    # written to the process's stderr (C libraries included).
    assert err.getvalue() == ""
    library = [r for r in caplog.records if not r.name.startswith(("studies", "django"))]
    assert library == [], [(r.name, r.getMessage()[:80]) for r in library]
    captured = capfd.readouterr()
    assert captured.err == "", captured.err
    # Every stored file (one per imported file, whatever cases the series make of them) is
    # native Explicit VR Little Endian.
    stored_files = sorted((Path(settings.MEDIA_ROOT) / "cases").rglob("*.dcm"))
    assert len(stored_files) == 7
    for path in stored_files:
        stored = pydicom.dcmread(path)
        assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert not stored["PixelData"].is_undefined_length
        assert stored.pixel_array.ndim == 2
    assert Image.objects.filter(study=study).exists()
