"""Synthetic midcoronal T1 hip MRI slices: site scanner signatures and noisy images (no Django).

:func:`generate_slice` draws a hip (:mod:`inference.engine.phantom_anatomy`: anatomy, lesion and
the geometric definition of the weight-bearing portion and classes), renders it, and turns it
into what a site's scanner would store: blur, trabecular texture, a smooth bias field, Rician
noise (the magnitude of complex Gaussian noise) at the site's marrow SNR, the site's intensity
scale and rescale slope. :func:`make_site_signatures` draws sites that differ in field
strength, manufacturer, matrix and pixel spacing, intensity scale, contrast, noise and bias, so
that an external site is a genuine domain shift. The study writer is
:func:`inference.engine.phantom_dicom.write_phantom_study`.

References
----------
Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson Med
1995;34:910-914.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from inference.engine.phantom_anatomy import (
    BORDERLINE_WIDTH,
    CLASS_MARGIN,
    JIC_THRESHOLDS,
    HipAnatomy,
    adjacent_slice_anatomy,
    class_of_extent,
    render_hip,
    sample_hip_anatomy,
    validate_thresholds,
)

__all__ = [
    "BORDERLINE_WIDTH", "CLASS_MARGIN", "DEFAULT_CLASS_FREQUENCIES", "JIC_LABELS",
    "JIC_THRESHOLDS", "HipAnatomy", "SiteSignature", "adjacent_slice_anatomy", "class_of_extent",
    "generate_slice", "make_site_signatures", "sample_hip_anatomy", "validate_thresholds",
]

JIC_LABELS: tuple[str, ...] = ("A", "B", "C1", "C2")
#: Real cohorts are dominated by the collapse-prone types C1 and C2.
DEFAULT_CLASS_FREQUENCIES: tuple[float, ...] = (0.10, 0.20, 0.35, 0.35)

# Relative T1 intensities (subcutaneous fat = 1), jittered per site.
_TISSUE = {
    "fat": 1.0,
    "marrow_femur": 0.90,
    "marrow_pelvis": 0.68,
    "muscle": 0.30,
    "cortex": 0.03,
    "cartilage": 0.36,
    "fluid": 0.16,
    "labrum": 0.05,
    "band": 0.16,
    "skin": 0.55,
    "fascia": 0.12,
    "urine": 0.12,
    "vessel": 0.04,
}

_MANUFACTURERS = (
    ("SIEMENS", {1.5: ("MAGNETOM Avanto", "MAGNETOM Aera"), 3.0: ("MAGNETOM Skyra",)},
     "syngo MR E11", 12),
    ("GE MEDICAL SYSTEMS", {1.5: ("SIGNA HDxt", "Optima MR450w"), 3.0: ("DISCOVERY MR750",)},
     "DV26.0_R03", 16),
    ("Philips Medical Systems", {1.5: ("Ingenia", "Achieva"), 3.0: ("Ingenia", "Achieva dStream")},
     "5.6.1", 12),
    ("CANON_MEC", {1.5: ("Vantage Orian",), 3.0: ("Vantage Titan 3T",)}, "V8.0", 16),
)
# Distinct (matrix, pixel spacing) pairs, field of view 200-225 mm.
_GRIDS = (
    (256, 0.78), (288, 0.73), (320, 0.66), (352, 0.60), (384, 0.56),
    (256, 0.86), (320, 0.69), (384, 0.58), (288, 0.70), (336, 0.625),
)
_TOWNS = ("Northfield", "Easton", "Westbrook", "Southgate", "Lakeside", "Hillcrest",
          "Riverton", "Oakdale", "Fairview", "Brookhaven", "Kingsport", "Maplewood")
_KINDS = ("University Hospital", "General Hospital", "Medical Center", "Regional Hospital",
          "Orthopaedic Institute")


@dataclass(frozen=True)
class SiteSignature:
    """A site's scanner and reconstruction: what makes its images recognisably its own.

    ``intensity_scale`` is the real-world value (after the DICOM rescale) of fat at unit bias;
    stored values are ``real / rescale_slope``. ``snr`` is the nominal marrow SNR of the site
    (each image varies by up to 10 %, within 15-40). ``tissue`` holds relative T1 intensities.
    """

    code: str
    name: str
    external: bool
    field_strength: float  # tesla
    manufacturer: str
    model: str
    software_version: str
    pixel_spacing: float  # mm, square pixels
    matrix: int  # rows == columns
    slice_thickness: float  # mm
    slice_gap: float  # mm
    intensity_scale: float
    rescale_slope: float
    rescale_intercept: float
    bits_stored: int
    snr: float
    bias_strength: float
    blur_px: float
    repetition_time: float  # ms
    echo_time: float  # ms
    window_center: float
    window_width: float
    institution_address: str
    station_name: str
    device_serial_number: str
    tissue: dict[str, float] = field(default_factory=dict)

    @property
    def field_of_view(self) -> float:
        """Field of view in mm."""
        return self.matrix * self.pixel_spacing


def make_site_signatures(
    rng: np.random.Generator, n_sites: int, *, external_sites: int = 1
) -> tuple[SiteSignature, ...]:
    """Draw ``n_sites`` distinct scanner signatures; the last ``external_sites`` are external.

    Every site gets its own (matrix, pixel spacing) pair and an intensity scale at least 15 %
    away from every other site's. External sites get a manufacturer and, where possible, a field
    strength that the internal sites do not have, so they are a genuine domain shift.
    """
    if not isinstance(n_sites, int) or n_sites < 1:
        raise ValueError(f"n_sites: got {n_sites!r}; expected an integer >= 1")
    if not isinstance(external_sites, int) or not 0 <= external_sites < n_sites:
        raise ValueError(
            f"external_sites: got {external_sites!r}; expected an integer in [0, {n_sites - 1}]"
            " (at least one internal site)"
        )
    n_internal = n_sites - external_sites
    grids = [_GRIDS[i] for i in rng.permutation(len(_GRIDS))]
    while len(grids) < n_sites:  # more sites than the palette: distinct random grids
        g = (int(rng.choice([256, 288, 320, 352, 384])), round(float(rng.uniform(0.55, 0.86)), 3))
        if g not in grids:
            grids.append(g)
    makers = list(rng.permutation(len(_MANUFACTURERS)))
    internal_makers = [makers[i % max(1, len(makers) - 1)] for i in range(n_internal)]
    unused = [m for m in makers if m not in internal_makers] or [makers[-1]]
    strengths = [1.5 if i % 2 == 0 else 3.0 for i in range(n_internal)]
    majority = 1.5 if strengths.count(1.5) >= strengths.count(3.0) else 3.0
    scales: list[float] = []
    names = [(str(t), str(k)) for t, k in zip(rng.permutation(_TOWNS), rng.permutation(
        np.resize(_KINDS, len(_TOWNS))), strict=True)]
    sites = []
    for i in range(n_sites):
        external = i >= n_internal
        maker = unused[(i - n_internal) % len(unused)] if external else internal_makers[i]
        tesla = (3.0 if majority == 1.5 else 1.5) if external else strengths[i]
        manufacturer, models, software, bits = _MANUFACTURERS[int(maker)]
        model = str(rng.choice(models[tesla]))
        slope = 2.0 if i % 3 == 1 else 1.0  # some scanners store half the real value
        for _ in range(200):
            scale = float(np.exp(rng.uniform(np.log(450), np.log(2600))))
            if all(abs(math.log(scale / s)) > math.log(1.15) for s in scales):
                break
        scales.append(scale)
        if bits == 12:  # leave headroom for bias and noise under 4095 stored
            scale = min(scale, 2400.0 * slope)
        tissue = dict(_TISSUE)
        for key, spread in (("muscle", 0.2), ("marrow_pelvis", 0.12), ("cartilage", 0.15),
                            ("marrow_femur", 0.05), ("fluid", 0.2)):
            tissue[key] *= float(rng.uniform(1 - spread, 1 + spread))
        if tesla == 3.0:  # longer T1 at 3 T: a little less muscle and cartilage signal
            tissue["muscle"] *= 0.9
            tissue["cartilage"] *= 0.92
        town, kind = names[i % len(names)]
        sites.append(SiteSignature(
            code=f"SITE{i + 1}",
            name=f"{town} {kind}",
            external=external,
            field_strength=tesla,
            manufacturer=manufacturer,
            model=model,
            software_version=software,
            pixel_spacing=float(grids[i][1]),
            matrix=int(grids[i][0]),
            slice_thickness=float(rng.choice([4.0, 5.0] if tesla == 1.5 else [3.0, 3.5])),
            slice_gap=float(rng.choice([0.4, 0.5, 1.0])),
            intensity_scale=round(scale, 1),
            rescale_slope=slope,
            rescale_intercept=0.0,
            bits_stored=bits,
            snr=float(rng.uniform(17, 25) if tesla == 1.5 else rng.uniform(27, 37)),
            bias_strength=float(rng.uniform(0.06, 0.18) + (0.08 if tesla == 3.0 else 0.0)),
            blur_px=float(rng.uniform(0.45, 0.9)),
            repetition_time=float(round(rng.uniform(420, 720), 0)),
            echo_time=float(round(rng.uniform(8, 15), 1)),
            window_center=round(scale * float(rng.uniform(0.45, 0.6)), 0),
            window_width=round(scale * float(rng.uniform(0.95, 1.25)), 0),
            institution_address=f"{int(rng.integers(1, 999))} Hospital Road, {town}",
            station_name=f"MR{int(rng.integers(1, 9))}{town[:3].upper()}",
            device_serial_number=str(int(rng.integers(10_000, 99_999))),
            tissue=tissue,
        ))
    return tuple(sites)


def _bias_field(rng, n: int, strength: float) -> np.ndarray:
    """Smooth multiplicative field exp(strength * g), g in [-1, 1] from low-frequency waves.

    Each wave cos(2 pi (fx x + fy y) + ph) is evaluated as a sum of two outer products.
    """
    g = np.zeros((n, n), dtype=np.float32)
    coords = np.arange(n, dtype=np.float64) / n
    for _ in range(4):
        fx, fy = rng.uniform(-0.9, 0.9, size=2)
        ph = rng.uniform(0, 2 * math.pi)
        amp = rng.uniform(0.5, 1.0)
        ax = 2 * np.pi * fx * coords + ph
        by = 2 * np.pi * fy * coords
        g += (np.outer(np.cos(by), amp * np.cos(ax))
              - np.outer(np.sin(by), amp * np.sin(ax))).astype(np.float32)
    g /= np.float32(max(1e-6, float(np.abs(g).max())))
    return np.exp(np.float32(strength) * g)


def generate_slice(
    rng: np.random.Generator,
    jic_class_index: int | None,
    signature: SiteSignature,
    *,
    side: str = "R",
    thresholds: Sequence[float] = JIC_THRESHOLDS,
    borderline: bool = False,
    anatomy: HipAnatomy | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One synthetic midcoronal T1 slice of a hip with a lesion of the given class.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness (anatomy when not given, texture, bias field, noise).
    jic_class_index : int or None
        Index of the class in the ordered label scheme (0 = least lateral extent; JIC by
        default: 0 A, 1 B, 2 C1, 3 C2). ``None`` draws a hip without a lesion.
    signature : SiteSignature
        The site's scanner: matrix, pixel spacing, intensity scale, SNR, bias, blur.
    side : {"R", "L"}
        The hip; a left hip is the mirror image (radiological display: lateral on the right).
    thresholds : sequence of float
        Upper extent bounds of every class but the last, default JIC (the definition of the
        extent is in :mod:`inference.engine.phantom_anatomy`).
    borderline : bool
        Draw the extent within ``BORDERLINE_WIDTH`` of a threshold of the class.
    anatomy : HipAnatomy, optional
        Use this hip (e.g. from :func:`adjacent_slice_anatomy`) instead of drawing one.

    Returns
    -------
    pixels : ndarray of uint16, shape (matrix, matrix)
        Stored values (real value = stored * rescale_slope + rescale_intercept).
    lesion_mask : ndarray of bool, same shape
        The necrotic area, low-signal band included; all False without a lesion.
    geometry : dict
        JSON-serialisable: pixel positions (``*_px``: column, row, same orientation as the
        pixels), anatomy in mm and degrees, ``lateral_extent``, ``class_index``, ``borderline``,
        ``beyond_edge``, ``snr`` and ``noise_sigma`` (stored units), ``background_columns``
        (a column range of air only, for noise measurements).
    """
    if side not in ("R", "L"):
        raise ValueError(f"side: got {side!r}; expected 'R' or 'L'")
    if anatomy is None:
        anatomy = sample_hip_anatomy(rng, jic_class_index, thresholds=thresholds,
                                     borderline=borderline)
    elif anatomy.class_index != (None if jic_class_index is None else int(jic_class_index)):
        raise ValueError(
            f"jic_class_index: got {jic_class_index!r}; the anatomy given was drawn for class "
            f"{anatomy.class_index!r}"
        )
    n, px = signature.matrix, signature.pixel_spacing
    cx = anatomy.centre[0] * n - 0.5
    cy = anatomy.centre[1] * n - 0.5
    obj, mask, pts = render_hip(anatomy, signature.tissue, n=n, px=px, cx=cx, cy=cy)
    tex = ndimage.gaussian_filter(rng.standard_normal((n, n), dtype=np.float32), 1.6 / px)
    tex *= np.float32(0.05 / max(1e-6, float(tex.std())))
    obj *= 1.0 + tex
    obj = ndimage.gaussian_filter(obj, signature.blur_px)
    bias = _bias_field(rng, n, signature.bias_strength)
    snr = float(np.clip(signature.snr * rng.uniform(0.9, 1.1), 15.5, 39.5))
    marrow = signature.tissue["marrow_femur"] * anatomy.marrow_factor
    sigma = marrow * float(bias[int(round(cy)), int(round(cx))]) / snr
    re = obj * bias + rng.standard_normal((n, n), dtype=np.float32) * np.float32(sigma)
    im = rng.standard_normal((n, n), dtype=np.float32) * np.float32(sigma)
    gain = signature.intensity_scale / signature.rescale_slope
    stored = np.rint(np.hypot(re, im) * np.float32(gain))
    pixels = np.clip(stored, 0, 2**signature.bits_stored - 1).astype(np.uint16)

    s_med, s_edge = anatomy.wb_limits()
    col = lambda s: cx - s / px  # noqa: E731  (lateral coordinate mm -> canonical column)
    air_stop = int(math.floor(cx + (pts["x_skin"] - 3.0 - 3 * signature.blur_px * px) / px))
    geometry = {
        "side": side,
        "rows": n,
        "columns": n,
        "pixel_spacing_mm": px,
        "medial_direction": 1,
        "head_center_px": [cx, cy],
        "head_radius_mm": anatomy.radius,
        "head_diameter_mm": anatomy.head_diameter,
        "neck_shaft_angle_deg": anatomy.neck_shaft_angle,
        "ce_angle_deg": anatomy.ce_angle,
        "joint_space_mm": anatomy.joint_space,
        "acetabular_radius_mm": anatomy.acetabular_radius,
        "acetabular_edge_px": [cx + pts["E"][0] / px, cy + pts["E"][1] / px],
        "wb_medial_x_px": col(s_med),
        "wb_lateral_x_px": col(s_edge),
        "class_index": anatomy.class_index,
        "lateral_extent": anatomy.extent,
        "beyond_edge": bool(anatomy.extent > 1.0),
        "borderline": anatomy.borderline,
        "lesion_lateral_x_px": col(pts["s_tip"]) if anatomy.class_index is not None else None,
        "band_thickness_mm": anatomy.band_thickness,
        "slice_offset_mm": anatomy.slice_offset,
        "snr": snr,
        "noise_sigma": sigma * gain,
        "background_columns": [0, max(0, air_stop)],
    }
    if side == "L":
        pixels, mask = pixels[:, ::-1].copy(), mask[:, ::-1].copy()
        flip = lambda c: (n - 1) - c  # noqa: E731
        geometry["medial_direction"] = -1
        for key in ("wb_medial_x_px", "wb_lateral_x_px", "lesion_lateral_x_px"):
            if geometry[key] is not None:
                geometry[key] = flip(geometry[key])
        for key in ("head_center_px", "acetabular_edge_px"):
            geometry[key] = [flip(geometry[key][0]), geometry[key][1]]
        geometry["background_columns"] = [n - max(0, air_stop), n]
    geometry = {k: (float(v) if isinstance(v, float) else v) for k, v in geometry.items()}
    return pixels, mask, geometry
