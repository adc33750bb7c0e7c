"""De-identification (PS3.15 Basic Application Level Confidentiality Profile) without Django."""

from __future__ import annotations

import io
import re

import pydicom
import pytest
from pydicom.dataset import Dataset

from studies.dicom.deid import deidentify, patient_pseudonym, uid_replacement
from studies.dicom.ps315 import (
    ATTRIBUTE_NAMES,
    BASIC_PROFILE,
    EDITION,
    KEEP,
    KEEP_NAMES,
    basic_profile_action,
    deidentification_action,
)
from studies.dicom.validate import read_image, to_file_bytes
from tests.studies.deid_checks import REPLACED_UID, assert_deidentified
from tests.studies.dicom_files import IDENTIFYING, mr_dataset, uid_for

KEY = b"test-key"


def _stored(
    ds: Dataset, *, pseudonym: str = "P-0123456789abcdef", key: bytes = KEY, keep=frozenset()
):
    data = io.BytesIO()
    ds.save_as(data, enforce_file_format=True)
    image = read_image(data.getvalue())
    deidentify(image.dataset, key=key, pseudonym=pseudonym, keep=keep)
    raw = to_file_bytes(image.dataset)
    return raw, pydicom.dcmread(io.BytesIO(raw))


# --- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "action"),
    [
        # Spot checks of PS3.15 Table E.1-1 (2024b), each entry as it also reads in the
        # independent extraction innolitics/dicom-standard
        # standard/confidentiality_profile_attributes.json (except Patient ID: Z there, from an
        # earlier edition; Z/D in 2024b per Kitware's dicomfields_2024b.py).
        (0x00100010, "Z"),  # Patient's Name
        (0x00100020, "Z/D"),  # Patient ID
        (0x00100030, "Z"),  # Patient's Birth Date
        (0x00101001, "X"),  # Other Patient Names
        (0x00080020, "Z"),  # Study Date
        (0x00080021, "X/D"),  # Series Date
        (0x00080023, "Z/D"),  # Content Date
        (0x00081010, "X/Z/D"),  # Station Name
        (0x00080090, "Z"),  # Referring Physician's Name
        (0x00081050, "X"),  # Performing Physician's Name
        (0x0020000D, "U"),  # Study Instance UID
        (0x0020000E, "U"),  # Series Instance UID
        (0x00080018, "U"),  # SOP Instance UID
        (0x00200010, "Z"),  # Study ID
        (0x00081140, "X/Z/U*"),  # Referenced Image Sequence
        (0x00081030, "X"),  # Study Description
        (0x00082112, "X/Z/U*"),  # Source Image Sequence
        (0x00181030, "X/D"),  # Protocol Name
    ],
)
def test_the_table_gives_the_standards_action(tag, action):
    assert BASIC_PROFILE[tag] == action


def test_the_table_names_its_edition_and_has_the_whole_profile():
    assert EDITION == "2024b"
    assert len(BASIC_PROFILE) > 600
    assert set(BASIC_PROFILE.values()) <= {
        "D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"
    }  # fmt: skip
    assert ATTRIBUTE_NAMES[0x00100010] == "Patient's Name"


def test_private_overlay_and_curve_groups_are_removed_and_unlisted_tags_kept():
    assert basic_profile_action(0x00291001) == "X"
    assert basic_profile_action(0x60003000) == "X"
    assert basic_profile_action(0x60020010) == "X"
    assert basic_profile_action(0x50000010) == "X"
    assert basic_profile_action(0x00280010) is None  # Rows
    assert basic_profile_action(0x7FE00010) is None  # Pixel Data


# --- keyed hashes ------------------------------------------------------------------------------


def test_a_uid_is_replaced_the_same_way_every_time_and_differently_for_another():
    a = uid_replacement("1.2.840.1", key=KEY)
    assert a == uid_replacement("1.2.840.1", key=KEY)
    assert a != uid_replacement("1.2.840.2", key=KEY)
    assert a != uid_replacement("1.2.840.1", key=b"another key")
    assert REPLACED_UID.match(a) and len(a) <= 64


def test_a_replaced_uid_is_a_version_8_uuid_under_2_25():
    import uuid

    value = uuid.UUID(int=int(uid_replacement("1.2.3", key=KEY)[5:]))
    assert value.version == 8
    assert value.variant == uuid.RFC_4122


def test_the_pseudonym_depends_on_study_site_and_patient_key():
    base = dict(key=KEY, study="onfh", site="S1", patient_key="123")
    p = patient_pseudonym(**base)
    assert re.fullmatch(r"P-[0-9a-f]{16}", p)
    assert p == patient_pseudonym(**base)
    assert p != patient_pseudonym(**{**base, "site": "S2"})
    assert p != patient_pseudonym(**{**base, "study": "other"})
    assert p != patient_pseudonym(**{**base, "patient_key": "124"})
    assert p != patient_pseudonym(**{**base, "key": b"other"})


def test_an_empty_key_or_patient_key_is_refused():
    with pytest.raises(ValueError, match="pseudonym key is empty"):
        uid_replacement("1.2", key=b"")
    with pytest.raises(ValueError, match="patient_key"):
        patient_pseudonym(key=KEY, study="s", site="x", patient_key="  ")


# --- de-identifying files ----------------------------------------------------------------------


def test_no_identifying_value_survives_anywhere_in_the_stored_file():
    original = mr_dataset()
    originals = {
        str(original.SOPInstanceUID),
        str(original.StudyInstanceUID),
        str(original.SeriesInstanceUID),
        str(original.FrameOfReferenceUID),
        uid_for("instance-1-localizer"),
        uid_for("instance-1-nested"),
    }
    raw, ds = _stored(original)
    for text in [*IDENTIFYING, "PAT-001", "HOSPITAL_PACS", "ACME", *originals]:
        assert text.encode() not in raw, text
    assert_deidentified(ds, original_uids=originals)


def test_it_keeps_what_the_image_needs():
    raw, ds = _stored(mr_dataset(laterality="L"))
    assert ds.Modality == "MR"
    assert ds.SOPClassUID == pydicom.uid.MRImageStorage
    assert ds.ImageLaterality == "L"
    assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.7]
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (ds.pixel_array == mr_dataset().pixel_array).all()


def test_patient_name_and_id_become_the_pseudonym_and_dates_are_gone():
    _, ds = _stored(mr_dataset(), pseudonym="P-00000000000000aa")
    assert str(ds.PatientName) == ds.PatientID == "P-00000000000000aa"
    assert ds.StudyDate == "" and ds.PatientBirthDate == "" and ds.ContentDate == ""
    assert "SeriesDate" not in ds and "AcquisitionDate" not in ds
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_it_recurses_into_sequences_the_profile_does_not_list():
    _, ds = _stored(mr_dataset())
    item = ds.AnatomicRegionSequence[0]
    assert item.CodeMeaning == "Hip joint"
    assert "InstitutionName" not in item
    assert not any(e.tag.is_private for e in item)
    assert item.ReferencedSOPInstanceUID == uid_replacement(uid_for("instance-1-nested"), key=KEY)
    assert "RequestAttributesSequence" not in ds and "ReferencedImageSequence" not in ds


def test_uids_keep_the_study_and_series_relationships():
    _, a = _stored(mr_dataset(study="s1", series="se1", instance="i1"))
    _, b = _stored(mr_dataset(study="s1", series="se1", instance="i2"))
    _, c = _stored(mr_dataset(study="s1", series="se2", instance="i3"))
    _, d = _stored(mr_dataset(study="s2", series="se3", instance="i4"))
    assert a.StudyInstanceUID == b.StudyInstanceUID == c.StudyInstanceUID != d.StudyInstanceUID
    assert a.SeriesInstanceUID == b.SeriesInstanceUID != c.SeriesInstanceUID
    assert a.FrameOfReferenceUID == c.FrameOfReferenceUID != d.FrameOfReferenceUID
    assert len({a.SOPInstanceUID, b.SOPInstanceUID, c.SOPInstanceUID, d.SOPInstanceUID}) == 4
    assert a.StudyInstanceUID == uid_replacement(uid_for("s1"), key=KEY)


def test_de_identification_is_deterministic_so_duplicates_hash_the_same():
    raw1, _ = _stored(mr_dataset())
    raw2, _ = _stored(mr_dataset())
    assert raw1 == raw2


def test_group_lengths_and_a_previous_de_identification_are_replaced():
    ds = mr_dataset()
    ds.add_new(0x00080000, "UL", 1234)
    ds.PatientIdentityRemoved = "NO"
    ds.DeidentificationMethod = "something else"
    _, out = _stored(ds)
    assert 0x00080000 not in out
    assert_deidentified(out)


# --- the keep-list (issue 15 S11) ------------------------------------------------------------


def test_unknown_even_group_tags_are_removed_with_their_text():
    ds = mr_dataset()
    ds.add_new(0x00101234, "LO", "Secret note on John")  # unknown, Patient group
    ds.add_new(0x00209999, "LT", "Secret note on John")  # unknown, Relationship group
    ds.add_new(0x00181250, "SH", "Coil Dr Secret")  # standard, not on the keep-list
    ds.AnatomicRegionSequence[0].add_new(0x00089999, "LO", "Secret note on John")
    raw, out = _stored(ds)
    assert b"Secret" not in raw
    assert 0x00101234 not in out and 0x00209999 not in out and 0x00181250 not in out
    assert 0x00089999 not in out.AnatomicRegionSequence[0]
    assert out.AnatomicRegionSequence[0].CodeMeaning == "Hip joint"  # kept, with its codes
    assert_deidentified(out)


def test_a_deployment_may_keep_more_tags_but_never_what_the_profile_removes():
    ds = mr_dataset()
    ds.add_new(0x00181250, "SH", "BODY")
    _, out = _stored(ds, keep=frozenset({0x00181250, 0x00100030, 0x00291001}))
    assert out[0x00181250].value == "BODY"
    assert out.PatientBirthDate == ""  # the table's Z still applies
    assert not any(e.tag.is_private for e in out)


def test_the_keep_list_names_standard_attributes_the_table_does_not_list():
    assert len(KEEP) > 150
    for tag in KEEP:
        assert tag not in BASIC_PROFILE
        assert pydicom.datadict.dictionary_description(tag) == KEEP_NAMES[tag], hex(tag)


@pytest.mark.parametrize(
    "keyword",
    [
        # The image pixel module, which the viewer's 16-bit pixels and the cached array need.
        "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated",
        "BitsStored", "HighBit", "PixelRepresentation", "PixelData", "NumberOfFrames",
        "RescaleSlope", "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth",
        "VOILUTFunction", "VOILUTSequence", "ModalityLUTSequence", "SmallestImagePixelValue",
        # What the import reads and stores with the case.
        "SOPClassUID", "Modality", "ImageLaterality", "Laterality", "PixelSpacing",
        "SpecificCharacterSet", "ImageType",
        # Geometry and order of the slices of a series, single- and multi-frame.
        "ImagePositionPatient", "ImageOrientationPatient", "SliceThickness",
        "SpacingBetweenSlices", "SliceLocation", "InstanceNumber", "SeriesNumber",
        "PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence",
        "PlanePositionSequence", "PlaneOrientationSequence", "PixelMeasuresSequence",
        "FrameContentSequence", "FrameLaterality",
    ],
)  # fmt: skip
def test_what_the_viewer_the_model_and_the_import_need_is_kept(keyword):
    assert deidentification_action(pydicom.datadict.tag_for_keyword(keyword)) is None


@pytest.mark.parametrize(
    "keyword",
    ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"],
)
def test_the_uids_are_kept_replaced(keyword):
    assert deidentification_action(pydicom.datadict.tag_for_keyword(keyword)) == "U"


def test_geometry_survives_de_identification():
    ds = mr_dataset()
    ds.ImagePositionPatient = ["-120.5", "-80", "33.25"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]
    ds.SpacingBetweenSlices = "4.4"
    _, out = _stored(ds)
    assert [float(v) for v in out.ImagePositionPatient] == [-120.5, -80.0, 33.25]
    assert [float(v) for v in out.ImageOrientationPatient] == [1, 0, 0, 0, 0, -1]
    assert float(out.SpacingBetweenSlices) == 4.4 and float(out.SliceThickness) == 4.0
    assert out.SeriesNumber == 3 and out.InstanceNumber == 1
    assert float(out.MagneticFieldStrength) == 1.5
