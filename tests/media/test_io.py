from fractions import Fraction

import numpy as np
import pytest

from reperform.errors import AudioMissing, MediaUnreadable, OutputNotWritable
from reperform.media import FrameSource, FrameStore, Mp4Writer, iter_frames, load_audio, probe
from tests.conftest import make_tone_wav, make_video


def test_probe_rejects_missing_empty_and_non_media_files(tmp_path):
    with pytest.raises(MediaUnreadable, match="not found"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaUnreadable, match="empty"):
        probe(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(MediaUnreadable):
        probe(tmp_path / "text.mp4")


def test_probe_reads_a_small_video(tmp_path):
    info = probe(make_video(tmp_path / "v.mp4", 30, (64, 48), fps=30))
    assert info.kind == "video" and (info.width, info.height) == (64, 48)
    assert info.fps == Fraction(30) and not info.has_audio


@pytest.mark.media
def test_probe_reports_the_real_clips_properly(media_dir):
    hevc = probe(media_dir / "videos" / "latentsync_demo1_video.mp4")
    assert (hevc.width, hevc.height, hevc.video_codec) == (1080, 1920, "hevc")
    ham = probe(media_dir / "videos" / "facerecognition_short_hamilton_clip.mp4")
    assert ham.video_start_s == pytest.approx(0.84, abs=0.05)
    assert probe(media_dir / "images" / "sadtalker_people_0.png").kind == "image"
    assert probe(media_dir / "audio" / "whisper_jfk.flac").kind == "audio"
    assert not probe(media_dir / "videos" / "liveportrait_d13.mp4").has_audio


def test_audio_is_mono_float_at_16k_whatever_the_input(tmp_path):
    a = load_audio(make_tone_wav(tmp_path / "s.wav", 1.0, rate=44100, channels=2))
    assert a.rate == 16000 and a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert a.duration_s == pytest.approx(1.0, abs=0.01)


def test_audio_of_a_video_without_sound_is_missing(tmp_path):
    with pytest.raises(AudioMissing):
        load_audio(make_video(tmp_path / "v.mp4", 10))


def test_frame_source_serves_backward_access_like_forward(tmp_path):
    info = probe(make_video(tmp_path / "v.mp4", 40, fps=25))
    frames = [img for _, _, img in iter_frames(info)]
    times = np.arange(len(frames)) / 25.0
    src = FrameSource(info, times)
    order = list(range(40)) + list(range(38, -1, -1))
    for i in order:
        assert np.array_equal(src.get(i), frames[i]), f"frame {i} differs"
    src.close()


def test_frame_store_serves_the_analysis_frames_to_the_render_pass(tmp_path):
    """Kept frames come back pixel-identical to a fresh decode, in any order (bounce, loop)."""
    info = probe(make_video(tmp_path / "v.mp4", 12, size=(64, 48)))
    store = FrameStore.for_clip(info, 10 * 1024 * 1024)
    assert store is not None
    fresh = [f for _, _, f in iter_frames(info)]
    times = np.array([t for _, t, _ in iter_frames(info, store)])
    assert len(store) == 12 and store.nbytes == 12 * 64 * 48 * 3 // 2
    src = FrameSource(info, times, store=store)
    for i in (11, 0, 5, 5, 3):
        np.testing.assert_array_equal(src.get(i), fresh[i])


def test_frame_store_is_all_or_nothing_within_its_budget(tmp_path):
    """A clip that will not fit gets no store; one that overflows anyway drops every frame."""
    info = probe(make_video(tmp_path / "v.mp4", 12, size=(64, 48)))
    frame_bytes = 64 * 48 * 3 // 2
    assert FrameStore.for_clip(info, 11 * frame_bytes) is None
    store = FrameStore(5 * frame_bytes)
    times = np.array([t for _, t, _ in iter_frames(info, store)])
    assert store.overflowed and len(store) == 0 and store.nbytes == 0
    # A FrameSource given the overflowed store decodes instead, and still serves every frame.
    src = FrameSource(info, times, store=store)
    fresh = [f for _, _, f in iter_frames(info)]
    np.testing.assert_array_equal(src.get(7), fresh[7])


def test_writer_leaves_no_file_when_interrupted(tmp_path):
    out = tmp_path / "o.mp4"
    with pytest.raises(RuntimeError), Mp4Writer(out, 64, 48, Fraction(25), None, 10) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("boom")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_writer_rejects_a_missing_folder(tmp_path):
    with pytest.raises(OutputNotWritable):
        Mp4Writer(tmp_path / "no" / "o.mp4", 64, 48, Fraction(25), None, 1)


def test_writer_makes_h264_aac_with_the_requested_length(tmp_path):
    out = tmp_path / "o.mp4"
    audio = np.zeros((2, 48000), np.float32)
    with Mp4Writer(out, 65, 49, Fraction(25), audio, 25) as w:  # odd size is padded to even
        for _ in range(25):
            w.write(np.full((49, 65, 3), 128, np.uint8))
    info = probe(out)
    assert info.video_codec == "h264" and info.has_audio and info.n_frames == 25
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
