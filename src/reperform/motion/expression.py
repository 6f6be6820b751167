"""Facial expression as FACS action units (face mode; lips mode leaves them at zero).

The AU list is fixed here so every stage agrees on the columns of :attr:`MotionPlan.au`.

Face mode plans three layers per output frame, all in AU intensities 0..1:

1. the **prompt** (``options.emotion``): a sustained AU set (happy 6+12, sad 1+4+15, ...), eased
   in over the first :data:`EASE_IN_S`, slightly relaxed in long pauses (a face at rest between
   phrases holds its mood less tensely than one that is talking);
2. **emphasis** synced to speech: brow raises (AU1+2) on pitch accents, a slight squint (AU7) on
   the strongest ones — whatever the prompt, since people emphasise with their brows in any mood;
3. **blinks**: the source's own blinks are in its frames and stay; only a source that hardly
   blinks (a photo, a staring clip) gets plausible extra ones, preferably at phrase boundaries.

``neutral`` is not an AU set: it asks the renderer to pull the face towards the person's own
median face (:func:`relax_level`), so it is carried as a separate per-frame level.
``temperature`` scales every layer (:func:`intensity_gain`).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import landmarks as L
from ..options import Emotion, GenerateOptions
from ..records import FaceTrack, Prosody, SpeechTimeline, TimeMap

log = logging.getLogger(__name__)

#: FACS action units planned per frame, in column order of ``MotionPlan.au``. Chosen to cover
#: the six prompts (happy 6+12, sad 1+4+15, angry 4+5+7+23, surprised 1+2+5+26,
#: disgusted 9+10+15) and emphasis (brow raise 1+2 on pitch accents).
AUS: tuple[str, ...] = (
    "AU1",  # inner brow raiser
    "AU2",  # outer brow raiser
    "AU4",  # brow lowerer
    "AU5",  # upper lid raiser
    "AU6",  # cheek raiser
    "AU7",  # lid tightener
    "AU9",  # nose wrinkler
    "AU10",  # upper lip raiser
    "AU12",  # lip corner puller
    "AU15",  # lip corner depressor
    "AU23",  # lip tightener
    "AU26",  # jaw drop
)
N_AUS = len(AUS)
AU_INDEX = {name: i for i, name in enumerate(AUS)}

#: Prototype AU intensities of each prompt at full strength (FACS/EMFACS prototypes; weights
#: below 1 for the secondary units so the primary signature dominates). ``neutral`` has no AUs.
EMOTION_AUS: dict[Emotion, dict[str, float]] = {
    Emotion.happy: {"AU6": 1.0, "AU12": 1.0},
    Emotion.sad: {"AU1": 1.0, "AU4": 0.5, "AU15": 1.0},
    Emotion.angry: {"AU4": 1.0, "AU5": 0.4, "AU7": 0.8, "AU23": 1.0},
    Emotion.surprised: {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU26": 1.0},
    # Disgust: nose wrinkled and upper lip raised; the brows come down a little and the corners
    # drop (EMFACS' 9+15 / 10+15 variants, with the 4 that usually comes with them).
    Emotion.disgusted: {"AU9": 1.0, "AU10": 1.0, "AU4": 0.4, "AU15": 0.5},
    Emotion.neutral: {},
}
#: Prompts read from their extremes: surprise is brows fully up, eyes wide, jaw dropped — a
#: half-raised brow over half-widened eyes reads as mild interest (or, on a knit brow, as fear),
#: so its intensity climbs faster with temperature (hand-set by looking at the contact sheets:
#: 0.78 at the default temperature 0.5, full from 0.75).
PROMPT_GAIN: dict[Emotion, float] = {Emotion.surprised: 1.3}
#: How each prompt changes the speech itself, at full intensity: the gain on the mouth's opening
#: beyond its closed level (an angry speaker articulates harder, a sad one with less energy) and
#: on the jaw's travel. Scaled towards 1 with the prompt's intensity; p/b/m seals stay sealed.
ARTICULATION: dict[Emotion, tuple[float, float]] = {
    Emotion.happy: (1.05, 1.0),
    Emotion.sad: (0.7, 0.75),
    Emotion.angry: (1.3, 1.2),
    Emotion.surprised: (1.1, 1.1),
    Emotion.disgusted: (0.9, 0.9),
    Emotion.neutral: (0.9, 0.9),
}
#: The prompt's expression builds up over this long at the start (a face does not snap into a mood).
EASE_IN_S = 0.3
#: In pauses longer than RELAX_PAUSE_S the prompt eases to this share of its level.
PAUSE_RELAX_SHARE = 0.8
RELAX_PAUSE_S = 0.4
#: A happy speaker smiles *while* talking: the smile (AU12, and the cheeks with it, AU6) swells by
#: up to this share of the prompt's level on open vowels, so the corners ride up as the mouth opens
#: instead of the opening pulling them level.
SMILE_VOWEL_SWELL = 0.3
#: Emphasis brow raise (AU1+2) per unit accent strength at temperature 1; kept well below a
#: prompt's level: it is a flick of the brows, not a second expression.
ACCENT_BROW_AU = 0.45
#: The prompt's expression swells by up to this share on a full-strength accent.
ACCENT_SWELL = 0.25
#: Squint (AU7) added on accents stronger than this, per unit of the excess.
ACCENT_SQUINT_FROM = 0.6
ACCENT_SQUINT_AU = 0.5
#: Shape of one emphasis pulse: rises this long before the accent peak, decays after it.
ACCENT_RISE_S = 0.12
ACCENT_DECAY_S = 0.35
#: The ``neutral`` prompt asks for a calm delivery: emphasis keeps this share of its size.
NEUTRAL_EMPHASIS_SHARE = 0.3
#: Extra blinks: a source with fewer than this many blinks per second of shown frames gets some.
MIN_SOURCE_BLINK_RATE_HZ = 1 / 8
#: Gap between added blinks (s, drawn uniformly): people blink every few seconds while talking.
BLINK_GAP_S = (3.0, 6.0)
#: Duration of an added blink (s): ~1/3 closing, 2/3 reopening, as in real blinks.
BLINK_DURATION_S = (0.15, 0.25)
#: A phrase boundary within this much of a planned blink takes the blink (people blink there).
BLINK_SNAP_S = 1.0
#: An eye counts as closing when its opening falls below this share of its clip median.
BLINK_CLOSED_SHARE = 0.55
#: Eyelid landmark pairs (upper, lower) at the middle of each eye, and eye corners: eye opening.
_EYE_MID_PAIRS, _EYE_CORNERS = L.EYE_MID_LIDS, L.EYE_CORNERS


def neutral_aus(n_frames: int) -> np.ndarray:
    """No expression change: float32[n_frames, N_AUS] zeros (lips mode keeps the source's face)."""
    return np.zeros((n_frames, N_AUS), np.float32)


def no_blinks(n_frames: int) -> np.ndarray:
    """No extra blinks: float32[n_frames] zeros (the source's own blinks stay)."""
    return np.zeros(n_frames, np.float32)


def intensity_gain(temperature: float) -> float:
    """AU intensity of a prompt at ``temperature``: 0.1 a hint (0.28), 0.5 clear (0.6), 1 full (1.0).

    Linear with an offset so that even a low temperature shows the prompt; 1 is the strongest
    expression the renderer's AU model draws (a strong but natural one, FACS level D).
    """
    return float(np.clip(0.2 + 0.8 * float(temperature), 0.0, 1.0))


def emotion_vector(emotion: Emotion | None) -> np.ndarray:
    """float32[N_AUS] prototype intensities of ``emotion`` (zeros for None or neutral)."""
    v = np.zeros(N_AUS, np.float32)
    if emotion is None:
        return v
    for name, level in EMOTION_AUS[Emotion(emotion)].items():
        v[AU_INDEX[name]] = level
    return v


def _ease(t_s: np.ndarray) -> np.ndarray:
    """0 → 1 over EASE_IN_S with a smoothstep (no visible onset kink)."""
    x = np.clip(t_s / EASE_IN_S, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _pause_mask(t_s: np.ndarray, pauses: tuple[tuple[float, float], ...], min_s: float) -> np.ndarray:
    """Smooth 0..1 level: 1 inside pauses longer than ``min_s`` (ramps of 0.15 s at both ends)."""
    out = np.zeros(len(t_s))
    ramp = 0.15
    for a, b in pauses:
        if b - a < min_s:
            continue
        up = np.clip((t_s - a) / ramp, 0, 1)
        down = np.clip((b - t_s) / ramp, 0, 1)
        out = np.maximum(out, np.minimum(up, down))
    return out


def accent_pulses(t_s: np.ndarray, accents: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    """(emphasis, strong-emphasis) curves 0..1 over ``t_s``: one pulse per pitch accent.

    Each accent is an asymmetric pulse: a quick rise ACCENT_RISE_S before its time, a slower decay
    (brows fall back more slowly than they rise). The second curve counts only the part of each
    accent's strength above ACCENT_SQUINT_FROM.
    """
    emph = np.zeros(len(t_s))
    strong = np.zeros(len(t_s))
    for when, strength in accents:
        dt = t_s - when
        pulse = np.where(dt < 0, np.exp(-0.5 * (dt / ACCENT_RISE_S) ** 2), np.exp(-0.5 * (dt / ACCENT_DECAY_S) ** 2))
        emph = np.maximum(emph, float(strength) * pulse)
        strong = np.maximum(strong, max(0.0, float(strength) - ACCENT_SQUINT_FROM) / (1 - ACCENT_SQUINT_FROM) * pulse)
    return emph, strong


def emphasis_aus(t_s: np.ndarray, accents: tuple[tuple[float, float], ...], gain: float) -> np.ndarray:
    """float32[len(t_s), N_AUS]: brow flicks (AU1+2) and squints (AU7) on pitch accents."""
    out = np.zeros((len(t_s), N_AUS), np.float32)
    brow, squint = accent_pulses(t_s, accents)
    out[:, AU_INDEX["AU1"]] = ACCENT_BROW_AU * gain * brow
    out[:, AU_INDEX["AU2"]] = ACCENT_BROW_AU * gain * brow
    out[:, AU_INDEX["AU7"]] = ACCENT_SQUINT_AU * gain * squint
    return out


def eye_opening(landmarks: np.ndarray) -> np.ndarray:
    """Mean lid gap over eye width of both eyes, per frame of ``landmarks[n, 478, 2|3]``."""
    xy = landmarks[..., :2]
    ratios = []
    for (u, lo), (a, b) in zip(_EYE_MID_PAIRS, _EYE_CORNERS, strict=True):
        gap = np.linalg.norm(xy[..., u, :] - xy[..., lo, :], axis=-1)
        width = np.maximum(np.linalg.norm(xy[..., a, :] - xy[..., b, :], axis=-1), 1e-6)
        ratios.append(gap / width)
    return np.mean(ratios, axis=0)


def source_blink_rate(track: FaceTrack | None, src_frame: np.ndarray, fps: float) -> float:
    """Blinks per second in the source frames the output shows (0 for a still or no face)."""
    if track is None or fps <= 0 or len(src_frame) == 0:
        return 0.0
    src = np.clip(np.asarray(src_frame, np.int64), 0, track.n - 1)
    present = track.present[src]
    if present.sum() < 3 or len(np.unique(src[present])) < 3:
        return 0.0
    opening = eye_opening(track.landmarks[src[present]])
    median = float(np.median(opening))
    if median <= 0:
        return 0.0
    closed = opening < BLINK_CLOSED_SHARE * median
    onsets = int(np.sum(closed[1:] & ~closed[:-1]) + int(closed[0]))
    return onsets / (len(src) / fps)


def plan_blinks(n_out: int, fps: float, phrases: tuple[tuple[float, float], ...], seed: int = 0) -> np.ndarray:
    """float32[n_out] extra blink closure (0 open .. 1 closed): one every BLINK_GAP_S, snapped to phrase ends.

    Seeded, so the same inputs give the same output (reproducible renders).
    """
    out = np.zeros(n_out, np.float32)
    if n_out == 0 or fps <= 0:
        return out
    rng = np.random.default_rng(seed)
    duration = n_out / fps
    boundaries = np.array(sorted({float(b) for _a, b in phrases}), float)
    t_s = np.arange(n_out) / fps
    when = float(rng.uniform(1.0, 2.5))
    while when < duration - 0.2:
        if len(boundaries):
            near = boundaries[np.argmin(np.abs(boundaries - when))]
            if abs(near - when) <= BLINK_SNAP_S and near > 0.3:
                when = float(near) + 0.05
        length = float(rng.uniform(*BLINK_DURATION_S))
        close_s = length / 3
        dt = t_s - when
        shape = np.where(dt < 0, 1 - np.clip(-dt / close_s, 0, 1), 1 - np.clip(dt / (length - close_s), 0, 1))
        out = np.maximum(out, (shape * shape * (3 - 2 * shape)).astype(np.float32))
        when += float(rng.uniform(*BLINK_GAP_S))
    return out


def articulate(mouth: np.ndarray, closure: np.ndarray, closed: np.ndarray, neutral: np.ndarray,
               options: GenerateOptions) -> np.ndarray:
    """Mouth targets ``float32[n, 4]`` with the prompt's articulation (:data:`ARTICULATION`).

    The opening's excursion above the person's closed level and the jaw's around their neutral
    are scaled; a constant gain leaves *when* the mouth moves untouched (lip-sync correlation
    is scale-free). Lips mode and no prompt: unchanged.
    """
    if not options.edits_expression or options.emotion is None:
        return mouth
    g_open, g_jaw = ARTICULATION[Emotion(options.emotion)]
    level = intensity_gain(options.temperature)
    g_open, g_jaw = 1 + (g_open - 1) * level, 1 + (g_jaw - 1) * level
    out = np.array(mouth, np.float32, copy=True)
    out[:, 0] = closed[0] + (out[:, 0] - closed[0]) * g_open
    out[:, 3] = neutral[3] + (out[:, 3] - neutral[3]) * g_jaw
    out[np.asarray(closure, bool), 0] = mouth[np.asarray(closure, bool), 0]
    out[:, 0] = np.maximum(out[:, 0], 0.0)
    return out


def vowel_level(opening: np.ndarray) -> np.ndarray:
    """0..1 per frame: how open the planned mouth is between its 10th and 90th percentile
    (the closed level of this plan and its open vowels), so the scale is the speaker's own."""
    o = np.asarray(opening, np.float64)
    if len(o) == 0:
        return np.zeros(0)
    lo, hi = np.quantile(o, [0.1, 0.9])
    if hi - lo < 1e-6:
        return np.zeros(len(o))
    return np.clip((o - lo) / (hi - lo), 0.0, 1.0)


def relax_level(timemap: TimeMap, options: GenerateOptions) -> np.ndarray:
    """float32[n_out] pull towards the person's median face (the ``neutral`` prompt), 0 otherwise."""
    n_out = int(timemap.n_out)
    if not options.edits_expression or options.emotion != Emotion.neutral:
        return np.zeros(n_out, np.float32)
    t_s = np.arange(n_out) / float(timemap.fps)
    return (intensity_gain(options.temperature) * _ease(t_s)).astype(np.float32)


def plan_expression(
    timemap: TimeMap,
    options: GenerateOptions,
    speech_tl: SpeechTimeline | None,
    prosody: Prosody | None,
    track: FaceTrack | None,
    *,
    still: bool = False,
    opening: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(au float32[n_out, N_AUS], blink float32[n_out]) for the output frames.

    Lips mode: zeros (the source's face stays exactly as it is). ``still`` marks a photo source
    (it never blinks by itself). ``opening`` is the planned mouth opening per output frame: a
    smile swells on the vowels (:data:`SMILE_VOWEL_SWELL`).
    """
    n_out = int(timemap.n_out)
    fps = float(timemap.fps)
    if not options.edits_expression or n_out == 0:
        return neutral_aus(n_out), no_blinks(n_out)
    t_s = np.arange(n_out) / fps
    gain = intensity_gain(options.temperature)
    pauses = speech_tl.pauses if speech_tl is not None else ()
    level = min(1.0, gain * PROMPT_GAIN.get(Emotion(options.emotion), 1.0)) if options.emotion is not None else gain
    prompt = emotion_vector(options.emotion)[None, :] * level * _ease(t_s)[:, None]
    rest = _pause_mask(t_s, pauses, RELAX_PAUSE_S)
    prompt *= (1 - (1 - PAUSE_RELAX_SHARE) * rest)[:, None]
    accents = prosody.accents if prosody is not None else ()
    # Intensity swells: the prompt itself grows a little on stressed syllables.
    swell, _ = accent_pulses(t_s, accents)
    prompt = np.minimum(prompt * (1 + ACCENT_SWELL * swell * (1 - rest))[:, None], 1.0)
    if options.emotion == Emotion.happy and opening is not None:
        vowel = vowel_level(opening)[:, None] * (1 - rest)[:, None]
        for name in ("AU12", "AU6"):
            i = AU_INDEX[name]
            prompt[:, i] = np.minimum(prompt[:, i] * (1 + SMILE_VOWEL_SWELL * vowel[:, 0]), 1.0)
    # Emphasis follows temperature too, but is never stronger than half the scale: it rides on top.
    emphasis = emphasis_aus(t_s, accents, 0.5 + 0.5 * float(options.temperature))
    emphasis *= (1 - rest)[:, None]
    if options.emotion == Emotion.neutral:
        emphasis *= NEUTRAL_EMPHASIS_SHARE
    # Emphasis rides on the prompt without exceeding full intensity (it saturates, never clips hard).
    au = np.clip(prompt + emphasis * (1 - prompt), 0.0, 1.0).astype(np.float32)

    rate = 0.0 if still else source_blink_rate(track, timemap.src_frame, fps)
    if rate < MIN_SOURCE_BLINK_RATE_HZ:
        phrases = prosody.phrases if prosody is not None else ()
        blink = plan_blinks(n_out, fps, phrases, seed=n_out)
        log.info("source blinks %.2f/s: adding %d blinks", rate, int(np.sum((blink[1:] > 0.5) & (blink[:-1] <= 0.5))))
    else:
        blink = no_blinks(n_out)
    log.info("expression: emotion %s, gain %.2f, %d accents", options.emotion, gain, len(accents))
    return au, blink
