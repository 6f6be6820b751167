"""Chunks encoded separately join into one MP4 without re-encoding: every frame once, in order,
pixel for pixel as each chunk decodes, with the sound muxed once over the whole length."""

from __future__ import annotations

import itertools
from fractions import Fraction

import av
import numpy as np
import pytest

from reperform.errors import EngineError, MediaUnreadable
from reperform.media import Mp4Writer, iter_frames, load_audio_for_output, probe, stream_audio_for_output
from reperform.media.audio import OUTPUT_RATE
from reperform.media.join import join_chunks


def _frames(path, limit=None):
    return [rgb for _, _, rgb in itertools.islice(iter_frames(probe(path)), limit)]


def _write_chunk(path, frames, fps):
    h, w = frames[0].shape[:2]
    with Mp4Writer(path, w, h, fps, None, len(frames), with_audio=False) as wr:
        for f in frames:
            wr.write(f)
    return path


@pytest.mark.media
def test_chunks_of_a_real_clip_join_frame_exact_with_the_sound_once(tmp_path, media_dir):
    clip = media_dir / "videos" / "videoretalking_4.mp4"  # 30 fps, 700x700, with speech
    info = probe(clip)
    frames = _frames(clip, 100)
    cuts = [0, 37, 38, 71, 100]  # a one-frame chunk too
    chunks = [_write_chunk(tmp_path / f"c{i}.mp4", frames[a:b], info.fps)
              for i, (a, b) in enumerate(itertools.pairwise(cuts))]
    assert not probe(chunks[0]).has_audio
    sound = load_audio_for_output(clip)
    out = tmp_path / "joined.mp4"
    assert join_chunks(chunks, out, info.fps, sound) == 100

    joined = _frames(out)
    expected = [f for c in chunks for f in _frames(c)]
    assert len(joined) == 100
    assert all(np.array_equal(a, b) for a, b in zip(joined, expected, strict=True))
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        pts = sorted(p.pts for p in c.demux(v) if p.pts is not None)
    assert np.array_equal(np.diff(pts), np.full(99, pts[1] - pts[0]))  # no gap, no double
    got = probe(out)
    assert got.duration_s == pytest.approx(100 / float(info.fps), abs=0.05)
    assert got.audio_duration_s == pytest.approx(100 / float(info.fps), abs=1024 / OUTPUT_RATE + 0.03)
    # The sound is the clip's own, from its first sample (not restarted per chunk).
    heard = load_audio_for_output(out)
    n = int(0.5 * OUTPUT_RATE)
    assert np.corrcoef(heard[0, 2048:n], sound[0, 2048:n])[0, 1] > 0.95


def test_chunks_of_another_size_are_refused_and_nothing_is_left(tmp_path):
    fps = Fraction(25)
    a = _write_chunk(tmp_path / "a.mp4", [np.full((48, 64, 3), 90, np.uint8)] * 5, fps)
    b = _write_chunk(tmp_path / "b.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 5, fps)
    out = tmp_path / "out.mp4"
    with pytest.raises(EngineError, match="encoded differently"):
        join_chunks([a, b], out, fps, None)
    assert not out.exists() and not list(tmp_path.glob(".out.mp4*"))


def test_nothing_to_join_is_an_error(tmp_path):
    with pytest.raises(EngineError):
        join_chunks([], tmp_path / "x.mp4", Fraction(25), None)


def _audio_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.mark.media
def test_sound_streamed_from_its_file_muxes_the_same_bytes_as_the_whole_array(tmp_path, media_dir):
    """A long output's sound is streamed block by block (never held whole); the AAC it makes
    must be the array's, byte for byte, including the silence past the sound's end."""
    clip = media_dir / "videos" / "videoretalking_4.mp4"
    info = probe(clip)
    frames = _frames(clip, 40)
    chunk = _write_chunk(tmp_path / "c.mp4", frames, info.fps)
    whole, streamed = tmp_path / "whole.mp4", tmp_path / "streamed.mp4"
    join_chunks([chunk], whole, info.fps, load_audio_for_output(clip))
    join_chunks([chunk], streamed, info.fps, stream_audio_for_output(clip))
    assert _audio_packets(whole) == _audio_packets(streamed)
    # Sound shorter than the video: both pad with the same silence.
    short = load_audio_for_output(clip)[:, : OUTPUT_RATE // 3]
    blocks = (short[:, i : i + 777] for i in range(0, short.shape[1], 777))  # odd block sizes
    join_chunks([chunk], whole, info.fps, short)
    join_chunks([chunk], streamed, info.fps, blocks)
    assert _audio_packets(whole) == _audio_packets(streamed)


def test_a_sound_that_fails_while_streaming_leaves_no_output(tmp_path):
    """The writer reads a streamed sound only when it closes: a failure there removes the part file."""
    def broken():
        yield np.zeros((2, 4000), np.float32)
        raise MediaUnreadable("cannot decode audio of x.wav")

    out = tmp_path / "o.mp4"
    with pytest.raises(MediaUnreadable), Mp4Writer(out, 64, 48, Fraction(25), broken(), 10) as w:
        for _ in range(10):
            w.write(np.full((48, 64, 3), 90, np.uint8))
    assert not out.exists() and not list(tmp_path.glob(".o.mp4*"))
