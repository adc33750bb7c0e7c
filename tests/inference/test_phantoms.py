"""The phantom generator: determinism, valid DICOM, labels that the lesion geometry really has,
anatomy and noise within the published ranges, cohort structure and site differences.

The JIC rule (Sugano et al., J Orthop Sci 2002;7:601-605) is recomputed here from each lesion
mask and the recorded landmarks only, not with the generator's own helpers.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from inference.engine import phantoms as ph
from inference.engine.phantom_dicom import MANIFEST_COLUMNS, write_phantom_study

JIC_BOUNDS = (1 / 3, 2 / 3, 1.0)
IDENTIFYING = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "OtherPatientIDs",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "StationName", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate",
    "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "AccessionNumber", "StudyID",
    "StudyDescription", "SeriesDescription", "ImageComments", "DeviceSerialNumber",
)


def mask_extent(mask: np.ndarray, geometry: dict) -> float:
    """Lateral extent of a lesion from its mask: the most lateral column relative to the
    weight-bearing portion (medial limit 0, lateral acetabular edge 1), pixel centres."""
    cols = np.nonzero(mask.any(axis=0))[0]
    med, lat = geometry["wb_medial_x_px"], geometry["wb_lateral_x_px"]
    return float(np.max((cols - med) / (lat - med)))


def jic_class(extent: float) -> int:
    return sum(extent > b for b in JIC_BOUNDS)


def tolerance(geometry: dict) -> float:
    """One and a half pixels as a fraction of the weight-bearing portion."""
    return 1.5 / abs(geometry["wb_lateral_x_px"] - geometry["wb_medial_x_px"])


@pytest.fixture(scope="module")
def signatures():
    return ph.make_site_signatures(np.random.default_rng(11), 4, external_sites=1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A few hundred patients, written once for the cohort-level tests."""
    out = tmp_path_factory.mktemp("cohort")
    summary = write_phantom_study(out, patients=200, sites=4, external_sites=1, seed=2024)
    with (out / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with (out / "sites.csv").open(newline="") as fh:
        sites = list(csv.DictReader(fh))
    geometry = {}
    with (out / "geometry.jsonl").open() as fh:
        for line in fh:
            g = json.loads(line)
            geometry[g["file"]] = g
    return out, summary, rows, sites, geometry


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_it_writes_byte_identical_files_for_a_seed(tmp_path):
    a = _files_of(tmp_path / "a", seed=5)
    b = _files_of(tmp_path / "b", seed=5)
    assert a.keys() == b.keys()
    assert any(k.endswith(".dcm") for k in a) and any(k.endswith(".npy") for k in a)
    assert [k for k in a if a[k] != b[k]] == []


def test_different_seeds_give_different_studies(tmp_path):
    a = _files_of(tmp_path / "a", seed=5)
    c = _files_of(tmp_path / "c", seed=6)
    assert a["manifest.csv"] != c["manifest.csv"]
    dcm_a = sorted(v for k, v in a.items() if k.endswith(".dcm"))
    dcm_c = sorted(v for k, v in c.items() if k.endswith(".dcm"))
    assert not set(dcm_a) & set(dcm_c)


def _files_of(out: Path, *, seed: int) -> dict[str, bytes]:
    write_phantom_study(out, patients=3, sites=2, external_sites=1, seed=seed)
    return _files(out)


def test_the_dicom_files_are_valid_mr_images_with_fake_identifying_tags(tmp_path):
    tmp_path = tmp_path / "out"  # the folder itself holds the isolated media root
    write_phantom_study(tmp_path, patients=6, sites=3, external_sites=1, seed=3,
                        multi_image_fraction=1.0, bilateral_fraction=1.0)
    with (tmp_path / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    with (tmp_path / "sites.csv").open(newline="") as fh:
        sites = {row["code"]: row for row in csv.DictReader(fh)}
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    study_of, series_of = defaultdict(set), defaultdict(set)
    for row in rows:
        ds = pydicom.dcmread(tmp_path / row["file"])
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == MRImageStorage == ds.file_meta.MediaStorageSOPClassUID
        assert ds.SOPInstanceUID == row["sop_instance_uid"]
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        pixels = ds.pixel_array
        assert pixels.dtype == np.uint16 and pixels.shape == (ds.Rows, ds.Columns)
        assert pixels.max() < 2 ** ds.BitsStored and ds.HighBit == ds.BitsStored - 1
        assert (ds.SamplesPerPixel, ds.PhotometricInterpretation) == (1, "MONOCHROME2")
        assert (ds.BitsAllocated, ds.PixelRepresentation) == (16, 0)
        site = sites[row["site"]]
        spacing = float(site["pixel_spacing"])
        assert float(ds.PixelSpacing[0]) == float(ds.PixelSpacing[1]) == spacing
        assert float(ds.MagneticFieldStrength) == float(site["field_strength"])
        assert float(ds.RescaleSlope) == float(site["rescale_slope"]) and ds.RescaleIntercept == 0
        assert ds.SliceThickness > 0 and ds.WindowWidth > 0 and ds.WindowCenter > 0
        assert ds.Manufacturer == site["manufacturer"] and ds.BodyPartExamined == "HIP"
        assert ds.Laterality == ds.ImageLaterality == row["side"]
        assert ds.PatientID == row["patient_key"]
        assert "SYNTHETIC" in ds.SeriesDescription and row["synthetic"] == "true"
        for keyword in IDENTIFYING:
            assert str(ds.get(keyword, "")).strip(), keyword
        mask = np.load(tmp_path / row["mask"])
        assert mask.dtype == bool and mask.shape == pixels.shape and mask.any()
        study_of[row["patient_key"]].add(ds.StudyInstanceUID)
        series_of[(row["patient_key"], row["side"])].add(
            (ds.SeriesInstanceUID, ds.FrameOfReferenceUID))
    assert all(len(v) == 1 for v in study_of.values())  # one study per patient
    assert all(len(v) == 1 for v in series_of.values())  # one series per hip
    assert len({next(iter(v)) for v in series_of.values()}) == len(series_of)
    assert len({row["sop_instance_uid"] for row in rows}) == len(rows)


@pytest.mark.parametrize("side", ["R", "L"])
def test_the_label_agrees_with_the_lesion_mask_geometry(signatures, side):
    rng = np.random.default_rng(77 if side == "R" else 78)
    for i in range(48):
        k, borderline = i % 4, i % 6 == 5
        pixels, mask, g = ph.generate_slice(rng, k, signatures[i % 4], side=side,
                                            borderline=borderline)
        extent = mask_extent(mask, g)
        assert extent <= g["lateral_extent"] + 1e-9
        assert extent == pytest.approx(g["lateral_extent"], abs=tolerance(g))
        if borderline:
            assert min(abs(g["lateral_extent"] - b) for b in JIC_BOUNDS) <= 0.04
            if jic_class(extent) != k:
                assert min(abs(extent - b) for b in JIC_BOUNDS) <= tolerance(g)
        else:
            assert jic_class(extent) == k, (i, extent, g["lateral_extent"])
        assert g["beyond_edge"] == (k == 3)
        # the lesion sits under the dome, inside the femoral head
        cx, cy = g["head_center_px"]
        rows, cols = np.nonzero(mask)
        r_px = g["head_radius_mm"] / g["pixel_spacing_mm"]
        assert np.all(np.hypot(cols - cx, rows - cy) <= r_px + 0.5)
        assert rows.mean() < cy
        # the lateral side is where the geometry says it is
        lateral_is_left = g["wb_lateral_x_px"] < g["wb_medial_x_px"]
        assert lateral_is_left == (side == "R") == (g["medial_direction"] == 1)


@pytest.mark.slow
def test_the_written_labels_agree_with_the_written_masks(cohort):
    out, _, rows, _, geometry = cohort
    for row in rows:
        g = geometry[row["file"]]
        extent = mask_extent(np.load(out / row["mask"]), g)
        assert extent == pytest.approx(float(row["lateral_extent"]), abs=tolerance(g) + 1e-4)
        expected = ph.JIC_LABELS[jic_class(extent)]
        if row["borderline"] == "false":
            assert row["label"] == expected, row["file"]
        elif row["label"] != expected:
            assert min(abs(extent - b) for b in JIC_BOUNDS) <= tolerance(g)
        assert (row["beyond_edge"] == "true") == (row["label"] == "C2")


def test_anatomy_is_within_the_published_ranges():
    rng = np.random.default_rng(5)
    for i in range(300):
        a = ph.sample_hip_anatomy(rng, i % 4, borderline=i % 7 == 0)
        for b in (a, ph.adjacent_slice_anatomy(rng, a, offset_mm=4.0)):
            assert 44.0 <= b.head_diameter <= 50.0
            assert 125.0 <= b.neck_shaft_angle <= 135.0
            assert 25.0 <= b.ce_angle <= 40.0
            assert 3.0 <= b.joint_space <= 5.0
            assert 1.5 <= b.band_thickness <= 4.0
            assert ph.class_of_extent(b.extent) == a.class_index == b.class_index


def test_the_recorded_landmarks_match_the_angles(signatures):
    """The acetabular edge lies at the CE angle from the vertical through the head centre, on
    the acetabular circle, and it is the lateral limit of the weight-bearing portion."""
    rng = np.random.default_rng(8)
    for side in ("R", "L"):
        _, _, g = ph.generate_slice(rng, 2, signatures[0], side=side)
        px = g["pixel_spacing_mm"]
        (cx, cy), (ex, ey) = g["head_center_px"], g["acetabular_edge_px"]
        ce = math.degrees(math.atan2(abs(ex - cx), cy - ey))
        assert ce == pytest.approx(g["ce_angle_deg"], abs=1e-6)
        assert math.hypot(ex - cx, ey - cy) * px == pytest.approx(g["acetabular_radius_mm"])
        assert g["acetabular_radius_mm"] - g["head_radius_mm"] == pytest.approx(
            g["joint_space_mm"])
        assert g["wb_lateral_x_px"] == pytest.approx(ex)
        assert (ex < cx) == (side == "R")


def _median_at(values, g, angle_deg, radius_mm):
    """Median of 5 x 5 pixels around the point at ``angle_deg`` from the vertical (positive
    lateral) and ``radius_mm`` from the head centre."""
    a = math.radians(angle_deg)
    px, (cx, cy) = g["pixel_spacing_mm"], g["head_center_px"]
    col = int(round(cx - g["medial_direction"] * radius_mm * math.sin(a) / px))
    row = int(round(cy - radius_mm * math.cos(a) / px))
    return float(np.median(values[row - 2 : row + 3, col - 2 : col + 3]))


def test_the_rim_is_drawn_where_the_geometry_says(signatures):
    """Just medial of the recorded acetabular edge the image shows roof bone (marrow), just
    lateral of it soft tissue: the edge that decides C1 vs C2 is the one a reader sees."""
    rng = np.random.default_rng(9)
    for i in range(16):
        pixels, _, g = ph.generate_slice(rng, i % 4, signatures[i % 4], side="RL"[i % 2])
        values = pixels.astype(float)
        ce, r_ac = g["ce_angle_deg"], g["acetabular_radius_mm"]
        roof = _median_at(values, g, ce - 20, r_ac + 5)
        beyond = _median_at(values, g, ce + 14, r_ac + 2)
        assert roof > 1.5 * beyond, (i, roof, beyond)


def test_marrow_snr_is_between_15_and_40(signatures):
    """SNR = mean of a marrow disc (radius 0.3 R at the centre of a head without lesion) over
    sigma, the noise of each complex channel, from the air columns: magnitude noise there is
    Rayleigh, std = sigma * sqrt(2 - pi/2) and mean/std = sqrt(pi/2)/sqrt(2 - pi/2) = 1.913
    (Gudbjartsson & Patz, Magn Reson Med 1995;34:910-914)."""
    rng = np.random.default_rng(21)
    for site in signatures:
        for _ in range(2):
            pixels, mask, g = ph.generate_slice(rng, None, site)
            assert not mask.any()
            values = pixels.astype(float)
            c0, c1 = g["background_columns"]
            assert c1 - c0 >= 10
            air = values[:, c0:c1]
            assert air.mean() / air.std() == pytest.approx(1.913, rel=0.06)  # Rayleigh, not Gauss
            sigma = air.std() / math.sqrt(2 - math.pi / 2)
            cx, cy = g["head_center_px"]
            yy, xx = np.mgrid[: values.shape[0], : values.shape[1]]
            r = 0.3 * g["head_radius_mm"] / g["pixel_spacing_mm"]
            marrow = values[np.hypot(xx - cx, yy - cy) <= r]
            snr = marrow.mean() / sigma
            assert 15.0 <= snr <= 40.0
            assert snr == pytest.approx(g["snr"], rel=0.12)


@pytest.mark.slow
def test_the_cohort_has_real_world_structure(cohort):
    _, summary, rows, sites, _ = cohort
    hips = {(r["patient_key"], r["side"]): r["label"] for r in rows}
    share = Counter(hips.values())
    for label, asked in zip(ph.JIC_LABELS, (0.10, 0.20, 0.35, 0.35), strict=True):
        assert share[label] / len(hips) == pytest.approx(asked, abs=0.07), label
    assert min(share["C1"], share["C2"]) > max(share["A"], share["B"])
    sides = defaultdict(set)
    for patient, side in hips:
        sides[patient].add(side)
    bilateral = sum(len(v) == 2 for v in sides.values())
    assert 0.3 <= bilateral / len(sides) <= 0.6 and bilateral == summary.n_bilateral
    images = Counter((r["patient_key"], r["side"]) for r in rows)
    assert 0.15 <= sum(n == 2 for n in images.values()) / len(images) <= 0.45
    labels_per_hip = defaultdict(set)
    for r in rows:
        labels_per_hip[(r["patient_key"], r["side"])].add(r["label"])
    assert all(len(v) == 1 for v in labels_per_hip.values())
    external = [s["code"] for s in sites if s["external"] == "true"]
    assert external == [sites[-1]["code"]]
    patients_ext = {r["patient_key"] for r in rows if r["site"] in external}
    assert 0.12 <= len(patients_ext) / len(sides) <= 0.28
    assert 0 < summary.n_borderline_images < 0.15 * len(rows)
    assert sum(summary.images.values()) == len(rows) == summary.n_images


def test_sites_have_distinct_scanner_signatures(signatures):
    grids = {(s.matrix, s.pixel_spacing) for s in signatures}
    assert len(grids) == len(signatures)
    scales = sorted(s.intensity_scale for s in signatures)
    assert all(b / a > 1.15 for a, b in zip(scales, scales[1:], strict=False))
    internal = [s for s in signatures if not s.external]
    (external,) = [s for s in signatures if s.external]
    assert external.manufacturer not in {s.manufacturer for s in internal}
    assert len({s.rescale_slope for s in signatures}) > 1
    # the difference shows in the pixels: marrow in real units follows each site's scale
    rng = np.random.default_rng(4)
    levels = []
    for s in signatures:
        pixels, _, g = ph.generate_slice(rng, None, s)
        cx, cy = (int(round(v)) for v in g["head_center_px"])
        real = pixels[cy - 3 : cy + 4, cx - 3 : cx + 4].astype(float) * s.rescale_slope
        levels.append(real.mean() / s.intensity_scale)
        assert pixels.shape == (s.matrix, s.matrix)
    assert np.ptp(levels) < 0.5  # relative to its own scale, marrow is marrow everywhere


def test_the_label_scheme_and_frequencies_are_parameters(tmp_path):
    tmp_path = tmp_path / "out"
    write_phantom_study(tmp_path, patients=12, sites=2, seed=1, labels=("I", "II", "III", "IV"),
                        class_frequencies={"I": 0.5, "II": 0.5})
    with (tmp_path / "manifest.csv").open(newline="") as fh:
        labels = {row["label"] for row in csv.DictReader(fh)}
    assert labels == {"I", "II"}


def test_a_three_class_scheme_uses_its_own_thresholds(signatures):
    rng = np.random.default_rng(2)
    for k in range(3):
        _, mask, g = ph.generate_slice(rng, k, signatures[1], thresholds=(0.5, 1.0))
        extent = mask_extent(mask, g)
        assert sum(extent > b for b in (0.5, 1.0)) == k


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"class_frequencies": (0.5, 0.5)}, "class_frequencies"),
        ({"external_sites": 2}, "external_sites"),
        ({"patients": 1}, "patients"),
        ({"labels": ("A", "B", "C")}, "thresholds"),
        ({"thresholds": (0.5, 0.4, 1.0)}, "thresholds"),
    ],
)
def test_it_rejects_bad_arguments_by_name(tmp_path, kwargs, message):
    args = {"patients": 4, "sites": 2, "external_sites": 1, "seed": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        write_phantom_study(tmp_path / "out", **args)


def test_it_refuses_a_non_empty_folder_unless_told(tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        write_phantom_study(tmp_path, patients=2, sites=2, seed=1)
    write_phantom_study(tmp_path, patients=4, sites=2, seed=1, overwrite=True)
    write_phantom_study(tmp_path, patients=2, sites=2, seed=2, overwrite=True)
    second = set(_files(tmp_path))
    assert "notes.txt" in second
    with (tmp_path / "manifest.csv").open(newline="") as fh:
        listed = {row["file"] for row in csv.DictReader(fh)}
    assert {f for f in second if f.endswith(".dcm")} == listed
