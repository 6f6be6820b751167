"""Mouth trajectory from speech: targets → coarticulation → pauses → acoustics → smoothing → range → closures.

Every pass is a small pure function on a fixed 100 Hz grid (finer than any video frame rate, so
sampling to frames loses nothing), which keeps each rule testable on hand-built phones.

- **Targets**: each phone gets its viseme's shape for this person (``adapt``), its opening scaled
  by stress and local loudness (stressed, louder vowels open more).
- **Coarticulation**: Cohen–Massaro dominance blending. Each segment pulls the mouth toward its
  target with a weight that is full inside its span and decays exponentially outside it, faster
  after the segment (carry-over) than before it (anticipation: lips start moving to a vowel up to
  ~200 ms ahead, as in Rhubarb's rough animation pass).
- **Pauses** (Rhubarb's pause rule): shorter than 120 ms the mouth holds; up to 350 ms it relaxes
  part of the way; longer, it goes to the person's rest shape with the lips settled part of the
  way toward their most closed natural opening (``settled_rest``).
- **Acoustics**: the audio's own openness estimate is blended into ``open``/``jaw`` — it knows
  about loudness and vowel quality the phone labels miss, and it is all there is when no phones
  are known (other languages).
  Without phones its peaks are emphasised (a power > 1): its middle values follow loudness.
  With phones its share is the smallest that keeps the mouth moving with the sound
  (``plan.choose_acoustic_weight``).
- **Smoothing**: a Gaussian (symmetric, so zero-phase: no lag against the audio).
- **Range**: speech is stretched so its 95th-percentile opening (and lip-shape span) matches the
  person's own measured range; blending and coarticulation otherwise shrink every peak.
- **Closures**: p/b/m spans are forced shut *after* smoothing (with a 30 ms ramp each side), so a
  seal is never blurred away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..records import Phone, Prosody, SpeechTimeline
from .adapt import Range
from .visemes import DIPHTHONG_GLIDES, VOWELS, Viseme, rule_for

#: Internal time step of all curves, seconds.
GRID_S = 0.01
#: Anticipation decay time constant, seconds: the lips start toward a segment's shape well
#: before it sounds (coarticulation studies: up to ~200 ms for rounding; 1/e at 60 ms).
ANTICIPATION_S = 0.06
#: Carry-over decay time constant, seconds: shapes release faster than they are anticipated
#: (docs/tuning.md).
CARRYOVER_S = 0.05
#: Tongue consonants leave the lips free: their dominance on width/protrusion is scaled by this.
TONGUE_LIP_DOMINANCE = 0.4
#: Opening scale by lexical stress: 0 unstressed, 1 primary, 2 secondary (reduced vowels open less).
STRESS_OPEN_SCALE = {0: 0.75, 1: 1.0, 2: 0.88}
#: Loudness → opening: +/- this fraction of the target opening per 10 dB from the speech's
#: typical level (louder syllables are articulated bigger; Lombard effect).
LOUDNESS_GAIN_PER_10DB = 0.25
#: Clamp of the loudness factor, so one shout or one mumble does not dominate.
LOUDNESS_FACTOR_RANGE = (0.6, 1.3)
#: The off-glide of a diphthong is weaker than its nucleus (smaller opening, lower dominance).
GLIDE_SCALE = 0.8
#: Consonants of these classes shape the lips themselves, so their lip dominance stays full.
LIP_SHAPING_VISEMES = frozenset({Viseme.R, Viseme.ROUNDED, Viseme.SPREAD})
#: Without phones (acoustic method) frames opened past this fraction of the range are labelled
#: OPEN for exemplar choice, the rest REST.
ACOUSTIC_OPEN_VISEME_FRACTION = 0.3
#: Lips close and open fast (~30 ms), but not instantly: a seal is approached over this time on
#: each side, so it neither pops nor blurs away.
CLOSURE_RAMP_S = 0.03
#: Pauses shorter than this keep the mouth where it is (Rhubarb: < 12 cs hold).
PAUSE_HOLD_S = 0.12
#: Pauses up to this relax part of the way toward rest; longer ones close (Rhubarb: ≤ 35 cs).
PAUSE_RELAX_S = 0.35
#: In a relaxing pause the lips stay parted by this fraction of the opening range (Rhubarb's
#: relaxed "B" shape rather than a full close).
PAUSE_RELAX_OPEN_FRACTION = 0.15
#: In a closing pause (a real silence, longer than PAUSE_RELAX_S) the lips settle this fraction
#: of the way from the rest shape down to the person's most closed natural opening (``Range.lo``,
#: their 5th percentile; never the pressed p/b/m seal). The rest shape is measured in the source's
#: own pauses, which are mostly breaths between phrases with the lips still parted; in a longer
#: silence they come together; parting closed lips by a little still reads as open, so they go
#: all the way (docs/tuning.md).
PAUSE_SETTLE_FRACTION = 1.0
#: Dominance of the rest target in a relaxing pause (partial) and a closing pause (full).
PAUSE_RELAX_DOMINANCE = 0.8
PAUSE_CLOSE_DOMINANCE = 4.0
#: Default weight of the acoustic openness in ``open`` per speech method (``plan.choose_acoustic_weight``
#: lowers it for phones when the mouth still moves with the sound): forced-aligned phones are
#: trusted most; recognised phones are noisy; acoustic-only has nothing else. Less acoustic gives
#: a slightly better correlation with real mouths, but the acoustic share anchors syllable timing
#: to the sound (docs/tuning.md).
ACOUSTIC_WEIGHT = {"aligned": 0.5, "recognized": 0.5, "acoustic": 1.0}
#: The acoustic openness is raised to this power before use. Without phones its middle values
#: follow loudness more than the jaw (fricatives, nasals, music) and only its peaks mark open
#: vowels. Blended with phones, a power above 1 moves the best AV lag off 0 on some clips, so it
#: stays linear there (docs/tuning.md).
ACOUSTIC_CONTRAST_GAMMA = {"aligned": 1.0, "recognized": 1.0, "acoustic": 3.0}
#: Planned speech is stretched so this percentile of its opening reaches the person's measured
#: high percentile (``FaceProfile.mouth_max``): averaging targets and coarticulation shrink
#: peaks, and a mouth that barely moves reads as out of sync.
RANGE_MATCH_PERCENTILE = 95.0
#: Limits of that stretch: never shrink, never more than double.
RANGE_MATCH_GAIN = (1.0, 2.0)
#: Lip shape is planned from coarse generic tables; allow a larger stretch toward the measured span.
SHAPE_MATCH_GAIN_MAX = 3.0
#: Width of the fade of the acoustic share at speech/pause edges (Gaussian sigma), seconds.
SPEECH_GATE_SIGMA_S = 0.03
#: Smoothing width (Gaussian sigma), seconds: removes grid steps and phone-boundary corners.
#: Real mouths filmed at 25–30 fps move more smoothly than the blend of phone targets. Wider
#: smoothing also flattens the sync peak, so more acoustic share is needed to stay in sync
#: (``plan.SYNC_MARGIN_R``); this is the widest that costs none (docs/tuning.md). The range pass
#: restores the peak opening this costs, and p/b/m seals are re-imposed after it.
SMOOTH_SIGMA_S = 0.025


@dataclass(frozen=True, slots=True)
class Segment:
    """One target on the timeline: a phone (or part of a diphthong) or a pause."""

    start_s: float
    end_s: float
    target: np.ndarray  # float32[4] absolute mouth params
    dominance: np.ndarray  # float32[4] per-parameter Cohen–Massaro magnitude
    viseme: Viseme
    closure: bool = False


@dataclass(frozen=True, slots=True)
class MouthCurves:
    """The planned mouth on the grid: ``t_s[i] = i * GRID_S``."""

    t_s: np.ndarray  # float64[T]
    mouth: np.ndarray  # float32[T, 4]
    viseme: np.ndarray  # int8[T] dominant viseme
    closure: np.ndarray  # bool[T]
    speaking: np.ndarray  # bool[T]
    closure_spans: tuple[tuple[float, float], ...] = ()  # (start_s, end_s) of every p/b/m seal


def grid(duration_s: float) -> np.ndarray:
    """Grid times covering ``[0, duration_s]``."""
    n = max(1, int(np.ceil(duration_s / GRID_S)) + 1)
    return np.arange(n, dtype=np.float64) * GRID_S


def _track_at(values: np.ndarray, hop_s: float, t_s: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Resample a ``hop_s`` track at times ``t_s`` (value of the hop centred nearest)."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or hop_s <= 0:
        return np.full(len(t_s), fill)
    src_t = np.arange(len(values)) * hop_s
    good = np.isfinite(values)
    if good.sum() < 1:
        return np.full(len(t_s), fill)
    return np.interp(t_s, src_t[good], values[good], left=fill, right=fill)


def loudness_factors(phones: list[Phone], prosody: Prosody | None) -> np.ndarray:
    """Opening factor per phone from the local intensity relative to the speech's typical level."""
    out = np.ones(len(phones))
    if prosody is None or prosody.intensity_db.size == 0 or not phones:
        return out
    mids = np.array([(p.start_s + p.end_s) / 2 for p in phones])
    db = _track_at(prosody.intensity_db, prosody.hop_s, mids, fill=np.nan)
    vowel_db = db[[p.label in VOWELS for p in phones]]
    vowel_db = vowel_db[np.isfinite(vowel_db)]
    if vowel_db.size < 3:
        return out
    ref = float(np.median(vowel_db))
    lo, hi = LOUDNESS_FACTOR_RANGE
    f = 1.0 + LOUDNESS_GAIN_PER_10DB * (db - ref) / 10.0
    return np.where(np.isfinite(f), np.clip(f, lo, hi), 1.0)


def phone_segments(
    phones: list[Phone], targets: np.ndarray, rng: Range, prosody: Prosody | None = None
) -> list[Segment]:
    """Targets pass: one segment per spoken phone (two for diphthongs), silence skipped.

    ``targets`` is float32[N_VISEMES, 4] in absolute units (from :mod:`adapt`).
    """
    loud = loudness_factors(phones, prosody)
    base = np.where(np.arange(4) == 0, rng.closed, rng.neutral)
    segs: list[Segment] = []
    for ph, lf in zip(phones, loud, strict=True):
        rule = rule_for(ph.label)
        if rule.viseme is Viseme.REST or ph.end_s <= ph.start_s:
            continue
        amp = rule.open_scale
        if ph.label in VOWELS:
            amp *= STRESS_OPEN_SCALE.get(ph.stress, 1.0) * lf
        dom = np.full(4, rule.dominance, np.float32)
        lips_free = not rule.lip_critical and ph.label not in VOWELS and rule.viseme not in LIP_SHAPING_VISEMES
        if lips_free:
            dom[1:3] *= TONGUE_LIP_DOMINANCE
        glide = DIPHTHONG_GLIDES.get(ph.label)
        if glide is not None:
            split = ph.start_s + glide[1] * (ph.end_s - ph.start_s)
            segs.append(Segment(ph.start_s, split, _scaled(targets[rule.viseme], base, amp), dom, rule.viseme))
            segs.append(Segment(split, ph.end_s, _scaled(targets[glide[0]], base, amp * GLIDE_SCALE),
                                dom * GLIDE_SCALE, glide[0]))
        else:
            segs.append(Segment(ph.start_s, ph.end_s, _scaled(targets[rule.viseme], base, amp), dom, rule.viseme,
                                closure=rule.viseme is Viseme.PBM))
    return segs


def _scaled(target: np.ndarray, base: np.ndarray, amp: float) -> np.ndarray:
    """A target with its opening and jaw scaled by ``amp`` around closed/neutral.

    Lip shape (width, protrusion) is not scaled: an unstressed /u/ is still rounded.
    """
    t = np.asarray(target, np.float32).copy()
    t[[0, 3]] = base[[0, 3]] + amp * (t[[0, 3]] - base[[0, 3]])
    return t


def pause_segments(pauses: list[tuple[float, float]], rest: np.ndarray, rng: Range) -> list[Segment]:
    """Pause pass: rest targets for pauses, by length (hold / relax / close)."""
    segs: list[Segment] = []
    relaxed = rest.copy()
    relaxed[0] = rest[0] + PAUSE_RELAX_OPEN_FRACTION * (rng.hi[0] - rng.closed[0])
    settled = settled_rest(rest, rng)
    for a, b in pauses:
        length = b - a
        if length < PAUSE_HOLD_S:
            continue
        if length <= PAUSE_RELAX_S:
            segs.append(Segment(a, b, relaxed, np.full(4, PAUSE_RELAX_DOMINANCE, np.float32), Viseme.REST))
        else:
            segs.append(Segment(a, b, settled.copy(), np.full(4, PAUSE_CLOSE_DOMINANCE, np.float32), Viseme.REST))
    return segs


def settled_rest(rest: np.ndarray, rng: Range) -> np.ndarray:
    """The mouth of a long silence: ``rest`` with its opening PAUSE_SETTLE_FRACTION of the way
    down to the person's most closed natural opening (never below the p/b/m seal, never above rest)."""
    out = np.asarray(rest, np.float32).copy()
    floor = max(float(rng.lo[0]), float(rng.closed[0]))
    if out[0] > floor:
        out[0] = out[0] - PAUSE_SETTLE_FRACTION * (out[0] - floor)
    return out


def coarticulate(segs: list[Segment], t_s: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dominance-weighted blend of all segments → (mouth float32[T, 4], dominant viseme int8[T]).

    A faint everywhere-present rest target keeps the blend defined far from any segment (the
    mouth drifts to rest there) without affecting speech.
    """
    n = len(t_s)
    num = np.tile(rest.astype(np.float64) * 1e-3, (n, 1))
    den = np.full((n, 4), 1e-3)
    best = np.full(n, 1e-3)
    vis = np.zeros(n, np.int8)
    reach_s = 6 * ANTICIPATION_S
    for s in segs:
        i0 = max(0, int(np.floor((s.start_s - reach_s) / GRID_S)))
        i1 = min(n, int(np.ceil((s.end_s + reach_s) / GRID_S)) + 1)
        if i1 <= i0:
            continue
        t = t_s[i0:i1]
        before = np.clip(s.start_s - t, 0, None)
        after = np.clip(t - s.end_s, 0, None)
        w = np.exp(-before / ANTICIPATION_S - after / CARRYOVER_S)
        d = w[:, None] * s.dominance[None, :]
        num[i0:i1] += d * s.target[None, :]
        den[i0:i1] += d
        inside = w * float(s.dominance[0])
        better = inside > best[i0:i1]
        best[i0:i1] = np.where(better, inside, best[i0:i1])
        vis[i0:i1] = np.where(better, int(s.viseme), vis[i0:i1])
    return (num / den).astype(np.float32), vis


def speaking_mask(t_s: np.ndarray, phones: list[Phone], pauses: list[tuple[float, float]],
                  speech_end_s: float) -> np.ndarray:
    """True inside speech: not in a pause of PAUSE_HOLD_S or more, not after the audio."""
    speaking = t_s < speech_end_s
    for a, b in pauses:
        if b - a >= PAUSE_HOLD_S:
            speaking &= ~((t_s >= a) & (t_s < b))
    spoken = [p for p in phones if rule_for(p.label).viseme is not Viseme.REST]
    if spoken:
        first = min(p.start_s for p in spoken)
        last = max(p.end_s for p in spoken)
        speaking &= (t_s >= first - PAUSE_HOLD_S / 2) & (t_s <= last + PAUSE_HOLD_S / 2)
    return speaking


def blend_acoustic(mouth: np.ndarray, t_s: np.ndarray, speech: SpeechTimeline, rng: Range,
                   speaking: np.ndarray, weight: float) -> np.ndarray:
    """Acoustics pass: mix the audio's openness estimate into ``open`` and ``jaw``.

    Outside speech the acoustic curve is gated to rest: breaths and room noise must not move the
    lips (no flapping in silence). Across pauses too short to relax (the hold rule) it is bridged
    from one edge to the other, so the sound's dip does not undo the hold.
    """
    if weight <= 0 or speech.openness.size == 0:
        return mouth
    ac = np.clip(_track_at(speech.openness, speech.hop_s, t_s), 0.0, 1.0) ** ACOUSTIC_CONTRAST_GAMMA.get(
        speech.method, 1.0)
    for a, b in speech.pauses:
        if b - a < PAUSE_HOLD_S:
            inside = (t_s > a) & (t_s < b)
            if inside.any():
                edges = np.interp([a, b], t_s, ac)
                ac[inside] = np.interp(t_s[inside], [a, b], edges)
    # Fade the acoustic share in and out with speech instead of switching it, so pause edges
    # do not jump.
    gate = gaussian_filter1d(speaking.astype(np.float64), SPEECH_GATE_SIGMA_S / GRID_S, mode="nearest")
    w = weight * np.clip(gate, 0.0, 1.0)
    out = mouth.copy()
    open_ac = rng.closed[0] + ac * (rng.hi[0] - rng.closed[0])
    jaw_ac = rng.neutral[3] + ac * (rng.hi[3] - rng.neutral[3])
    out[:, 0] = (1 - w) * mouth[:, 0] + w * open_ac
    out[:, 3] = (1 - w) * mouth[:, 3] + w * jaw_ac
    return out


def match_range(mouth: np.ndarray, speaking: np.ndarray, rest: np.ndarray, rng: Range) -> np.ndarray:
    """Stretch ``open`` and ``jaw`` above rest so speech spans the person's measured range.

    Only the part above rest is scaled, so rest and closures stay exactly where they are and
    the curve stays continuous.
    """
    if speaking.sum() < 10:
        return mouth
    out = mouth.copy()
    lo_gain, hi_gain = RANGE_MATCH_GAIN
    for j in (0, 3):
        above = mouth[speaking, j] - rest[j]
        peak = float(np.percentile(above, RANGE_MATCH_PERCENTILE))
        want = float(rng.hi[j] - rest[j])
        if peak <= 1e-6 or want <= 0:
            continue
        gain = float(np.clip(want / peak, lo_gain, hi_gain))
        d = mouth[:, j] - rest[j]
        out[:, j] = np.where(d > 0, rest[j] + gain * d, mouth[:, j])
    # Lip shape (width, protrusion) moves both ways around rest: match the 5–95 % span instead.
    for j in (1, 2):
        lo, hi = np.percentile(mouth[speaking, j], [100 - RANGE_MATCH_PERCENTILE, RANGE_MATCH_PERCENTILE])
        span, want = float(hi - lo), float(rng.hi[j] - rng.lo[j])
        if span <= 1e-6 or want <= 0:
            continue
        gain = float(np.clip(want / span, lo_gain, SHAPE_MATCH_GAIN_MAX))
        out[:, j] = rest[j] + gain * (mouth[:, j] - rest[j])
    return out


def closure_weight(t_s: np.ndarray, segs: list[Segment]) -> np.ndarray:
    """How sealed the lips must be at each grid point: 1 inside a p/b/m span, ramping to 0 over
    CLOSURE_RAMP_S on either side (symmetric, so no lag)."""
    w = np.zeros(len(t_s))
    for s in segs:
        if s.closure:
            dist = np.maximum(s.start_s - t_s, t_s - s.end_s)  # ≤ 0 inside
            w = np.maximum(w, np.clip(1.0 - dist / CLOSURE_RAMP_S, 0.0, 1.0))
    return w


def plan_mouth(
    speech: SpeechTimeline,
    prosody: Prosody | None,
    targets: np.ndarray,
    rng: Range,
    duration_s: float,
    *,
    speech_end_s: float | None = None,
    acoustic_weight: float | None = None,
) -> MouthCurves:
    """All passes: the mouth for ``speech`` on the grid over ``[0, duration_s]``.

    ``speech_end_s`` is where real audio ends (the rest is silence padding): the mouth rests
    after it. ``acoustic_weight`` overrides the per-method share of the acoustic openness.
    """
    return plan_mouth_shares(speech, prosody, targets, rng, duration_s, (acoustic_weight,),
                             speech_end_s=speech_end_s)[0]


def plan_mouth_shares(
    speech: SpeechTimeline,
    prosody: Prosody | None,
    targets: np.ndarray,
    rng: Range,
    duration_s: float,
    weights: tuple[float | None, ...],
    *,
    speech_end_s: float | None = None,
) -> list[MouthCurves]:
    """:func:`plan_mouth` for several acoustic shares at once (None = the per-method default).

    The phone passes (targets, coarticulation, pauses) do not depend on the share, so they run
    once; only the acoustic blend and what follows it run per share.
    """
    t_s = grid(duration_s)
    end_s = min(speech.duration_s, duration_s) if speech_end_s is None else speech_end_s
    phones = [p for p in speech.phones if p.start_s < end_s]
    rest = targets[Viseme.REST].astype(np.float32)
    pauses = list(speech.pauses)
    if end_s < duration_s:
        pauses.append((end_s, duration_s + 1.0))
    segs = phone_segments(phones, targets, rng, prosody)
    rest_segs = pause_segments(pauses, rest, rng)
    speaking = speaking_mask(t_s, phones, pauses, end_s)
    if not phones:
        # No phones (acoustic method): rest shape, the acoustic pass supplies all opening.
        base = np.tile(rest, (len(t_s), 1))
        base_vis = np.zeros(len(t_s), np.int8)
    else:
        base, base_vis = coarticulate(segs + rest_segs, t_s, rest)
    seal = closure_weight(t_s, segs)
    closure = seal >= 1.0
    spans = tuple((s.start_s, s.end_s) for s in segs if s.closure)
    out: list[MouthCurves] = []
    for acoustic_weight in weights:
        if not phones:
            weight = 1.0
        else:
            weight = ACOUSTIC_WEIGHT.get(speech.method, 0.5) if acoustic_weight is None else acoustic_weight
        mouth = blend_acoustic(base, t_s, speech, rng, speaking, weight)
        vis = base_vis.copy()
        if not phones:
            opened = mouth[:, 0] > rng.closed[0] + ACOUSTIC_OPEN_VISEME_FRACTION * (rng.hi[0] - rng.closed[0])
            vis = np.where(speaking & opened, np.int8(Viseme.OPEN), np.int8(Viseme.REST)).astype(np.int8)
        mouth = gaussian_filter1d(mouth, SMOOTH_SIGMA_S / GRID_S, axis=0, mode="nearest").astype(np.float32)
        mouth = match_range(mouth, speaking, rest, rng)
        mouth[:, 0] = (1 - seal) * mouth[:, 0] + seal * rng.closed[0]
        vis[closure] = np.int8(Viseme.PBM)
        vis[~speaking & ~closure] = np.int8(Viseme.REST)
        out.append(MouthCurves(t_s=t_s, mouth=mouth, viseme=vis, closure=closure.copy(),
                               speaking=speaking.copy(), closure_spans=spans))
    return out
