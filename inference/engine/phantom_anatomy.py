"""Hip anatomy of the phantoms: a femoral head with a necrotic lesion of known extent (no Django).

The anatomy is drawn with signed distance functions (SDF, negative inside) on the pixel grid, in
millimetres, in a *canonical* frame: a right hip in radiological display, so the patient's lateral
side is on the image's left. Left hips are the mirror image. In that frame ``x`` grows medially
and ``y`` grows downwards (rows); angles on the head are measured from straight up, positive
towards lateral, so the point at angle ``phi`` and radius ``rho`` from the head centre is
``rho * (-sin phi, -cos phi)`` and its *lateral coordinate* is ``s = rho * sin phi``.

Weight-bearing portion and class
--------------------------------
The weight-bearing portion is the part of the femoral head's articular surface under the
acetabular roof (the sourcil): from the medial end of the roof, where the acetabular fossa
begins (angle ``roof_medial_deg`` < 0), to the lateral acetabular edge (angle = the lateral
centre-edge angle of Wiberg). Both limits are bony points on the acetabulum (radius
``R_ac = R + joint space``) and are compared along the medio-lateral image axis:
``s_med = R_ac sin(roof_medial)``, ``s_edge = R_ac sin(CE)``. The lesion's *lateral extent* is

    extent = (s_lesion - s_med) / (s_edge - s_med)

where ``s_lesion`` is the lateral coordinate of the most lateral point of the necrotic area
(the lesion mask, low-signal band included). With the default thresholds ``(1/3, 2/3, 1)``,
``extent <= 1/3`` is JIC type A, ``<= 2/3`` B, ``<= 1`` C1 (within the lateral acetabular edge) and
``> 1`` C2 (beyond it). The recorded geometry lets anyone recompute this from the mask alone:
``extent = (col - wb_medial_x_px) / (wb_lateral_x_px - wb_medial_x_px)`` for the mask's most
lateral column ``col`` (the formula is the same for both sides).

Class ``k`` of a scheme with thresholds ``t`` means ``t[k-1] < extent <= t[k]``; cases whose
extent lies within ``BORDERLINE_WIDTH`` of a threshold are flagged *borderline*, the others are
kept at least ``CLASS_MARGIN`` away from every threshold so that one pixel of discretisation
never changes their class.

The anatomical ranges (femoral head 44-50 mm, neck-shaft angle 125-135 deg, joint space 3-5 mm,
lateral centre-edge angle 25-40 deg, band 1.5-4 mm) are those of the project's DESIGN, "Phantom
data".

References
----------
Sugano N, Atsumi T, Ohzono K, et al. The 2001 revised criteria for diagnosis, classification,
and staging of idiopathic osteonecrosis of the femoral head. J Orthop Sci 2002;7:601-605.
Wiberg G. Studies on dysplastic acetabula and congenital subluxation of the hip joint. Acta Chir
Scand 1939;83(Suppl 58). (lateral centre-edge angle)
Quilez I. Distance functions (2D). https://iquilezles.org/articles/distfunctions2d/ (SDF
primitives, polynomial smooth minimum)
"""


from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

#: Upper bounds of the lateral extent of each class but the last (JIC: thirds, then the edge).
JIC_THRESHOLDS: tuple[float, ...] = (1 / 3, 2 / 3, 1.0)
CLASS_MARGIN = 0.08
BORDERLINE_WIDTH = 0.04
_MIN_EXTENT = 0.12  # a lesion reaches at least this far into the weight-bearing portion
_MAX_TIP = 0.93  # the lesion's lateral tip stays at most this fraction of R lateral of centre


@dataclass(frozen=True)
class HipAnatomy:
    """Geometry of one hip in one slice, in mm and degrees (canonical frame, see module doc)."""

    head_diameter: float
    neck_shaft_angle: float
    shaft_tilt: float
    neck_length: float
    neck_ratio: float
    ce_angle: float
    joint_space: float
    roof_medial_deg: float
    fossa_depth: float
    wall_thickness: float
    roof_thickness: float
    ilium: tuple[float, ...]  # lateral tilt 1, notch height, lateral tilt 2, medial tilts, brim
    trochanter: tuple[float, ...]  # GT height factor, GT radius, LT offset, LT radius
    cortex: tuple[float, float]  # head/neck, diaphysis (mm)
    soft: tuple[float, ...]  # muscle, fat, skin curvature, obturator, gluteal planes
    centre: tuple[float, float]  # head centre as a fraction of (columns, rows)
    marrow_factor: float
    class_index: int | None
    extent: float
    extent_window: tuple[float, float]
    borderline: bool
    lesion: tuple[float, ...]  # medial offset, depth ratio, wave amp, cycles, phase, interior
    band_thickness: float
    scar: float  # physeal scar contrast (0: none)
    slice_offset: float = 0.0

    @property
    def radius(self) -> float:
        return self.head_diameter / 2

    @property
    def acetabular_radius(self) -> float:
        return self.radius + self.joint_space

    def wb_limits(self) -> tuple[float, float]:
        """Lateral coordinates (mm) of the weight-bearing portion's medial and lateral limits."""
        r_ac = self.acetabular_radius
        return (r_ac * math.sin(math.radians(self.roof_medial_deg)),
                r_ac * math.sin(math.radians(self.ce_angle)))

    def max_extent(self) -> float:
        s_med, s_edge = self.wb_limits()
        return (_MAX_TIP * self.radius - s_med) / (s_edge - s_med)


def validate_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    """Check the class thresholds of the lateral extent: increasing, in (0, 1.05]."""
    t = tuple(float(v) for v in thresholds)
    if len(t) < 1 or any(b <= a for a, b in zip(t, t[1:], strict=False)):
        raise ValueError(f"thresholds: got {thresholds!r}; expected an increasing sequence")
    if t[0] <= _MIN_EXTENT + 0.02 or t[-1] > 1.05:
        raise ValueError(
            f"thresholds: got {thresholds!r}; expected values in ({_MIN_EXTENT + 0.02}, 1.05]"
        )
    return t


def class_of_extent(extent: float, thresholds: Sequence[float] = JIC_THRESHOLDS) -> int:
    """Index of the class of a lateral extent: ``k`` with ``t[k-1] < extent <= t[k]``."""
    return int(np.searchsorted(np.asarray(thresholds, dtype=float), extent, side="left"))


def _extent_window(
    k: int, thresholds: tuple[float, ...], e_max: float, borderline: bool, rng
) -> tuple[float, float] | None:
    lo = thresholds[k - 1] if k > 0 else _MIN_EXTENT
    hi = thresholds[k] if k < len(thresholds) else e_max
    if borderline:
        sides = [s for s, ok in (("lo", k > 0), ("hi", k < len(thresholds))) if ok]
        side = sides[int(rng.integers(len(sides)))]
        if side == "lo":
            return lo + 0.003, min(lo + BORDERLINE_WIDTH, hi - 0.003)
        return max(hi - BORDERLINE_WIDTH, lo + 0.003), hi - 0.003
    lo_m = lo + (CLASS_MARGIN if k > 0 else 0.0)
    hi_m = hi - (CLASS_MARGIN if k < len(thresholds) else 0.0)
    return (lo_m, hi_m) if hi_m - lo_m >= 0.02 else None


def sample_hip_anatomy(
    rng: np.random.Generator,
    class_index: int | None,
    *,
    thresholds: Sequence[float] = JIC_THRESHOLDS,
    borderline: bool = False,
) -> HipAnatomy:
    """Draw one hip: anatomy within the published ranges and a lesion of class ``class_index``.

    ``class_index`` is an index into the ordered label scheme whose thresholds are given
    (``None``: a hip without lesion). Ranges: femoral head 44-50 mm, neck-shaft angle 125-135°,
    joint space 3-5 mm, lateral centre-edge angle 25-40°, band 1.5-4 mm.
    """
    t = validate_thresholds(thresholds)
    if class_index is not None and not 0 <= int(class_index) <= len(t):
        raise ValueError(
            f"class_index: got {class_index!r}; expected None or an integer in [0, {len(t)}]"
        )
    u = rng.uniform
    for _ in range(100):
        anatomy = HipAnatomy(
            head_diameter=float(u(44.6, 50.0)),
            neck_shaft_angle=float(u(125.0, 135.0)),
            shaft_tilt=float(u(4.0, 10.0)),
            neck_length=float(u(50.0, 58.0)),
            neck_ratio=float(u(0.64, 0.72)),
            ce_angle=float(u(25.5, 39.5)),
            joint_space=float(u(3.1, 4.9)),
            roof_medial_deg=float(-u(14.0, 24.0)),
            fossa_depth=float(u(4.0, 7.0)),
            wall_thickness=float(u(3.0, 5.0)),
            roof_thickness=float(u(7.0, 11.0)),
            ilium=(float(u(4, 14)), float(u(26, 38)), float(u(22, 32)), float(u(2, 8)),
                   float(u(24, 34)), float(u(6, 12))),
            trochanter=(float(u(0.85, 1.0)), float(u(9.5, 12.5)), float(u(24, 34)),
                        float(u(5.0, 7.0))),
            cortex=(float(u(1.0, 1.5)), float(u(5.0, 7.0))),
            soft=(float(u(8, 18)), float(u(6, 20)), float(u(0.0008, 0.0022)),
                  float(u(9, 14)), float(u(11, 17)), float(u(14, 22))),
            centre=(float(u(0.55, 0.60)), float(u(0.40, 0.45))),
            marrow_factor=float(u(0.95, 1.05)),
            class_index=None if class_index is None else int(class_index),
            extent=math.nan,
            extent_window=(math.nan, math.nan),
            borderline=bool(borderline and class_index is not None),
            lesion=(float(u(5, 14)), float(u(0.45, 0.8)), float(u(0.5, 1.3)), float(u(1.6, 3.6)),
                    float(u(0, 2 * math.pi)), float(u(0.72, 1.0))),
            band_thickness=float(u(1.6, 3.8)),
            scar=float(u(0.0, 0.45)),
        )
        if class_index is None:
            return anatomy
        window = _extent_window(int(class_index), t, anatomy.max_extent(), anatomy.borderline,
                                rng)
        if window is not None:
            return replace(anatomy, extent=float(u(*window)), extent_window=window)
    raise ValueError(
        f"class_index {class_index} cannot be drawn with thresholds {t}: the extent window "
        "of this class never fits a femoral head"
    )


def adjacent_slice_anatomy(
    rng: np.random.Generator, anatomy: HipAnatomy, *, offset_mm: float
) -> HipAnatomy:
    """The same hip one slice away: a slightly different section, the same class."""
    lo, hi = anatomy.extent_window
    extent = anatomy.extent
    if anatomy.class_index is not None:
        extent = float(np.clip(extent + rng.uniform(-0.03, 0.03), lo, hi))
    med, depth, amp, cycles, phase, interior = anatomy.lesion
    moved = replace(
        anatomy,
        head_diameter=max(44.05, anatomy.head_diameter - float(rng.uniform(0.2, 0.6))),
        ce_angle=float(np.clip(anatomy.ce_angle + rng.uniform(-1.0, 1.0), 25.2, 39.8)),
        neck_length=anatomy.neck_length + float(rng.uniform(-1.5, 1.5)),
        centre=(anatomy.centre[0] + float(rng.uniform(-0.004, 0.004)),
                anatomy.centre[1] + float(rng.uniform(-0.004, 0.004))),
        extent=extent,
        lesion=(med, depth * float(rng.uniform(0.9, 1.1)), amp, cycles, phase + 0.6, interior),
        band_thickness=float(np.clip(anatomy.band_thickness + rng.uniform(-0.2, 0.2), 1.55, 3.95)),
        slice_offset=anatomy.slice_offset + float(offset_mm),
    )
    if moved.class_index is not None and moved.extent > moved.max_extent():
        # the section moved the lesion's tip off the head: keep the head and roof as they were
        moved = replace(moved, head_diameter=anatomy.head_diameter, ce_angle=anatomy.ce_angle)
    return moved


# --- signed distance functions (mm; negative inside) -------------------------------------------


def _v(phi_deg: float) -> tuple[float, float]:
    p = math.radians(phi_deg)
    return -math.sin(p), -math.cos(p)


def _circle(X, Y, c, r):
    return np.hypot(X - c[0], Y - c[1]) - r


def _capsule(X, Y, a, b, r):
    bx, by = b[0] - a[0], b[1] - a[1]
    px, py = X - a[0], Y - a[1]
    h = np.clip((px * bx + py * by) / (bx * bx + by * by), 0.0, 1.0)
    return np.hypot(px - bx * h, py - by * h) - r


def _paint_disc(img, X, Y, c, radius, *, value, where=None):
    """Paint a disc, computing only inside its bounding box."""
    cols = np.nonzero(np.abs(X[0] - c[0]) <= radius)[0]
    rows = np.nonzero(np.abs(Y[:, 0] - c[1]) <= radius)[0]
    if cols.size == 0 or rows.size == 0:
        return
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    inside = _circle(X[:, box[1]], Y[box[0], :], c, radius) < 0
    if where is not None:
        inside &= where[box]
    img[box][inside] = value


def _plane(X, Y, p, n):
    return (X - p[0]) * n[0] + (Y - p[1]) * n[1]


def _smin(a, b, k):
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _lateral_of(X, Y, phi_deg):
    """Positive where the angle exceeds ``phi_deg`` (more lateral), within a half turn."""
    p = math.radians(phi_deg)
    return X * -math.cos(p) + Y * math.sin(p)


def _medial_of(X, Y, phi_deg):
    p = math.radians(phi_deg)
    return X * math.cos(p) - Y * math.sin(p)


def _ring_sector(X, Y, *, r_in, r_out, phi_lo, phi_hi):
    r = np.hypot(X, Y)
    ring = np.maximum(r_in - r, r - r_out)
    return np.maximum(ring, np.maximum(_medial_of(X, Y, phi_lo), _lateral_of(X, Y, phi_hi)))


# --- rendering ---------------------------------------------------------------------------------


def _lesion_mask(X, Y, a: HipAnatomy, px: float):
    """Necrotic area (band included) and the band, on the given grid (canonical, mm).

    The area lies between the articular surface and a wavy boundary ``depth(s)`` below it
    (measured vertically), for lateral coordinates ``s_m <= s <= s_tip``: its most lateral
    point is the surface point at ``s_tip``, by construction.
    """
    R = a.radius
    s_med, s_edge = a.wb_limits()
    s_tip = s_med + a.extent * (s_edge - s_med)
    med_off, depth_ratio, amp, cycles, phase, _ = a.lesion
    s_m = R * math.sin(math.radians(a.roof_medial_deg - med_off))
    width = s_tip - s_m
    depth_max = float(np.clip(depth_ratio * width, 4.0, 0.6 * R))
    amp = min(amp, depth_max / 2.5)
    s, up = -X, -Y
    w = np.clip((s - s_m) / width, 0.0, 1.0)
    sw = np.clip(np.sin(np.pi * w), 0.0, 1.0)
    depth = depth_max * sw**0.6 + amp * np.sin(2 * np.pi * cycles * w + phase) * sw
    surface = np.sqrt(np.clip(R * R - s * s, 0.0, None))
    inside = np.hypot(X, Y) <= R
    lesion = inside & (s >= s_m) & (s <= s_tip) & (up > 0) & (up >= surface - depth)
    healthy = inside & ~lesion
    # distance (mm) to the healthy marrow of the head: the band runs along the deep boundary only
    dist = ndimage.distance_transform_edt(~healthy) * px
    band = lesion & (dist <= a.band_thickness)
    return lesion, band, s_tip


def render_hip(
    a: HipAnatomy, tissue: dict[str, float], *, n: int, px: float, cx: float, cy: float
):
    """Noise-free relative intensity (canonical frame), lesion mask and landmarks (mm).

    ``n`` pixels square of ``px`` mm, head centre at pixel ``(cx, cy)``; ``tissue`` maps
    tissue names to relative T1 intensities (fat = 1).
    """
    T = tissue
    X = ((np.arange(n, dtype=np.float32) - cx) * px)[None, :]
    Y = ((np.arange(n, dtype=np.float32) - cy) * px)[:, None]
    R, R_ac = a.radius, a.acetabular_radius
    R_fossa = R_ac + a.fossa_depth
    ce = a.ce_angle
    img = np.zeros((n, n), dtype=np.float32)

    # femur: head, neck, metaphysis, shaft, trochanters
    t = math.radians(a.shaft_tilt)
    na = t + math.radians(a.neck_shaft_angle)
    u_n = (math.sin(na), math.cos(na))
    d_s = (math.sin(t), math.cos(t))
    lat_s = (-math.cos(t), math.sin(t))
    J = (-a.neck_length * u_n[0], -a.neck_length * u_n[1])
    w_m = 0.72 * R
    gt_h, gt_r, lt_off, lt_r = a.trochanter
    at = lambda p, along, lateral: (p[0] + along * d_s[0] + lateral * lat_s[0],  # noqa: E731
                                    p[1] + along * d_s[1] + lateral * lat_s[1])
    r = np.hypot(X, Y)
    head = r - R
    neck_end = (J[0] * 0.8, J[1] * 0.8)
    femur = _smin(head, _capsule(X, Y, (0.0, 0.0), neck_end, a.neck_ratio * R), 2.5)
    femur = _smin(femur, _capsule(X, Y, at(J, 5, 0), at(J, 40, 0), w_m), 9.0)
    femur = _smin(femur, _capsule(X, Y, at(J, 30, 0), at(J, 400, 0), 0.62 * R), 14.0)
    gt_tip = at(J, -J[1] * gt_h + gt_r, 0.55 * w_m)
    femur = _smin(femur, _capsule(X, Y, at(J, 12, 0.3 * w_m), gt_tip, gt_r), 7.0)
    femur = _smin(femur, _circle(X, Y, at(J, lt_off, -0.95 * w_m), lt_r), 5.0)
    along = (X - J[0]) * d_s[0] + (Y - J[1]) * d_s[1]
    cortex = a.cortex[0] + (a.cortex[1] - a.cortex[0]) * np.clip((along - 20) / 35, 0, 1)

    # pelvis: ilium body (lateral outline with the supra-acetabular notch, medial outline with
    # the pelvic brim), acetabular roof, medial wall, ischium; minus the cavity and fossa
    b1, h1, b2, g1, h2, g2 = a.ilium
    E = (R_ac * _v(ce)[0], R_ac * _v(ce)[1])
    b1r, b2r, g1r, g2r = (math.radians(v) for v in (b1, b2, g1, b2 + g2))
    F = (E[0] + h1 * math.sin(b1r), E[1] - h1 * math.cos(b1r))
    lateral = _smin(_plane(X, Y, E, (-math.cos(b1r), -math.sin(b1r))),
                    _plane(X, Y, F, (-math.cos(b2r), math.sin(b2r))), 6.0)
    M = tuple(v * (R_fossa + a.wall_thickness) for v in _v(-52.0))
    B = (M[0] + h2 * math.sin(g1r), M[1] - h2 * math.cos(g1r))
    medial = np.maximum(_plane(X, Y, M, (math.cos(g1r), math.sin(g1r))),
                        _plane(X, Y, B, (math.cos(g2r), -math.sin(g2r))))
    # below the rim the bone ends on the ray from the head centre through the edge, so the rim
    # (the lateral acetabular edge of the CE angle) is the most lateral point of the roof
    body = np.maximum(np.maximum(lateral, medial), np.maximum(Y - 5.0, _lateral_of(X, Y, ce)))
    wall = _ring_sector(X, Y, r_in=R_fossa - 1, r_out=R_fossa + a.wall_thickness,
                        phi_lo=-150.0, phi_hi=a.roof_medial_deg + 5)
    ischium_c = tuple(v * (R_fossa + 8) for v in _v(-163.0))
    ischium = (np.hypot((X - ischium_c[0]) / 9.0, (Y - ischium_c[1]) / 15.0) - 1.0) * 9.0
    pelvis = _smin(_smin(body, wall, 3.0), ischium, 5.0)
    fossa = np.maximum(r - R_fossa,
                       np.maximum(_lateral_of(X, Y, a.roof_medial_deg),
                                  _medial_of(X, Y, -150.0)))
    cavity = np.minimum(r - R_ac, fossa)
    pelvis = np.maximum(pelvis, -cavity)

    # soft tissue: skin, subcutaneous fat, fascia, muscles with fat planes, pelvic fat, bladder
    muscle_l, fat_l, curv, obt, gpl1, gpl2 = a.soft
    bone_lat = min(gt_tip[0] - gt_r, at(J, 20, w_m)[0])
    room = cx * px - 14.0 + bone_lat  # mm between the bone and the air strip we keep
    fat_l = float(np.clip(min(fat_l, room - muscle_l), 5.0, None))
    muscle_l = float(np.clip(min(muscle_l, room - fat_l), 4.0, None))
    x_skin = bone_lat - muscle_l - fat_l
    skin = x_skin + curv * (Y - gt_tip[1]) ** 2 - X  # > 0 outside the body
    img[:] = T["muscle"]
    img[skin > -fat_l] = T["fat"]
    img[np.abs(skin + fat_l) < 0.8] = T["fascia"]
    img[skin > -1.5] = T["skin"]
    img[skin > 0] = 0.0
    inside = skin <= -fat_l - 0.8
    l2 = _plane(X, Y, F, (-math.cos(b2r), math.sin(b2r)))
    wave = 1.8 * np.sin(Y / 9.0 + gpl1) + 1.2 * np.sin(X / 13.0 + gpl2)  # planes are not straight
    for off in (gpl1, gpl1 + gpl2):
        img[inside & (np.abs(l2 - off + wave) < 0.6) & (Y < E[1] + 8)] = T["fat"] * 0.6
    side_of_shaft = (X - J[0]) * lat_s[0] + (Y - J[1]) * lat_s[1]
    for off in (0.62 * R + 12, -(0.62 * R + 20), -(0.62 * R + 42)):
        img[inside & (np.abs(side_of_shaft - off + wave) < 0.7) & (along > 40)] = T["fat"] * 0.6
    m1 = _plane(X, Y, M, (math.cos(g1r), math.sin(g1r)))
    m2 = _plane(X, Y, B, (math.cos(g2r), -math.sin(g2r)))
    pelvic_fat = (m1 > obt) & (m2 > 14.0) & (Y < R + 30)
    img[pelvic_fat] = T["fat"] * 0.9
    _paint_disc(img, X, Y, (M[0] + obt + 42, 12.0), 27.0, value=T["urine"])
    for vx, vy, vr in ((M[0] + obt + 8, -14, 3.0), (M[0] + obt + 13, -24, 2.4)):
        _paint_disc(img, X, Y, (vx, vy), vr, value=T["vessel"], where=pelvic_fat)

    # joint: capsule, cartilage on both sides, fluid line, fossa fat, labrum
    phi = np.degrees(np.arctan2(-X, -Y))
    neck_axis = X * u_n[0] + Y * u_n[1]
    capsule = _capsule(X, Y, (0.0, 0.0), J, a.neck_ratio * R + 7.0)
    img[(np.abs(capsule) < 0.6) & (r > R + 2) & (neck_axis < -R * 0.3)
        & (neck_axis > -a.neck_length * 0.85)] = T["fascia"]
    img[(cavity < 0) & (r > R_ac) & (fossa < 0)] = T["fat"] * 0.85
    ca_f, ca_a = 0.5 * a.joint_space, 0.38 * a.joint_space
    img[(r > R) & (r <= R + ca_f) & (phi > -150) & (phi < 110)] = T["cartilage"]
    roof_sector = (phi >= a.roof_medial_deg) & (phi <= ce)
    img[roof_sector & (r > R + ca_f) & (r < R_ac - ca_a)] = T["fluid"]
    img[roof_sector & (r >= R_ac - ca_a) & (r < R_ac)] = T["cartilage"]
    ang_l = math.degrees(8.0 / R_ac)
    lab_t = (R_ac + 3.5 - R - ca_f) * (1.0 - (phi - ce) / ang_l)
    img[(phi > ce) & (phi < ce + ang_l) & (r > R + ca_f) & (r - R - ca_f < lab_t)] = T["labrum"]

    # bones over soft tissue: cortex dark, marrow bright
    img[pelvis <= 0] = T["cortex"]
    img[pelvis <= -1.8] = T["marrow_pelvis"]
    img[femur <= 0] = T["cortex"]
    marrow = femur <= -cortex
    img[marrow] = T["marrow_femur"] * a.marrow_factor
    if a.scar > 0:  # physeal scar: a faint line across the head-neck junction
        sc = (-2.2 * R * u_n[0], -2.2 * R * u_n[1])
        img[marrow & (np.abs(_circle(X, Y, sc, 1.7 * R)) < 0.6) & (r < R)] *= 1 - a.scar

    mask = np.zeros((n, n), dtype=bool)
    s_tip = math.nan
    if a.class_index is not None:
        i0, i1 = (max(0, int(cy - (R + 3) / px)), min(n, int(cy + (R + 3) / px) + 2))
        j0, j1 = (max(0, int(cx - (R + 3) / px)), min(n, int(cx + (R + 3) / px) + 2))
        lesion, band, s_tip = _lesion_mask(X[:, j0:j1], Y[i0:i1, :], a, px)
        sub = img[i0:i1, j0:j1]
        sub[lesion & marrow[i0:i1, j0:j1]] *= a.lesion[5]
        sub[band] = T["band"]
        mask[i0:i1, j0:j1] = lesion
    points = {"E": E, "J": J, "x_skin": x_skin, "s_tip": s_tip}
    return img, mask, points
