"""Phantom studies on disk: synthetic hip slices as DICOM MR images, masks and a manifest.

:func:`write_phantom_study` lays out ::

    OUT/<SITE_CODE>/<patient id>/<side>_<n>.dcm    MR Image Storage, explicit VR little endian
    OUT/masks/<SITE_CODE>/<patient id>/<side>_<n>.npy   lesion mask (bool, same shape)
    OUT/manifest.csv     one row per image (the import contract, columns MANIFEST_COLUMNS)
    OUT/sites.csv        one row per site and its scanner signature
    OUT/geometry.jsonl   one JSON object per image: the geometry the label was drawn from

Every file is a deterministic function of the arguments: the same seed gives byte-identical
output. Each DICOM file carries plausible but *fake* identifying attributes (names, IDs, dates,
institution, free text) that import must remove; the data are SYNTHETIC, which the manifest
(``synthetic``), ``sites.csv`` and the series description say. Nothing here imports Django.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from inference.engine.phantoms import (
    DEFAULT_CLASS_FREQUENCIES,
    JIC_LABELS,
    JIC_THRESHOLDS,
    SiteSignature,
    adjacent_slice_anatomy,
    generate_slice,
    make_site_signatures,
    sample_hip_anatomy,
    validate_thresholds,
)

MANIFEST_COLUMNS = (
    "file", "sop_instance_uid", "patient_key", "side", "site", "label", "label_source", "mask",
    "lateral_extent", "beyond_edge", "borderline", "synthetic",
)
SITES_COLUMNS = (
    "code", "name", "external", "field_strength", "manufacturer", "model", "pixel_spacing",
    "matrix", "slice_thickness", "intensity_scale", "rescale_slope", "bits_stored", "snr",
    "bias_strength", "patients", "images", "synthetic",
)
LABEL_SOURCE = "phantom geometry"
EXTERNAL_SHARE = 0.2  # share of patients at the external sites together

_FAMILY = ("SMITH", "TANAKA", "MUELLER", "GARCIA", "ROSSI", "NOVAK", "WANG", "SATO", "MARTIN",
           "KOWALSKI", "JENSEN", "SILVA", "DUBOIS", "KIM", "OKAFOR", "HASSAN", "IVANOV", "LEE",
           "NAKAMURA", "BROWN", "SCHMIDT", "LOPEZ", "CHEN", "YAMADA", "NIELSEN", "MORENO")
_GIVEN_M = ("JOHN", "HIROSHI", "THOMAS", "CARLOS", "MARCO", "PETR", "WEI", "KENJI", "PIERRE",
            "JAN", "LARS", "JOAO", "MIN-JUN", "CHIDI", "OMAR", "SERGEI", "DAVID", "TARO")
_GIVEN_F = ("MARY", "YUKI", "ANNA", "LUCIA", "GIULIA", "EVA", "LI", "AKIKO", "CLAIRE", "AGNIESZKA",
            "INGRID", "ANA", "JI-WOO", "NGOZI", "FATIMA", "OLGA", "SARAH", "HANAKO")


@dataclass(frozen=True)
class PhantomSummary:
    """What :func:`write_phantom_study` wrote."""

    out_dir: Path
    seed: int
    labels: tuple[str, ...]
    sites: tuple[str, ...]
    external_sites: tuple[str, ...]
    n_patients: int
    n_bilateral: int
    n_hips: int
    n_images: int
    n_multi_image_hips: int
    n_borderline_images: int
    images: Mapping[tuple[str, str], int]  # (site code, label) -> images
    patients_per_site: Mapping[str, int]

    def summary(self) -> str:
        """A plain-text table of images per site and class, stating that the data is SYNTHETIC."""
        width = max(6, *(len(label) + 1 for label in self.labels))
        head = "site".ljust(14) + "patients".rjust(9)
        head += "".join(label.rjust(width) for label in self.labels) + "total".rjust(7)
        lines = [f"SYNTHETIC phantom data (seed {self.seed}) in {self.out_dir}", head]
        for code in self.sites:
            row = [self.images.get((code, label), 0) for label in self.labels]
            name = code + (" (ext)" if code in self.external_sites else "")
            lines.append(name.ljust(14) + str(self.patients_per_site.get(code, 0)).rjust(9)
                         + "".join(str(n).rjust(width) for n in row) + str(sum(row)).rjust(7))
        totals = [sum(self.images.get((c, label), 0) for c in self.sites) for label in self.labels]
        lines.append("all".ljust(14) + str(self.n_patients).rjust(9)
                     + "".join(str(n).rjust(width) for n in totals) + str(sum(totals)).rjust(7))
        lines.append(
            f"{self.n_patients} patients ({self.n_bilateral} bilateral), {self.n_hips} hips "
            f"({self.n_multi_image_hips} with 2 slices), {self.n_images} images, "
            f"{self.n_borderline_images} borderline. These images are SYNTHETIC, not patients."
        )
        return "\n".join(lines)


def _frequencies(labels: tuple[str, ...], class_frequencies) -> np.ndarray:
    if class_frequencies is None:
        if len(labels) != len(DEFAULT_CLASS_FREQUENCIES):
            raise ValueError(
                f"class_frequencies: required for a scheme of {len(labels)} classes (the default "
                f"is for {len(DEFAULT_CLASS_FREQUENCIES)})"
            )
        class_frequencies = DEFAULT_CLASS_FREQUENCIES
    if isinstance(class_frequencies, Mapping):
        unknown = set(class_frequencies) - set(labels)
        if unknown:
            raise ValueError(f"class_frequencies: unknown labels {sorted(unknown)}; expected "
                             f"some of {list(labels)}")
        class_frequencies = [class_frequencies.get(label, 0.0) for label in labels]
    f = np.asarray(class_frequencies, dtype=float)
    if f.shape != (len(labels),) or not np.all(np.isfinite(f)) or np.any(f < 0) or f.sum() <= 0:
        raise ValueError(
            f"class_frequencies: got {class_frequencies!r}; expected {len(labels)} non-negative "
            "numbers with a positive sum (one per label)"
        )
    return f / f.sum()


def _site_counts(rng, patients: int, sites: Sequence[SiteSignature]) -> list[int]:
    """Patients per site: the external sites share ~20 %, internal sites unequal shares."""
    internal = [i for i, s in enumerate(sites) if not s.external]
    external = [i for i, s in enumerate(sites) if s.external]
    weights = np.zeros(len(sites))
    share = EXTERNAL_SHARE if external else 0.0
    weights[internal] = (1 - share) * rng.dirichlet(np.full(len(internal), 8.0))
    weights[external] = share / max(1, len(external))
    raw = weights * patients
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: patients - counts.sum()]:
        counts[i] += 1
    while (counts == 0).any():  # every site gets a patient
        counts[int(np.argmax(counts))] -= 1
        counts[int(np.argmin(counts))] += 1
    return counts.tolist()


def _fake_patient(rng, patient_id: str, site: SiteSignature) -> dict:
    sex = "M" if rng.random() < 0.6 else "F"  # ONFH is more frequent in men
    given = _GIVEN_M if sex == "M" else _GIVEN_F
    study_day = dt.date(2012, 1, 1) + dt.timedelta(days=int(rng.integers(0, 4380)))
    age = int(rng.integers(22, 72))
    birth = study_day - dt.timedelta(days=int(age * 365.25 + rng.integers(0, 365)))
    hour, minute, second = int(rng.integers(7, 19)), int(rng.integers(0, 60)), int(
        rng.integers(0, 60))
    return {
        "PatientName": f"{rng.choice(_FAMILY)}^{rng.choice(given)}",
        "PatientID": patient_id,
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": sex,
        "PatientAge": f"{(study_day - birth).days // 365:03d}Y",
        "OtherPatientIDs": f"{site.code[-1]}{int(rng.integers(1_000_000, 9_999_999))}",
        "date": study_day.strftime("%Y%m%d"),
        "time": f"{hour:02d}{minute:02d}{second:02d}",
        "minute": hour * 60 + minute,
        "AccessionNumber": f"A{int(rng.integers(10_000_000, 99_999_999))}",
        "StudyID": str(int(rng.integers(1000, 99999))),
        "ReferringPhysicianName": f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN_M + _GIVEN_F)}",
        "PerformingPhysicianName": f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN_M + _GIVEN_F)}",
        "OperatorsName": f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN_M + _GIVEN_F)}",
        "PatientWeight": round(float(rng.uniform(48, 105)), 1),
        "token": str(int(rng.integers(0, 2**63 - 1))),
    }


def mr_dataset(
    pixels: np.ndarray, *, site: SiteSignature, patient: dict, side: str, slice_index: int,
    geometry: dict,
) -> Dataset:
    """A complete MR Image Storage data set (with file meta) for one phantom slice.

    UIDs are derived from the patient's random token (:func:`pydicom.uid.generate_uid` with
    ``entropy_srcs``): one study per patient, one series and frame of reference per hip, one
    instance per slice, all deterministic for a seed.
    """
    token = patient["token"]
    sop = generate_uid(entropy_srcs=[token, "sop", side, str(slice_index)])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.preamble = b"\0" * 128
    side_word = "RIGHT" if side == "R" else "LEFT"
    minute = patient["minute"] + (0 if side == "R" else 6)
    series_time = f"{minute // 60:02d}{minute % 60:02d}{patient['time'][4:]}"
    px = float(geometry["pixel_spacing_mm"])
    rows, cols = pixels.shape
    hx, hz = (-92.0 if side == "R" else 92.0), -118.0
    cx, cy = geometry["head_center_px"]
    y_slice = 12.0 + float(geometry["slice_offset_mm"])
    values = {
        "SpecificCharacterSet": "ISO_IR 100",
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
        "SOPClassUID": MRImageStorage,
        "SOPInstanceUID": sop,
        "StudyDate": patient["date"], "SeriesDate": patient["date"],
        "AcquisitionDate": patient["date"], "ContentDate": patient["date"],
        "StudyTime": patient["time"], "SeriesTime": series_time,
        "AcquisitionTime": series_time, "ContentTime": series_time,
        "AccessionNumber": patient["AccessionNumber"],
        "Modality": "MR",
        "Manufacturer": site.manufacturer,
        "InstitutionName": site.name,
        "InstitutionAddress": site.institution_address,
        "ReferringPhysicianName": patient["ReferringPhysicianName"],
        "StationName": site.station_name,
        "StudyDescription": "MRI PELVIS HIPS",
        "SeriesDescription": f"COR T1 {side_word} HIP SYNTHETIC PHANTOM",
        "PerformingPhysicianName": patient["PerformingPhysicianName"],
        "OperatorsName": patient["OperatorsName"],
        "ManufacturerModelName": site.model,
        "PatientName": patient["PatientName"],
        "PatientID": patient["PatientID"],
        "PatientBirthDate": patient["PatientBirthDate"],
        "PatientSex": patient["PatientSex"],
        "OtherPatientIDs": patient["OtherPatientIDs"],
        "PatientAge": patient["PatientAge"],
        "PatientWeight": patient["PatientWeight"],
        "PatientIdentityRemoved": "NO",
        "BodyPartExamined": "HIP",
        "ScanningSequence": "SE",
        "SequenceVariant": "SK",
        "ScanOptions": "",
        "MRAcquisitionType": "2D",
        "SliceThickness": site.slice_thickness,
        "RepetitionTime": site.repetition_time,
        "EchoTime": site.echo_time,
        "NumberOfAverages": 2,
        "ImagingFrequency": round(42.577478 * site.field_strength, 6),
        "MagneticFieldStrength": site.field_strength,
        "SpacingBetweenSlices": site.slice_thickness + site.slice_gap,
        "EchoTrainLength": 3,
        "DeviceSerialNumber": site.device_serial_number,
        "SoftwareVersions": site.software_version,
        "ProtocolName": "HIP COR T1",
        "FlipAngle": 90,
        "PatientPosition": "FFS",
        "StudyInstanceUID": generate_uid(entropy_srcs=[token, "study"]),
        "SeriesInstanceUID": generate_uid(entropy_srcs=[token, "series", side]),
        "StudyID": patient["StudyID"],
        "SeriesNumber": 3 if side == "R" else 4,
        "AcquisitionNumber": 1,
        "InstanceNumber": slice_index + 1,
        "ImagePositionPatient": [round(hx - cx * px, 4), y_slice, round(hz + cy * px, 4)],
        "ImageOrientationPatient": [1, 0, 0, 0, 0, -1],
        "FrameOfReferenceUID": generate_uid(entropy_srcs=[token, "frame", side]),
        "Laterality": side,
        "ImageLaterality": side,
        "PositionReferenceIndicator": "",
        "SliceLocation": y_slice,
        "ImageComments": (
            f"{side_word.lower()} hip pain, {patient['PatientName'].split('^')[0].title()} "
            f"referred by Dr {patient['ReferringPhysicianName'].split('^')[0].title()}; "
            "SYNTHETIC PHANTOM"
        ),
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": rows,
        "Columns": cols,
        "PixelSpacing": [px, px],
        "BitsAllocated": 16,
        "BitsStored": site.bits_stored,
        "HighBit": site.bits_stored - 1,
        "PixelRepresentation": 0,
        "WindowCenter": site.window_center,
        "WindowWidth": site.window_width,
        "RescaleIntercept": site.rescale_intercept,
        "RescaleSlope": site.rescale_slope,
        "RescaleType": "US",
    }
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


def _remove_previous(out: Path) -> None:
    """Remove what an earlier phantom study wrote in ``out`` (and nothing else)."""
    sites_csv = out / "sites.csv"
    if sites_csv.exists():
        with sites_csv.open(newline="") as fh:
            for row in csv.DictReader(fh):
                code = str(row.get("code", ""))
                if code and "/" not in code and code not in {".", ".."} and (out / code).is_dir():
                    shutil.rmtree(out / code)
    if (out / "masks").is_dir():
        shutil.rmtree(out / "masks")
    for name in ("manifest.csv", "sites.csv", "geometry.jsonl"):
        (out / name).unlink(missing_ok=True)


def write_phantom_study(
    out_dir: str | Path,
    *,
    patients: int,
    sites: int,
    external_sites: int = 1,
    seed: int,
    labels: Sequence[str] = JIC_LABELS,
    class_frequencies: Sequence[float] | Mapping[str, float] | None = None,
    thresholds: Sequence[float] | None = None,
    bilateral_fraction: float = 0.45,
    multi_image_fraction: float = 0.3,
    borderline_fraction: float = 0.06,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PhantomSummary:
    """Write a synthetic multicentre hip MRI study: DICOM, masks, manifest and sites.

    Parameters
    ----------
    out_dir : path
        Output folder; must be empty or absent unless ``overwrite`` (which removes only what an
        earlier phantom study wrote there).
    patients, sites, external_sites : int
        Patients in all (at least one per site), sites, and how many of the last sites are
        external (they share about 20 % of the patients).
    seed : int
        Everything written is a deterministic function of the arguments.
    labels : sequence of str
        The ordered label scheme, lowest extent first (default JIC A, B, C1, C2).
    class_frequencies : sequence or mapping, optional
        Expected share of hips per class (default A 10 %, B 20 %, C1 35 %, C2 35 %).
    thresholds : sequence of float, optional
        Lateral-extent bounds between classes (``len(labels) - 1``; default JIC thirds and the
        acetabular edge, see :mod:`inference.engine.phantoms`).
    bilateral_fraction, multi_image_fraction, borderline_fraction : float
        Shares of patients with both hips affected, of hips with two adjacent slices, and of
        hips drawn near a class threshold (flagged ``borderline``).
    progress : callable(done, total), optional
        Called after each image.
    """
    labels = tuple(str(label) for label in labels)
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
        raise ValueError(f"labels: got {labels!r}; expected at least two distinct names")
    if thresholds is None:
        if len(labels) != len(JIC_THRESHOLDS) + 1:
            raise ValueError(f"thresholds: required for a scheme of {len(labels)} classes")
        thresholds = JIC_THRESHOLDS
    thresholds = validate_thresholds(thresholds)
    if len(thresholds) != len(labels) - 1:
        raise ValueError(f"thresholds: got {len(thresholds)}; expected {len(labels) - 1} "
                         f"(one fewer than the labels)")
    freq = _frequencies(labels, class_frequencies)
    if not isinstance(sites, int) or sites < 1:
        raise ValueError(f"sites: got {sites!r}; expected an integer >= 1")
    if not isinstance(patients, int) or patients < sites:
        raise ValueError(f"patients: got {patients!r}; expected an integer >= sites ({sites})")
    for name, value in (("bilateral_fraction", bilateral_fraction),
                        ("multi_image_fraction", multi_image_fraction),
                        ("borderline_fraction", borderline_fraction)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name}: got {value!r}; expected a fraction in [0, 1]")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"out_dir: {out} is not empty; pass overwrite=True (--force)")
        _remove_previous(out)
    out.mkdir(parents=True, exist_ok=True)

    site_ss, plan_ss, render_ss = np.random.SeedSequence(seed).spawn(3)
    signatures = make_site_signatures(np.random.default_rng(site_ss), sites,
                                      external_sites=external_sites)
    plan_rng = np.random.default_rng(plan_ss)
    per_site = _site_counts(plan_rng, patients, signatures)
    ids = plan_rng.choice(90_000_000, size=patients, replace=False) + 10_000_000

    # the plan first (cheap, sequential), then images, each from its own child seed
    plan = []
    p = 0
    for site, count in zip(signatures, per_site, strict=True):
        for _ in range(count):
            patient = _fake_patient(plan_rng, f"{int(ids[p]):08d}", site)
            p += 1
            bilateral = plan_rng.random() < bilateral_fraction
            sides = ("R", "L") if bilateral else (("R",) if plan_rng.random() < 0.5 else ("L",))
            hips = []
            for side in sides:
                k = int(plan_rng.choice(len(labels), p=freq))
                hips.append((side, k, bool(plan_rng.random() < borderline_fraction),
                             2 if plan_rng.random() < multi_image_fraction else 1))
            plan.append((site, patient, bilateral, hips))
    total = sum(n for *_, hips in plan for *_, n in hips)
    seeds = iter(render_ss.spawn(total))

    manifest, geometries = [], []
    counts: Counter = Counter()
    done = 0
    for site, patient, _bilateral, hips in plan:
        for side, k, borderline, n_slices in hips:
            hip_rng = np.random.default_rng(next(seeds))
            anatomy = sample_hip_anatomy(hip_rng, k, thresholds=thresholds, borderline=borderline)
            step = (site.slice_thickness + site.slice_gap) * (1 if hip_rng.random() < 0.5 else -1)
            for j in range(n_slices):
                rng = hip_rng if j == 0 else np.random.default_rng(next(seeds))
                if j > 0:
                    anatomy = adjacent_slice_anatomy(rng, anatomy, offset_mm=step)
                pixels, mask, geometry = generate_slice(rng, k, site, side=side,
                                                        thresholds=thresholds, anatomy=anatomy)
                ds = mr_dataset(pixels, site=site, patient=patient, side=side, slice_index=j,
                                geometry=geometry)
                rel = f"{site.code}/{patient['PatientID']}/{side}_{j + 1}"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(out / f"{rel}.dcm", enforce_file_format=True)
                (out / "masks" / rel).parent.mkdir(parents=True, exist_ok=True)
                np.save(out / "masks" / f"{rel}.npy", mask)
                manifest.append({
                    "file": f"{rel}.dcm",
                    "sop_instance_uid": ds.SOPInstanceUID,
                    "patient_key": patient["PatientID"],
                    "side": side,
                    "site": site.code,
                    "label": labels[k],
                    "label_source": LABEL_SOURCE,
                    "mask": f"masks/{rel}.npy",
                    "lateral_extent": f"{geometry['lateral_extent']:.4f}",
                    "beyond_edge": str(geometry["beyond_edge"]).lower(),
                    "borderline": str(geometry["borderline"]).lower(),
                    "synthetic": "true",
                })
                geometries.append({"file": f"{rel}.dcm", "label": labels[k], **geometry})
                counts[(site.code, labels[k])] += 1
                done += 1
                if progress is not None:
                    progress(done, total)

    with (out / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest)
    with (out / "geometry.jsonl").open("w") as fh:
        fh.writelines(json.dumps(g, sort_keys=True) + "\n" for g in geometries)
    images_per_site = Counter(row["site"] for row in manifest)
    with (out / "sites.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SITES_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for site, count in zip(signatures, per_site, strict=True):
            writer.writerow({
                "code": site.code, "name": site.name, "external": str(site.external).lower(),
                "field_strength": site.field_strength, "manufacturer": site.manufacturer,
                "model": site.model, "pixel_spacing": site.pixel_spacing, "matrix": site.matrix,
                "slice_thickness": site.slice_thickness,
                "intensity_scale": site.intensity_scale, "rescale_slope": site.rescale_slope,
                "bits_stored": site.bits_stored, "snr": f"{site.snr:.1f}",
                "bias_strength": f"{site.bias_strength:.3f}", "patients": count,
                "images": images_per_site[site.code], "synthetic": "true",
            })
    return PhantomSummary(
        out_dir=out,
        seed=seed,
        labels=labels,
        sites=tuple(s.code for s in signatures),
        external_sites=tuple(s.code for s in signatures if s.external),
        n_patients=patients,
        n_bilateral=sum(1 for *_, bilateral, _h in plan if bilateral),
        n_hips=sum(len(hips) for *_, hips in plan),
        n_images=total,
        n_multi_image_hips=sum(1 for *_, hips in plan for *_, n in hips if n > 1),
        n_borderline_images=sum(1 for g in geometries if g["borderline"]),
        images=dict(counts),
        patients_per_site=dict(zip((s.code for s in signatures), per_site, strict=True)),
    )
