from fractions import Fraction

import numpy as np
import pytest

from reperform.media import build_timemap
from reperform.options import SyncMode

FPS = Fraction(25)
TIMES_4S = np.arange(100) / 25.0  # 4 s of video at 25 fps


def test_cut_off_takes_the_shorter_length():
    assert build_timemap(TIMES_4S, FPS, 2.0, SyncMode.cut_off).n_out == 50
    assert build_timemap(TIMES_4S, FPS, 10.0, SyncMode.cut_off).n_out == 100


def test_cut_off_shows_source_frames_in_order():
    tm = build_timemap(TIMES_4S, FPS, 2.0, SyncMode.cut_off)
    assert np.array_equal(tm.src_frame, np.arange(50))


def test_loop_restarts_the_video_until_the_audio_ends():
    tm = build_timemap(TIMES_4S, FPS, 10.0, SyncMode.loop)
    assert tm.n_out == 250
    assert tm.src_frame[99] == 99 and tm.src_frame[100] == 0 and tm.src_frame[249] == 49


def test_bounce_plays_backwards_after_the_end_without_repeating_the_turn_frame():
    tm = build_timemap(TIMES_4S, FPS, 10.0, SyncMode.bounce)
    assert list(tm.src_frame[97:103]) == [97, 98, 99, 98, 97, 96]
    assert np.all(np.abs(np.diff(tm.src_frame.astype(int))) <= 1)


def test_silence_keeps_the_longer_length_and_holds_the_last_frame():
    tm = build_timemap(TIMES_4S, FPS, 10.0, SyncMode.silence)
    assert tm.n_out == 250 and tm.src_frame[-1] == 99
    assert build_timemap(TIMES_4S, FPS, 1.0, SyncMode.silence).n_out == 100


def test_remap_stretches_the_video_over_the_audio():
    tm = build_timemap(TIMES_4S, FPS, 8.0, SyncMode.remap)
    assert tm.n_out == 200
    assert tm.src_frame[0] == 0 and tm.src_frame[-1] == 99
    assert np.all(np.diff(tm.src_frame) >= 0)


def test_variable_frame_rate_is_resampled_by_timestamp():
    times = np.array([0.0, 0.01, 0.2, 0.21, 0.5])  # bursts and gaps
    tm = build_timemap(times, Fraction(10), 0.6, SyncMode.cut_off)
    # output frames at 0.0, 0.1, ..., 0.5 show the latest source frame at that time
    assert list(tm.src_frame) == [0, 1, 2, 3, 3, 4]


def test_still_image_lasts_as_long_as_the_audio():
    tm = build_timemap(np.zeros(1), FPS, 3.0, SyncMode.cut_off, still=True)
    assert tm.n_out == 75 and not tm.src_frame.any()


@pytest.mark.parametrize("mode", list(SyncMode))
def test_every_mode_gives_at_least_one_frame_and_valid_indices(mode):
    tm = build_timemap(TIMES_4S, FPS, 0.01, mode)
    assert tm.n_out >= 1
    assert tm.src_frame.min() >= 0 and tm.src_frame.max() < 100
