"""Records that cross stage boundaries.

Frozen, slotted dataclasses. Arrays carry dtype and shape in the field comment; times in seconds
are floats named ``*_s``; frame indices are ints; frame rates are :class:`fractions.Fraction`.
Landmark arrays use MediaPipe's 478-point face-mesh topology in *pixel* coordinates of the
source frame (x right, y down, z in pixels relative to the face centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------- media


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What a file is, read without decoding its frames."""

    path: Path
    kind: str  # "video" | "image" | "audio"
    width: int  # display width (after rotation), 0 for audio
    height: int
    fps: Fraction  # average frame rate; images get a default
    n_frames: int  # counted or estimated; images: 1
    duration_s: float  # duration of the visual stream (or the audio for kind == "audio")
    video_start_s: float  # start of the video stream relative to the container's audio start
    rotation_deg: int  # display rotation applied when decoding (0, 90, 180, 270)
    has_audio: bool
    audio_rate: int  # 0 when there is no audio
    video_codec: str = ""
    audio_duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded audio: float32 mono samples in [-1, 1]."""

    samples: np.ndarray  # float32[n]
    rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.rate)


@dataclass(frozen=True, slots=True)
class TimeMap:
    """Which source frame feeds each output frame, and how long the output is.

    ``src_frame[k]`` is the source frame index shown at output frame ``k``.
    The output's audio is the driving audio from 0 s, trimmed or padded with silence to
    ``n_out / fps`` seconds.
    """

    fps: Fraction
    n_out: int
    src_frame: np.ndarray  # int32[n_out]
    audio_duration_s: float  # seconds of driving audio that are real (the rest is silence)

    @property
    def duration_s(self) -> float:
        return self.n_out / float(self.fps)


# ------------------------------------------------------------------------------------------ face


@dataclass(frozen=True, slots=True)
class FaceTrack:
    """The edited person's face in every source frame (one track, chosen by the face stage)."""

    present: np.ndarray  # bool[n]
    landmarks: np.ndarray  # float32[n, 478, 3] px (smoothed); undefined where not present
    bbox: np.ndarray  # float32[n, 4] x0, y0, x1, y1 px
    pose: np.ndarray  # float32[n, 3] yaw, pitch, roll in degrees
    scale: np.ndarray  # float32[n] face size in px (inter-ocular distance)
    mouth: np.ndarray  # float32[n, 4] measured MOUTH_PARAMS, normalised by `scale`
    width: int
    height: int
    #: int32[n] whose face each frame shows (-1: none) when the track follows several people
    #: (active speaker selection); None when it follows one person throughout.
    identity: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.present.shape[0])


#: Names of the columns of every ``mouth`` array, all normalised by the inter-ocular distance.
#: open: inner-lip gap; width: corner-to-corner distance; protrusion: lip thickness/rounding
#: cue (outer-lip height minus inner-lip gap); jaw: nose-tip to chin distance.
MOUTH_PARAMS: tuple[str, ...] = ("open", "width", "protrusion", "jaw")


@dataclass(frozen=True, slots=True)
class FaceProfile:
    """Facts about this person measured on the source: their neutral and their range."""

    neutral_mouth: np.ndarray  # float32[4] mouth params at rest (closed, relaxed)
    mouth_min: np.ndarray  # float32[4] low percentile over the clip
    mouth_max: np.ndarray  # float32[4] high percentile over the clip
    pose_mean_deg: np.ndarray  # float32[3]
    pose_std_deg: np.ndarray  # float32[3]
    speaking_fraction: float  # share of frames whose mouth moves like speech


@dataclass(frozen=True, slots=True)
class Occlusion:
    """What is in front of the lower face in one frame (a hand, a microphone): its pixels must
    come out as filmed."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 px of the frame the mask covers
    mask: np.ndarray  # float32[y1 - y0, x1 - x0] 0..1, 1 = occluder


# ---------------------------------------------------------------------------------------- speech


@dataclass(frozen=True, slots=True)
class Phone:
    start_s: float
    end_s: float
    label: str  # ARPAbet without stress digit ("AA", "P", ...), "SIL" for silence
    stress: int = 0  # 0 none, 1 primary, 2 secondary (vowels only)
    word: int = -1  # index into SpeechTimeline.words, -1 if none


@dataclass(frozen=True, slots=True)
class Word:
    start_s: float
    end_s: float
    text: str


#: The widest loudness span (dB) the 0..1 ``SpeechTimeline.energy`` track covers: 1 is the loud
#: level, 0 the speech gate, which sits at most this far below it. Part of the track's contract,
#: so a consumer can read the track back as amplitude.
ENERGY_SPAN_DB = 30.0


#: Columns of ``SpeechTimeline.features`` (``speech.acoustic.articulation_features``): language-independent correlates of the mouth's
#: shape, each 0 in silence. ``f1`` jaw opening (F1 between F1_CLOSED_HZ and F1_OPEN_HZ → 0..1),
#: ``f2`` tongue front/back and lip rounding (log F2, z-scored over this recording's voiced
#: speech), ``low``/``mid``/``high`` loudness of the nasal-murmur, vowel and frication bands (each
#: 0..1 between its own gate and peak, like ``energy``), ``centroid`` (log spectral centroid,
#: z-scored over the speech), ``voiced`` (0/1). Normalised per recording so neither the speaker's
#: vocal tract nor the microphone sets their scale.
ARTICULATION_FEATURES = ("f1", "f2", "low", "mid", "high", "centroid", "voiced")


@dataclass(frozen=True, slots=True)
class SpeechTimeline:
    """What is said and when. ``method`` says how it was obtained (and so how far to trust it)."""

    phones: tuple[Phone, ...]
    words: tuple[Word, ...]
    pauses: tuple[tuple[float, float], ...]  # (start_s, end_s) of silences
    duration_s: float
    method: str  # "aligned" (transcript + forced alignment) | "recognized" | "acoustic"
    # "en" when English phone models explain the speech under its transcript (English, or a
    # transliteration of a language close to it); "" = not known to be English.
    language: str = ""
    transcript: str = ""  # the aligned transcript ("" unless method is "aligned")
    evidence: str = ""  # what decided the method, one line (logged; see speech.analyzer)
    # Acoustic articulation track, present for every method: frame-rate-free curves on `hop_s`.
    hop_s: float = 0.01
    energy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # float32[t] 0..1 speech envelope
    openness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # float32[t] 0..1 acoustic jaw-opening estimate
    voiced: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # bool[t]
    # float32[t, k] language-independent articulation features (speech.acoustic.FEATURES); may be
    # empty (0 columns) for timelines built without them.
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))


@dataclass(frozen=True, slots=True)
class Prosody:
    hop_s: float
    f0_hz: np.ndarray  # float32[t], NaN where unvoiced
    intensity_db: np.ndarray  # float32[t]
    accents: tuple[tuple[float, float], ...]  # (time_s, strength 0..1) pitch accents / stressed peaks
    phrases: tuple[tuple[float, float], ...]  # (start_s, end_s) speech phrases between pauses


# ---------------------------------------------------------------------------------------- motion


@dataclass(frozen=True, slots=True)
class MotionPlan:
    """Per output frame targets. Mouth values are absolute MOUTH_PARAMS for this person."""

    src_frame: np.ndarray  # int32[n_out]
    mouth: np.ndarray  # float32[n_out, 4] target mouth params (same units as FaceTrack.mouth)
    closure: np.ndarray  # bool[n_out] lips must seal (p/b/m)
    speaking: np.ndarray  # bool[n_out] inside speech (False in pauses)
    viseme: np.ndarray  # int8[n_out] dominant viseme class id (motion.visemes), for exemplar choice
    au: np.ndarray  # float32[n_out, n_aus] facial action unit intensities 0..1 (face mode)
    blink: np.ndarray  # float32[n_out] 0 open .. 1 closed, extra blinks (face mode)
    head_delta: np.ndarray  # float32[n_out, 3] yaw, pitch, roll offsets in degrees (head mode)

    @property
    def n_out(self) -> int:
        return int(self.src_frame.shape[0])


@dataclass(frozen=True, slots=True)
class EditSpans:
    """Which output frames a segmented request re-performs (see ``motion.ease``)."""

    owner: np.ndarray  # int32[n_out] segment index, -1 = left as filmed (the renderer never sees it)
    weight: np.ndarray  # float32[n_out] 0..1 ease from the filmed (0) to the planned (1) mouth

    def edited(self, k: int) -> bool:
        return bool(self.owner[k] >= 0)


# ---------------------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class GenerateResult:
    output: Path
    duration_s: float
    n_frames: int
    fps: Fraction
    width: int
    height: int
    mode: str
    speech_method: str
    frames_edited: int
    timings_s: dict[str, float]
    warnings: tuple[str, ...] = ()
    #: ``[start, end)`` output frames of each chunk when the render was split across processes.
    chunks: tuple[tuple[int, int], ...] = ()
