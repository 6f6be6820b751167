"""The only module that knows the order of the stages: analyze → plan → render.

Two passes over the video: a cheap **analysis** pass (face landmarks per frame, a bounded bank
of mouth exemplars; audio analysed once, on two threads beside the video pass), then a **render**
pass that streams every output frame through the renderer into the encoder. Memory stays flat in
the clip's length: only small per-frame arrays and the bounded exemplar bank live for the whole
clip (plus, for a clip that fits it, the analysis pass's decoded frames, which the render pass
reuses instead of decoding again).

Each pass is a public seam (:func:`analyze`, :func:`plan`, :func:`render`, exported by
:mod:`reperform.api`) so a caller can keep an :class:`~reperform.analysis.Analysis` and plan and
render it again for another emotion or mode; :func:`run` (``reperform.generate``) is the three in
a row under one progress bar.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import chunked, chunking, face, media, motion, rendering, runtime, speech
from .analysis import Analysis, Plan, fingerprint
from .analysis_cache import AnalysisCache, analyze_cached
from .config import EngineConfig
from .errors import (
    AudioMissing,
    EngineError,
    InputError,
    InvalidOptions,
    ModeNotImplemented,
    NoFaceFound,
    ReperformError,
    VideoMissing,
)
from .options import ActiveSpeaker, GenerateOptions, ModelMode, Segment
from .progress import Overall, ProgressSink
from .records import Audio, GenerateResult, MediaInfo, MotionPlan, Occlusion, TimeMap

log = logging.getLogger(__name__)

#: Relative cost of each stage, for one overall progress bar.
STAGE_WEIGHTS = {"probe": 0.2, "analyze": 3.0, "speech": 0.3, "plan": 0.3, "render": 6.0}
#: ``timings_s`` keys: one per stage ("speech" ran on its own thread, overlapping "analyze";
#: "speech_wait" is the part the pipeline waited for it) plus "total" wall time.
#: Modes the engine can render today; others fail loudly rather than fall back.
IMPLEMENTED_MODES = {ModelMode.lips, ModelMode.face, ModelMode.head}
#: Rendered frames waiting for their head warp (each holds one full frame).
HEAD_WARPS_IN_FLIGHT = 2


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        log.info("stage %s took %.2f s", name, timings[name])


def _check_inputs(video: Path, audio: Path, config: EngineConfig) -> tuple[MediaInfo, MediaInfo]:
    vinfo = media.probe(video)
    if vinfo.kind == "audio":
        raise VideoMissing(f"{video.name} has no video stream or picture")
    ainfo = media.probe(audio)
    if not ainfo.has_audio:
        raise AudioMissing(f"{audio.name} has no audio stream")
    if max(vinfo.duration_s, ainfo.audio_duration_s) > config.max_duration_s:
        raise InputError(f"input is longer than the configured limit of {config.max_duration_s:.0f} s")
    return vinfo, ainfo


def _analyze_drive(drive, options, config):
    """Driving speech and its prosody; returns the records and the seconds this took on its thread."""
    t0 = time.perf_counter()
    speech_tl = speech.analyze_speech(drive, text=options.text, config=config)
    prosody = speech.analyze_prosody(drive, speech_tl)
    return speech_tl, prosody, time.perf_counter() - t0


def _analyze_source(video, vinfo, config):
    """The source's own speech (to learn how this person talks), or None; and the seconds it took.

    Recognised phones, not Whisper + alignment: they only teach the planner how this person
    articulates, cost a third of the CPU, and planned as well as aligned phones in
    benchmarks/plan_eval.py (the per-clip comparison: docs/tuning.md, "Speech").
    """
    t0 = time.perf_counter()
    source_speech = None
    if vinfo.kind == "video" and vinfo.has_audio:
        try:
            source_speech = speech.analyze_speech(
                media.load_audio(video), text=None, config=config, transcribe=False
            )
        except AudioMissing:  # an audio stream that decodes to nothing: no adaptation, not an error
            source_speech = None
    return source_speech, time.perf_counter() - t0


def warm_up(config: EngineConfig) -> None:
    """Everything a job would load on first use (stage libraries, speech models, MediaPipe):
    for processes that run many jobs, so none of them pays it."""
    runtime.tune_process()
    speech.warm_up(config)
    face.warm_up()


@contextmanager
def _engine_errors() -> Iterator[None]:
    """Our errors pass through; foreign ones are wrapped once, here, with context."""
    try:
        yield
    except ReperformError:
        raise
    except MemoryError as exc:
        raise EngineError("out of memory while generating") from exc
    except Exception as exc:
        log.exception("engine failure")
        raise EngineError(f"internal error: {exc.__class__.__name__}: {exc}") from exc


def _weights(*stages: str) -> dict[str, float]:
    return {name: STAGE_WEIGHTS[name] for name in stages}


def analyze(
    video: Path, audio: Path, options: GenerateOptions, *, progress: ProgressSink, config: EngineConfig
) -> Analysis:
    """The analysis pass alone. See :func:`reperform.analyze`."""
    runtime.tune_process()
    if options.segments:
        raise InvalidOptions("segments are analysed by generate(), which composes each segment's audio; "
                             "analyze() takes options without segments")
    overall = Overall(progress, _weights("probe", "analyze", "speech"))
    with _engine_errors():
        analysis = _analyze(video, audio, options, config, overall)
    overall.done()
    return analysis


def plan(analysis: Analysis, options: GenerateOptions, *, progress: ProgressSink, config: EngineConfig) -> Plan:
    """The plan alone. See :func:`reperform.plan`."""
    runtime.tune_process()
    if options.segments:
        raise InvalidOptions("segments are planned by generate(), which analyses each segment's audio; "
                             "plan() takes options without segments")
    overall = Overall(progress, _weights("plan"))
    with _engine_errors():
        result = _plan(analysis, options, config, overall)
    overall.done()
    return result


def render(
    analysis: Analysis, plan: Plan, output: Path, *, progress: ProgressSink, frames: range | None = None
) -> GenerateResult:
    """The render pass alone (or one chunk of it). See :func:`reperform.render`."""
    runtime.tune_process()
    overall = Overall(progress, _weights("render"))
    t0 = time.perf_counter()
    with _engine_errors():
        media.encode.check_writable(output)
        analysis.check_inputs()
        result = _render(analysis, plan, output, overall, frames=_chunk_frames(frames, plan))
    overall.done()
    result.timings_s["total"] = time.perf_counter() - t0
    return result


def join(analysis: Analysis, plan: Plan, chunks: list[Path], output: Path) -> int:
    """Lay the video-only chunks rendered by :func:`render` with ``frames`` end to end into
    ``output`` and mux the driving sound once (:func:`media.join_chunks`); returns the frame count.

    The chunks must tile the plan's output: their frames are counted, and a total other than
    ``plan.n_out`` fails the job (a lost or doubled chunk) and leaves no output.
    """
    with _engine_errors():
        sound = media.stream_audio_for_output(analysis.audio)  # block by block: a long track is large
        n = media.join_chunks(chunks, output, plan.timemap.fps, sound)
        if n != plan.n_out:
            output.unlink(missing_ok=True)
            raise EngineError(f"the chunks hold {n} frames, the plan {plan.n_out}")
    return n


def run(
    video: Path,
    audio: Path,
    output: Path,
    options: GenerateOptions,
    *,
    progress: ProgressSink,
    config: EngineConfig,
    workers: int = 1,
    analysis_cache: AnalysisCache | None = None,
    cache_scope: str = "",
) -> GenerateResult:
    """Analyze, plan and render in order under one progress bar. See :func:`reperform.generate`.

    With ``analysis_cache``, an analysis of the same inputs (and scope) made earlier is loaded
    instead of computed, and a new one is stored there. With ``workers`` > 1 an output long
    enough to split (:func:`chunking.chunk_count`) is rendered in that many processes, one chunk
    each (:mod:`reperform.chunked`), and joined.
    """
    runtime.tune_process()
    overall = Overall(progress, STAGE_WEIGHTS)
    t0 = time.perf_counter()
    with _engine_errors():
        media.encode.check_writable(output)  # before minutes of analysis
        _check_mode(options)
        analysis, reused = analyze_cached(analysis_cache, cache_scope, video, audio, options, config,
                                          lambda: _analyze(video, audio, options, config, overall))
        if reused:
            for stage in ("probe", "analyze", "speech"):
                overall.stage(stage)(1.0, "reused an earlier analysis of these inputs")
        try:
            the_plan = _plan(analysis, options, config, overall)
            spans = chunking.plan_spans(the_plan, workers)
            if len(spans) > 1:
                result = _render_chunked(analysis, the_plan, output, spans, workers, overall)
            else:
                result = _render(analysis, the_plan, output, overall)
        finally:
            analysis.release_frames()
    overall.done()
    return _with_job_timings(result, analysis, t0)


def _with_job_timings(result: GenerateResult, analysis: Analysis, t0: float) -> GenerateResult:
    """``result`` whose timings are the whole job's: the analysis's stages, the render's, and the
    wall time since ``t0`` as "total" (a job's result reports every stage, not only the render's)."""
    timings = {**analysis.timings_s, **result.timings_s, "total": time.perf_counter() - t0}
    result.timings_s.clear()
    result.timings_s.update(timings)
    return result


def _check_mode(options: GenerateOptions) -> None:
    if options.mode not in IMPLEMENTED_MODES:
        raise ModeNotImplemented(
            f"mode '{options.mode.value}' is not available yet; available: "
            + ", ".join(m.value for m in sorted(IMPLEMENTED_MODES, key=lambda m: m.value))
        )


def _analyze(video: Path, audio: Path, options: GenerateOptions, config: EngineConfig, overall: Overall) -> Analysis:
    timings: dict[str, float] = {}
    warnings: list[str] = []
    with _timed(timings, "probe"):
        vinfo, _ainfo = _check_inputs(video, audio, config)
        drive = media.load_audio(audio)
        overall.stage("probe")(1.0)

    # Speech analysis (Whisper, alignment, prosody) of the driving audio and of the source's own
    # audio run on two worker threads while the video pass tracks faces. Three CPU-bound jobs on
    # two cores: whichever finishes first frees its core for the others, so no core idles while
    # the pipeline waits (one thread doing both speech jobs left the main thread waiting ~1.4 s).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="speech") as pool:
        drive_job = pool.submit(_analyze_drive, drive, options, config)
        source_job = pool.submit(_analyze_source, video, vinfo, config)
        with _timed(timings, "analyze"):
            if options.follows_every_face:
                track, bank, frame_times, store = _speaker_pass(
                    video, vinfo, options, config, overall.stage("analyze"), warnings)
            else:
                track, bank, frame_times, store = _video_pass(video, vinfo, config, overall.stage("analyze"))
            n_missing = int((~track.present).sum())
            if n_missing:
                warnings.append(f"no face in {n_missing} of {track.n} source frames; those frames are unchanged")
        with _timed(timings, "speech_wait"):
            speech_tl, prosody, t_drive = drive_job.result()
            source_speech, t_source = source_job.result()
            timings["speech"] = t_drive + t_source
            overall.stage("speech")(1.0, speech_tl.method)
        # The source's speech is on its audio clock; its frames start `video_start_s` later.
        profile = face.build_profile(track, source_speech, frame_times, source_offset_s=vinfo.video_start_s)
    return Analysis(
        video=video, audio=audio, info=vinfo, drive_duration_s=drive.duration_s, text=options.text,
        frame_times_s=frame_times, track=track, profile=profile, bank=bank, speech=speech_tl, prosody=prosody,
        source_speech=source_speech, warnings=tuple(warnings), timings_s=timings,
        fingerprints={"video": fingerprint(video), "audio": fingerprint(audio)}, frame_store=store,
        speaker=options.speaker_key,
    )


def _video_pass(video: Path, vinfo: MediaInfo, config: EngineConfig, report: Callable[[float, str], None]):
    """Every source frame once: face track, mouth bank, frame times (and the frame store)."""
    tracker = face.FaceTracker(vinfo.width, vinfo.height)
    bank = rendering.MouthBank()
    times: list[float] = []
    n_est = max(1, vinfo.n_frames)
    store = media.FrameStore.for_clip(vinfo, config.frame_store_bytes)

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        for index, t_s, rgb in media.prefetch(media.iter_frames(vinfo, store)):
            times.append(t_s)
            yield index, rgb

    # Meshes of consecutive frames are computed on two lanes while this thread files
    # the previous frame into the exemplar bank.
    for index, rgb, landmarks in tracker.follow(frames()):
        if landmarks is not None:
            bank.offer(index, rgb, landmarks)
        if index % 10 == 0:
            report(min(1.0, index / n_est), f"frame {index}/{n_est}")
    if not times:
        raise VideoMissing(f"{video.name} has no decodable frames")
    track = tracker.finish()
    if not track.present.any():
        raise NoFaceFound(f"no face found in {video.name}")
    report(1.0)
    return track, bank, np.asarray(times), store


def _speaker_pass(video: Path, vinfo: MediaInfo, options: GenerateOptions, config: EngineConfig,
                  report: Callable[[float, str], None], warnings: list[str]):
    """The video pass when the request (or one of its segments) says whom to edit: every face
    followed (or the client's boxes meshed), one face chosen per frame — in a segment's frames by
    that segment's speaker — then the mouth bank filled from the chosen faces in a second pass
    over the frames (the frame store's when the clip fits it)."""
    speaker = options.active_speaker or ActiveSpeaker()
    follower = (face.BoxedFace(vinfo.width, vinfo.height, speaker.bounding_boxes) if speaker.kind == "boxes"
                else face.AllFaces(vinfo.width, vinfo.height))
    store = media.FrameStore.for_clip(vinfo, config.frame_store_bytes)
    times: list[float] = []
    n_est = max(1, vinfo.n_frames)
    try:
        for index, t_s, rgb in media.prefetch(media.iter_frames(vinfo, store)):
            times.append(t_s)
            follower.update(index, rgb)
            if index % 10 == 0:
                report(min(0.8, 0.8 * index / n_est), f"faces {index}/{n_est}")
    finally:
        follower.close()
    if not times:
        raise VideoMissing(f"{video.name} has no decodable frames")
    frame_times = np.asarray(times)
    if isinstance(follower, face.BoxedFace):
        selection = follower.select()
    else:
        spans = _speaker_spans(options, len(frame_times), float(vinfo.fps))
        auto = any(s.kind == "auto" for s in (speaker, *(p[1] for p in spans)))
        own = _own_sound(video, vinfo, auto)
        selection = follower.select_spans(speaker, spans, frame_times + vinfo.video_start_s, own)
    warnings.extend(selection.warnings)
    bank = rendering.MouthBank()
    source = media.FrameSource(vinfo, frame_times, store=store)
    try:
        for index, lm in enumerate(selection.landmarks):
            if lm is not None:
                bank.offer(index, source.get(index), lm)
    finally:
        source.close()
    track = face.build_track(selection.landmarks, selection.cuts, vinfo.width, vinfo.height, selection.identity)
    if not track.present.any():
        raise NoFaceFound(f"no face to edit in {video.name} for the chosen speaker")
    report(1.0)
    return track, bank, frame_times, store


def check_speakers(video: Path, speakers: list[tuple[str, ActiveSpeaker]]) -> None:
    """The checks of points and boxes that need the video (the frame in range, a face under the
    point, one box per frame), before any work: one decode of the video and a face search on each
    pointed frame. ``speakers``: ``(where, speaker)``, ``where`` prefixing a problem's message
    (``segments[1].optionsOverride.``; empty for the request's own). The engine makes the same
    checks during its pass; this lets a server refuse the request up front (a 400) instead of
    failing the job."""
    speakers = [(where, s) for where, s in speakers if s.kind in ("point", "boxes")]
    if not speakers:
        return
    with _engine_errors():
        info = media.probe(video)
        wanted = {int(s.frame_number or 0) for _w, s in speakers if s.kind == "point"}
        n, pointed = 0, {}
        for index, _t, rgb in media.iter_frames(info):
            n += 1
            if index in wanted:
                pointed[index] = rgb
        for where, speaker in speakers:
            try:
                _check_one_speaker(speaker, n, pointed)
            except InvalidOptions as exc:
                raise InvalidOptions(where + exc.message) from None


def _check_one_speaker(speaker: ActiveSpeaker, n_frames: int, pointed: dict[int, np.ndarray]) -> None:
    if speaker.kind == "boxes":
        face.check_boxes(len(speaker.bounding_boxes or ()), n_frames)
        return
    frame = int(speaker.frame_number or 0)
    face.check_frame(frame, n_frames)
    face.face_under(face.face_boxes(pointed[frame]), speaker)


def _speaker_spans(options: GenerateOptions, n_frames: int,
                   fps: float) -> list[tuple[np.ndarray, ActiveSpeaker, str]]:
    """``(frames, speaker, where)`` of each segment that names its own speaker: the source frames
    it owns by the rule the plan uses for output frames (:func:`motion.edit_spans`; segments
    keep the video's timing, so output frame k shows source frame k)."""
    owner = motion.edit_spans(n_frames, fps, [(s.start_s, s.end_s) for s in options.segments]).owner
    return [(owner == i, seg.overrides.active_speaker, f"segments[{i}].optionsOverride.")
            for i, seg in enumerate(options.segments) if seg.overrides.active_speaker is not None]


def _own_sound(video: Path, vinfo: MediaInfo, needed: bool):
    """The video's own sound for auto speaker detection (None: it has none, or it is not needed)."""
    if not needed or vinfo.kind != "video" or not vinfo.has_audio:
        return None
    try:
        return media.load_audio(video)
    except AudioMissing:
        return None


def _plan(analysis: Analysis, options: GenerateOptions, config: EngineConfig, overall: Overall,
          request: GenerateOptions | None = None) -> Plan:
    """The time map for ``options.sync_mode`` and the motion plan; the mode is decided here.
    ``request``: the segmented request ``options`` are one segment's options of (its speakers,
    not the segment's alone, are what the analysis followed)."""
    _check_mode(options)
    if options.text != analysis.text:
        raise InvalidOptions(
            "options.text differs from the transcript the analysis was made with; analyse again with the new text"
        )
    if (request or options).speaker_key != analysis.speaker:
        raise InvalidOptions(
            "options.active_speaker differs from the one the analysis was made with; analyse again with it"
        )
    timings: dict[str, float] = {}
    with _timed(timings, "plan"):
        a = analysis
        timemap = media.build_timemap(
            a.frame_times_s, a.info.fps, a.drive_duration_s, options.sync_mode, still=a.info.kind == "image"
        )
        motion_plan = motion.plan_motion(
            a.speech, a.prosody, a.track, a.profile, timemap, options,
            source_speech=a.source_speech, frame_times_s=a.frame_times_s, source_offset_s=a.info.video_start_s,
            mouth_model=motion.load_mouth_model(config.mouth_model),
        )
        overall.stage("plan")(1.0)
    return Plan(options=options, timemap=timemap, motion=motion_plan, timings_s=timings)


def _render_chunked(analysis: Analysis, plan: Plan, output: Path, spans: list[tuple[int, int]], workers: int,
                    overall: Overall) -> GenerateResult:
    """Render ``spans`` in worker processes and join them into ``output`` (see :mod:`.chunked`)."""
    timings = dict(plan.timings_s)
    analysis.release_frames()  # the workers decode for themselves; free the store before they start
    with _timed(timings, "render"):
        report = overall.stage("render")
        log.info("render: %d output frames in %d chunks on %d processes (joins at frames %s)", plan.n_out,
                 len(spans), min(workers, len(spans)), ",".join(str(a) for a, _ in spans[1:]))
        work = Path(tempfile.mkdtemp(prefix=f".{output.name}.chunks.", dir=output.parent))
        try:
            files, edited, warnings = chunked.render_chunks(analysis, plan, spans, work, workers, report)
            join(analysis, plan, files, output)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        report(1.0)
    a, timemap = analysis, plan.timemap
    return GenerateResult(
        output=output, duration_s=timemap.duration_s, n_frames=timemap.n_out, fps=timemap.fps,
        width=a.info.width, height=a.info.height, mode=plan.mode.value, speech_method=a.speech.method,
        frames_edited=edited, timings_s=timings, warnings=tuple(dict.fromkeys((*a.warnings, *warnings))),
        chunks=tuple(spans),
    )


def _chunk_frames(frames: range | None, plan: Plan) -> range | None:
    """``frames`` checked against the plan's output frames (None: the whole output). A segmented
    plan renders in one piece: its renderers (one per segment) would each need their own warm-up."""
    if frames is None:
        return None
    n_out = plan.n_out
    if plan.spans is not None:
        raise InvalidOptions("a plan with segments is rendered in one piece, not by frame ranges")
    if frames.step != 1 or not 0 <= frames.start < frames.stop <= n_out:
        raise InvalidOptions(f"frames {frames.start}..{frames.stop} are not a range of the plan's {n_out} frames")
    return frames


def _render(
    analysis: Analysis, plan: Plan, output: Path, overall: Overall, out_audio: np.ndarray | None = None,
    frames: range | None = None,
) -> GenerateResult:
    """The render pass of the whole output, or only ``frames``: a video-only chunk that
    :func:`reperform.media.join_chunks` lays end to end with the others and muxes the sound once.
    ``out_audio`` replaces the analysed audio as the output's sound track."""
    timings = dict(plan.timings_s)
    a, timemap = analysis, plan.timemap
    span = range(timemap.n_out) if frames is None else frames
    with _timed(timings, "render"):
        report = overall.stage("render")
        stages = _FrameStages(a, plan, start=span.start)  # a chunk: carries the mouth's contour up to its first frame
        store, a.frame_store = a.frame_store, None  # used once: the render pass empties it
        # The analysed sound streams from its file into the muxer (whole, a long track is large).
        sound = None if frames is not None else media.stream_audio_for_output(a.audio) if out_audio is None \
            else out_audio
        try:
            frames_edited = _render_frames(stages, sound, output, a.info, a.frame_times_s, store, timemap,
                                           report, span, with_audio=frames is None)
        finally:
            stages.close()
        report(1.0)
    warnings = dict.fromkeys(w for r in stages.renderers for w in r.warnings)
    return GenerateResult(
        output=output, duration_s=len(span) / float(timemap.fps), n_frames=len(span), fps=timemap.fps,
        width=a.info.width, height=a.info.height, mode=plan.mode.value, speech_method=a.speech.method,
        frames_edited=frames_edited, timings_s=timings, warnings=(*a.warnings, *warnings),
    )


def render_frames(analysis: Analysis, plan: Plan, frames: Iterable[int]) -> Iterator[np.ndarray]:
    """Output frames ``frames`` (increasing output frame indices) as RGB arrays, in memory.

    For measuring a sample of an output without encoding it (the benchmarks): every frame goes
    through the same per-frame stages as in :func:`render` (:class:`_FrameStages`), and before a
    frame that does not follow the previous one the renderer replays the geometry of the frames
    before it (as a chunk's first frame does), so each is the frame the whole render shows —
    but for two things decided from the frames drawn so far, which here are only those asked for:
    what the occlusion finder follows from frame to frame (hands), and in face and head mode
    whether the face wears glasses (the first frames drawn decide, see
    ``rendering.expression.ExpressionWarp._wears_glasses``; a sample of frames can decide otherwise than frames 0, 1, 2, ...).
    Each array is the caller's own. A plan with segments is rendered with :func:`render`.
    """
    runtime.tune_process()
    if plan.spans is not None:
        raise InvalidOptions("a plan with segments is rendered in one piece, not by frame indices")
    wanted = [int(k) for k in frames]
    if any(b <= a for a, b in zip(wanted, wanted[1:], strict=False)) or (
            wanted and not 0 <= wanted[0] <= wanted[-1] < plan.n_out):
        raise InvalidOptions(f"frames must be increasing output frames of the plan's {plan.n_out}")
    analysis.check_inputs()
    return _frames_in_memory(analysis, plan, wanted)


def _frames_in_memory(analysis: Analysis, plan: Plan, wanted: list[int]) -> Iterator[np.ndarray]:
    """:func:`render_frames` once its arguments are checked (a generator: it runs as it is read)."""
    with _engine_errors():
        stages = _FrameStages(analysis, plan)
        source = media.FrameSource(analysis.info, analysis.frame_times_s)
        try:
            last = -1
            for k in wanted:
                if k != last + 1:
                    stages.renderers[0].warm_up(k)
                last = k
                s = int(plan.timemap.src_frame[k])
                rgb = source.get(s)
                out, box, occlusion = stages.edit(k, s, rgb)
                out, _edited = stages.finish(k, out, box, rgb, occlusion)
                yield out.copy() if out is rgb else out
        finally:
            source.close()
            stages.close()


RenderOne = Callable[[int, np.ndarray], tuple[np.ndarray, "tuple[int, int, int, int] | None"]]


def _frame_renderer(a: Analysis, plan: Plan) -> tuple[list[rendering.Renderer], RenderOne]:
    """The renderers of a plan and the function that renders output frame ``k`` with them.

    A segmented plan gets one renderer per segment (each renders with its segment's emotion and
    temperature); frames outside every segment are handed back untouched, and eased frames at a
    segment's edges show the rendered mouth only partly (:func:`motion.pixel_alpha`). With
    occlusion on, mouth exemplars with something over their mouth are not used.
    """
    vetter = face.OcclusionFinder(a.track, stills=True) if plan.options.occlusion else None
    try:
        ok = (lambda crop, lm: not vetter.mouth_covered(crop, lm)) if vetter is not None else None
        if plan.spans is None:
            only = rendering.Renderer(a.track, a.bank, plan.motion, a.profile, plan.options, exemplar_ok=ok)
            return [only], only.render
        distinct = list(dict.fromkeys(plan.segment_options))
        renderers = [rendering.Renderer(a.track, a.bank, plan.motion, a.profile, o, exemplar_ok=ok)
                     for o in distinct]
    finally:
        if vetter is not None:
            vetter.close()
    by_segment = [renderers[distinct.index(o)] for o in plan.segment_options]
    owner, alpha = plan.spans.owner, motion.pixel_alpha(plan.spans.weight)

    def render_one(k: int, rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        if owner[k] < 0:
            return rgb, None
        out, box = by_segment[owner[k]].render(k, rgb)
        if box is not None and alpha[k] < 1.0:
            out = rendering.fade_edit(rgb, out, box, float(alpha[k]))
        return out, box

    return renderers, render_one


class _FrameStages:
    """The per-frame stages of the render pass, in their order, for :func:`_render_frames` (into
    the encoder) and :func:`render_frames` (into arrays) alike: the renderer (mouth, expression;
    one per segment), the occluders in front of the face found, the head warp (head mode), and
    what is in front of the face put back as filmed, after every edit."""

    def __init__(self, a: Analysis, plan: Plan, start: int = 0) -> None:
        self.renderers, self.render_one = _frame_renderer(a, plan)
        if start:
            self.renderers[0].warm_up(start)  # carry the mouth's contour up to the first frame
        self.head = rendering.HeadWarper(a.track, plan.motion) if plan.mode is ModelMode.head else None
        self.occluders = face.OcclusionFinder(a.track) if plan.options.occlusion else None

    def edit(self, k: int, s: int, rgb: np.ndarray
             ) -> tuple[np.ndarray, tuple[int, int, int, int] | None, Occlusion | None]:
        """Output frame ``k`` rendered from source frame ``s`` (pixels ``rgb``, never modified):
        (frame, edit box or None, the occluders to put back or None). Frames must come in order."""
        out, box = self.render_one(k, rgb)
        occlusion = None
        if self.occluders is not None and (box is not None or self.head is not None):
            occlusion = self.occluders.find(s, rgb)
        return out, box, occlusion

    def finish(self, k: int, out: np.ndarray, box: tuple[int, int, int, int] | None, rgb: np.ndarray,
               occlusion: Occlusion | None, fields: Iterator | None = None) -> tuple[np.ndarray, bool]:
        """:meth:`edit`'s frame with its head turned and the occluders put back: (frame, edited).
        ``fields``: the head warp's fields worked out ahead (:meth:`HeadWarper.fields`), one per call."""
        if self.head is not None:
            field = next(fields) if fields is not None else self.head.field(k, out.shape[:2])
            # The renderer hands back its own copy whenever it edited (box set).
            out, box = self.head.apply(k, out, box, inplace=box is not None, field=field)
        if occlusion is not None and box is not None:  # out is our copy: it was edited
            out = rendering.keep_filmed(out, rgb, occlusion.box, occlusion.mask)
        return out, box is not None

    def close(self) -> None:
        if self.occluders is not None:
            self.occluders.close()


def _render_frames(
    stages: _FrameStages,
    out_audio: np.ndarray | Iterable[np.ndarray] | None,
    output: Path,
    vinfo: MediaInfo,
    frame_times: np.ndarray,
    store: media.FrameStore | None,
    timemap: TimeMap,
    report: Callable[[float, str], None],
    span: range,
    *,
    with_audio: bool = True,
) -> int:
    """The render pass: every output frame of ``span`` from its source frame through ``stages``
    into the encoder. Returns how many frames were edited."""
    frames_edited = 0
    head = stages.head
    steps = np.diff(timemap.src_frame[span.start : span.stop])
    backward = bool(np.any((steps < 0) & (steps > -4)))  # played backwards (bounce), not just restarted
    source = media.FrameSource(vinfo, frame_times, backward=backward, store=store)
    # Head mode's displacement fields need no pixels: a thread works them out ahead.
    fields = media.prefetch(head.fields((vinfo.height, vinfo.width), span), depth=4) if head is not None else None
    # Head mode turns the head on a second thread while this one renders the next mouth
    # (the warp is one cv2.remap, which releases the GIL); frames stay in order.
    warper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="head-warp") if head is not None else None
    in_flight: deque[Future[bool]] = deque()
    try:
        with media.Mp4Writer(output, vinfo.width, vinfo.height, timemap.fps, out_audio, len(span),
                             with_audio=with_audio) as w:

            def finish(k: int, out: np.ndarray, box: tuple[int, int, int, int] | None, rgb: np.ndarray,
                       occlusion: Occlusion | None) -> bool:
                out, edited = stages.finish(k, out, box, rgb, occlusion, fields)
                w.write(out)
                return edited

            try:
                for k in span:
                    s = int(timemap.src_frame[k])
                    rgb = source.get(s)
                    out, box, occlusion = stages.edit(k, s, rgb)
                    if warper is None:
                        frames_edited += finish(k, out, box, rgb, occlusion)
                    else:
                        in_flight.append(warper.submit(finish, k, out, box, rgb, occlusion))
                        while len(in_flight) > HEAD_WARPS_IN_FLIGHT:
                            frames_edited += in_flight.popleft().result()
                    if k % 10 == 0:
                        report((k - span.start) / len(span), f"frame {k}/{timemap.n_out}")
                while in_flight:
                    frames_edited += in_flight.popleft().result()
            finally:  # no warp may still write once the writer closes (or aborts)
                if warper is not None:
                    warper.shutdown(wait=True, cancel_futures=True)
    finally:
        source.close()
        if fields is not None:
            fields.close()  # type: ignore[attr-defined]
        if store is not None:
            store.clear()
    return frames_edited


def turn_heads(frames: Sequence[np.ndarray], head_delta: np.ndarray) -> Callable[[int], np.ndarray]:
    """Head mode's warp as a tool: ``frames`` (consecutive frames of one shot, RGB) are tracked
    as the analysis pass tracks faces, and the function returned gives frame ``k`` with its head
    turned by ``head_delta[k]`` (yaw, pitch, roll in degrees; float[n, 3]) the way head mode turns
    it (a new array; the frame itself untouched when there is no face or no turn). For the
    benchmarks that build turned inputs from real clips or time the warp alone, so that they need
    not know which stages feed it."""
    if not frames:
        raise InvalidOptions("turn_heads needs at least one frame")
    h, w = frames[0].shape[:2]
    tracker = face.FaceTracker(w, h)
    for i, rgb in enumerate(frames):
        tracker.update(i, rgb)
    n = len(frames)
    turns = MotionPlan(  # only the head turn: the warp reads nothing else of a plan
        src_frame=np.arange(n, dtype=np.int32), mouth=np.zeros((n, 4), np.float32), closure=np.zeros(n, bool),
        speaking=np.zeros(n, bool), viseme=np.zeros(n, np.int8), au=np.zeros((n, 0), np.float32),
        blink=np.zeros(n, np.float32), head_delta=np.asarray(head_delta, np.float32),
    )
    warper = rendering.HeadWarper(tracker.finish(), turns)
    return lambda k: warper.apply(k, frames[k], None)[0]


# --- segments: several audios on one video ------------------------------------------------------

def run_segments(
    video: Path,
    audios: Mapping[str, Path],
    output: Path,
    options: GenerateOptions,
    *,
    progress: ProgressSink,
    config: EngineConfig,
) -> GenerateResult:
    """``options.segments`` on ``video``, each speaking ``audios[refId]``. See :func:`reperform.generate`.

    One analysis of the video, whose driving speech is every segment's audio in its span and
    silence elsewhere; one plan per distinct segment options, merged frame by frame and eased
    into the filmed mouth at each segment's edges; one render pass that writes frames outside
    every segment as filmed, under the video's own sound (segment audio cross-faded in).
    """
    runtime.tune_process()
    overall = Overall(progress, STAGE_WEIGHTS)
    t0 = time.perf_counter()
    with _engine_errors(), tempfile.TemporaryDirectory(prefix="reperform-segments-") as tmp:
        media.encode.check_writable(output)
        _check_mode(options.segment_options(0))
        vinfo = _check_segment_video(video, options.segments, config)
        drive, out_audio = _segment_tracks(video, vinfo, audios, options.segments, Path(tmp))
        analysis = _analyze(video, drive, options, config, overall)
        try:
            result = _render(analysis, _plan_segments(analysis, options, config, overall), output, overall,
                             out_audio=out_audio)
        finally:
            analysis.release_frames()
    overall.done()
    return _with_job_timings(result, analysis, t0)


def _check_segment_video(video: Path, segments: tuple[Segment, ...], config: EngineConfig) -> MediaInfo:
    """The video, probed; each segment must lie within it (``segments[i]`` named when not)."""
    vinfo = media.probe(video)
    if vinfo.kind == "audio":
        raise VideoMissing(f"{video.name} has no video stream or picture")
    if vinfo.kind != "video":
        raise InvalidOptions("segments need a video: a still image has no timeline to cut into segments")
    if vinfo.duration_s > config.max_duration_s:
        raise InputError(f"input is longer than the configured limit of {config.max_duration_s:.0f} s")
    slack = 0.5 / float(vinfo.fps)  # the container's duration is rounded to its frames
    for i, seg in enumerate(segments):
        if seg.start_s >= vinfo.duration_s or seg.end_s > vinfo.duration_s + slack:
            raise InvalidOptions(f"segments[{i}] ({seg.span}) is not within the video "
                                 f"(0-{vinfo.duration_s:.2f} s)")
    return vinfo


def _segment_sound(audios: Mapping[str, Path], segments: tuple[Segment, ...]) -> dict[str, tuple[Audio, np.ndarray]]:
    """Each referenced audio decoded twice (analysis rate mono, output rate stereo); crops checked."""
    known = ", ".join(sorted(audios)) or "none"
    sounds: dict[str, tuple[Audio, np.ndarray]] = {}
    for i, seg in enumerate(segments):
        ref = seg.audio.ref_id
        if ref not in audios:
            raise InvalidOptions(f"segments[{i}] speaks audio refId {ref!r}, which no audio input has "
                                 f"(refIds: {known})")
        if ref not in sounds:
            try:
                sounds[ref] = (media.load_audio(audios[ref]), media.load_audio_for_output(audios[ref]))
            except AudioMissing as exc:
                raise AudioMissing(f"segments[{i}]: audio {ref!r}: {exc.message}") from None
        duration = sounds[ref][0].duration_s
        if seg.audio.start_s is not None and seg.audio.end_s is not None and (
                seg.audio.start_s >= duration or seg.audio.end_s > duration + 0.05):
            raise InvalidOptions(f"segments[{i}] crops audio {ref!r} at {seg.audio.start_s:g}-{seg.audio.end_s:g} s, "
                                 f"beyond its end ({duration:.2f} s)")
    return sounds


def _segment_tracks(video: Path, vinfo: MediaInfo, audios: Mapping[str, Path], segments: tuple[Segment, ...],
                    tmp: Path) -> tuple[Path, np.ndarray]:
    """(the driving speech as a WAV file, the output's stereo sound track); see :mod:`media.segments`."""
    sounds = _segment_sound(audios, segments)
    cut = media.segments

    def pieces(which: int, rate: int) -> list[cut.Piece]:
        out = []
        for seg in segments:
            got = sounds[seg.audio.ref_id][which]
            samples = got.samples[None, :] if isinstance(got, Audio) else got
            out.append(cut.Piece(seg.start_s, seg.end_s - seg.start_s,
                                 cut.crop(samples, rate, seg.audio.start_s, seg.audio.end_s)))
        return out

    fps = float(vinfo.fps)
    analysis_rate, output_rate = media.audio.ANALYSIS_RATE, media.audio.OUTPUT_RATE
    # Two frames longer than the video: cut_off then keeps every video frame.
    drive = cut.compose(pieces(0, analysis_rate), int((vinfo.duration_s + 2 / fps) * analysis_rate), analysis_rate,
                        None, channels=1)
    own = None
    if vinfo.has_audio:
        try:
            own = cut.own_sound(media.load_audio_for_output(video), output_rate, vinfo.video_start_s)
        except AudioMissing:
            own = None
    out = cut.compose(pieces(1, output_rate), int(round((vinfo.duration_s + 1 / fps) * output_rate)), output_rate,
                      own, channels=2)
    return cut.write_wav(tmp / "segments-drive.wav", drive, analysis_rate), out


def _plan_segments(analysis: Analysis, options: GenerateOptions, config: EngineConfig, overall: Overall) -> Plan:
    """One plan per distinct segment options, merged onto the output's frames with the eases."""
    per_segment = tuple(options.segment_options(i) for i in range(len(options.segments)))
    distinct = list(dict.fromkeys(per_segment))
    plans = [_plan(analysis, o, config, overall, request=options) for o in distinct]
    timemap = plans[0].timemap
    spans = motion.edit_spans(timemap.n_out, float(timemap.fps), [(s.start_s, s.end_s) for s in options.segments])
    filmed = analysis.track.mouth[np.clip(timemap.src_frame, 0, analysis.track.n - 1)]
    merged = motion.merge_segments([p.motion for p in plans], spans,
                                   [distinct.index(o) for o in per_segment], filmed)
    timings = {"plan": sum(p.timings_s.get("plan", 0.0) for p in plans)}
    return Plan(options=options, timemap=timemap, motion=merged, timings_s=timings, spans=spans,
                segment_options=per_segment)
