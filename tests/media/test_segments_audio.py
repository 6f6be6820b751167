"""Segment audio: each piece in its span, the video's own sound elsewhere, no click at the joins."""

from __future__ import annotations

import numpy as np

from reperform.media.segments import FADE_S, Piece, compose, crop, own_sound

RATE = 8000


def _tone(freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]


def test_pieces_land_in_their_spans_over_the_background() -> None:
    own, voice = _tone(200, 3.0), _tone(330, 5.0, 0.4)
    out = compose([Piece(1.0, 1.0, crop(voice, RATE, 2.0, 2.5))], 3 * RATE, RATE, own, channels=1)
    fade = int(FADE_S * RATE)
    np.testing.assert_array_equal(out[:, : RATE], own[:, : RATE])  # before: the video's own sound, exactly
    np.testing.assert_array_equal(out[:, 2 * RATE:], own[:, 2 * RATE:])  # after, too
    # Inside: the cropped voice (0.5 s of it), then silence to the segment's end.
    np.testing.assert_allclose(out[:, RATE + fade: int(1.5 * RATE)], voice[:, 2 * RATE + fade: int(2.5 * RATE)])
    assert np.abs(out[:, int(1.5 * RATE) + 1: 2 * RATE - fade]).max() == 0


def test_a_join_has_no_click() -> None:
    """The largest sample-to-sample step across a join is no larger than inside either sound,
    where a hard cut between two out-of-phase tones steps by nearly their summed amplitude."""
    own = _tone(200, 2.0)
    cut = 4010  # 0.50125 s: the 200 Hz tone at its peak
    voice = -own[:, cut: cut + RATE]  # the same tone in opposite phase
    out = compose([Piece(cut / RATE, 1.0, voice)], 2 * RATE, RATE, own, channels=1)[0]
    natural = np.abs(np.diff(own[0])).max()
    assert np.abs(np.diff(out)).max() <= natural * 1.05
    hard = own[0].copy()
    hard[cut: cut + RATE] = voice[0]
    assert np.abs(np.diff(hard)).max() > 3 * natural  # what the cross-fade prevents


def test_the_own_sound_is_rebased_on_the_first_video_frame() -> None:
    sound = np.arange(10, dtype=np.float32)[None, :]
    assert own_sound(sound, 10, 0.3)[0, 0] == 3
    assert own_sound(sound, 10, -0.2)[0, :3].tolist() == [0, 0, 0]
    assert own_sound(None, 10, 0.0) is None
