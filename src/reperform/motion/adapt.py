"""Speaker adaptation: the mouth shapes *this* person makes, in their own units.

Targets come from two sources, best first:

1. **The source video's own speech.** When the source has phones (``source_speech``), the real
   measured mouth at each source phone is the best target for that viseme: it carries the
   person's habits (a speaker who barely opens, one who always smiles). Few samples per viseme
   in a short clip, so measured means are shrunk toward the generic shape by a prior count.
2. **The generic table**, scaled into the person's measured range: ``FaceProfile.mouth_min`` ..
   ``mouth_max`` around ``neutral_mouth``.

And the planned opening takes on this person's *distribution* of openings
(:func:`match_opening_distribution`): how often their mouth is nearly shut, half open, wide open
while they talk is a habit of theirs that targets and a range stretch do not carry.
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
#: Fewest source frames (with a face, and inside the source's speech when it is known) whose
#: openings make a distribution worth matching: 2 s at 25 fps.
MIN_DISTRIBUTION_FRAMES = 50
#: How far speaking frames move to their quantile in the source's distribution (1 = all the way).
#: All the way when the source's speech tells which frames are talking; half when the openings
#: are those of every frame with a face, which mixes in pauses and listening (a source silent
#: most of the time would otherwise shut the mouth on every middling syllable). Evidence:
#: docs/tuning.md.
DISTRIBUTION_SHARE_SPEECH = 1.0
DISTRIBUTION_SHARE_ALL_FRAMES = 0.5
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


def source_openings(
    track: FaceTrack | None,
    source_speech: SpeechTimeline | None,
    frame_times_s: np.ndarray | None,
    *,
    source_offset_s: float = 0.0,
) -> tuple[np.ndarray, float] | None:
    """The openings this person shows while talking, and the share to match them with.

    Inside the source's speech (between its first and last spoken phone, outside its pauses)
    when the source has phones; else every frame with a face, at DISTRIBUTION_SHARE_ALL_FRAMES.
    None when fewer than MIN_DISTRIBUTION_FRAMES qualify or their spread is below the smallest
    usable range (a photo, a still mouth): there is no habit to learn.
    """
    if track is None or track.n == 0:
        return None
    opening = np.asarray(track.mouth, np.float64)[:, 0]
    ok = np.asarray(track.present, bool) & np.isfinite(opening)
    share = DISTRIBUTION_SHARE_ALL_FRAMES
    spoken = [p for p in source_speech.phones if rule_for(p.label).viseme is not Viseme.REST] if (
        source_speech is not None and source_speech.method != "acoustic") else []
    if spoken and frame_times_s is not None and len(frame_times_s) == track.n:
        t = np.asarray(frame_times_s, np.float64) + source_offset_s
        talking = (t >= spoken[0].start_s) & (t <= spoken[-1].end_s)
        for a, b in source_speech.pauses:
            talking &= ~((t >= a) & (t < b))
        if (ok & talking).sum() >= MIN_DISTRIBUTION_FRAMES:
            ok &= talking
            share = DISTRIBUTION_SHARE_SPEECH
    values = opening[ok]
    if values.size < MIN_DISTRIBUTION_FRAMES:
        return None
    lo, hi = np.percentile(values, [5, 95])
    if hi - lo < MIN_RANGE[0]:
        return None
    return values, share


def match_opening_distribution(opening: np.ndarray, movable: np.ndarray, source: np.ndarray,
                               share: float) -> np.ndarray:
    """``opening`` with its ``movable`` frames moved ``share`` of the way to the same rank in ``source``.

    A rank mapping keeps the plan's timing and order (which frames open more than which) and
    only reshapes how open: the planner's loudness and stress scaling give a few tall peaks
    (skew up to +1.2 on the cross-segment clips, whose real mouths read −0.6..+0.3), and a
    person whose mouth hovers half open while talking is planned that way. Ties share their
    middle rank, so equal planned openings stay equal.
    """
    out = np.asarray(opening, np.float64).copy()
    movable = np.asarray(movable, bool)
    n = int(movable.sum())
    if n == 0 or share <= 0:
        return out.astype(np.float32)
    values = out[movable]
    order = np.argsort(values, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n, dtype=np.float64)
    # Average ranks over ties.
    uniq, inverse = np.unique(values, return_inverse=True)
    ranks = (np.bincount(inverse, weights=ranks) / np.bincount(inverse))[inverse]
    target = np.quantile(np.asarray(source, np.float64), (ranks + 0.5) / n)
    out[movable] = (1.0 - share) * values + share * target
    return out.astype(np.float32)
