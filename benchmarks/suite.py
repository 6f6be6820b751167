"""The benchmark procedures: cross-segment lip-sync (with tears), pause closure, emotion
signatures, speed, and the leave-one-speaker-out data.

Each procedure makes its inputs (:mod:`benchmarks.clips`), runs the engine in a child process
(:mod:`benchmarks.child`: ``reperform.generate``, or one analysis planned and rendered in every
mode through the seams), measures the output (:mod:`benchmarks.measure`) and returns plain rows
for :mod:`benchmarks.report`. A mode the engine does not implement yet comes back as a row saying
so, never as a crash of the benchmark.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks import catalog, clips, metrics, tears
from benchmarks import targets as T
from benchmarks.analyses import cached_analysis
from benchmarks.child import RunResult, run_child, run_child_seams
from benchmarks.loco import HeldOutTask, TrainingClip
from benchmarks.measure import IdentityEmbedder, frame_times, measure_video
from benchmarks.quality import LandmarkScores, PixelScores, driving_curves, landmark_scores, pixel_scores
from reperform import media
from reperform.options import SyncMode

log = logging.getLogger(__name__)

#: Real clips with speech: each one's windows drive each other for the cross-segment lip-sync
#: test (:data:`benchmarks.catalog.CLIPS`: the long clips give several windows).
SPEECH_CLIPS = tuple(c.stem for c in catalog.CLIPS)
#: Every n-th baseline frame is also torn on purpose to validate the tear measure.
TORN_EVERY_N_FRAMES = 3
#: Single-face clips driven by the pause-rich audio for the pause test.
PAUSE_CLIPS = ("videoretalking_2", "videoretalking_4", "pcavs_00373")
#: Audio with a 0.8 s pause and ~1.7 s of trailing silence.
PAUSE_AUDIO = "audio/musetalk_yongen.wav"
#: Clips and temperatures of the emotion-signature table (issue 5).
EMOTION_CLIPS = ("videoretalking_2", "videoretalking_4")
EMOTION_TEMPERATURES = (0.2, 0.5, 0.9)
#: The clip scaled to each speed resolution (a medium shot, face ~30 % of the height).
SPEED_CLIP = "videoretalking_4"


@dataclass(frozen=True, slots=True)
class HardFrame:
    """One output frame where an edit is hardest, and where to crop it (the face, px)."""

    k: int
    value: float  # |yaw| in degrees, or the mouth opening in IOD
    box: tuple[int, int, int, int]


#: Margin around the mesh's bounding box in the tear contact sheets (share of the box's size):
#: the outline, ears, chin and neck, where a torn lower face shows.
SHEET_MARGIN = 0.25


@dataclass(slots=True)
class QualityRow:
    """One clip (window) × mode (or its baseline/truth reference) of a quality test."""

    test: str  # "cross-segment" | "pause"
    clip: str
    mode: str  # a mode name, "baseline" (do-nothing) or "truth" (the real target window)
    run: RunResult | None = None
    lm: LandmarkScores = field(default_factory=LandmarkScores)
    px: PixelScores = field(default_factory=PixelScores)
    window: str = ""  # "clip" or "clip #i/k" for cross-segment rows; the clip for others
    tear: tears.TearScores | None = None  # outputs: vs baseline; baseline: re-encode noise floor
    torn: tears.TearScores | None = None  # baseline rows: the deliberately torn baseline
    #: truth rows: "turn" / "mouth" → the window's hardest frame of that kind (see :func:`hardest_frames`)
    hard_frames: dict[str, HardFrame] = field(default_factory=dict)
    stem: str = ""  # cross-segment rows: the window's file stem in the work folder ("<clip>.w1of3")
    boxes: np.ndarray | None = None  # truth rows: int[n, 4] face crop box per output frame (-1 without a face)

    def __post_init__(self) -> None:
        self.window = self.window or self.clip


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


def summarise_tears(frames: list[tears.TearFrame]) -> tears.TearScores:
    return tears.summarise(frames, T.TEAR_STEP_MAX_IOD, T.TEAR_STILL_MAX_IOD)


def face_boxes(lm: np.ndarray, height: int, width: int) -> np.ndarray:
    """int[n, 4] crop box (x0, y0, x1, y1) around each frame's mesh, grown by SHEET_MARGIN; -1 without a face."""
    out = np.full((len(lm), 4), -1, np.int64)
    for k in np.nonzero(np.isfinite(lm[:, 0, 0]))[0]:
        pts = lm[k, :, :2]
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        mx, my = SHEET_MARGIN * (x1 - x0), SHEET_MARGIN * (y1 - y0)
        out[k] = (max(0, int(x0 - mx)), max(0, int(y0 - my)), min(width, int(x1 + mx)), min(height, int(y1 + my)))
    return out


def hardest_frames(lm: np.ndarray, boxes: np.ndarray) -> dict[str, HardFrame]:
    """The frames of a source window where an edit is hardest: the largest head turn (|yaw| from
    the mesh, degrees) and the widest open mouth (IOD) — where issue 14 saw lips mode tear."""
    present = np.isfinite(lm[:, 0, 0])
    if not present.any():
        return {}
    yaw = np.full(len(lm), -1.0)
    yaw[present] = np.abs(metrics.head_pose_deg(lm[present])[:, 0])
    opening = np.full(len(lm), -1.0)
    opening[present] = np.nan_to_num(metrics.mouth_opening(lm[present]), nan=-1.0)
    k_turn, k_mouth = int(np.argmax(yaw)), int(np.argmax(opening))
    return {"turn": HardFrame(k_turn, float(yaw[k_turn]), tuple(boxes[k_turn])),
            "mouth": HardFrame(k_mouth, float(opening[k_mouth]), tuple(boxes[k_mouth]))}


def measure_video_cached(path: Path, cache: Path) -> np.ndarray:
    """:func:`measure_video` landmarks of a clip that never changes, kept on disk per measurer version."""
    import hashlib

    import benchmarks.measure as measure_module

    code = hashlib.sha256(Path(measure_module.__file__).read_bytes()).hexdigest()[:10]
    cached = cache / f"{path.stem}.{code}.npy"
    if cached.is_file():
        return np.load(cached)
    lm = measure_video(path).landmarks
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cached, lm)
    return lm


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
        """The measurer's mesh of every frame of the clip (cached on disk by the measurer's code)."""
        if clip not in self._orig:
            self._orig[clip] = measure_video_cached(self.clip_path(clip), self.work / "measured")
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
    def windows(self, clip: str) -> list[clips.Window]:
        return clips.split_windows(self.clip_path(clip), catalog.BY_STEM[clip].pairs, self.work)

    def clip_facts(self, clip: str) -> catalog.ClipFacts:
        """Face size, head turn and frame timing of the whole clip (the groups come from these)."""
        return catalog.facts(self.original_landmarks(clip), frame_times(self.clip_path(clip)))

    def cross_segment(self, clip: str) -> list[QualityRow]:
        """Every window of ``clip``: its source driven by its target's audio, against the real target."""
        rows: list[QualityRow] = []
        for w in self.windows(clip):
            log.info("cross-segment: %s", w.label)
            rows += self._window(w)
        return rows

    def _window(self, w: clips.Window) -> list[QualityRow]:
        orig = self.original_landmarks(w.clip)
        first = orig[w.source_start:w.target_start]
        truth = orig[w.target_start:]
        stem = w.video.name.removesuffix(".source.mp4")
        base_path = clips.make_baseline(w.video, w.audio, self.work / f"{stem}.xseg.baseline.mp4")
        base_lm = measure_video(base_path).landmarks
        w_info = media.probe(base_path)
        boxes = face_boxes(base_lm, w_info.height, w_info.width)
        n = len(base_lm)
        audio = media.load_audio(w.audio)
        env, in_pause = driving_curves(audio.samples, audio.rate, w.fps, n)
        rest = metrics.rest_level(metrics.mouth_opening(first))
        truth_open = metrics.mouth_opening(truth)[:n]
        common = {"envelope": env, "in_pause": in_pause, "rest": rest, "input_lm": first, "truth_opening": truth_open}
        # Baseline vs its own input: what one re-encode alone costs — the noise floor of the pose,
        # background and tear measures — and, on every few frames, the baseline torn on purpose.
        base_px = pixel_scores(base_path, w.video, base_lm, first, self.embedder, envelope=env, fps=w.fps,
                               tear_mode="baseline", torn_every=TORN_EVERY_N_FRAMES)
        rows = [
            QualityRow("cross-segment", w.clip, "truth", lm=landmark_scores(truth[:n], **common), window=w.label,
                       stem=stem, boxes=boxes, hard_frames=hardest_frames(base_lm, boxes)),
            QualityRow("cross-segment", w.clip, "baseline", lm=landmark_scores(base_lm, **common), px=base_px,
                       window=w.label, stem=stem, tear=summarise_tears(base_px.tear_frames),
                       torn=summarise_tears(base_px.torn_frames)),
        ]
        modes = [m for m in self.modes if m not in self.unimplemented]
        outs = {m: self.work / f"{stem}.xseg.{m}.mp4" for m in modes}
        results = dict(zip(modes, run_child_seams(w.video, w.audio, [(outs[m], {"mode": m}) for m in modes],
                                                  self.work), strict=True)) if modes else {}
        for mode in self.modes:
            res = results.get(mode) or RunResult(error="ModeNotImplemented", message="not implemented")
            if res.not_implemented:
                self.unimplemented.add(mode)
            elif not res.ok:
                log.warning("%s on %s failed: %s: %s", mode, w.label, res.error, res.message)
            row = QualityRow("cross-segment", w.clip, mode, run=res, window=w.label, stem=stem)
            if res.ok:
                out_lm = measure_video(outs[mode]).landmarks
                row.lm = landmark_scores(out_lm, **common)
                row.px = pixel_scores(outs[mode], base_path, out_lm, base_lm, self.embedder, contact=self.contact,
                                      region=background_region(mode), envelope=env, fps=w.fps, tear_mode=mode)
                row.tear = summarise_tears(row.px.tear_frames)
            rows.append(row)
        return rows

    def tear_sheet(self, clip: str, rows: list[QualityRow], path: Path) -> Path | None:
        """PNG of ``clip``'s hardest frames over all its windows (largest head turn, widest mouth),
        cropped around the face at 1× (no scaling, so a tear looks as it does in the video):
        the do-nothing baseline beside every mode's output."""
        from benchmarks.measure import iter_rgb
        from benchmarks.report import tear_sheet

        truths = [r for r in rows if r.clip == clip and r.mode == "truth" and r.hard_frames]
        picks = []
        for kind, what in (("turn", "largest head turn, |yaw| {:.0f} deg"), ("mouth", "widest source mouth, {:.2f} IOD")):
            cands = [(r.hard_frames[kind], r) for r in truths if kind in r.hard_frames]
            if cands:
                hf, r = max(cands, key=lambda c: c[0].value)
                picks.append((f"{r.window}, frame {hf.k}: {what.format(hf.value)}", r.stem, hf))
        # And the frame the tear measure liked least in lips mode (issue 14's tears were in lips mode).
        lips = [r for r in rows if r.clip == clip and r.mode == "lips" and r.tear is not None and r.tear.worst_frame >= 0]
        if lips:
            r = max(lips, key=lambda x: x.tear.steps[x.tear.worst_frame])
            truth = next((t for t in truths if t.window == r.window and t.boxes is not None), None)
            k = r.tear.worst_frame
            if truth is not None and k < len(truth.boxes) and truth.boxes[k, 0] >= 0:
                picks.append((f"{r.window}, frame {k}: largest outline step in lips mode, "
                              f"{r.tear.steps[k]:.3f} IOD", r.stem, HardFrame(k, r.tear.steps[k], tuple(truth.boxes[k]))))
        strips = []
        for title, stem, hf in picks:
            panels = []
            for mode in ["baseline", *self.modes]:
                video = self.work / f"{stem}.xseg.{mode}.mp4"
                if not video.exists():
                    continue
                frame = next((f for k, f in enumerate(iter_rgb(video)) if k == hf.k), None)
                if frame is not None:
                    x0, y0, x1, y1 = hf.box
                    panels.append(("do-nothing" if mode == "baseline" else mode, frame[y0:y1, x0:x1]))
            if panels:
                strips.append((title, panels))
        return tear_sheet(f"{clip}: hardest frames, at 1x", strips, path)

    # ------------------------------------------------------------------ leave one speaker out
    def training_clips(self) -> list[TrainingClip]:
        """Every clip usable as training footage, driven by its own voice (see :mod:`benchmarks.loco`)."""
        out = []
        for c in catalog.CLIPS:
            if c.train:
                path = self.clip_path(c.stem)
                out.append(TrainingClip(c.stem, c.speaker, cached_analysis(path, path),
                                        metrics.mouth_opening(self.original_landmarks(c.stem))))
        return out

    def held_out_tasks(self, clip_names: list[str]) -> list[HeldOutTask]:
        """Every cross-segment window of ``clip_names`` as a task (its analysis, its real target mouth)."""
        tasks = []
        for clip in clip_names:
            orig = self.original_landmarks(clip)
            for w in self.windows(clip):
                analysis = cached_analysis(w.video, w.audio)  # the very analysis the rendered run used
                n = len(analysis.frame_times_s)
                n_out = min(n, int(round(analysis.drive_duration_s * w.fps)))
                truth = np.full(n_out, np.nan)
                got = metrics.mouth_opening(orig[w.target_start:w.target_start + n_out])
                truth[:len(got)] = got
                tasks.append(HeldOutTask(clip, catalog.BY_STEM[clip].speaker, w.label, analysis, truth))
        return tasks

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

