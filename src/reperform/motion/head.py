"""Head pose deltas from prosody (head mode only; lips and face modes keep the source's pose).

People move their heads with their speech: a short nod lands on a pitch accent, the head drifts
and tilts slowly across a phrase, and it settles when they stop talking. The plan here builds
exactly those three gestures on the prosody's 10 ms grid and sums them:

- **nods**: for every accent, the chin dips (positive pitch) and recovers over ~300 ms, the
  lowest point just before the accented syllable's peak (head gestures lead the voice slightly);
- **pitch contour**: a slow pitch term that follows the voice's f0 (higher voice, chin slightly
  up) so that the head also moves between accents;
- **sway**: each phrase gets its own yaw/roll posture (drawn from a generator seeded by the
  audio's content, so a clip always gets the same motion) reached smoothly, plus a slow drift;
- **stillness**: everything is multiplied by a speech-activity envelope, so the head eases back to
  a calm pose in pauses and after the audio ends.

The source's own head motion was made for *its* speech, so head mode takes most of it out: given
the source's pose per output frame, its quick part (what changes within ~a second: nods and bobs
of the old speech) is subtracted — 70 %, at most 1.5° per axis, so a lively source never needs
large warps — keeping the slow trend (deliberate turns, posture). The output's head then shows
the trend plus the new gestures, and is (nearly) still where the new audio pauses.

Angles are degree offsets added to the source's pose, in the convention of ``face.pose``
(image axes x right, y down, z away from the camera): positive pitch = chin down, positive yaw =
nose towards image left, positive roll = clockwise in the image.
Each axis is normalised to unit std while talking, then scaled to an amplitude that follows the
person's own head motion in the source (``FaceProfile.pose_std_deg``, clamped to a natural
range) and ``temperature`` (0.5 = that natural amplitude, 1 = double).
"""

from __future__ import annotations

import logging
import zlib

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..options import GenerateOptions
from ..records import FaceProfile, Prosody, SpeechTimeline, TimeMap

log = logging.getLogger(__name__)

#: Planning grid (s): the prosody's own hop.
GRID_S = 0.01
#: Per-axis amplitude range (degrees, yaw/pitch/roll) the person's own pose std is clamped to:
#: below it head mode would be invisible, above it a restless source would make a wobbly output
#: (tracking noise and deliberate turns inflate the source's std).
AMPLITUDE_MIN_DEG = np.array([1.2, 1.4, 0.8], np.float32)
AMPLITUDE_MAX_DEG = np.array([2.2, 2.5, 1.5], np.float32)
#: Each axis's gesture curve is normalised to unit std over the talking frames (so the amplitude
#: *is* the std while talking, whatever the clip's length or number of accents), but never
#: amplified by more than 1 / this, nor so far that a peak exceeds PEAK_UNITS amplitudes: a clip
#: with one or two accents keeps modest nods, not huge ones.
UNIT_STD_FLOOR = 0.35
PEAK_UNITS = 2.5
#: Temperature at which the amplitude equals the (clamped) person's own motion.
NATURAL_TEMPERATURE = 0.5
#: Hard limit on any delta (degrees): beyond it the 2-D warp of a frontal face stops looking rigid.
MAX_DELTA_DEG = 7.0
#: Nod duration (s, dip and recovery) and how far its lowest point leads the accent's peak.
NOD_DURATION_S = 0.32
NOD_LEAD_S = 0.04
#: Nod depth (in units of the pitch amplitude) for a full-strength accent; weak accents nod less.
NOD_DEPTH = 2.0
#: Accents weaker than this do not nod (they would be a constant tremor).
NOD_MIN_STRENGTH = 0.15
#: Small yaw/roll companion of a nod (units of that axis's amplitude): real nods are not pure pitch.
NOD_TWIST = 0.35
#: Slow pitch from f0: degrees (in pitch-amplitude units) per semitone above the speaker's median,
#: smoothed over this many seconds (a contour, not a syllable-by-syllable bob).
F0_PITCH_PER_ST = 0.12
F0_SMOOTH_S = 0.25
#: Per-phrase posture std (amplitude units) and the time to settle into it (Gaussian sigma, s).
SWAY_POSTURE = 1.0
SWAY_SMOOTH_S = 0.45
#: Slow drift inside a phrase: frequency range (Hz) and size (amplitude units).
DRIFT_HZ = (0.12, 0.3)
DRIFT_SIZE = 0.6
#: Activity envelope: pauses shorter than about this do not stop the head (Gaussian sigma, s);
#: a longer one lets it settle back to the source pose.
ACTIVITY_SMOOTH_S = 0.22
#: Final smoothing (s): removes any kink between gestures (no jitter at 25-60 fps).
FINAL_SMOOTH_S = 0.04
#: Source-motion removal: the pose measured per frame is first smoothed over this sigma (s; removes
#: the mesh's frame-to-frame noise, which the warp would otherwise copy into the output), and the
#: slow trend kept is its smoothing over TREND_SMOOTH_S; the difference is taken out.
SOURCE_DENOISE_S = 0.04
TREND_SMOOTH_S = 1.0
#: How much of the source's quick motion is taken out, and the most (degrees per axis): removing a
#: lively source's whole motion needs warps of several degrees, which move hair and background
#: beside the head visibly (benchmark: the band around a child's head changed in 2.5 % of its
#: pixels instead of 0.2 %); what remains of a large motion reads as the person's own liveliness.
CANCEL_SHARE = 0.7
CANCEL_MAX_DEG = 1.5
#: A jump of the measured pose larger than this between consecutive frames (degrees) is a cut or
#: a tracker switch, not motion: smoothing never crosses it.
POSE_JUMP_DEG = 6.0


def no_head_motion(n_frames: int) -> np.ndarray:
    """Pose unchanged: float32[n_frames, 3] (yaw, pitch, roll degrees) zeros."""
    return np.zeros((n_frames, 3), np.float32)


def head_amplitude_deg(profile: FaceProfile, temperature: float) -> np.ndarray:
    """Per-axis amplitude (degrees): the person's own pose std, clamped, scaled by temperature."""
    own = np.nan_to_num(np.asarray(profile.pose_std_deg, np.float32), nan=0.0)
    return np.clip(own, AMPLITUDE_MIN_DEG, AMPLITUDE_MAX_DEG) * float(temperature) / NATURAL_TEMPERATURE


def _content_seed(prosody: Prosody | None, speech_tl: SpeechTimeline, n_out: int) -> int:
    """A seed from what is said and how: the same audio always gets the same head motion."""
    parts = [str(n_out), repr(tuple((round(a, 2), round(b, 2)) for a, b in speech_tl.pauses))]
    if prosody is not None:
        parts.append(repr(tuple((round(t, 2), round(s, 2)) for t, s in prosody.accents)))
    return zlib.crc32("|".join(parts).encode())


def _activity(speech_tl: SpeechTimeline, n: int, speech_end_s: float) -> np.ndarray:
    """0..1 speech activity on the grid: 1 while talking, easing to 0 in longer pauses and after the end."""
    t = (np.arange(n) + 0.5) * GRID_S
    active = (t < speech_end_s).astype(np.float64)
    for a, b in speech_tl.pauses:
        active[(t >= a) & (t < b)] = 0.0
    if n == 0:
        return active
    return np.clip(gaussian_filter1d(active, ACTIVITY_SMOOTH_S / GRID_S, mode="nearest"), 0.0, 1.0)


def _nods(accents: tuple[tuple[float, float], ...], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pitch nods (chin-down pulses, peak = strength) and a signed companion twist for yaw/roll."""
    t = (np.arange(n) + 0.5) * GRID_S
    pitch = np.zeros(n)
    twist = np.zeros(n)
    for at_s, strength in accents:
        if strength < NOD_MIN_STRENGTH:
            continue
        centre = at_s - NOD_LEAD_S
        u = (t - centre) / NOD_DURATION_S + 0.5  # 0..1 across the nod
        inside = (u > 0) & (u < 1)
        pulse = np.where(inside, np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)
        pitch += strength * pulse
        twist += strength * pulse * rng.choice((-1.0, 1.0))
    return pitch, twist


def _f0_contour(prosody: Prosody, n: int) -> np.ndarray:
    """Semitones above the speaker's median f0, interpolated through unvoiced frames, smoothed."""
    f0 = np.asarray(prosody.f0_hz, np.float64)[:n]
    out = np.zeros(n)
    ok = np.isfinite(f0) & (f0 > 0)
    if ok.sum() < 10:
        return out
    st = 12.0 * np.log2(f0[ok] / np.median(f0[ok]))
    idx = np.arange(len(f0))
    out[: len(f0)] = np.interp(idx, idx[ok], np.clip(st, -8.0, 8.0))
    return gaussian_filter1d(out, F0_SMOOTH_S / GRID_S, mode="nearest")


def _sway(prosody: Prosody | None, speech_tl: SpeechTimeline, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 2] yaw/roll: one posture per phrase reached smoothly, plus a slow drift."""
    t = (np.arange(n) + 0.5) * GRID_S
    phrases = prosody.phrases if prosody is not None and prosody.phrases else ((0.0, n * GRID_S),)
    posture = np.zeros((n, 2))
    for a, b in phrases:
        posture[(t >= a) & (t < b)] = rng.normal(0.0, SWAY_POSTURE, 2)
    posture = gaussian_filter1d(posture, SWAY_SMOOTH_S / GRID_S, axis=0, mode="nearest")
    freq = rng.uniform(*DRIFT_HZ, 2)
    phase = rng.uniform(0, 2 * np.pi, 2)
    drift = DRIFT_SIZE * np.sin(2 * np.pi * freq[None] * t[:, None] + phase[None])
    return posture + drift


def source_motion(source_pose: np.ndarray, fps: float) -> np.ndarray:
    """The quick part of the source's head motion per output frame, float64[n, 3] degrees.

    ``source_pose`` is the source's measured pose for each output frame (NaN where no face).
    Smoothing runs within stretches of consecutive valid frames without pose jumps (cuts, loop
    restarts, tracker switches), so it never blends two shots; frames without a face get zero.
    """
    pose = np.asarray(source_pose, np.float64)
    n = len(pose)
    out = np.zeros((n, 3))
    if n == 0:
        return out
    valid = np.isfinite(pose).all(axis=1)
    jump = np.zeros(n, bool)
    jump[1:] = np.abs(np.diff(np.nan_to_num(pose), axis=0)).max(axis=1) > POSE_JUMP_DEG
    start = None
    for i in range(n + 1):
        breaks = i == n or not valid[i] or (jump[i] and start is not None)
        if start is not None and breaks:
            seg = pose[start:i]
            fine = gaussian_filter1d(seg, SOURCE_DENOISE_S * fps, axis=0, mode="nearest")
            trend = gaussian_filter1d(seg, TREND_SMOOTH_S * fps, axis=0, mode="nearest")
            out[start:i] = fine - trend
            start = None
        if start is None and i < n and valid[i]:
            start = i
    return out


def plan_head(
    prosody: Prosody | None,
    speech_tl: SpeechTimeline,
    profile: FaceProfile,
    timemap: TimeMap,
    options: GenerateOptions,
    source_pose: np.ndarray | None = None,
) -> np.ndarray:
    """Per output frame head pose offsets: float32[n_out, 3] yaw, pitch, roll degrees.

    Zeros unless ``options.mode`` is head mode (lips and face modes keep the source's pose
    exactly). ``source_pose`` (float[n_out, 3], the source frame's measured pose per output
    frame, NaN without a face) lets the plan take the source's own quick motion out (see the
    module docstring); without it the gestures are added to the source's motion.
    Deterministic: the only randomness is a generator seeded by the audio's content.
    """
    n_out = int(timemap.n_out)
    if not options.edits_head or n_out <= 0 or options.temperature <= 0:
        return no_head_motion(max(n_out, 0))
    fps = float(timemap.fps)
    duration_s = n_out / fps
    n = int(np.ceil(duration_s / GRID_S)) + 1
    speech_end_s = float(min(timemap.audio_duration_s, speech_tl.duration_s or timemap.audio_duration_s))
    rng = np.random.default_rng(_content_seed(prosody, speech_tl, n_out))
    amp = head_amplitude_deg(profile, options.temperature).astype(np.float64)

    accents = prosody.accents if prosody is not None else ()
    nod, twist = _nods(tuple(a for a in accents if a[0] < speech_end_s), n, rng)
    contour = _f0_contour(prosody, n) if prosody is not None else np.zeros(n)
    sway = _sway(prosody, speech_tl, n, rng)
    twist_sign = rng.choice((-1.0, 1.0), 2)

    raw = np.zeros((n, 3))
    raw[:, 0] = sway[:, 0] + NOD_TWIST * twist_sign[0] * twist
    raw[:, 1] = NOD_DEPTH * nod - F0_PITCH_PER_ST * contour
    raw[:, 2] = sway[:, 1] + NOD_TWIST * twist_sign[1] * twist
    activity = _activity(speech_tl, n, speech_end_s)
    raw *= activity[:, None]
    talking = activity > 0.5
    if talking.any():
        gain = 1.0 / np.maximum(raw[talking].std(axis=0), UNIT_STD_FLOOR)
        gain = np.minimum(gain, PEAK_UNITS / np.maximum(np.abs(raw).max(axis=0), 1e-9))
        raw *= gain[None]
    raw *= amp[None]
    raw = gaussian_filter1d(raw, FINAL_SMOOTH_S / GRID_S, axis=0, mode="nearest")
    raw = np.clip(raw, -MAX_DELTA_DEG, MAX_DELTA_DEG)

    t_out = np.arange(n_out) / fps
    grid_t = (np.arange(n) + 0.5) * GRID_S
    out = np.stack([np.interp(t_out, grid_t, raw[:, i]) for i in range(3)], axis=1)
    if source_pose is not None and len(source_pose) == n_out:
        out -= np.clip(CANCEL_SHARE * source_motion(source_pose, fps), -CANCEL_MAX_DEG, CANCEL_MAX_DEG)
    out = np.clip(out, -MAX_DELTA_DEG, MAX_DELTA_DEG).astype(np.float32)
    log.info("head motion: %d accents, amplitude %s deg, delta std %s deg",
             len(accents), np.round(amp, 2).tolist(), np.round(out.std(axis=0), 2).tolist())
    return out
