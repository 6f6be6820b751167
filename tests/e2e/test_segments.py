"""Segments: several audios on one real video (issue 17, part B), through the public API.

videoretalking_2 (5.04 s, 25 fps, its own English sound) with two segments: 0.8-2.4 s speaks a
radio address, 3.0-4.6 s speaks 1.0-2.6 s of a vlog. Each span must carry its audio, everything
outside the segments must be the filmed video with its own sound, and the joins must not jump.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import reperform
from reperform import Options, Segment, SegmentAudio
from reperform.errors import InvalidOptions, ReperformError
from reperform.media import load_audio
from reperform.motion.ease import EASE_S
from tests.e2e.test_generate import frames_of, mouth_track, psnr

pytestmark = [pytest.mark.e2e, pytest.mark.media]

VIDEO = "videos/videoretalking_2.mp4"
AUDIO_A = "audio/sadtalker_RD_Radio36_000.wav"
AUDIO_B = "audio/echomimic_movie_0_clip_0.wav"
FPS = 25
#: (video start, video end, refId, crop start in the audio)
SPANS = [(0.8, 2.4, "a", 0.0), (3.0, 4.6, "b", 1.0)]
#: Sound is compared at this rate, away from each edge's cross-fade by this much.
RATE = 48000
EDGE_S = 0.05


def _options(**over: object) -> Options:
    return Options(mode="lips", segments=[
        Segment(start_s=0.8, end_s=2.4, audio=SegmentAudio(ref_id="a")),
        Segment(start_s=3.0, end_s=4.6, audio=SegmentAudio(ref_id="b", start_s=1.0, end_s=2.6)),
    ], **over)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, media_dir: Path):
    out = tmp_path_factory.mktemp("segments") / "out.mp4"
    audios = {"a": media_dir / AUDIO_A, "b": media_dir / AUDIO_B}
    result = reperform.generate(media_dir / VIDEO, audios, out, _options())
    return result, out


def _inside(k: int) -> bool:
    t = k / FPS
    return any(a <= t < b for a, b, _, _ in SPANS)


def _best_corr(x: np.ndarray, y: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Best correlation of two waveforms within ±max_lag samples, and its lag."""
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        a, b = (x[lag:], y) if lag >= 0 else (x, y[-lag:])
        n = min(len(a), len(b))
        best = max(best, (float(np.corrcoef(a[:n], b[:n])[0, 1]), lag))
    return best


def test_every_frame_is_written_and_only_the_segments_are_edited(run) -> None:
    result, _ = run
    assert result.n_frames == 126 or result.n_frames == 125  # the video's own length, not an audio's
    n_inside = sum(_inside(k) for k in range(result.n_frames))
    assert 0.8 * n_inside <= result.frames_edited <= n_inside


def test_each_segment_speaks_its_audio_and_the_rest_keeps_the_videos_own_sound(run, media_dir: Path) -> None:
    _, out = run
    got = load_audio(out, RATE).samples
    refs = {"a": load_audio(media_dir / AUDIO_A, RATE).samples, "b": load_audio(media_dir / AUDIO_B, RATE).samples}
    own = load_audio(media_dir / VIDEO, RATE).samples  # this clip's video and audio start together
    lag = int(0.002 * RATE)

    def cut(x: np.ndarray, t0: float, t1: float) -> np.ndarray:
        return x[int((t0 + EDGE_S) * RATE): int((t1 - EDGE_S) * RATE)]

    for start, end, ref, crop in SPANS:
        r, at = _best_corr(cut(got, start, end), cut(refs[ref], crop, crop + end - start), lag)
        assert r > 0.98 and abs(at) <= lag // 2, (ref, r, at)
        # ... and not the video's own sound there
        assert abs(_best_corr(cut(got, start, end), cut(own, start, end), lag)[0]) < 0.3
    for t0, t1 in ((0.0, 0.8), (2.4, 3.0), (4.6, 5.0)):  # outside every segment: as filmed
        r, at = _best_corr(cut(got, t0, t1), cut(own, t0, t1), lag)
        assert r > 0.98 and abs(at) <= lag // 2, (t0, r, at)


def test_the_video_outside_every_segment_is_as_filmed_and_inside_it_is_re_performed(run, media_dir: Path) -> None:
    _, out = run
    src, dst = frames_of(media_dir / VIDEO), frames_of(out)
    assert len(dst) in (len(src), len(src) + 1)
    outside = [k for k in range(len(src)) if not _inside(k)]
    worst = min(psnr(src[k], dst[k]) for k in outside)
    assert worst >= 40.0, worst  # only x264's re-encoding differs
    # Inside, the mouth follows the new audio, not the filmed one.
    filmed, edited = mouth_track(media_dir / VIDEO), mouth_track(out)
    inside = [k for k in range(len(src)) if _inside(k) and filmed.present[k] and edited.present[k]]
    differs = np.abs(filmed.mouth[inside, 0] - edited.mouth[inside, 0])
    assert np.median(differs) > 0.03, np.median(differs)
    same = [k for k in outside if filmed.present[k] and edited.present[k]]
    assert np.median(np.abs(filmed.mouth[same, 0] - edited.mouth[same, 0])) < 0.02


def test_the_mouth_does_not_jump_at_a_segment_edge(run) -> None:
    """The largest frame-to-frame change of the mouth's opening across each join (and its ease)
    stays within what the mouth does anywhere else in the clip (its 99th percentile).

    Only steps that touch an edited frame count as the join's: a step between two frames outside
    every segment is the filmed mouth's own motion (the outside frames are checked against the
    source above), and counting it blamed the join for the speaker's own fast opening just before
    the first segment (0.119 between filmed frames 17 and 18 of videoretalking_2)."""
    _, out = run
    opening = mouth_track(out).mouth[:, 0]
    steps = np.abs(np.diff(opening))
    ease_n = int(round(EASE_S * FPS))
    near = np.zeros(len(steps), bool)
    for start, end, _, _ in SPANS:
        for edge in (int(round(start * FPS)), int(round(end * FPS))):
            near[max(0, edge - ease_n - 1): edge + ease_n + 1] = True
    touches_edit = np.array([_inside(k) or _inside(k + 1) for k in range(len(steps))])
    assert (near & touches_edit).sum() >= 4 * ease_n, "the joins' windows lost their edited frames"
    near &= touches_edit
    elsewhere = np.percentile(steps[~near & np.isfinite(steps)], 99)
    assert np.nanmax(steps[near]) <= elsewhere, (np.nanmax(steps[near]), elsewhere)


@pytest.mark.parametrize("segments,audios,words", [
    ([Segment(start_s=4.0, end_s=6.0, audio=SegmentAudio(ref_id="a"))], {"a": AUDIO_A},
     ["segments[0]", "not within the video"]),
    ([Segment(start_s=0.0, end_s=1.0, audio=SegmentAudio(ref_id="a")),
      Segment(start_s=2.0, end_s=3.0, audio=SegmentAudio(ref_id="c"))], {"a": AUDIO_A},
     ["segments[1]", "'c'", "refIds: a"]),
    ([Segment(start_s=0.0, end_s=1.0, audio=SegmentAudio(ref_id="a", start_s=7.5, end_s=9.0))], {"a": AUDIO_A},
     ["segments[0]", "beyond its end"]),
])
def test_segments_that_do_not_fit_the_media_fail_naming_the_segment(tmp_path: Path, media_dir: Path, segments,
                                                                     audios, words) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(InvalidOptions) as err:
        reperform.generate(media_dir / VIDEO, {k: media_dir / v for k, v in audios.items()}, out,
                           Options(segments=segments))
    for word in words:
        assert word in err.value.message
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_still_image_cannot_be_cut_into_segments(tmp_path: Path, media_dir: Path) -> None:
    with pytest.raises(ReperformError, match="still image"):
        reperform.generate(media_dir / "images" / "sadtalker_people_0.png", media_dir / AUDIO_A,
                           tmp_path / "out.mp4",
                           Options(segments=[Segment(start_s=0, end_s=1, audio=SegmentAudio(ref_id="a"))]))


def test_each_segment_is_planned_with_its_own_emotion(media_dir: Path) -> None:
    """optionsOverride honoured: a happy segment smiles (AU12), the next, without a prompt, does not."""
    from reperform import pipeline
    from reperform.config import EngineConfig
    from reperform.motion import AUS
    from reperform.progress import Overall, null_sink

    analysis = reperform.analyze(media_dir / "videos" / "pcavs_00373.mp4", media_dir / AUDIO_A)
    options = Options(mode="face", segments=[
        Segment(start_s=0.0, end_s=2.0, audio=SegmentAudio(ref_id="a"),
                overrides={"emotion": "happy", "temperature": 1.0}),
        Segment(start_s=2.5, end_s=4.5, audio=SegmentAudio(ref_id="a"))])
    plan = pipeline._plan_segments(analysis, options, EngineConfig(), Overall(null_sink, {"plan": 1.0}))
    smile = plan.motion.au[:, list(AUS).index("AU12")]
    owner = plan.spans.owner
    assert smile[owner == 0].max() > 0.3 and smile[owner == 1].max() < 0.05 and smile[owner == -1].max() == 0
    assert [o.emotion for o in plan.segment_options] == ["happy", None]


def test_the_seams_refuse_segments_rather_than_ignore_them(media_dir: Path) -> None:
    """analyze() and plan() take one audio: segments go through generate(), which composes them."""
    opts = _options()
    with pytest.raises(InvalidOptions, match="generate"):
        reperform.analyze(media_dir / VIDEO, media_dir / AUDIO_A, opts)
