"""Head mode's pose plan: nods on accents, stillness in pauses, amplitude from the person and temperature."""

from __future__ import annotations

import dataclasses

import numpy as np

from reperform.motion import plan_motion
from reperform.motion.head import NOD_LEAD_S, plan_head
from reperform.options import GenerateOptions, ModelMode
from reperform.records import Prosody

from .builders import FPS, frames_between, plan, profile, speech, timemap

DURATION_S = 6.0
#: Talking 0-2.2 s and 3.8-6 s, a 1.6 s pause between.
SPEC = [("HH", 0.0, 0.1)] + [("AA" if i % 2 else "T", 0.1 + 0.15 * i, 0.25 + 0.15 * i) for i in range(14)] + [
    ("AA" if i % 2 else "T", 3.8 + 0.15 * i, 3.95 + 0.15 * i) for i in range(14)
]


def _prosody(accents=((0.9, 1.0), (4.5, 0.8)), phrases=((0.0, 2.2), (3.8, 6.0)), f0=None) -> Prosody:
    n = int(round(DURATION_S / 0.01))
    f0 = np.full(n, np.nan, np.float32) if f0 is None else np.asarray(f0, np.float32)
    return Prosody(hop_s=0.01, f0_hz=f0, intensity_db=np.full(n, 60.0, np.float32), accents=tuple(accents),
                   phrases=tuple(phrases))


def _head(mode=ModelMode.head, temperature=0.5, pros=None, prof=None, sp=None) -> np.ndarray:
    sp = sp or speech(SPEC, DURATION_S)
    n = int(round(DURATION_S * FPS))
    return plan_head(pros or _prosody(), sp, prof or profile(), timemap(n, DURATION_S),
                     GenerateOptions(mode=mode, temperature=temperature))


def test_lips_and_face_modes_keep_the_source_pose_exactly():
    for mode in (ModelMode.lips, ModelMode.face):
        out = _head(mode=mode)
        assert out.shape == (int(DURATION_S * FPS), 3) and out.dtype == np.float32
        assert not out.any()


def test_head_mode_moves_the_head_a_few_degrees():
    out = _head()
    assert out.dtype == np.float32
    std = float(np.sqrt((out.std(axis=0) ** 2).sum()))
    assert 0.7 < std < 6.0
    assert np.abs(out).max() < 8.0


def test_the_head_settles_back_to_the_source_pose_in_a_long_pause():
    out = _head()
    mid_pause = frames_between(2.8, 3.2)
    speaking = np.concatenate([frames_between(0.3, 1.9), frames_between(4.1, 5.7)])
    assert np.abs(out[mid_pause]).max() < 0.1 * np.abs(out[speaking]).max()


def test_an_accent_brings_a_chin_down_nod_at_its_syllable():
    with_nod = _head(pros=_prosody(accents=((0.9, 1.0), (4.5, 0.8))))
    without = _head(pros=_prosody(accents=((4.5, 0.8),)))
    # Same seed for sway is not guaranteed (the seed hashes the accents), so compare pitch only:
    # pitch carries nods and the f0 contour (flat here), nothing else.
    nod = with_nod[:, 1] - without[:, 1]
    peak_s = int(np.argmax(nod)) / FPS
    assert nod.max() > 1.0  # degrees, chin down
    assert abs(peak_s - (0.9 - NOD_LEAD_S)) <= 1.5 / FPS
    far = np.concatenate([frames_between(0.0, 0.55), frames_between(1.3, 2.0)])
    assert np.abs(nod[far]).max() < 0.05 * nod.max()


def test_a_nod_dips_and_recovers_within_half_a_second():
    out = _head(pros=_prosody(accents=((0.9, 1.0),)))
    pitch = out[:, 1]
    k = int(np.argmax(pitch))
    assert pitch[k] > 1.0
    assert pitch[max(0, k - int(0.3 * FPS))] < 0.3 * pitch[k] and pitch[k + int(0.3 * FPS)] < 0.3 * pitch[k]


def test_amplitude_scales_with_temperature():
    low, mid, high = (_head(temperature=t) for t in (0.2, 0.5, 0.9))
    s_low, s_mid, s_high = (float(np.abs(x).max()) for x in (low, mid, high))
    assert s_low < s_mid < s_high
    np.testing.assert_allclose(high, mid * 0.9 / 0.5, rtol=1e-4, atol=1e-4)
    assert not _head(temperature=0.0).any()


def test_amplitude_follows_the_persons_own_motion_within_a_natural_range():
    still = _head(prof=dataclasses.replace(profile(), pose_std_deg=np.zeros(3, np.float32)))
    mover = _head(prof=dataclasses.replace(profile(), pose_std_deg=np.full(3, 2.0, np.float32)))
    wild = _head(prof=dataclasses.replace(profile(), pose_std_deg=np.full(3, 20.0, np.float32)))
    assert still.std(axis=0).min() > 0  # a motionless source still gets visible motion (clamped floor)
    assert np.all(mover.std(axis=0) >= still.std(axis=0))
    ratio = wild.std(axis=0) / still.std(axis=0)
    assert np.all(ratio < 3.0)  # a restless source does not make a wobbly output


def test_the_motion_is_smooth_without_jitter():
    out = _head(temperature=0.9)
    accel = np.abs(np.diff(out, 2, axis=0)).max(axis=0)
    assert np.all(accel < 0.25 * np.abs(out).max(axis=0))


def test_the_same_audio_always_gets_the_same_motion_and_other_audio_other_motion():
    a, b = _head(), _head()
    np.testing.assert_array_equal(a, b)
    other = _head(pros=_prosody(accents=((1.3, 0.7), (5.0, 0.9))))
    assert not np.allclose(a, other)


def test_higher_voice_lifts_the_chin_slightly():
    n = int(round(DURATION_S / 0.01))
    f0 = np.full(n, 120.0)
    f0[50:150] = 180.0  # a high stretch 0.5-1.5 s
    out = _head(pros=_prosody(accents=(), f0=f0))
    assert out[frames_between(0.8, 1.2), 1].mean() < out[frames_between(1.7, 2.1), 1].mean()


def test_plan_motion_carries_the_head_plan_in_head_mode_only():
    sp = speech(SPEC, DURATION_S)
    assert not plan(sp, pros=_prosody()).head_delta.any()  # default options: lips mode
    n = int(round(DURATION_S * FPS))
    mp = plan_motion(sp, _prosody(), None, profile(), timemap(n, DURATION_S), GenerateOptions(mode=ModelMode.head))
    assert mp.head_delta.shape == (n, 3) and np.abs(mp.head_delta).max() > 0.5


def _source_pose(n: int, wobble_hz: float = 2.0, wobble_deg: float = 2.0, ramp_deg: float = 4.0) -> np.ndarray:
    """A source that bobs its head (the old speech's motion) while slowly turning (posture)."""
    t = np.arange(n) / FPS
    pose = np.zeros((n, 3))
    pose[:, 0] = ramp_deg * t / t[-1] + wobble_deg * np.sin(2 * np.pi * wobble_hz * t)
    pose[:, 1] = 0.5 * wobble_deg * np.sin(2 * np.pi * 1.3 * wobble_hz * t + 1.0)
    return pose


def test_the_sources_own_quick_motion_is_taken_out_and_its_slow_turn_kept():
    """In the new audio's pause the output head (source + delta) is nearly still, though the source
    bobs; its slow turn survives (it is posture, not speech)."""
    n = int(round(DURATION_S * FPS))
    src = _source_pose(n)
    sp, pros = speech(SPEC, DURATION_S), _prosody()
    delta = plan_head(pros, sp, profile(), timemap(n, DURATION_S), GenerateOptions(mode=ModelMode.head),
                      source_pose=src)
    shown = src + delta
    pause = frames_between(2.7, 3.3)
    assert np.abs(src[pause, 0] - src[pause, 0].mean()).max() > 1.5  # the source does bob here
    # The output bobs far less (70 % of the quick motion is taken out, at most 1.5 degrees).
    assert (shown[pause].std(axis=0) < 0.45 * src[pause].std(axis=0) + 0.05).all()
    # Without a source pose the plan only adds gestures (the old behaviour); what the source pose
    # changes is exactly the removal of its quick motion, so its slow turn is still there.
    plain = plan_head(pros, sp, profile(), timemap(n, DURATION_S), GenerateOptions(mode=ModelMode.head))
    assert np.abs(plain[pause]).max() < 0.1
    kept = shown - plain  # the source's pose minus its quick motion
    early, late = frames_between(1.0, 1.5), frames_between(4.5, 5.0)
    turn = src[late, 0].mean() - src[early, 0].mean()  # ~2.4 degrees of slow turn in between
    assert abs((kept[late, 0].mean() - kept[early, 0].mean()) - turn) < 0.3
    # pitch only bobbed: most of it is gone (70 % taken out, of what the light denoising keeps)
    assert kept[frames_between(0.5, 5.5)].std(axis=0)[1] < 0.5 * src[frames_between(0.5, 5.5)].std(axis=0)[1]


def test_source_motion_is_never_smoothed_across_a_cut_or_a_missing_face():
    from reperform.motion.head import source_motion

    n = 120
    pose = np.zeros((n, 3))
    pose[60:, 0] = 20.0  # a cut to another shot: a 20 degree jump
    pose[90:95] = np.nan  # no face
    quick = source_motion(pose, FPS)
    assert np.abs(quick).max() < 1e-9  # constant pieces have no quick motion, whatever the jump
    assert np.all(quick[90:95] == 0)
