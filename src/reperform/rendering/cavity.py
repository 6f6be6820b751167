"""Procedural mouth interior and teeth, for openings no real exemplar covers (stills, closed-mouth clips).

Drawn in the face's normalised frame so it follows head roll and scale: a dark, lip-tinted cavity,
an upper row of teeth hanging from the upper lip (shaded darker towards the mouth corners, with
faint gaps between incisors), lower teeth and a tongue when the mouth opens wide, an occlusion
shadow along the lips, and film grain matched to the frame so the patch does not look cleaner than
the video around it. Colours come from the person: the interior from their lips, the teeth from
their skin pushed towards ivory (grey for monochrome footage).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import landmarks as L
from .geometry import INNER_LOWER, INNER_UPPER, OUTER_LOWER, OUTER_UPPER, apply

#: Tooth band height (inter-ocular units) and its share of the gap when the mouth is barely open.
UPPER_TEETH_IOD = 0.085
UPPER_TEETH_GAP_SHARE = 0.6
#: Gaps (inter-ocular units) over which the upper teeth come into view: lips parted by a few
#: pixels show the shadowed slit between them, not a row of teeth squeezed into it (teeth drawn
#: into a narrow slit read as a light line with dark edges; docs/tuning.md, "Rendering").
UPPER_TEETH_SHOW_FROM, UPPER_TEETH_SHOW_FULL = 0.03, 0.09
LOWER_TEETH_IOD = 0.045
#: Openings (inter-ocular units) above which lower teeth / tongue become visible.
LOWER_TEETH_FROM = 0.30
TONGUE_FROM = 0.10
#: Ivory the teeth are pulled towards (RGB) and how far.
TEETH_IVORY = np.array([232.0, 226.0, 210.0], np.float32)
TEETH_IVORY_SHARE = 0.7
#: Incisor gap positions from the mouth centre (inter-ocular units) and their width.
TOOTH_GAPS_IOD = (0.0, 0.08, 0.145, 0.2)
TOOTH_GAP_WIDTH_IOD = 0.005
SUPERSAMPLE = 4


_smoothstep = L.smoothstep


@dataclass(frozen=True, slots=True)
class CavityLook:
    """The painted interior's shading, by name (brightness factors are shares of the person's
    deep lip colour or teeth colour; lengths are shares of the mouth's half-width ``dx`` or of the
    lip gap, or inter-ocular units where they say ``_iod``)."""

    interior_base: float = 0.16  # brightness of the deep interior at the corners ...
    interior_centre: float = 0.10  # ... plus this much at the centre, under the upper lip
    interior_depth_dim: float = 0.5  # share of that centre light lost towards the lower lip
    tongue_half_width: float = 0.7  # tongue ellipse: half-width (dx units) ...
    tongue_height_share: float = 0.45  # ... and height (share of the gap), sitting on the lower lip
    tongue_blur_px: float = 1.5
    tongue_fade_iod: float = 0.08  # openings over which the tongue fades in past TONGUE_FROM
    tongue_brightness: float = 0.6
    teeth_edge_px: float = 1.2  # softness of a tooth row's edge, pixels ...
    teeth_edge_min_iod: float = 0.006  # ... never sharper than this
    upper_teeth_half_width: float = 0.62  # upper row spans |dx| < this, fading over ...
    upper_teeth_fade: float = 0.25  # ... this much
    teeth_corner_dim: float = 0.7  # teeth darken with dx² towards the corners
    teeth_root_light: float = 0.78  # row brightness at the gum line ...
    teeth_edge_gain: float = 0.22  # ... plus this much at the biting edge
    tooth_gap_dim: float = 0.12  # how dark the gaps between incisors are
    lower_teeth_fade_iod: float = 0.06  # openings over which the lower row comes in
    lower_teeth_half_width: float = 0.45
    lower_teeth_fade: float = 0.2
    lower_teeth_brightness: float = 0.5  # in the upper lip's shadow
    lower_teeth_corner_dim: float = 0.6
    lip_shadow_floor: float = 0.55  # brightness right at the lips, rising by ...
    lip_shadow_rise: float = 0.45  # ... this much ...
    lip_shadow_width_iod: float = 0.025  # ... gone this far inside (pixels: at least 1)
    corner_fade_from: float = 0.82  # paint fades out from |dx| = this ...
    corner_fade: float = 0.16  # ... over this much


LOOK = CavityLook()


def person_colours(rgb: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lip colour, teeth colour) RGB float32 from a frame and its image landmarks ``[478, 2]``."""
    h, w = rgb.shape[:2]
    mids = np.concatenate([
        (lm[list(OUTER_UPPER)] + lm[list(INNER_UPPER)]) / 2,
        (lm[list(OUTER_LOWER)] + lm[list(INNER_LOWER)]) / 2,
    ])
    p = np.clip(np.round(mids).astype(int), 0, [w - 1, h - 1])
    lip = np.median(rgb[p[:, 1], p[:, 0]].astype(np.float32), axis=0)
    skin_pts = np.clip(np.round(lm[[50, 280, 199, 4]]).astype(int), 0, [w - 1, h - 1])
    skin = np.median(rgb[skin_pts[:, 1], skin_pts[:, 0]].astype(np.float32), axis=0)
    lum = float(skin.mean())
    ivory = TEETH_IVORY * np.clip(lum / 150.0, 0.55, 1.05)
    teeth = TEETH_IVORY_SHARE * ivory + (1 - TEETH_IVORY_SHARE) * skin
    if float(np.ptp(skin)) < 8.0:  # monochrome footage: no colour cast at all
        teeth = np.full(3, teeth.mean(), np.float32)
        lip = np.full(3, lip.mean(), np.float32)
    return lip.astype(np.float32), teeth.astype(np.float32)


def paint(
    img: np.ndarray,
    norm_lm: np.ndarray,
    roi_to_norm: np.ndarray,
    lip: np.ndarray,
    teeth: np.ndarray,
    strength: float,
    grain: float,
    seed: int,
) -> None:
    """Paint the cavity into ``img`` (float32 ROI, in place) inside the target inner-lip contour.

    ``norm_lm`` are the target landmarks in normalised units, ``roi_to_norm`` the 2×3 map from ROI
    pixels to them; ``strength`` 0..1 fades the procedural interior over a warped real one.
    """
    if strength <= 0:
        return
    norm_to_roi = np.linalg.inv(np.vstack([roi_to_norm, [0, 0, 1]]))[:2]
    up_idx = [78, *INNER_UPPER, 308]
    lo_idx = [78, *INNER_LOWER, 308]
    poly_n = np.concatenate([norm_lm[up_idx], norm_lm[lo_idx][::-1]])
    poly = apply(norm_to_roi, poly_n)
    h, w = img.shape[:2]
    x0, y0 = np.floor(poly.min(0)).astype(int) - 2
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    ww, hh = x1 - x0, y1 - y0
    big = np.zeros((hh * SUPERSAMPLE, ww * SUPERSAMPLE), np.uint8)
    pts = np.round((poly - [x0, y0] + 0.5) * SUPERSAMPLE - 0.5).astype(np.int32)
    cv2.fillPoly(big, [pts], 255, lineType=cv2.LINE_AA)
    inside = cv2.resize(big, (ww, hh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if inside.max() <= 0:
        return
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    xn = roi_to_norm[0, 0] * gx + roi_to_norm[0, 1] * gy + roi_to_norm[0, 2]
    yn = roi_to_norm[1, 0] * gx + roi_to_norm[1, 1] * gy + roi_to_norm[1, 2]
    up, lo = norm_lm[up_idx], norm_lm[lo_idx]
    o_u, o_l = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
    y_up = np.interp(xn, up[o_u, 0], up[o_u, 1])
    y_lo = np.interp(xn, lo[o_l, 0], lo[o_l, 1])
    gap = np.maximum(y_lo - y_up, 1e-4)
    cx = (norm_lm[78, 0] + norm_lm[308, 0]) / 2
    hw = max(abs(norm_lm[308, 0] - norm_lm[78, 0]) / 2, 1e-3)
    dx = (xn - cx) / hw
    depth = yn - y_up  # below the upper lip, normalised units
    # Dark interior tinted by the lips, darkest deep inside.
    frac = np.clip(depth / gap, 0, 1)
    # Deep tissue is more saturated than the lip surface: amplify the lip's own chroma (a grey
    # lip stays grey, so monochrome footage gets no colour cast).
    deep = lip * np.sqrt(lip / max(float(lip.mean()), 1.0))
    c = LOOK
    interior = deep[None, None, :] * (
        c.interior_base + c.interior_centre * (1 - np.abs(dx)) * (1 - c.interior_depth_dim * frac))[..., None]
    # Tongue: a soft lip-coloured mound at the bottom when open enough.
    g_max = float(np.max(gap * (inside > 0.5))) if (inside > 0.5).any() else 0.0
    if g_max > TONGUE_FROM:
        tongue = ((dx / c.tongue_half_width) ** 2 + ((yn - y_lo) / (c.tongue_height_share * gap)) ** 2) < 1.0
        tw = cv2.GaussianBlur(tongue.astype(np.float32), (0, 0), c.tongue_blur_px) * _smoothstep(
            (g_max - TONGUE_FROM) / c.tongue_fade_iod)
        interior = interior * (1 - tw[..., None]) + (deep * c.tongue_brightness)[None, None, :] * tw[..., None]
    col = interior
    # Upper teeth hang from the upper lip.
    show = _smoothstep((gap - UPPER_TEETH_SHOW_FROM) / (UPPER_TEETH_SHOW_FULL - UPPER_TEETH_SHOW_FROM))
    band = np.minimum(UPPER_TEETH_IOD, UPPER_TEETH_GAP_SHARE * gap * show)
    px_per_n = float(np.sqrt(abs(np.linalg.det(norm_to_roi[:, :2]))))
    soft = max(c.teeth_edge_px / px_per_n, c.teeth_edge_min_iod)
    t_up = (1 - _smoothstep((depth - band) / soft + 0.5)) * (
        1 - _smoothstep((np.abs(dx) - c.upper_teeth_half_width) / c.upper_teeth_fade)) * show
    shade = (1 - c.teeth_corner_dim * dx**2) * (
        c.teeth_root_light + c.teeth_edge_gain * (1 - np.clip(depth / np.maximum(band, 1e-3), 0, 1)))
    gaps = sum(np.exp(-(((xn - cx) - s * p) / TOOTH_GAP_WIDTH_IOD) ** 2) for p in TOOTH_GAPS_IOD for s in (-1, 1))
    shade = shade * (1 - c.tooth_gap_dim * np.clip(gaps, 0, 1))
    teeth_px = teeth[None, None, :] * shade[..., None]
    col = col * (1 - t_up[..., None]) + teeth_px * t_up[..., None]
    # Lower teeth, shadowed by the upper lip's overhang, only when wide open.
    if g_max > LOWER_TEETH_FROM:
        lo_band = LOWER_TEETH_IOD * _smoothstep((gap - LOWER_TEETH_FROM) / c.lower_teeth_fade_iod)
        t_lo = (1 - _smoothstep(((y_lo - yn) - lo_band) / soft + 0.5)) * (
            1 - _smoothstep((np.abs(dx) - c.lower_teeth_half_width) / c.lower_teeth_fade))
        col = col * (1 - t_lo[..., None]) + (teeth * c.lower_teeth_brightness)[None, None, :] * (
            1 - c.lower_teeth_corner_dim * dx**2)[..., None] * t_lo[..., None]
    # Occlusion shadow along the lips.
    dist = cv2.distanceTransform((inside > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    occ = c.lip_shadow_floor + c.lip_shadow_rise * _smoothstep(dist / max(c.lip_shadow_width_iod * px_per_n, 1.0))
    col = col * occ[..., None]
    if grain > 0:
        rng = np.random.default_rng(seed)
        col = col + rng.normal(0.0, grain, size=col.shape[:2])[..., None]
    # Fade out into the corners, where the contour is a sliver a pixel wide: painting there
    # leaves isolated dark specks rather than a mouth.
    corner_fade = 1 - _smoothstep((np.abs(dx) - c.corner_fade_from) / c.corner_fade)
    a = (inside * corner_fade * float(np.clip(strength, 0, 1)))[..., None]
    sub = img[y0:y1, x0:x1]
    sub[:] = sub * (1 - a) + col.astype(np.float32) * a
