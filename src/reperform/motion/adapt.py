"""Speaker adaptation: the mouth shapes *this* person makes, in their own units.

Two sources, best first:

1. **The source video's own speech.** When the source has phones (``source_speech``), the real
   measured mouth at each source phone is the best target for that viseme: it carries the
   person's habits (a speaker who barely opens, one who always smiles). Few samples per viseme
   in a short clip, so measured means are shrunk toward the generic shape by a prior count.
2. **The generic table**, scaled into the person's measured range: ``FaceProfile.mouth_min`` ..
   ``mouth_max`` around ``neutral_mouth``.
"""

from __future__ import annotations

import logging

import numpy as np

from ..records import FaceProfile, FaceTrack, SpeechTimeline
from .visemes import N_VISEMES, Viseme, rule_for, shape_fractions

log = logging.getLogger(__name__)

#: Pseudo-count of the generic shape when averaging with measured samples: with 3 real samples
#: the measured mean gets half the weight, so a single mis-aligned phone cannot set a target.
PRIOR_COUNT = 3.0
#: Phones shorter than this are mostly transition; their centre frame shows the neighbours.
MIN_PHONE_S = 0.04
#: Smallest usable range of a parameter (inter-ocular units): a profile measured on a nearly
#: static mouth (a photo) would otherwise scale every target to nothing.
MIN_RANGE = np.array([0.12, 0.06, 0.04, 0.08], np.float32)
#: Fallback range around neutral when the source shows none (a still image): typical adult
#: speech spans in inter-ocular units (open, width, protrusion, jaw).
TYPICAL_RANGE = np.array([0.35, 0.12, 0.08, 0.15], np.float32)
#: Sealed lips (p/b/m) sit this fraction of the opening range below the low percentile.
SEAL_BELOW_LOW_FRACTION = 0.2
#: Highest rest opening, as a fraction of the person's opening range above their most closed:
#: a "neutral" measured in the source's short breath pauses is often half open, but a silent
#: mouth must look at rest (closed or barely parted), never mid-word.
REST_OPEN_MAX_FRACTION = 0.25


class Range:
    """The person's mouth range: closed/neutral and the extremes, float32[4] each.

    ``closed`` differs from ``neutral`` only in ``open``: some people rest with parted lips,
    but p/b/m always seal.
    """

    def __init__(self, profile: FaceProfile) -> None:
        neutral = np.asarray(profile.neutral_mouth, np.float32).copy()
        lo = np.minimum(np.asarray(profile.mouth_min, np.float32), neutral)
        hi = np.maximum(np.asarray(profile.mouth_max, np.float32), neutral)
        if not np.all(np.isfinite(neutral)):
            neutral = np.nan_to_num(neutral, nan=0.0)
        span = hi - lo
        small = ~np.isfinite(span) | (span < MIN_RANGE)
        # A flat range (still image, silent source) gets the typical span around neutral.
        hi = np.where(small, neutral + TYPICAL_RANGE * 0.8, hi)
        lo = np.where(small, neutral - TYPICAL_RANGE * 0.2, lo)
        neutral[0] = min(float(neutral[0]), float(lo[0] + REST_OPEN_MAX_FRACTION * (hi[0] - lo[0])))
        self.neutral = neutral
        self.lo = lo.astype(np.float32)
        self.hi = hi.astype(np.float32)
        self.closed = neutral.copy()
        # The 5th percentile of a clip's opening still includes near-closed transitions; sealed
        # lips sit below it.
        self.closed[0] = max(0.0, min(float(neutral[0]), float(lo[0] - SEAL_BELOW_LOW_FRACTION * (hi[0] - lo[0]))))

    def to_params(self, frac: np.ndarray) -> np.ndarray:
        """Range fractions [..., 4] (see VISEME_SHAPES) → absolute MOUTH_PARAMS [..., 4]."""
        frac = np.asarray(frac, np.float32)
        base = np.where(np.arange(4) == 0, self.closed, self.neutral)
        up = self.hi - base
        down = base - self.lo
        return (base + np.where(frac >= 0, frac * up, frac * down)).astype(np.float32)

    def to_fractions(self, params: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_params`."""
        params = np.asarray(params, np.float32)
        base = np.where(np.arange(4) == 0, self.closed, self.neutral)
        up = np.maximum(self.hi - base, 1e-6)
        down = np.maximum(base - self.lo, 1e-6)
        d = params - base
        return np.where(d >= 0, d / up, d / down).astype(np.float32)


def generic_targets(rng: Range) -> np.ndarray:
    """Every viseme's generic shape in this person's units, float32[N_VISEMES, 4].

    REST is the person's own neutral (which may have parted lips), not the sealed ``closed``.
    """
    out = np.stack([rng.to_params(shape_fractions(Viseme(v))) for v in range(N_VISEMES)])
    out[Viseme.REST] = rng.neutral
    return out


def _mouth_at(times_s: np.ndarray, frame_times_s: np.ndarray, mouth: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Mouth params at arbitrary times by linear interpolation between valid frames."""
    out = np.full((len(times_s), 4), np.nan, np.float32)
    if ok.sum() < 2:
        return out
    ft, m = frame_times_s[ok], mouth[ok]
    inside = (times_s >= ft[0]) & (times_s <= ft[-1])
    for j in range(4):
        out[inside, j] = np.interp(times_s[inside], ft, m[:, j])
    return out


def speaker_targets(
    rng: Range,
    track: FaceTrack | None,
    source_speech: SpeechTimeline | None,
    frame_times_s: np.ndarray | None,
    *,
    source_offset_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-viseme targets for this person and how many real samples back each.

    ``source_offset_s`` is the time of source frame 0 on the source audio's clock (a video stream
    that starts after its audio). Returns ``(targets float32[N_VISEMES, 4], counts int[N_VISEMES])``.
    """
    generic = generic_targets(rng)
    counts = np.zeros(N_VISEMES, int)
    if (
        track is None
        or source_speech is None
        or frame_times_s is None
        or not source_speech.phones
        or source_speech.method == "acoustic"
        or len(frame_times_s) != track.n
    ):
        return generic, counts
    ft = np.asarray(frame_times_s, np.float64) + source_offset_s
    mouth = np.asarray(track.mouth, np.float32)
    ok = np.asarray(track.present, bool) & np.all(np.isfinite(mouth), axis=1)
    sums = np.zeros((N_VISEMES, 4), np.float64)
    for ph in source_speech.phones:
        rule = rule_for(ph.label)
        if rule.viseme is Viseme.REST or ph.end_s - ph.start_s < MIN_PHONE_S:
            continue
        if rule.viseme is Viseme.PBM:
            # A closure shows at its tightest moment, not its centre.
            ts = np.linspace(ph.start_s, ph.end_s, 5)
            vals = _mouth_at(ts, ft, mouth, ok)
            if np.isnan(vals[:, 0]).all():
                continue
            sample = vals[int(np.nanargmin(vals[:, 0]))]
        else:
            sample = _mouth_at(np.array([(ph.start_s + ph.end_s) / 2]), ft, mouth, ok)[0]
        if np.isnan(sample).any():
            continue
        sums[rule.viseme] += sample
        counts[rule.viseme] += 1
    targets = ((sums + PRIOR_COUNT * generic) / (counts[:, None] + PRIOR_COUNT)).astype(np.float32)
    targets[Viseme.REST] = rng.neutral  # rest is the (capped) profile neutral, see Range
    log.debug("speaker targets from %d source phones", int(counts.sum()))
    return targets, counts
