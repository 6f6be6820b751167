"""Merge the motion passes onto the output frame grid → :class:`MotionPlan`.

Output frame ``k`` shows time ``k / fps`` of the driving audio. Curves are planned on a 100 Hz
grid and averaged over each frame's exposure window (a symmetric box, so no lag is introduced);
p/b/m closures are then re-imposed per frame so a seal shorter than a frame still shows.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..errors import EngineError
from ..options import GenerateOptions
from ..records import ENERGY_SPAN_DB, FaceProfile, FaceTrack, MotionPlan, Prosody, SpeechTimeline, TimeMap
from .adapt import Range, match_opening_distribution, source_openings, speaker_targets
from .expression import articulate, plan_expression
from .head import plan_head
from .learn import fit_lead, fit_openings
from .mouth import GRID_S, MouthCurves, plan_mouth_shares
from .trajectory import MouthModel
from .visemes import Viseme

log = logging.getLogger(__name__)

#: Shares of the acoustic openness tried with phones, smallest first (see :func:`choose_acoustic_weight`).
#: Phone targets alone follow real mouths best, but a plan whose syllables are shaped by phones
#: only can co-modulate with the sound best a syllable late (as some real mouths do); the
#: acoustic share ties the opening to the sound's own timing. Evidence: docs/tuning.md.
ACOUSTIC_SHARES = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
#: Frames of lag searched on either side when checking that the mouth moves with the sound
#: (the benchmark's AV-offset search range).
SYNC_SEARCH_FRAMES = 15
#: Largest best lag (frames) of the planned opening against the driving sound's loudness that
#: still counts as in sync (the ±1-frame AV-offset target).
SYNC_MAX_LAG_FRAMES = 1
#: The in-sync correlation peak must beat every peak outside ±SYNC_MAX_LAG_FRAMES by this much:
#: rendering moves the output's peak against the plan's by a few hundredths, so a tie could flip
#: in the video. Loud closed-lip sounds (a hummed /m/) are where the sound and a real mouth
#: disagree; there a larger margin costs fidelity. Evidence: docs/tuning.md.
SYNC_MARGIN_R = 0.02

#: Width (Gaussian sigma, seconds) of the smoothed speaking mask that weights the speaker's
#: opening habit (:func:`frame_opening`): about a frame, so it is fully on two frames in.
HABIT_EDGE_S = 0.04

#: Share of the learned, speaker-independent trajectory (:mod:`trajectory`) in the opening of
#: speaking frames; the rest is the rule plan, adapted to this person. Chosen leave-one-clip-out
#: on the dev clips' cross-segment windows (docs/tuning.md). More of it would follow real mouths
#: better mainly in pauses, where the product keeps the mouth at rest on purpose, and would move
#: the mouth's best lag against the sound off ±1 frame; the second value is the fallback when
#: the first leaves the mouth out of sync.
LEARNED_SHARES = (0.25, 0.125)

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


def sound_envelope(speech_tl: SpeechTimeline, n_out: int, fps: float) -> np.ndarray | None:
    """Loudness (linear amplitude) of the driving sound during each output frame ``[k, k+1) / fps``.

    Built from the speech's energy track (0..1 over the dB span between the speech gate and the
    loud level, 0 below the gate), read back as amplitude over the widest span the acoustic stage
    allows (``records.ENERGY_SPAN_DB``). On the cross-segment clips this follows a plain per-frame
    RMS of the audio at r ≥ 0.99 and gives the same sync verdicts; Praat's intensity (43 ms window)
    was smoother and disagreed on the one borderline clip. None without a usable track.
    """
    energy = np.asarray(speech_tl.energy, np.float64)
    if energy.size < 3 or speech_tl.hop_s <= 0:
        return None
    amp = np.where(energy > 0, 10.0 ** (energy * ENERGY_SPAN_DB / 20.0), 0.0)
    t = (np.arange(len(amp)) + 0.5) * speech_tl.hop_s
    k = np.floor(t * fps).astype(int)
    inside = (k >= 0) & (k < n_out)
    sums = np.bincount(k[inside], weights=amp[inside], minlength=n_out)
    counts = np.bincount(k[inside], minlength=n_out)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def sync_correlations(opening: np.ndarray, envelope: np.ndarray, max_lag: int = SYNC_SEARCH_FRAMES) -> dict[int, float]:
    """Correlation of ``opening`` with ``envelope`` per lag (frames; > 0 = mouth after the sound)."""
    n = min(len(opening), len(envelope))
    a, b = np.asarray(opening[:n], np.float64), np.asarray(envelope[:n], np.float64)
    out: dict[int, float] = {}
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[: n - lag]) if lag >= 0 else (a[: n + lag], b[-lag:])
        if len(x) < 3 or np.std(x) < 1e-9 or np.std(y) < 1e-9:
            continue
        out[lag] = float(np.corrcoef(x, y)[0, 1])
    return out


def sync_lag(opening: np.ndarray, envelope: np.ndarray, max_lag: int = SYNC_SEARCH_FRAMES) -> int:
    """Lag (frames) at which ``opening`` best correlates with ``envelope``; > 0 = mouth after the sound."""
    rs = sync_correlations(opening, envelope, max_lag)
    return max(rs, key=lambda k: rs[k]) if rs else 0


def in_sync(opening: np.ndarray, envelope: np.ndarray) -> bool:
    """True when the opening co-modulates with the sound best within ±SYNC_MAX_LAG_FRAMES, by
    at least SYNC_MARGIN_R over any other lag."""
    rs = sync_correlations(opening, envelope)
    inside = [r for lag, r in rs.items() if abs(lag) <= SYNC_MAX_LAG_FRAMES]
    outside = [r for lag, r in rs.items() if abs(lag) > SYNC_MAX_LAG_FRAMES]
    if not inside:
        return False
    return not outside or max(inside) >= max(outside) + SYNC_MARGIN_R


def blend_learned(frames: dict[str, np.ndarray], learned: np.ndarray, fps: float, share: float) -> np.ndarray:
    """The planned opening with ``share`` of the learned trajectory mixed into speaking frames.

    The learned curve is in z units (speaker-free); it is put on the rule plan's own scale (mean
    and spread of its speaking frames), so the person's range, rest and habits — which the rule
    plan and :func:`frame_opening` carry — stay theirs, and only the timing and relative sizes of
    the syllables move toward what real mouths do. The mix fades in and out with speech over a
    frame or so (HABIT_EDGE_S), as the habit does, so a phrase's edge cannot step.
    """
    opening = frames["mouth"][:, 0].astype(np.float64)
    speaking = np.asarray(frames["speaking"], bool)
    movable = speaking & ~np.asarray(frames["closure"], bool)
    if movable.sum() < 3:
        return opening.astype(np.float32)
    planned, ref = opening[movable], np.asarray(learned, np.float64)[movable]
    if planned.std() < 1e-9 or ref.std() < 1e-9:
        return opening.astype(np.float32)
    mapped = planned.mean() + planned.std() * (np.asarray(learned, np.float64) - ref.mean()) / ref.std()
    gate = np.clip(gaussian_filter1d(speaking.astype(np.float64), HABIT_EDGE_S * fps, mode="nearest"), 0, 1)
    return (opening + share * gate * speaking * (mapped - opening)).astype(np.float32)


def learned_opening(frames: dict[str, np.ndarray], learned: np.ndarray, rng: Range, fps: float,
                    habit: tuple[np.ndarray, float] | None, envelope: np.ndarray | None,
                    shares: tuple[float, ...]) -> np.ndarray:
    """The planned opening with the largest of ``shares`` of the learned trajectory that keeps it
    :func:`in_sync` with the sound (as it will be shown: habit matched, closures sealed); the rule
    plan's own opening when none does. The rule plan's acoustic share was chosen to be in sync
    (:func:`choose_acoustic_weight`), and a mix must not undo that."""
    opening = frames["mouth"][:, 0]
    for share in shares:
        mixed = blend_learned(frames, learned, fps, share)
        if envelope is None or np.std(envelope) < 1e-9 or in_sync(frame_opening({**frames, "mouth": np.column_stack(
                [mixed, frames["mouth"][:, 1:]])}, rng, fps, habit), envelope):
            return mixed
    return opening


def frame_opening(frames: dict[str, np.ndarray], rng: Range, fps: float,
                  habit: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """The planned opening per frame as it will be shown: speaking frames matched to this
    person's distribution of openings (``habit``, from :func:`adapt.source_openings`), p/b/m
    frames sealed.

    The habit's change is weighted by a smoothed speaking mask (HABIT_EDGE_S), so it tapers over
    the last and first frames of a phrase: applied at full weight to speaking frames alone, the
    last frame of a phrase could be lifted to the person's talking opening while the next one
    rests — a mouth that snaps shut. Smoothing the change itself instead also smoothed it into
    every p/b/m closure and raised landmark jitter more than no taper at all (docs/tuning.md,
    ``plan.HABIT_EDGE_S``).
    """
    opening = frames["mouth"][:, 0].astype(np.float32)
    speaking = np.asarray(frames["speaking"], bool)
    movable = speaking & ~frames["closure"]
    if habit is not None and movable.sum() >= 2:
        mapped = match_opening_distribution(opening, movable, *habit)
        # The change is carried across p/b/m frames (interpolated, they are re-sealed below), so
        # it only fades at the edges of speech, not around every closure.
        k = np.arange(len(opening))
        change = np.interp(k, k[movable], (mapped - opening)[movable])
        gate = np.clip(gaussian_filter1d(speaking.astype(np.float64), HABIT_EDGE_S * fps, mode="nearest"), 0, 1)
        opening = (opening + change * gate * speaking).astype(np.float32)
    opening[frames["closure"]] = rng.closed[0]
    return opening


def choose_acoustic_weight(
    speech_tl: SpeechTimeline,
    prosody: Prosody | None,
    targets: np.ndarray,
    rng: Range,
    duration_s: float,
    speech_end_s: float,
    n_out: int,
    fps: float,
    lead_s: float,
    habit: tuple[np.ndarray, float] | None = None,
) -> tuple[float | None, MouthCurves]:
    """The smallest of ACOUSTIC_SHARES whose planned opening moves with the sound, and its curves.

    Why: phone targets shape each syllable as this speaker would, and the less the raw acoustic
    openness is mixed in, the closer the plan follows a real mouth. But the audio-visual offset
    viewers (and sync detectors) judge is where the mouth's motion best co-modulates with the
    sound's loudness, and for some phone sequences that peak sits a syllable off zero. So every
    share is planned and sampled like the real output, and the first that is :func:`in_sync`
    with the driving sound's loudness wins. The weight is None (the per-method default) when
    there are no phones, no loudness track, too little speech to judge, or no share is in sync.
    """
    judgeable = bool(speech_tl.phones) and speech_tl.method != "acoustic" and n_out >= 3 * SYNC_SEARCH_FRAMES
    env = sound_envelope(speech_tl, n_out, fps) if judgeable else None
    if env is None or np.std(env) < 1e-9:
        return None, plan_mouth_shares(speech_tl, prosody, targets, rng, duration_s, (None,),
                                       speech_end_s=speech_end_s)[0]
    shares = (*ACOUSTIC_SHARES, None)
    variants = plan_mouth_shares(speech_tl, prosody, targets, rng, duration_s, shares, speech_end_s=speech_end_s)
    for w, curves in zip(shares[:-1], variants[:-1], strict=True):
        opening = frame_opening(sample_frames(curves, n_out, fps, lead_s), rng, fps, habit)
        if in_sync(opening, env):
            return w, curves
    return None, variants[-1]


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
    mouth_model: MouthModel | None = None,
    learned_shares: tuple[float, ...] = LEARNED_SHARES,
) -> MotionPlan:
    """Per-output-frame targets for the renderer.

    ``speech_tl``/``prosody`` describe the driving audio; ``track``, ``profile``, ``source_speech``
    and ``frame_times_s`` describe the source video and its own speech (used to learn this
    person's mouth shapes). ``source_offset_s`` is when source frame 0 plays on the source
    audio's clock (``MediaInfo.video_start_s``). ``mouth_model`` is the learned trajectory blended
    into the opening (the first of ``learned_shares`` that keeps the mouth in sync with the sound);
    None plans by the rules alone.
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
    lead_s = fit_lead(targets, rng, track, source_speech, frame_times_s, default_s=MOUTH_LEAD_S,
                      source_offset_s=source_offset_s)
    # The person's habit of opening is matched on phone plans only: the acoustic path's own
    # contrast (``mouth.ACOUSTIC_CONTRAST_GAMMA``) is what follows real mouths there (matching
    # it too cost the acoustic path most of its correlation; docs/tuning.md).
    habit = source_openings(track, source_speech, frame_times_s, source_offset_s=source_offset_s) if (
        speech_tl.phones and speech_tl.method != "acoustic") else None
    weight, curves = choose_acoustic_weight(
        speech_tl, prosody, targets, rng, duration_s, speech_end_s, n_out, fps, lead_s, habit
    )
    frames = sample_frames(curves, n_out, fps, lead_s)
    # Loudness-only speech has no phones for the phone model; the acoustic model reads the sound.
    if mouth_model is not None and (speech_tl.phones and speech_tl.method != "acoustic" or (
            speech_tl.method in mouth_model.acoustic_methods and mouth_model.acoustic_weights is not None)):
        frames["mouth"][:, 0] = learned_opening(frames, mouth_model.predict(speech_tl, np.arange(n_out) / fps),
                                                rng, fps, habit, sound_envelope(speech_tl, n_out, fps), learned_shares)
    mouth = frames["mouth"]
    mouth[:, 0] = frame_opening(frames, rng, fps, habit)
    mouth = articulate(mouth, frames["closure"], rng.closed, rng.neutral, options)  # the prompt's speech
    log.info(
        "planned %d frames (%s speech, %d phones, %d speaker-measured visemes, %d closures, lead %.0f ms, "
        "acoustic share %s, openings matched to %s)",
        n_out, speech_tl.method, len(speech_tl.phones), int((counts > 0).sum()), len(curves.closure_spans),
        lead_s * 1000, "default" if weight is None else f"{weight:.2f}",
        "nothing" if habit is None else f"{len(habit[0])} source frames at {habit[1]:.1f}",
    )
    au, blink = plan_expression(timemap, options, speech_tl, prosody, track, opening=mouth[:, 0])  # lips: zeros
    return MotionPlan(
        src_frame=np.asarray(timemap.src_frame, np.int32),
        mouth=mouth,
        closure=frames["closure"],
        speaking=frames["speaking"],
        viseme=frames["viseme"],
        au=au,
        blink=blink,
        head_delta=plan_head(prosody, speech_tl, profile, timemap, options,
                             source_pose=_source_pose(track, timemap.src_frame)),
    )


def _source_pose(track: FaceTrack | None, src_frame: np.ndarray) -> np.ndarray | None:
    """The source's measured head pose for each output frame (NaN without a face), or None."""
    if track is None or track.n == 0:
        return None
    src = np.clip(np.asarray(src_frame, np.int64), 0, track.n - 1)
    pose = np.asarray(track.pose, np.float64)[src].copy()
    pose[~np.asarray(track.present, bool)[src]] = np.nan
    return pose
