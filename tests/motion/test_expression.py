"""Expression planning: prompts become their FACS AU sets, scaled by temperature, synced to speech."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from reperform.motion import expression as X
from reperform.options import Emotion, GenerateOptions, ModelMode
from reperform.records import FaceTrack, Prosody, TimeMap

from .builders import FPS, speech

PROMPT_AUS = {
    Emotion.happy: {"AU6", "AU12"},
    Emotion.sad: {"AU1", "AU4", "AU15"},
    Emotion.angry: {"AU4", "AU5", "AU7", "AU23"},
    Emotion.surprised: {"AU1", "AU2", "AU5", "AU26"},
    Emotion.disgusted: {"AU4", "AU9", "AU10", "AU15"},
    Emotion.neutral: set(),
}


def _timemap(n_out: int, src: np.ndarray | None = None) -> TimeMap:
    src = np.arange(n_out, dtype=np.int32) if src is None else np.asarray(src, np.int32)
    return TimeMap(fps=Fraction(FPS), n_out=n_out, src_frame=src, audio_duration_s=n_out / FPS)


def _prosody(accents=(), phrases=()) -> Prosody:
    return Prosody(hop_s=0.01, f0_hz=np.zeros(1, np.float32), intensity_db=np.zeros(1, np.float32),
                   accents=tuple(accents), phrases=tuple(phrases))


def _eye_track(n: int, blink_frames: set[int]) -> FaceTrack:
    """A face whose eyes are open (lid gap 0.3 of the eye width) except on ``blink_frames``."""
    lm = np.zeros((n, 478, 3), np.float32)
    for (u, lo), (a, b), x in zip(X._EYE_MID_PAIRS, X._EYE_CORNERS, (-50.0, 50.0), strict=True):
        lm[:, a, 0], lm[:, b, 0] = x - 15, x + 15
        lm[:, u, 1] = -4.5
        lm[:, lo, 1] = 4.5
        for k in blink_frames:
            lm[k, u, 1], lm[k, lo, 1] = -0.5, 0.5
    return FaceTrack(present=np.ones(n, bool), landmarks=lm, bbox=np.zeros((n, 4), np.float32),
                     pose=np.zeros((n, 3), np.float32), scale=np.full(n, 100.0, np.float32),
                     mouth=np.zeros((n, 4), np.float32), width=640, height=480)


def _plan(emotion=None, temperature=0.5, mode=ModelMode.face, n_out=100, accents=(), track=None, sp=None):
    opts = GenerateOptions(mode=mode, emotion=emotion, temperature=temperature)
    sp = sp if sp is not None else speech([("AA", 0.0, n_out / FPS)], n_out / FPS)
    return X.plan_expression(_timemap(n_out), opts, sp, _prosody(accents), track)


@pytest.mark.parametrize("emotion", list(PROMPT_AUS))
def test_each_prompt_raises_exactly_its_facs_action_units(emotion):
    au, _ = _plan(emotion)
    held = au[20:]  # after the ease-in, no accents: the prompt alone
    raised = {X.AUS[i] for i in range(X.N_AUS) if held[:, i].min() > 0.05}
    silent = {X.AUS[i] for i in range(X.N_AUS) if held[:, i].max() == 0.0}
    assert raised == PROMPT_AUS[emotion]
    assert silent == set(X.AUS) - PROMPT_AUS[emotion]


def test_the_prompt_eases_in_over_the_first_third_of_a_second():
    au, _ = _plan(Emotion.happy)
    smile = au[:, X.AU_INDEX["AU12"]]
    assert smile[0] == 0.0
    assert np.all(np.diff(smile[:10]) >= 0)
    assert smile[int(0.15 * FPS)] < smile[int(0.4 * FPS)]
    assert np.allclose(smile[int(0.4 * FPS):], smile[-1])


def test_higher_temperature_means_a_stronger_expression():
    levels = [_plan(Emotion.sad, t)[0][30:, X.AU_INDEX["AU15"]].mean() for t in (0.0, 0.2, 0.5, 0.9, 1.0)]
    assert all(b > a for a, b in zip(levels, levels[1:], strict=False) if a < 1.0)
    assert levels[1] > 0.1  # even a low temperature shows the prompt
    assert levels[-1] <= 1.0


@pytest.mark.parametrize("emotion", [None, Emotion.happy, Emotion.surprised])
def test_lips_mode_leaves_every_action_unit_and_blink_at_zero(emotion):
    au, blink = _plan(emotion, 0.9, mode=ModelMode.lips, accents=[(1.0, 1.0)], track=_eye_track(100, set()))
    assert not au.any()
    assert not blink.any()


def test_pitch_accents_raise_the_brows_briefly_without_a_prompt():
    au, _ = _plan(None, accents=[(2.0, 1.0)])
    brow = au[:, X.AU_INDEX["AU1"]]
    k = 2 * FPS
    assert brow[k] == pytest.approx(brow.max())
    assert brow[k] > 0.2
    assert brow[k - int(0.5 * FPS)] < 0.05 * brow[k]
    assert brow[k + int(1.2 * FPS)] < 0.05 * brow[k]
    others = np.delete(au, [X.AU_INDEX["AU1"], X.AU_INDEX["AU2"], X.AU_INDEX["AU7"]], axis=1)
    assert not others.any()


def test_a_prompt_swells_on_a_stressed_syllable():
    au, _ = _plan(Emotion.happy, accents=[(2.0, 1.0)])
    smile = au[:, X.AU_INDEX["AU12"]]
    assert smile[2 * FPS] > 1.1 * smile[3 * FPS + 10]
    assert smile[3 * FPS + 10] == pytest.approx(smile[-1], rel=1e-3)


def test_only_strong_accents_add_a_squint():
    au_weak, _ = _plan(None, accents=[(2.0, 0.5)])
    au_strong, _ = _plan(None, accents=[(2.0, 1.0)])
    assert au_weak[:, X.AU_INDEX["AU7"]].max() == 0.0
    assert au_strong[:, X.AU_INDEX["AU7"]].max() > 0.1


def test_the_prompt_relaxes_in_a_long_pause_and_returns_after_it():
    sp = speech([("AA", 0.0, 1.5), ("AA", 2.5, 4.0)], 4.0)
    au, _ = _plan(Emotion.angry, sp=sp, n_out=100)
    frown = au[:, X.AU_INDEX["AU4"]]
    assert frown[int(2.0 * FPS)] < 0.9 * frown[int(1.0 * FPS)]
    assert frown[int(3.5 * FPS)] == pytest.approx(frown[int(1.0 * FPS)])


def test_a_source_that_never_blinks_gets_blinks_every_few_seconds():
    n = 12 * FPS
    _, blink = _plan(None, n_out=n, track=_eye_track(n, set()))
    closed = blink > 0.5
    onsets = np.nonzero(closed[1:] & ~closed[:-1])[0]
    assert 2 <= len(onsets) <= 4
    assert np.all(np.diff(onsets) >= 3 * FPS - 1)
    lengths = [int(np.sum(blink[o - 5:o + 10] > 0.05)) for o in onsets]
    assert all(2 <= n_frames <= 8 for n_frames in lengths)  # ~150-250 ms at 25 fps, ramps included
    assert blink.max() > 0.9


def test_a_source_that_blinks_by_itself_gets_no_extra_blinks():
    n = 12 * FPS
    own = {k for start in range(40, n, 90) for k in range(start, start + 4)}
    _, blink = _plan(None, n_out=n, track=_eye_track(n, own))
    assert not blink.any()


def test_a_still_photo_counts_as_never_blinking():
    n = 8 * FPS
    tm = _timemap(n, np.zeros(n, np.int32))
    opts = GenerateOptions(mode=ModelMode.face)
    _, blink = X.plan_expression(tm, opts, speech([("AA", 0, 8.0)], 8.0), _prosody(), _eye_track(1, set()))
    assert blink.max() > 0.9


def test_added_blinks_prefer_phrase_boundaries():
    n = 10 * FPS
    blink = X.plan_blinks(n, FPS, ((0.0, 2.0), (2.4, 6.5), (7.0, 10.0)), seed=3)
    closed_t = np.nonzero(blink > 0.5)[0] / FPS
    assert np.any(np.abs(closed_t - 2.05) < 0.2) or np.any(np.abs(closed_t - 6.55) < 0.2)


def test_the_render_stage_uses_the_same_action_unit_columns():
    from reperform.rendering import expression as R

    assert R.AUS == X.AUS


def test_a_happy_speaker_smiles_more_on_open_vowels():
    from fractions import Fraction

    from reperform.motion.expression import AU_INDEX, plan_expression
    from reperform.options import Emotion, GenerateOptions, ModelMode
    from reperform.records import TimeMap

    n = 100
    fps = 25.0
    timemap = TimeMap(fps=Fraction(25), n_out=n, src_frame=np.arange(n, dtype=np.int32), audio_duration_s=n / fps)
    opening = np.where(np.arange(n) % 10 < 5, 0.3, 0.02).astype(np.float32)
    opts = GenerateOptions(mode=ModelMode.face, emotion=Emotion.happy, temperature=0.5)
    au, _ = plan_expression(timemap, opts, None, None, None, opening=opening)
    smile = au[20:, AU_INDEX["AU12"]]
    is_open = (np.arange(n) % 10 < 5)[20:]
    assert smile[is_open].mean() > 1.15 * smile[~is_open].mean()
    flat, _ = plan_expression(timemap, opts, None, None, None)
    assert np.allclose(flat[20:, AU_INDEX["AU12"]], smile[~is_open].mean(), atol=0.02)
    sad = GenerateOptions(mode=ModelMode.face, emotion=Emotion.sad, temperature=0.5)
    a, _ = plan_expression(timemap, sad, None, None, None, opening=opening)
    b, _ = plan_expression(timemap, sad, None, None, None)
    assert np.array_equal(a, b)
