"""The benchmark procedures: cross-segment lip-sync, pause closure, emotion signatures, speed.

Each procedure makes its inputs (:mod:`benchmarks.clips`), runs ``reperform.generate`` in a child
process (:mod:`benchmarks.child`), measures the output (:mod:`benchmarks.measure`) and returns
plain rows for :mod:`benchmarks.report`. A mode the engine does not implement yet comes back as a
row saying so, never as a crash of the benchmark.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import clips, metrics
from benchmarks.child import RunResult, run_child
from benchmarks.measure import IdentityEmbedder, measure_video
from benchmarks.quality import LandmarkScores, PixelScores, driving_curves, landmark_scores, pixel_scores
from reperform import media
from reperform.options import SyncMode

log = logging.getLogger(__name__)

#: Real clips with speech: each half-drives itself for the cross-segment lip-sync test.
SPEECH_CLIPS = (
    "videoretalking_2", "videoretalking_4", "pcavs_00373", "latentsync_demo1_video",
    "facerecognition_short_hamilton_clip",
)
#: Single-face clips driven by the pause-rich audio for the pause test.
PAUSE_CLIPS = ("videoretalking_2", "videoretalking_4", "pcavs_00373")
#: Audio with a 0.8 s pause and ~1.7 s of trailing silence.
PAUSE_AUDIO = "audio/musetalk_yongen.wav"
#: Clips and temperatures of the emotion-signature table (issue 5).
EMOTION_CLIPS = ("videoretalking_2", "videoretalking_4")
EMOTION_TEMPERATURES = (0.2, 0.5, 0.9)
#: The clip scaled to each speed resolution (a medium shot, face ~30 % of the height).
SPEED_CLIP = "videoretalking_4"


@dataclass(slots=True)
class QualityRow:
    """One clip × mode (or its baseline/truth reference) of a quality test."""

    test: str  # "cross-segment" | "pause"
    clip: str
    mode: str  # a mode name, "baseline" (do-nothing) or "truth" (the real second half)
    run: RunResult | None = None
    lm: LandmarkScores = field(default_factory=LandmarkScores)
    px: PixelScores = field(default_factory=PixelScores)


@dataclass(slots=True)
class SpeedRow:
    label: str  # "480p", "720p", "1080p", "1080p 60 s"
    mode: str  # a mode or "floor"
    runs: list[RunResult] = field(default_factory=list)

    @property
    def ok_runs(self) -> list[RunResult]:
        return [r for r in self.runs if r.ok]

    def rtf(self, how: str) -> float:
        vals = [r.rtf for r in self.ok_runs]
        if not vals:
            return float("nan")
        return min(vals) if how == "min" else statistics.median(vals)

    @property
    def peak_rss_bytes(self) -> int:
        return max((r.peak_rss_bytes for r in self.runs), default=0)


@dataclass(slots=True)
class EmotionRow:
    clip: str
    emotion: str
    temperature: float
    run: RunResult
    deltas: dict[str, float] = field(default_factory=dict)  # signature change vs the input, IODs


def background_region(mode: str) -> str:
    """The region the background target excludes: the face for lips/face modes (part 1's rule), the
    head with hair and neck for head mode, which moves them by design (issue 5)."""
    return "head" if mode == "head" else "face"


def _generate(video: Path, audio: Path, out: Path, **options: object) -> RunResult:
    return run_child(
        {"kind": "generate", "video": str(video), "audio": str(audio), "output": str(out), "options": options},
        clips.WORK_DIR,
    )


class Suite:
    """Holds the measurement models and per-clip caches for one benchmark run."""

    def __init__(self, media_dir: Path, modes: list[str], *, contact: bool) -> None:
        self.media_dir = media_dir
        self.modes = modes
        self.contact = contact
        self.work = clips.WORK_DIR
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self.embedder: IdentityEmbedder | None = IdentityEmbedder()
        except ImportError as exc:
            log.warning("identity measure unavailable (%s); install dlib-bin and face_recognition_models", exc)
            self.embedder = None
        self._orig: dict[str, np.ndarray] = {}
        self.unimplemented: set[str] = set()

    def clip_path(self, clip: str) -> Path:
        return self.media_dir / "videos" / f"{clip}.mp4"

    def original_landmarks(self, clip: str) -> np.ndarray:
        if clip not in self._orig:
            self._orig[clip] = measure_video(self.clip_path(clip)).landmarks
        return self._orig[clip]

    def _run_mode(self, mode: str, video: Path, audio: Path, out: Path, **options: object) -> RunResult:
        if mode in self.unimplemented:
            return RunResult(error="ModeNotImplemented", message="not implemented (checked earlier in this run)")
        res = _generate(video, audio, out, mode=mode, **options)
        if res.not_implemented:
            self.unimplemented.add(mode)
        elif not res.ok:
            log.warning("%s on %s failed: %s: %s", mode, video.name, res.error, res.message)
        return res

    # ------------------------------------------------------------------ cross-segment lip-sync
    def cross_segment(self, clip: str) -> list[QualityRow]:
        """Drive the first half of ``clip`` with its second half's audio; compare with the real second half."""
        split = clips.split_halves(self.clip_path(clip), self.work)
        orig = self.original_landmarks(clip)
        first, truth = orig[: split.half_frame], orig[split.half_frame :]
        base_path = clips.make_baseline(split.video, split.audio, self.work / f"{clip}.xseg.baseline.mp4")
        base_lm = measure_video(base_path).landmarks
        n = len(base_lm)
        audio = media.load_audio(split.audio)
        env, in_pause = driving_curves(audio.samples, audio.rate, split.fps, n)
        rest = metrics.rest_level(metrics.mouth_opening(first))
        truth_open = metrics.mouth_opening(truth)[:n]
        common = {"envelope": env, "in_pause": in_pause, "rest": rest, "input_lm": first, "truth_opening": truth_open}

        rows = [
            QualityRow("cross-segment", clip, "truth", lm=landmark_scores(truth[:n], **common)),
            QualityRow(
                "cross-segment", clip, "baseline",
                lm=landmark_scores(base_lm, **common),
                # Baseline vs its own input: what one re-encode alone costs, and the pose and
                # background measures' noise floor.
                px=pixel_scores(base_path, split.video, base_lm, first, self.embedder,
                                envelope=env, fps=split.fps),
            ),
        ]
        for mode in self.modes:
            out = self.work / f"{clip}.xseg.{mode}.mp4"
            res = self._run_mode(mode, split.video, split.audio, out)
            row = QualityRow("cross-segment", clip, mode, run=res)
            if res.ok:
                out_lm = measure_video(out).landmarks
                row.lm = landmark_scores(out_lm, **common)
                row.px = pixel_scores(out, base_path, out_lm, base_lm, self.embedder, contact=self.contact,
                                      region=background_region(mode), envelope=env, fps=split.fps)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ pauses
    def pauses(self, clip: str) -> list[QualityRow]:
        """Drive the whole clip (looped) with the pause-rich audio; is the mouth at rest in the pauses?"""
        audio_path = self.media_dir / PAUSE_AUDIO
        video = self.clip_path(clip)
        orig = self.original_landmarks(clip)
        base_path = clips.make_baseline(video, audio_path, self.work / f"{clip}.pause.baseline.mp4",
                                        SyncMode.loop)
        base_lm = measure_video(base_path).landmarks
        n = len(base_lm)
        audio = media.load_audio(audio_path)
        fps = float(media.probe(video).fps)
        env, in_pause = driving_curves(audio.samples, audio.rate, fps, n)
        rest = metrics.rest_level(metrics.mouth_opening(orig))
        common = {"envelope": env, "in_pause": in_pause, "rest": rest, "input_lm": orig}
        rows = [QualityRow("pause", clip, "baseline", lm=landmark_scores(base_lm, **common))]
        for mode in self.modes:
            out = self.work / f"{clip}.pause.{mode}.mp4"
            res = self._run_mode(mode, video, audio_path, out, sync_mode="loop")
            row = QualityRow("pause", clip, mode, run=res)
            if res.ok:
                out_lm = measure_video(out).landmarks
                row.lm = landmark_scores(out_lm, **common)
                row.px = pixel_scores(out, base_path, out_lm, base_lm, None, region=background_region(mode),
                                      envelope=env, fps=fps)
            rows.append(row)
        return rows

    # ------------------------------------------------------------------ emotions (issue 5)
    def emotions(self, clip: str, temperatures: tuple[float, ...]) -> list[EmotionRow]:
        """Each emotion × temperature in face mode on ``clip`` with its own audio; signature deltas."""
        from benchmarks.targets import EMOTION_SIGNATURES

        video = self.clip_path(clip)
        audio = clips.extract_audio(video, self.work)
        base = {k: float(np.nanmean(v)) for k, v in metrics.expression_signature(self.original_landmarks(clip)).items()}
        rows = []
        for emotion in EMOTION_SIGNATURES:
            for temp in temperatures:
                out = self.work / f"{clip}.emotion.{emotion}.{temp}.mp4"
                res = self._run_mode("face", video, audio, out, emotion=emotion, temperature=temp)
                row = EmotionRow(clip, emotion, temp, res)
                if res.ok:
                    sig = metrics.expression_signature(measure_video(out).landmarks)
                    row.deltas = {k: float(np.nanmean(v)) - base[k] for k, v in sig.items()}
                rows.append(row)
                if res.not_implemented:
                    return rows  # one row says it all
        return rows

    # ------------------------------------------------------------------ speed
    def speed(self, mode: str, height: int, repeats: int, warmup: bool, long_s: float = 0.0) -> SpeedRow:
        """Time ``mode`` (or "floor") on the speed clip at ``height``; min/median over ``repeats``."""
        video = clips.make_scaled(self.clip_path(SPEED_CLIP), height, self.work, long_s)
        audio = clips.extract_audio(video, self.work)
        label = f"{height}p" + (f" {long_s:.0f} s" if long_s else "")
        row = SpeedRow(label, mode)
        out = self.work / f"speed.{label.replace(' ', '')}.{mode}.mp4"
        for i in range(repeats + int(warmup)):
            if mode == "floor":
                res = run_child({"kind": "floor", "video": str(video), "output": str(out)}, self.work)
            else:
                res = self._run_mode(mode, video, audio, out)
            if not res.ok:
                row.runs = [res]
                return row
            if i >= int(warmup):
                row.runs.append(res)
        return row

