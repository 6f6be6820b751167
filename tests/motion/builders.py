"""Hand-built records for motion tests: a person with a known range, phones at known times."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from reperform.motion.visemes import VOWELS
from reperform.options import GenerateOptions
from reperform.records import FaceProfile, MotionPlan, Phone, Prosody, SpeechTimeline, TimeMap

FPS = 25
#: A plausible person: closed lips, ~0.95 IOD-wide mouth (open, width, protrusion, jaw).
NEUTRAL = np.array([0.02, 0.95, 0.25, 1.10], np.float32)
LOW = np.array([0.0, 0.85, 0.18, 1.05], np.float32)
HIGH = np.array([0.40, 1.08, 0.34, 1.30], np.float32)


def profile(neutral=NEUTRAL, low=LOW, high=HIGH) -> FaceProfile:
    return FaceProfile(
        neutral_mouth=np.asarray(neutral, np.float32), mouth_min=np.asarray(low, np.float32),
        mouth_max=np.asarray(high, np.float32), pose_mean_deg=np.zeros(3, np.float32),
        pose_std_deg=np.ones(3, np.float32), speaking_fraction=0.5,
    )


def speech(spec: list[tuple[str, float, float]], duration_s: float, *, method: str = "aligned",
           stress: dict[int, int] | None = None, openness: np.ndarray | None = None) -> SpeechTimeline:
    """Phones from ``(label, start_s, end_s)``; gaps of 10 ms or more become pauses.

    Vowels get primary stress unless ``stress`` (phone index → stress) says otherwise.
    """
    stress = stress or {}
    phones = tuple(
        Phone(a, b, lab, stress.get(i, 1 if lab in VOWELS else 0), 0) for i, (lab, a, b) in enumerate(spec)
    )
    pauses: list[tuple[float, float]] = []
    t = 0.0
    for ph in phones:
        if ph.start_s - t >= 0.01:
            pauses.append((t, ph.start_s))
        t = max(t, ph.end_s)
    if duration_s - t >= 0.01:
        pauses.append((t, duration_s))
    n = int(round(duration_s / 0.01))
    if openness is None:
        # A plausible acoustic track: vowels loud and open, consonants weak, silence zero.
        op = np.zeros(n, np.float32)
        for ph in phones:
            op[int(round(ph.start_s / 0.01)):int(round(ph.end_s / 0.01))] = 0.7 if ph.label in VOWELS else 0.25
    else:
        op = np.asarray(openness, np.float32)
    return SpeechTimeline(
        phones=phones if method != "acoustic" else (), words=(), pauses=tuple(pauses), duration_s=duration_s,
        method=method, hop_s=0.01, energy=op, openness=op, voiced=op > 0.2,
    )


def timemap(n_out: int, audio_duration_s: float, fps: int = FPS) -> TimeMap:
    return TimeMap(fps=Fraction(fps), n_out=n_out, src_frame=np.arange(n_out, dtype=np.int32) % 10,
                   audio_duration_s=audio_duration_s)


def prosody(duration_s: float, intensity_db: np.ndarray | None = None) -> Prosody:
    n = int(round(duration_s / 0.01))
    db = np.full(n, 60.0, np.float32) if intensity_db is None else np.asarray(intensity_db, np.float32)
    return Prosody(hop_s=0.01, f0_hz=np.full(n, np.nan, np.float32), intensity_db=db, accents=(), phrases=())


def plan(sp: SpeechTimeline, *, n_out: int | None = None, prof: FaceProfile | None = None,
         pros: Prosody | None = None, **kw) -> MotionPlan:
    from reperform.motion import plan_motion

    n = n_out if n_out is not None else int(round(sp.duration_s * FPS))
    return plan_motion(sp, pros, None, prof or profile(), timemap(n, sp.duration_s), GenerateOptions(), **kw)


def frames_between(a_s: float, b_s: float, fps: int = FPS) -> np.ndarray:
    """Output frame indices whose time lies in [a_s, b_s]."""
    return np.arange(int(np.ceil(a_s * fps)), int(np.floor(b_s * fps)) + 1)
