"""The public entry points: validate at the edge, then hand over to the pipeline.

``generate`` is the whole job. The three seams it is made of are public too, for callers that
want to reuse work: ``analyze`` (everything learned from the inputs; an :class:`Analysis` can be
saved and loaded), ``plan`` (per-frame targets for one set of options) and ``render`` (the output
file). ``generate(v, a, out, opts)`` writes the same bytes as
``render(analysis := analyze(v, a, opts), plan(analysis, opts), out)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .analysis import Analysis, Plan
from .analysis_cache import AnalysisCache
from .config import EngineConfig
from .errors import InvalidOptions
from .options import GenerateOptions
from .progress import ProgressSink, null_sink
from .records import GenerateResult, MediaInfo

if TYPE_CHECKING:
    import numpy as np


def generate(
    video: str | Path,
    audio: str | Path | Mapping[str, str | Path],
    output: str | Path,
    options: GenerateOptions | None = None,
    *,
    progress: ProgressSink = null_sink,
    config: EngineConfig | None = None,
    workers: int = 1,
    analysis_cache: AnalysisCache | None = None,
    cache_scope: str = "",
) -> GenerateResult:
    """Re-perform the face in ``video`` (a video or a still image) to ``audio``; write ``output`` (MP4).

    With ``options.segments``, ``audio`` is ``{refId: path}``: each segment's span of the video
    speaks the audio it names (cropped if it says so), and the video outside every segment is
    left as filmed, with its own sound::

        opts = Options(segments=[Segment(start_s=1, end_s=4, audio=SegmentAudio(ref_id="a")),
                                 Segment(start_s=6, end_s=9, audio=SegmentAudio(ref_id="b"))])
        generate("talk.mp4", {"a": "voice_a.wav", "b": "voice_b.wav"}, "out.mp4", opts)

    Raises a :class:`reperform.errors.ReperformError` subclass for bad input; the output path is
    never left half-written. ``progress`` receives ``(stage, overall_fraction, detail)``.
    ``analysis_cache`` (an :class:`~reperform.analysis_cache.AnalysisCache`) lets a second call on
    the same inputs skip the analysis — another emotion, mode or sync mode costs plan + render only;
    ``cache_scope`` keeps callers who must not share analyses (organisations) apart.
    ``workers`` > 1 renders an output longer than 2 × 8 s in that many processes (one CPU
    each), in chunks joined without re-encoding; 1 renders in this process.
    """
    from .pipeline import run, run_segments  # the pipeline pulls in the heavy stage libraries; import lazily

    options = options or GenerateOptions()
    config = config or EngineConfig()
    if options.segments:
        return run_segments(Path(video), _audios(audio, options), Path(output), options, progress=progress,
                            config=config)
    if isinstance(audio, Mapping):
        if len(audio) != 1:
            raise InvalidOptions("several audios need segments saying which span speaks which (options.segments)")
        audio = next(iter(audio.values()))
    return run(Path(video), Path(audio), Path(output), options, progress=progress, config=config,
               analysis_cache=analysis_cache, cache_scope=cache_scope, workers=workers)


def _audios(audio: str | Path | Mapping[str, str | Path], options: GenerateOptions) -> dict[str, Path]:
    """``{refId: path}`` for a segmented job; one path serves when every segment names the same refId."""
    if isinstance(audio, Mapping):
        return {str(ref): Path(path) for ref, path in audio.items()}
    refs = {s.audio.ref_id for s in options.segments}
    if len(refs) != 1:
        raise InvalidOptions(f"the segments name {len(refs)} audios ({', '.join(sorted(refs))}); "
                             "pass audio as {refId: path}")
    return {refs.pop(): Path(audio)}


def analyze(
    video: str | Path,
    audio: str | Path,
    options: GenerateOptions | None = None,
    *,
    progress: ProgressSink = null_sink,
    config: EngineConfig | None = None,
) -> Analysis:
    """Everything the engine learns from ``video`` and the driving ``audio`` (the slow part of a job).

    The result does not depend on the mode, emotion, temperature or sync mode, only on the inputs,
    ``options.text`` (the transcript) and ``options.active_speaker`` (whose face), so one analysis serves any number of :func:`plan` +
    :func:`render` calls; :meth:`Analysis.save` / :meth:`Analysis.load` keep it between processes.
    """
    from .pipeline import analyze as _analyze

    return _analyze(Path(video), Path(audio), options or GenerateOptions(), progress=progress,
                    config=config or EngineConfig())


def plan(
    analysis: Analysis,
    options: GenerateOptions | None = None,
    *,
    progress: ProgressSink = null_sink,
    config: EngineConfig | None = None,
) -> Plan:
    """What every output frame shows under ``options``: time map, mouth, expression, head motion.

    Cheap (a fraction of a second for a minute of video). ``config`` supplies planning tuning
    (``EngineConfig.mouth_model``: the learned mouth trajectory). Raises
    :class:`reperform.errors.InvalidOptions` if ``options.text`` differs from the analysis's.
    """
    from .pipeline import plan as _plan

    return _plan(analysis, options or GenerateOptions(), progress=progress, config=config or EngineConfig())


def render(
    analysis: Analysis, plan: Plan, output: str | Path, *, progress: ProgressSink = null_sink,
    frames: range | None = None,
) -> GenerateResult:
    """Write ``output`` (MP4) for ``plan``: reads the analysed video's frames and the driving audio again.

    ``frames`` (a range of output frames) renders only those, into a video-only chunk with the
    same encoder settings and its own closed GOP; :func:`join` lays such chunks end to end. A
    chunk's frames are the ones the whole render would show (the renderer replays the geometry
    of the frames before it), so the joins do not show. Raises
    :class:`reperform.errors.AnalysisOutdated` if the inputs changed since the analysis.
    """
    from .pipeline import render as _render

    return _render(analysis, plan, Path(output), progress=progress, frames=frames)


def render_frames(analysis: Analysis, plan: Plan, frames: Iterable[int]) -> Iterator[np.ndarray]:
    """Output frames ``frames`` (increasing output frame indices) of ``plan`` as RGB arrays
    (uint8[h, w, 3]), without encoding: for measuring a sample of an output (the benchmarks do).

    Each frame is rendered by the same per-frame stages as :func:`render` and, asked for in
    order from frame 0, is the frame the whole render shows. Before a frame that does not follow
    the last the renderer replays the mouth geometry of the frames before it, but two things are
    decided from the frames drawn so far, here only these: what occlusion follows (hands) and, in
    face and head mode, whether the face wears glasses. Decodes the frames it needs; raises
    :class:`reperform.errors.InvalidOptions` for frames out of order or range, or a plan with segments.
    """
    from .pipeline import render_frames as _render_frames

    return _render_frames(analysis, plan, frames)


def join(analysis: Analysis, plan: Plan, chunks: list[str | Path], output: str | Path) -> int:
    """Join chunks rendered with :func:`render` ``frames=...`` (in order, tiling the plan) into
    ``output`` without re-encoding, with the driving sound muxed once; returns the frame count."""
    from .pipeline import join as _join

    return _join(analysis, plan, [Path(c) for c in chunks], Path(output))


def warm_up(config: EngineConfig | None = None) -> None:
    """Load the engine's libraries and models now instead of in the first :func:`generate`.

    For long-lived processes (job workers): ~1 s of imports and model loads moves out of the
    first job's time. Calling it is never required; calling it twice costs nothing.
    """
    from .pipeline import warm_up as _warm_up

    _warm_up(config or EngineConfig())


def check_video_options(video: str | Path, options: GenerateOptions) -> None:
    """Raise :class:`~reperform.errors.InvalidOptions` now for options the video itself refutes
    (``active_speaker``, the request's or a segment's: a frame past the end, a point on no face,
    not one box per frame), which the engine would otherwise find during the job. Decodes the
    video once; nothing to do (and free) for other options."""
    speakers = [("", options.active_speaker)] if options.active_speaker is not None else []
    speakers += [(f"segments[{i}].optionsOverride.", seg.overrides.active_speaker)
                 for i, seg in enumerate(options.segments) if seg.overrides.active_speaker is not None]
    if not any(s.kind in ("point", "boxes") for _w, s in speakers):
        return
    from .pipeline import check_speakers

    check_speakers(Path(video), speakers)


def probe(path: str | Path) -> MediaInfo:
    """What a media file holds (kind, size, fps, duration, streams); raises on non-media."""
    from .media import probe as _probe

    return _probe(path)


def synthesize_speech(text: str, output: str | Path, *, voice: str = "en-us") -> Path:
    """Speak ``text`` offline (espeak-ng) into a WAV file at ``output``; returns the path."""
    from .speech import synthesize_to_file

    return synthesize_to_file(text, Path(output), voice=voice)
