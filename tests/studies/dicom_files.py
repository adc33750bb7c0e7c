"""Build DICOM files for import tests: phantom-like 16-bit MR slices full of identifying tags
(patient, physicians, institution, dates, free text, private tags, an overlay, nested
sequences), written with pydicom."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

#: Strings written into the identifying tags; none may survive de-identification.
IDENTIFYING = (
    "DOE^JOHN",
    "19580317",
    "Main Street 1",
    "General Hospital",
    "Hospital Road 2",
    "HOUSE^GREGORY",
    "CUDDY^LISA",
    "WILSON^JAMES",
    "MRI-STATION-7",
    "ACC0042",
    "SN-998877",
    "hip pain after a fall",
    "Private note about John",
    "20240102",
    "OTHER-ID-77",
    "Radiology Dept",
)

PIXEL_SPACING = ["0.7", "0.7"]


def uid_for(text: str) -> str:
    """A fixed, valid UID derived from ``text`` (tests need stable originals)."""
    return (
        "1.2.826.0.1.3680043.9.7133." + str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:30]
    )


def mr_dataset(
    *,
    patient_id: str = "PAT-001",
    study: str = "study-1",
    series: str | None = None,
    instance: str = "instance-1",
    rows: int = 64,
    columns: int = 64,
    seed: int = 0,
    laterality: str | None = None,
    identifying: bool = True,
) -> FileDataset:
    """A 16-bit MR Image Storage instance; UIDs derive from ``study``/``series``/``instance``.

    Each instance is its own series unless ``series`` is given: files of one series and hip are
    one case (with several slices), so tests that mean separate cases get separate series."""
    series = series if series is not None else f"series-of-{instance}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = uid_for(instance)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "HOSPITAL_PACS"
    ds = FileDataset("phantom.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = uid_for(instance)
    ds.StudyInstanceUID = uid_for(study)
    ds.SeriesInstanceUID = uid_for(series)
    ds.FrameOfReferenceUID = uid_for(study + "-for")
    ds.Modality = "MR"
    ds.PatientID = patient_id
    ds.PatientName = "DOE^JOHN" if identifying else ""
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.SliceThickness = "4.0"
    ds.MagneticFieldStrength = "1.5"
    if laterality:
        ds.ImageLaterality = laterality
    if identifying:
        ds.PatientBirthDate = "19580317"
        ds.PatientSex = "M"
        ds.PatientAge = "066Y"
        ds.PatientWeight = "81"
        ds.PatientAddress = "Main Street 1"
        ds.OtherPatientIDs = "OTHER-ID-77"
        ds.InstitutionName = "General Hospital"
        ds.InstitutionAddress = "Hospital Road 2"
        ds.InstitutionalDepartmentName = "Radiology Dept"
        ds.ReferringPhysicianName = "HOUSE^GREGORY"
        ds.PerformingPhysicianName = "CUDDY^LISA"
        ds.OperatorsName = "WILSON^JAMES"
        ds.StationName = "MRI-STATION-7"
        ds.DeviceSerialNumber = "SN-998877"
        ds.AccessionNumber = "ACC0042"
        ds.StudyID = "S42"
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240102"
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101500"
        ds.StudyDescription = "hip pain after a fall"
        ds.SeriesDescription = "COR T1 hip pain after a fall"
        ds.ProtocolName = "hip pain after a fall"
        ds.ImageComments = "Private note about John"
        ref = Dataset()
        ref.ReferencedSOPClassUID = MRImageStorage
        ref.ReferencedSOPInstanceUID = uid_for(instance + "-localizer")
        ds.ReferencedImageSequence = Sequence([ref])
        request = Dataset()
        request.RequestedProcedureID = "ACC0042"
        request.ScheduledProcedureStepDescription = "hip pain after a fall"
        ds.RequestAttributesSequence = Sequence([request])
        # A sequence the profile does not list, whose item holds attributes it does.
        region = Dataset()
        region.CodeValue = "T-15710"
        region.CodingSchemeDesignator = "SRT"
        region.CodeMeaning = "Hip joint"
        region.InstitutionName = "General Hospital"
        region.ReferencedSOPInstanceUID = uid_for(instance + "-nested")
        region.add_new(0x00091001, "LO", "Private note about John")
        ds.AnatomicRegionSequence = Sequence([region])
        block = ds.private_block(0x0029, "ACME 1.1", create=True)
        block.add_new(0x01, "LO", "Private note about John")
        block.add_new(0x02, "SH", "DOE^JOHN")
        ds.add_new(0x60000010, "US", 8)  # an overlay: Overlay Rows
        ds.add_new(0x60000011, "US", 8)
        ds.add_new(0x60003000, "OW", b"\xff" * 8)
        ds.add_new(0x60004000, "LT", "Private note about John")
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 4000, size=(rows, columns), dtype=np.uint16)
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelSpacing = PIXEL_SPACING
    ds.WindowCenter, ds.WindowWidth = "2000", "4000"
    ds.PixelData = pixels.tobytes()
    return ds


def write_mr(path: Path, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mr_dataset(**kwargs).save_as(path, enforce_file_format=True)
    return path
