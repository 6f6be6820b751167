"""Merge the motion passes onto the output frame grid → :class:`MotionPlan`.

Output frame ``k`` shows time ``k / fps`` of the driving audio. Curves are planned on a 100 Hz
grid and averaged over each frame's exposure window (a symmetric box, so no lag is introduced);
p/b/m closures are then re-imposed per frame so a seal shorter than a frame still shows.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import EngineError
from ..options import GenerateOptions
from ..records import FaceProfile, FaceTrack, MotionPlan, Prosody, SpeechTimeline, TimeMap
from .adapt import Range, speaker_targets
from .expression import neutral_aus, no_blinks
from .head import no_head_motion
from .mouth import ACOUSTIC_WEIGHT, GRID_S, MouthCurves, plan_mouth
from .visemes import Viseme

log = logging.getLogger(__name__)

#: The mouth is shown this far ahead of the sound: articulators move before the acoustic
#: event they produce. Kept within one frame so the AV offset stays 0 ± 1 frame.
MOUTH_LEAD_S = 0.02
#: Acoustic shares tried when calibrating on the source's own speech.
ACOUSTIC_WEIGHT_CANDIDATES = (0.0, 0.2, 0.4, 0.6)
#: Calibration needs this many source frames with a face inside speech; fewer fit noise.
MIN_CALIBRATION_FRAMES = 40
#: A candidate must beat the method's default by this much correlation to replace it: with
#: ~100 frames, smaller differences are within noise.
CALIBRATION_MARGIN = 0.05


def _frame_windows(curves: MouthCurves, n_out: int, fps: float, lead_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Grid index ranges [lo, hi) covering each output frame's window ``k/fps + lead_s ± 0.5/fps``."""
    t = np.arange(n_out) / fps + lead_s
    half = 0.5 / fps
    lo = np.clip(np.round((t - half) / GRID_S).astype(int), 0, len(curves.t_s) - 1)
    hi = np.clip(np.round((t + half) / GRID_S).astype(int) + 1, lo + 1, len(curves.t_s))
    return lo, hi


def sample_frames(curves: MouthCurves, n_out: int, fps: float, lead_s: float = 0.0) -> dict[str, np.ndarray]:
    """Grid curves → per-frame arrays (mouth averaged over the frame window, flags at its centre).

    ``lead_s`` shows the mouth that much ahead of the sound (lips move before the acoustics).
    """
    lo, hi = _frame_windows(curves, n_out, fps, lead_s)
    csum = np.vstack([np.zeros((1, 4)), np.cumsum(curves.mouth, axis=0, dtype=np.float64)])
    mouth = ((csum[hi] - csum[lo]) / (hi - lo)[:, None]).astype(np.float32)
    centre = np.clip(np.round(np.arange(n_out) / fps / GRID_S).astype(int), 0, len(curves.t_s) - 1)
    speaking = curves.speaking[centre].copy()
    viseme = curves.viseme[centre].astype(np.int8)
    closure = np.zeros(n_out, bool)
    t = np.arange(n_out) / fps
    for a, b in curves.closure_spans:
        inside = (t >= a) & (t <= b)
        if not inside.any():
            # Shorter than a frame: the frame nearest the closure's middle shows the seal.
            k = int(np.clip(np.round((a + b) / 2 * fps), 0, n_out - 1))
            if abs(t[k] - (a + b) / 2) <= 0.5 / fps + (b - a) / 2:
                inside[k] = True
        closure |= inside
    viseme[closure] = np.int8(Viseme.PBM)
    return {"mouth": mouth, "speaking": speaking, "viseme": viseme, "closure": closure}


def calibrate_acoustic_weight(
    source_speech: SpeechTimeline | None,
    track: FaceTrack | None,
    frame_times_s: np.ndarray | None,
    targets: np.ndarray,
    rng: Range,
    source_offset_s: float,
    default: float,
) -> float:
    """Share of the acoustic openness that best predicts this person's real mouth.

    The planner is run on the source's own speech with each candidate share and compared with
    the mouth measured in the same frames; the best share wins if it clearly beats the default.
    People differ: some open with loudness (acoustics help), others articulate crisply at any
    volume (phones alone are better).
    """
    if (
        source_speech is None or track is None or frame_times_s is None or not source_speech.phones
        or source_speech.method == "acoustic" or source_speech.openness.size == 0 or len(frame_times_s) != track.n
    ):
        return default
    t = np.asarray(frame_times_s, np.float64) + source_offset_s
    real = np.asarray(track.mouth[:, 0], np.float64)
    ok = np.asarray(track.present, bool) & np.isfinite(real) & (t >= 0) & (t <= source_speech.duration_s)
    if ok.sum() < MIN_CALIBRATION_FRAMES:
        return default
    scores: dict[float, float] = {}
    for w in sorted(set(ACOUSTIC_WEIGHT_CANDIDATES) | {default}):
        curves = plan_mouth(source_speech, None, targets, rng, source_speech.duration_s, acoustic_weight=w)
        planned = np.interp(t[ok], curves.t_s, curves.mouth[:, 0])
        if np.std(planned) < 1e-9 or np.std(real[ok]) < 1e-9:
            return default
        scores[w] = float(np.corrcoef(planned, real[ok])[0, 1])
    best = max(scores, key=lambda w: scores[w])
    chosen = best if scores[best] > scores[default] + CALIBRATION_MARGIN else default
    log.debug("acoustic share calibration %s -> %.2f", {k: round(v, 3) for k, v in scores.items()}, chosen)
    return chosen


def plan_motion(
    speech_tl: SpeechTimeline,
    prosody: Prosody | None,
    track: FaceTrack | None,
    profile: FaceProfile,
    timemap: TimeMap,
    options: GenerateOptions,
    *,
    source_speech: SpeechTimeline | None = None,
    frame_times_s: np.ndarray | None = None,
    source_offset_s: float = 0.0,
) -> MotionPlan:
    """Per-output-frame targets for the renderer.

    ``speech_tl``/``prosody`` describe the driving audio; ``track``, ``profile``, ``source_speech``
    and ``frame_times_s`` describe the source video and its own speech (used to learn this
    person's mouth shapes). ``source_offset_s`` is when source frame 0 plays on the source
    audio's clock (``MediaInfo.video_start_s``).
    """
    n_out = int(timemap.n_out)
    fps = float(timemap.fps)
    if n_out <= 0 or fps <= 0:
        raise EngineError(f"cannot plan motion for {n_out} frames at {fps} fps")
    rng = Range(profile)
    targets, counts = speaker_targets(rng, track, source_speech, frame_times_s, source_offset_s=source_offset_s)
    duration_s = n_out / fps
    speech_end_s = float(min(timemap.audio_duration_s, speech_tl.duration_s or timemap.audio_duration_s))
    weight = ACOUSTIC_WEIGHT.get(speech_tl.method, 0.5)
    if speech_tl.method != "acoustic":
        weight = calibrate_acoustic_weight(
            source_speech, track, frame_times_s, targets, rng, source_offset_s, weight
        )
    curves = plan_mouth(speech_tl, prosody, targets, rng, duration_s, speech_end_s=speech_end_s,
                        acoustic_weight=weight)
    frames = sample_frames(curves, n_out, fps, MOUTH_LEAD_S)
    mouth = frames["mouth"]
    mouth[frames["closure"], 0] = rng.closed[0]
    log.info(
        "planned %d frames (%s speech, %d phones, %d speaker-measured visemes, %d closures)",
        n_out, speech_tl.method, len(speech_tl.phones), int((counts > 0).sum()), len(curves.closure_spans),
    )
    _ = options  # lips mode: expression and head stay as in the source (face/head modes come later)
    return MotionPlan(
        src_frame=np.asarray(timemap.src_frame, np.int32),
        mouth=mouth,
        closure=frames["closure"],
        speaking=frames["speaking"],
        viseme=frames["viseme"],
        au=neutral_aus(n_out),
        blink=no_blinks(n_out),
        head_delta=no_head_motion(n_out),
    )
