"""Read one DICOM file from bytes, check that it is an image we can import, and bring it to the
form we store: uncompressed Explicit VR Little Endian.

What counts as importable: a readable DICOM instance with pixel data, grayscale (MONOCHROME1/2,
one sample per pixel), 8 or 16 bits allocated, sides within the configured limits, at most
``max_frames`` frames, and a transfer syntax this installation can decode. pydicom decodes the
uncompressed syntaxes (implicit/explicit little endian, explicit big endian, deflated) and RLE
Lossless on its own; JPEG (baseline, extended, lossless), JPEG-LS, JPEG 2000 and HTJ2K through
the pylibjpeg plugins this project installs (``pylibjpeg-libjpeg``, ``pylibjpeg-openjpeg``,
``pylibjpeg-rle``), which :func:`read_image` asks pydicom's decoder registry about rather than
assuming. Anything else raises :class:`Rejected` with a reason a study coordinator understands;
no other exception leaves :func:`read_image`.

Multi-frame files (Enhanced MR, any Number Of Frames > 1) are accepted and stay one file: the
interface the series import builds on is

- :attr:`ValidatedImage.n_frames` and :attr:`ValidatedImage.frames`, one
  :class:`~studies.dicom.geometry.FrameGeometry` per frame in stored frame order (position,
  orientation, spacing, thickness, window, rescale; from the functional groups of an enhanced
  file, per frame overriding shared);
- :attr:`ValidatedImage.pixels`: shape ``(rows, columns)`` for one frame, ``(n_frames, rows,
  columns)`` for several; :meth:`ValidatedImage.frame_pixels` gives frame ``i`` as a 2-D array
  in both cases;
- :attr:`ValidatedImage.dataset`: always Explicit VR Little Endian with native (uncompressed)
  pixel data, all frames in it. A file that arrived in a lossy syntax (JPEG baseline/extended,
  JPEG-LS near-lossless, irreversible JPEG 2000) is marked Lossy Image Compression (0028,2110)
  "01" (PS3.3 C.7.6.1.1.5: once lossy, always marked), keeping its ratio and method attributes.

This module imports no Django.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from studies.dicom.geometry import FrameGeometry, frame_geometry

_UNCOMPRESSED = {
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
}
_UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)+$")
_GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
_SWAP_WIDTH = {"OW": 2, "OL": 4, "OF": 4, "OD": 8, "OV": 8}
# Syntaxes that are lossy by definition, with the Lossy Image Compression Method (0028,2114)
# term for each (PS3.3 C.7.6.1.1.5.1); JPEG 2000 and HTJ2K are lossy only when irreversible.
_LOSSY_METHOD = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
}
_J2K_METHOD = {JPEG2000: "ISO_15444_1", HTJ2K: "ISO_15444_15"}
IMPLEMENTATION_VERSION_NAME = "READERBENCH_1"
#: Most decoded pixel bytes of one file (all frames), held in memory at once while importing it.
MAX_DECODED_BYTES = 1 << 30
_PREAMBLE = b"\0" * 128 + b"DICM"


class Rejected(Exception):  # noqa: N818 - a result, not an error of the program
    """The file cannot be imported; ``reason`` says why, in words for a coordinator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ValidatedImage:
    """A readable grayscale image (one frame or several), already converted to Explicit VR
    Little Endian in memory (pixel data decompressed where needed).

    ``pixels`` holds the stored values, dtype ``uint8``/``int8``/``uint16``/``int16``, before
    any rescale: shape ``(rows, columns)`` when ``n_frames`` is 1, ``(n_frames, rows,
    columns)`` otherwise. ``frames`` has one geometry per frame, in stored frame order.
    """

    dataset: Dataset
    pixels: np.ndarray
    original_transfer_syntax: str
    rows: int
    columns: int
    bits_stored: int
    signed: bool
    photometric: str
    n_frames: int = 1
    frames: list[FrameGeometry] = field(default_factory=list)

    def frame_pixels(self, i: int) -> np.ndarray:
        """Frame ``i`` (0-based, stored order) as a 2-D ``(rows, columns)`` array (a view)."""
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame {i} of an image with {self.n_frames} frames")
        return self.pixels if self.pixels.ndim == 2 else self.pixels[i]


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM", "UI"}
_TAGS: dict[str, int] = {}


def peek(ds: Dataset, keyword: str):
    """The value of a top-level attribute, read without converting a raw element.

    pydicom converts an element on first access, and the writer then has to re-encode it;
    an element left raw is copied as read. US values come back as ``int``, the ASCII text VRs
    (CS, DS, IS, UI...) as ``str`` with multiple values joined by ``\\``; anything else is
    converted as usual. ``None`` when absent.
    """
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = tag_for_keyword(keyword)
    elem = ds.get_item(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and elem.value is not None:
        vr = elem.VR or dictionary_VR(tag)
        if vr == "US" and len(elem.value) >= 2:
            return int.from_bytes(elem.value[:2], "little" if elem.is_little_endian else "big")
        if vr in _TEXT_VRS:
            return elem.value.decode("ascii", "replace").strip(" \0")
    value = ds[tag].value
    if isinstance(value, MultiValue | list):
        return "\\".join(str(v) for v in value)
    return value


def _int(ds: Dataset, keyword: str, tag: str, default: int | None = None) -> int:
    """An integer attribute, or :class:`Rejected` naming it when missing or malformed."""
    try:
        value = peek(ds, keyword)
    except Exception as exc:  # noqa: BLE001 - malformed raw values fail on conversion
        raise Rejected(f"invalid {_label(keyword)} {tag}: {_short(exc, 80)}") from None
    if value is None or value == "":
        if default is None:
            raise Rejected(f"missing {_label(keyword)} {tag}")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Rejected(f"invalid {_label(keyword)} {tag}: {str(value)[:40]!r}") from None


def _label(keyword: str) -> str:
    words, word = [], ""
    for char in keyword:
        if char.isupper() and word and not word[-1].isupper():
            words.append(word)
            word = ""
        word += char
    words.append(word)
    return " ".join(words)


def _parse(data: bytes) -> Dataset:
    if len(data) == 0:
        raise Rejected("empty file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(io.BytesIO(data))
        except InvalidDicomError:
            pass
        except Exception as exc:  # noqa: BLE001 - any parser failure is a damaged file
            raise Rejected(f"damaged DICOM file: {_short(exc)}") from None
        # No 128-byte preamble and 'DICM' prefix: an old or stripped file, or not DICOM at all.
        # Accept it only when it parses into something that is plainly a DICOM instance.
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            if _UID_PATTERN.match(str(ds.get("SOPClassUID", ""))):
                return ds
        except Exception:  # noqa: BLE001, S110 - garbage parsed as DICOM
            pass
    raise Rejected("not a DICOM file")


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        return UID(str(syntax).strip("\0 "))
    # No transfer syntax recorded: only an uncompressed encoding can be inferred from how the
    # data set was parsed; encapsulated pixel data needs the syntax to be decoded.
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        raise Rejected("compressed pixel data without a transfer syntax")
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _check_decodable(syntax: UID) -> None:
    if syntax in _UNCOMPRESSED:
        return
    if not syntax.is_transfer_syntax:
        raise Rejected(f"unknown transfer syntax {syntax}")
    name = syntax.name if syntax.is_transfer_syntax else str(syntax)
    try:
        from pydicom.pixels import get_decoder

        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise Rejected(f"compressed transfer syntax {name} cannot be decoded here")


def _check_image(
    ds: Dataset, *, min_side: int, max_side: int, max_frames: int
) -> tuple[int, int, int, int]:
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise Rejected("floating-point pixel data, expected integer pixel data")
        raise Rejected("no pixel data")
    if "SOPInstanceUID" not in ds or not str(ds.SOPInstanceUID).strip():
        raise Rejected("missing SOP Instance UID (0008,0018)")
    sop_class = ds.get("SOPClassUID") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
    if not sop_class:
        raise Rejected("missing SOP Class UID (0008,0016)")
    samples = _int(ds, "SamplesPerPixel", "(0028,0002)", default=1)
    photometric = str(peek(ds, "PhotometricInterpretation") or "").strip().upper()
    if samples != 1 or photometric not in _GRAYSCALE:
        if photometric == "RGB":
            raise Rejected("RGB image, expected grayscale")
        if photometric.startswith("YBR"):
            raise Rejected(f"colour image ({photometric}), expected grayscale")
        if photometric == "PALETTE COLOR":
            raise Rejected("palette colour image, expected grayscale")
        if not photometric:
            raise Rejected("missing Photometric Interpretation (0028,0004)")
        raise Rejected(
            f"{photometric} image with {samples} samples per pixel, expected grayscale "
            "(MONOCHROME1 or MONOCHROME2)"
        )
    frames = _int(ds, "NumberOfFrames", "(0028,0008)", default=1)
    if frames < 1:
        raise Rejected(f"Number Of Frames (0028,0008) is {frames}, expected at least 1")
    if frames > max_frames:
        raise Rejected(f"{frames} frames, more than the {max_frames} accepted in one file")
    bits = _int(ds, "BitsAllocated", "(0028,0100)")
    if bits not in (8, 16):
        raise Rejected(f"{bits}-bit pixel data, expected 8 or 16 bits allocated")
    rows = _int(ds, "Rows", "(0028,0010)")
    columns = _int(ds, "Columns", "(0028,0011)")
    if min(rows, columns) < min_side:
        raise Rejected(f"image {columns}x{rows} is smaller than {min_side}x{min_side}")
    if max(rows, columns) > max_side:
        raise Rejected(f"image {columns}x{rows} is larger than {max_side}x{max_side}")
    decoded = frames * rows * columns * (bits // 8)
    if decoded > MAX_DECODED_BYTES:  # a compressed file may claim far more than it holds
        raise Rejected(
            f"{frames} frames of {columns}x{rows} make {decoded >> 20} MiB of pixels, more than "
            f"{MAX_DECODED_BYTES >> 20} MiB"
        )
    return rows, columns, bits, frames


def read_image(
    data: bytes, *, min_side: int = 16, max_side: int = 4096, max_frames: int = 2048
) -> ValidatedImage:
    """Parse and validate one file's bytes.

    Parameters
    ----------
    data
        The whole file.
    min_side, max_side
        Accepted range of Rows and Columns, in pixels.
    max_frames
        Most frames accepted in one file (decoded, they are held in memory at once).

    Returns
    -------
    ValidatedImage
        The dataset in Explicit VR Little Endian form and its decoded pixels.

    Raises
    ------
    Rejected
        With the reason, for anything that is not an importable image.
    """
    with warnings.catch_warnings():
        # pydicom warns about every non-conformant value; what matters is decided below.
        warnings.simplefilter("ignore")
        ds = _parse(data)
        try:
            return _validate(ds, min_side=min_side, max_side=max_side, max_frames=max_frames)
        except Rejected:
            raise
        except Exception as exc:  # noqa: BLE001 - malformed elements surface on first access
            raise Rejected(f"damaged DICOM file: {_short(exc)}") from None


def _validate(ds: Dataset, *, min_side: int, max_side: int, max_frames: int) -> ValidatedImage:
    syntax = _transfer_syntax(ds)
    rows, columns, bits, frames = _check_image(
        ds, min_side=min_side, max_side=max_side, max_frames=max_frames
    )
    _check_decodable(syntax)
    signed = _int(ds, "PixelRepresentation", "(0028,0103)", default=0) == 1
    bits_stored = _int(ds, "BitsStored", "(0028,0101)", default=bits)
    if not 1 <= bits_stored <= bits:
        raise Rejected(f"Bits Stored {bits_stored} does not fit in {bits} bits allocated")
    compressed = syntax not in _UNCOMPRESSED
    if not compressed:
        expected = frames * rows * columns * bits // 8
        have = len(ds.PixelData)
        if have < expected:
            raise Rejected(f"truncated pixel data ({have} of {expected} bytes)")
        if have > expected + 1:  # excess padding: store exactly the image
            ds.PixelData = ds.PixelData[:expected]
    if not getattr(ds, "file_meta", None):
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    big_endian = syntax == ExplicitVRBigEndian
    shape = (rows, columns) if frames == 1 else (frames, rows, columns)
    if compressed or big_endian:
        lossy_method = _lossy_method(ds, syntax, frames) if compressed else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pixels = ds.pixel_array
            except Exception as exc:  # noqa: BLE001 - every decoder failure is a rejection
                raise Rejected(
                    f"pixel data cannot be decoded ({syntax.name}): {_decoder_error(exc)}"
                ) from None
        if pixels.shape != shape:
            raise Rejected(f"decoded pixel data has shape {pixels.shape}, expected {shape}")
        pixels = _as_stored_dtype(pixels, bits=bits, signed=signed)
        if compressed:
            _mark_decompressed(ds, lossy_method)
        replace = True
    else:
        pixels, replace = native_pixels(
            ds.PixelData, rows=rows, columns=columns, bits=bits, bits_stored=bits_stored,
            signed=signed, frames=frames,
        )  # fmt: skip
    if replace:
        if big_endian:
            _swap_binary_values(ds)
        little = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False)
        pixels = np.ascontiguousarray(little)
        ds.PixelData = pixels.tobytes()
        ds["PixelData"].VR = "OW" if bits == 16 else "OB"
        ds["PixelData"].is_undefined_length = False
    pixels = pixels.astype(pixels.dtype.newbyteorder("="), copy=False)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ValidatedImage(
        dataset=ds,
        pixels=pixels,
        original_transfer_syntax=str(syntax),
        rows=rows,
        columns=columns,
        bits_stored=bits_stored,
        signed=signed,
        photometric=str(peek(ds, "PhotometricInterpretation")).strip().upper(),
        n_frames=frames,
        frames=frame_geometry(ds, frames),
    )


_ALL_PLUGINS_FAILED = "Unable to decode as exceptions were raised by all available plugins:"


def _decoder_error(exc: BaseException) -> str:
    """pydicom's decoding error without its preamble: what each decoder plugin said."""
    text = " ".join(str(exc).split())
    if text.startswith(_ALL_PLUGINS_FAILED):
        text = text[len(_ALL_PLUGINS_FAILED) :].strip()
    return _short(ValueError(text)) if text else type(exc).__name__


def _as_stored_dtype(pixels: np.ndarray, *, bits: int, signed: bool) -> np.ndarray:
    """The decoded values in the integer type the data set declares (Bits Allocated, Pixel
    Representation): a decoder may hand back another width or signedness, and the stored
    file is read by its attributes."""
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    if pixels.dtype.newbyteorder("=") == dtype:
        return pixels
    if pixels.dtype.kind not in "iu":
        raise Rejected(f"decoded pixel data are {pixels.dtype}, expected integers")
    cast = pixels.astype(dtype)
    if not np.array_equal(cast, pixels):
        raise Rejected(
            f"decoded pixel values do not fit the declared {bits}-bit "
            f"{'signed' if signed else 'unsigned'} pixel data"
        )
    return cast


def _lossy_method(ds: Dataset, syntax: UID, frames: int) -> str | None:
    """The Lossy Image Compression Method term when the original was lossy-compressed, else
    ``None``: always for JPEG baseline/extended and JPEG-LS near-lossless; for JPEG 2000 and
    HTJ2K when the first frame's codestream uses the irreversible (9-7) wavelet."""
    if syntax in _LOSSY_METHOD:
        return _LOSSY_METHOD[syntax]
    if syntax in _J2K_METHOD:
        try:
            from pydicom.encaps import generate_frames

            first = next(generate_frames(ds.PixelData, number_of_frames=frames))
        except Exception:  # noqa: BLE001 - the decoder will say what is wrong with it
            return None
        if _j2k_irreversible(first):
            return _J2K_METHOD[syntax]
    return None


def _j2k_irreversible(codestream: bytes) -> bool:
    """Whether a JPEG 2000 codestream's main-header COD segment (ISO/IEC 15444-1 A.6.1) names
    the irreversible 9-7 wavelet, the lossy one. Unreadable headers count as not lossy: the
    decoder rejects them, and the file's own (0028,2110) is kept either way."""
    if codestream.startswith(b"\x00\x00\x00\x0cjP  "):  # JP2 wrapper: find the codestream box
        start = codestream.find(b"jp2c")
        codestream = codestream[start + 4 :] if start >= 0 else b""
    if codestream[:2] != b"\xff\x4f":
        return False
    offset = 2
    while offset + 4 <= len(codestream):
        marker = codestream[offset : offset + 2]
        if marker == b"\xff\x90":  # start of tile: the main header ended without a COD
            return False
        length = int.from_bytes(codestream[offset + 2 : offset + 4], "big")
        if marker == b"\xff\x52":
            transform = offset + 13  # marker 2, Lcod 2, Scod 1, SGcod 4, SPcod's 5th byte
            return transform < len(codestream) and codestream[transform] == 0
        if length < 2:
            return False
        offset += 2 + length
    return False


def _mark_decompressed(ds: Dataset, lossy_method: str | None) -> None:
    """What changes in the data set when encapsulated pixel data become native: the
    encapsulation-only Extended Offset Table goes, and a lossy original is marked so."""
    for tag in (0x7FE00001, 0x7FE00002):  # Extended Offset Table (Lengths)
        if tag in ds:
            del ds[tag]
    if lossy_method is None:
        return
    ds.LossyImageCompression = "01"
    if "LossyImageCompressionMethod" not in ds and "LossyImageCompressionRatio" not in ds:
        ds.LossyImageCompressionMethod = lossy_method


def native_pixels(
    data: bytes,
    *,
    rows: int,
    columns: int,
    bits: int,
    bits_stored: int,
    signed: bool,
    frames: int = 1,
) -> tuple[np.ndarray, bool]:
    """Stored values of uncompressed little-endian pixel data, as pydicom's ``pixel_array``
    gives them (bits above Bits Stored cleared, or sign-extended when signed), without its
    per-call overhead: shape ``(rows, columns)`` for one frame, ``(frames, rows, columns)``
    for several. The flag says whether those high bits held anything (then the cleaned
    pixels replace the pixel data: unused high bits may carry old-style overlays)."""
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    shape = (rows, columns) if frames == 1 else (frames, rows, columns)
    pixels = np.frombuffer(data, dtype=dtype, count=frames * rows * columns).reshape(shape)
    if bits_stored >= bits or pixels.size == 0:
        return pixels, False
    if signed:
        low, high = -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
        if low <= int(pixels.min()) and int(pixels.max()) <= high:
            return pixels, False  # already sign-extended: one pass, no copy
        shift = bits - bits_stored
        return (pixels << shift) >> shift, True  # arithmetic shift: sign extension
    if int(pixels.max()) >> bits_stored == 0:
        return pixels, False
    return pixels & dtype.type((1 << bits_stored) - 1), True


def _swap_binary_values(ds: Dataset) -> None:
    """Byte-swap OW/OL/OF/OD/OV values read from a big-endian file: pydicom re-encodes typed
    values when the endianness changes, but keeps these as raw bytes."""
    for elem in ds.iterall():
        width = _SWAP_WIDTH.get(elem.VR)
        if width and elem.tag != 0x7FE00010 and isinstance(elem.value, bytes) and elem.value:
            usable = len(elem.value) - len(elem.value) % width
            swapped = np.frombuffer(elem.value[:usable], dtype=f">u{width}").astype(f"<u{width}")
            elem.value = swapped.tobytes() + elem.value[usable:]


def to_file_bytes(ds: Dataset) -> bytes:
    """Encode ``ds`` as a DICOM Part 10 file in Explicit VR Little Endian, with new file meta
    information (the original's source AE title and implementation are not carried over).

    The file is assembled from pydicom's own writers (preamble, ``write_file_meta_info``,
    ``write_data_element``) rather than ``dcmwrite``, which deep-copies and re-validates the
    file meta of every file; and elements still raw from an Explicit VR Little Endian file are
    copied as read (pydicom's writer does the same, at several times the cost per element).
    The bytes are identical to ``dcmwrite``'s (a test holds them against each other).
    """
    sop_class = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    meta = FileMetaDataset()
    meta.add_new(0x00020002, "UI", sop_class)
    meta.add_new(0x00020003, "UI", ds.SOPInstanceUID)
    meta.add_new(0x00020010, "UI", ExplicitVRLittleEndian)
    meta.add_new(0x00020012, "UI", PYDICOM_IMPLEMENTATION_UID)
    meta.add_new(0x00020013, "SH", IMPLEMENTATION_VERSION_NAME)
    ds.file_meta = meta
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = False
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    buffer.write(_PREAMBLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_file_meta_info(buffer, meta, enforce_standard=True)
        same_encoding = ds.original_encoding == (False, True)
        if same_encoding and ds.original_character_set == ds._character_set:
            _write_explicit_little(buffer, ds)
        else:  # pydicom converts every element and corrects ambiguous VRs
            write_dataset(buffer, ds)
    return buffer.getvalue()


_LONG_LENGTH_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_SHORT_HEADER = struct.Struct("<HH2sH")
_LONG_HEADER = struct.Struct("<HH2sHI")


def _write_explicit_little(buffer: DicomBytesIO, ds: Dataset) -> None:
    """``pydicom.filewriter.write_dataset`` for a data set read from Explicit VR Little Endian
    and written in it: raw elements are copied, the others go through pydicom."""
    encodings = ds.get("SpecificCharacterSet", default_encoding)
    for tag in sorted(ds.keys()):
        if tag.element == 0 and tag.group > 6:
            continue  # retired group length (PS3.5 7.2), as pydicom skips it
        elem = ds.get_item(tag)
        vr = elem.VR
        if (
            type(elem) is RawDataElement
            and vr
            and len(vr) == 2
            and vr != "SQ"
            and not elem.is_implicit_VR
            and elem.is_little_endian
            and elem.length != 0xFFFFFFFF
        ):
            value = elem.value or b""
            code = vr.encode("ascii")
            if vr in _LONG_LENGTH_VRS:
                buffer.write(_LONG_HEADER.pack(tag.group, tag.element, code, 0, len(value)))
            elif len(value) <= 0xFFFF:
                buffer.write(_SHORT_HEADER.pack(tag.group, tag.element, code, len(value)))
            else:
                write_data_element(buffer, ds[tag], encodings)
                continue
            buffer.write(value)
        else:
            elem = ds[tag]
            data = _simple_value(elem)
            if data is None:
                write_data_element(buffer, elem, encodings)
                continue
            code = elem.VR.encode("ascii")
            if elem.VR in _LONG_LENGTH_VRS:
                buffer.write(_LONG_HEADER.pack(tag.group, tag.element, code, 0, len(data)))
            else:
                buffer.write(_SHORT_HEADER.pack(tag.group, tag.element, code, len(data)))
            buffer.write(data)


# Text VRs whose single ASCII value pydicom writes as the plain string padded to even length.
_ASCII_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_BYTES_VRS = {"OB", "OW", "UN"}


def _simple_value(elem) -> bytes | None:
    """The encoded value of a converted element of the simple kinds de-identification creates
    (empty, one ASCII string, bytes), exactly as pydicom's writers encode it; ``None`` for
    anything else, which is left to pydicom."""
    value, vr = elem.value, elem.VR
    if vr == "SQ" or elem.is_buffered or len(vr) != 2:
        return None
    if value is None or (isinstance(value, str | bytes) and not value):
        return b""
    if vr in _BYTES_VRS and type(value) is bytes:
        return value + b"\0" if len(value) % 2 else value
    if vr in _ASCII_VRS and type(value) in (str, UID) and value.isascii() and "\\" not in value:
        data = value.encode("ascii")
        if len(data) % 2:
            data += b"\0" if vr == "UI" else b" "
        return data if vr in _LONG_LENGTH_VRS or len(data) <= 0xFFFF else None
    return None
