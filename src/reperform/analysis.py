"""The results of the engine's first two seams: :class:`Analysis` (what was learned from the
inputs) and :class:`Plan` (what every output frame should show).

``generate = analyze → plan → render`` (:mod:`reperform.pipeline` runs them in that order). The
split exists so that work done once can be used many times: an Analysis saved next to an asset
makes another emotion, mode or sync mode on the same inputs cost only plan + render, and
benchmarks and tests read the analysis or the plan without re-wiring the stages themselves.

This module holds data only; it does not know the order of the stages. It imports the stage
packages lazily (only to save or load a mouth bank), so ``import reperform`` stays light.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import recordio
from .errors import AnalysisOutdated
from .options import GenerateOptions, ModelMode
from .records import (
    EditSpans,
    FaceProfile,
    FaceTrack,
    MediaInfo,
    MotionPlan,
    Phone,
    Prosody,
    SpeechTimeline,
    TimeMap,
    Word,
)

if TYPE_CHECKING:
    from .media import FrameStore
    from .rendering import MouthBank

#: Bumped whenever what an Analysis holds, or how it is computed, changes: a saved analysis of
#: another version is refused (:class:`AnalysisOutdated`) and the caller analyses again.
ANALYSIS_VERSION = 1
#: Bytes hashed at each end of an input file for its fingerprint (with its size): enough to tell
#: a replaced upload from the original without reading a long video twice.
FINGERPRINT_EDGE_BYTES = 1 << 20
#: File names inside a saved analysis folder (``<stem>.json`` + ``<stem>.npz``).
_STEM = "analysis"
_RECORDS = (MediaInfo, FaceTrack, FaceProfile, SpeechTimeline, Phone, Word, Prosody)
_PLAN_STEM = "plan"
_PLAN_RECORDS = (TimeMap, MotionPlan, EditSpans)


def fingerprint(path: Path) -> str:
    """Size plus a hash of the first and last MiB of a file: cheap, and changes when the file does."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(FINGERPRINT_EDGE_BYTES))
        if size > 2 * FINGERPRINT_EDGE_BYTES:
            f.seek(-FINGERPRINT_EDGE_BYTES, os.SEEK_END)
            h.update(f.read(FINGERPRINT_EDGE_BYTES))
    return h.hexdigest()[:32]


@dataclass(slots=True, eq=False)
class Analysis:
    """Everything learned from one video (or photo) and one driving audio; independent of the
    requested mode, emotion, temperature and sync mode (only the transcript ``text`` shapes it).

    ``frame_store`` is transient: the analysis pass's decoded frames, kept so that the first
    render of a clip that fits the store need not decode it again. It is never saved, and the
    render pass empties it after use (later renders decode, as a loaded analysis always does).
    """

    video: Path
    audio: Path
    info: MediaInfo  # the video (or image)
    drive_duration_s: float  # seconds of driving audio, as decoded
    text: str | None  # transcript the driving speech was analysed with (GenerateOptions.text)
    frame_times_s: np.ndarray  # float64[n] time of each source frame from the first one
    track: FaceTrack
    profile: FaceProfile
    bank: MouthBank
    speech: SpeechTimeline  # the driving audio
    prosody: Prosody
    source_speech: SpeechTimeline | None  # the video's own speech (None without a sound track)
    warnings: tuple[str, ...] = ()
    timings_s: dict[str, float] = field(default_factory=dict)  # probe, analyze, speech, speech_wait
    fingerprints: dict[str, str] = field(default_factory=dict)  # "video" / "audio" → fingerprint()
    version: int = ANALYSIS_VERSION
    #: Whom the faces were chosen for: ``Options.active_speaker`` as JSON (None: the default face).
    speaker: str | None = None
    frame_store: FrameStore | None = None

    def check_inputs(self) -> None:
        """Raise :class:`AnalysisOutdated` if the input files changed since the analysis (render
        reads the video's frames and the audio's samples again)."""
        for name, path in (("video", self.video), ("audio", self.audio)):
            if not path.is_file():
                raise AnalysisOutdated(f"the analysed {name} {path} is gone; analyse the new inputs")
            want = self.fingerprints.get(name)
            if want is not None and fingerprint(path) != want:
                raise AnalysisOutdated(f"the analysed {name} {path.name} has changed; analyse it again")

    def relocate(self, video: Path, audio: Path) -> None:
        """Point this analysis at the same inputs stored elsewhere (another machine's copy, a
        shared store's path). Rendering still checks their fingerprints, so other files are refused."""
        self.video, self.audio = Path(video), Path(audio)
        self.info = dataclasses.replace(self.info, path=self.video)

    def save(self, directory: str | Path) -> Path:
        """Write this analysis to ``directory`` (``analysis.json`` + ``analysis.npz``); returns it.

        The mouth bank's images are included (it is most of the size: a few MB for a short
        close-up, at most the bank's 224 MiB budget). The frame store is not.
        """
        directory = Path(directory)
        content = {
            "version": self.version,
            "video": self.video, "audio": self.audio, "info": self.info,
            "drive_duration_s": self.drive_duration_s, "text": self.text,
            "frame_times_s": self.frame_times_s, "track": self.track, "profile": self.profile,
            "bank": self.bank.state(), "speech": self.speech, "prosody": self.prosody,
            "source_speech": self.source_speech, "warnings": self.warnings,
            "timings_s": self.timings_s, "fingerprints": self.fingerprints, "speaker": self.speaker,
        }
        recordio.save(directory, _STEM, content, _RECORDS)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Analysis:
        """Read an analysis written by :meth:`save`; :class:`AnalysisOutdated` if it was made by
        another engine version (analyse again: loading it could silently plan differently)."""
        from .rendering import MouthBank  # the render stage's bank type; imported only when needed

        directory = Path(directory)
        content = _read_saved(directory, _STEM, _RECORDS, "analysis")
        if content.get("version") != ANALYSIS_VERSION:
            raise AnalysisOutdated(
                f"the analysis in {directory} is version {content.get('version')}, this engine reads "
                f"version {ANALYSIS_VERSION}; analyse the inputs again"
            )
        content["bank"] = MouthBank.from_state(content["bank"])
        return cls(**content)

    def release_frames(self) -> None:
        """Drop the transient frame store (its memory) now rather than when the analysis goes."""
        if self.frame_store is not None:
            self.frame_store.clear()
        self.frame_store = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Per-output-frame targets for one request: the mode decision, the time map and the motion.

    ``options`` are the request's options as the plan was made for them; the render pass follows
    ``mode`` (which passes run) from here, so the mode is decided once, when planning.
    """

    options: GenerateOptions
    timemap: TimeMap
    motion: MotionPlan
    timings_s: dict[str, float] = field(default_factory=dict)  # "plan": seconds it took
    #: Segmented requests only: which frames are re-performed (the rest are written as filmed)
    #: and, per segment, the options it is rendered with.
    spans: EditSpans | None = None
    segment_options: tuple[GenerateOptions, ...] = ()

    def save(self, directory: str | Path) -> Path:
        """Write this plan to ``directory`` (``plan.json`` + ``plan.npz``); returns it.

        For work split across processes: the plan is made once over the whole clip and every
        chunk renders from the same one (a re-plan could differ in a float, and the joins show it).
        """
        directory = Path(directory)
        content = {
            "version": ANALYSIS_VERSION, "options": self.options.model_dump(mode="json"),
            "timemap": self.timemap, "motion": self.motion, "timings_s": self.timings_s, "spans": self.spans,
            "segment_options": [o.model_dump(mode="json") for o in self.segment_options],
        }
        recordio.save(directory, _PLAN_STEM, content, _PLAN_RECORDS)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Plan:
        """Read a plan written by :meth:`save` (:class:`AnalysisOutdated` as for an analysis)."""
        directory = Path(directory)
        content = _read_saved(directory, _PLAN_STEM, _PLAN_RECORDS, "plan")
        if content.pop("version", None) != ANALYSIS_VERSION:
            raise AnalysisOutdated(f"the plan in {directory} was made by another engine version; plan again")
        content["options"] = GenerateOptions.model_validate(content["options"])
        content["segment_options"] = tuple(GenerateOptions.model_validate(o) for o in content["segment_options"])
        return cls(**content)

    @property
    def mode(self) -> ModelMode:
        return self.options.render_mode

    @property
    def n_out(self) -> int:
        return self.timemap.n_out


def _read_saved(directory: Path, stem: str, records: tuple[type, ...], what: str) -> dict[str, Any]:
    """The content of a saved ``what`` (analysis or plan); :class:`AnalysisOutdated` when it is
    missing or unreadable — to the caller both mean the same thing: make it again."""
    try:
        return recordio.load(directory, stem, records)
    except FileNotFoundError as exc:
        raise AnalysisOutdated(f"no saved {what} in {directory}") from exc
    except (recordio.RecordFormatError, ValueError, KeyError, TypeError) as exc:
        raise AnalysisOutdated(f"the {what} in {directory} cannot be read: {exc}") from exc
