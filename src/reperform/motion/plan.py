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
from .expression import plan_expression
from .head import plan_head
from .learn import fit_lead, fit_openings
from .mouth import GRID_S, MouthCurves, plan_mouth
from .visemes import Viseme

log = logging.getLogger(__name__)

#: The mouth is shown this far ahead of the sound: articulators move before the acoustic
#: event they produce. Kept within one frame so the AV offset stays 0 ± 1 frame. This is the
#: default; a source with its own speech sets the speaker's own lead (``learn.fit_lead``).
MOUTH_LEAD_S = 0.02


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
    targets = fit_openings(targets, rng, track, source_speech, frame_times_s, source_offset_s=source_offset_s)
    duration_s = n_out / fps
    speech_end_s = float(min(timemap.audio_duration_s, speech_tl.duration_s or timemap.audio_duration_s))
    curves = plan_mouth(speech_tl, prosody, targets, rng, duration_s, speech_end_s=speech_end_s)
    lead_s = fit_lead(targets, rng, track, source_speech, frame_times_s, default_s=MOUTH_LEAD_S,
                      source_offset_s=source_offset_s)
    frames = sample_frames(curves, n_out, fps, lead_s)
    mouth = frames["mouth"]
    mouth[frames["closure"], 0] = rng.closed[0]
    log.info(
        "planned %d frames (%s speech, %d phones, %d speaker-measured visemes, %d closures, lead %.0f ms)",
        n_out, speech_tl.method, len(speech_tl.phones), int((counts > 0).sum()), len(curves.closure_spans),
        lead_s * 1000,
    )
    _ = options  # lips mode: expression and head stay as in the source (face/head modes come later)
    au, blink = plan_expression(timemap, options, speech_tl, prosody, track)  # zeros in lips mode
    return MotionPlan(
        src_frame=np.asarray(timemap.src_frame, np.int32),
        mouth=mouth,
        closure=frames["closure"],
        speaking=frames["speaking"],
        viseme=frames["viseme"],
        au=au,
        blink=blink,
        head_delta=plan_head(prosody, speech_tl, profile, timemap, options),
    )
