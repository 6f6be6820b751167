"""Several people: every face followed, identities across cuts, and the choice of whom to edit —
on two-person videos made from real clips (tests/conftest.py ``two_people``) and the real
multi-shot Hamilton clip. End-to-end renders are in tests/e2e/test_speakers.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reperform import media
from reperform.errors import InvalidOptions
from reperform.face import AllFaces, BoxedFace
from reperform.face.speakers import FaceRun, link_identities, viterbi, windowed_corr
from reperform.options import ActiveSpeaker

pytestmark = pytest.mark.media

AUTO = ActiveSpeaker(auto_detect=True)


def follow(path: Path) -> tuple[AllFaces, np.ndarray, media.Audio | None]:
    """Every face of ``path`` followed; frame times on the audio's clock; its own sound."""
    info = media.probe(path)
    faces = AllFaces(info.width, info.height)
    times = []
    try:
        for index, t_s, rgb in media.iter_frames(info):
            times.append(t_s)
            faces.update(index, rgb)
    finally:
        faces.close()
    return faces, np.asarray(times) + info.video_start_s, media.load_audio(path) if info.has_audio else None


def centre(lm: np.ndarray) -> tuple[float, float]:
    return float(lm[:, 0].mean()), float(lm[:, 1].mean())


def share_in(selection, rect_of_frame) -> float:
    """Share of frames whose edited face's centre lies in ``rect_of_frame(frame)``."""
    hits = []
    for frame, lm in enumerate(selection.landmarks):
        rect = rect_of_frame(frame)
        x, y = centre(lm) if lm is not None else (-1.0, -1.0)
        hits.append(rect is not None and rect[0] <= x < rect[2] and rect[1] <= y < rect[3])
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def followed(two_people):
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            clip = two_people(name)
            cache[name] = (clip, *follow(clip.path))
        return cache[name]

    return get


@pytest.mark.parametrize("name", ["side_left", "side_right", "stacked"])
def test_auto_edits_the_person_heard_in_the_videos_own_sound(followed, name):
    clip, faces, times, audio = followed(name)
    runs, run_at = faces.faces()
    assert len(run_at) == 2, "two people, each followed through the whole shot"
    assert all(len(r.landmarks) == clip.n_frames for r in runs)
    selection = faces.select(AUTO, times, audio)
    assert share_in(selection, clip.speaker_rect) == 1.0
    assert selection.warnings == ()


def test_identities_hold_across_cuts_that_swap_places_and_auto_follows_the_heard_person(followed):
    clip, faces, times, audio = followed("swap")
    assert faces.shot_starts == list(clip.starts)
    runs, run_at = faces.faces()
    assert len(runs) == 6 and len(run_at) == 2, "two runs per shot, linked into two people"
    # One identity is always the vr2 person, wherever they stand.
    for person in range(2):
        tiles = set()
        for run in (r for r in runs if r.identity == person):
            x, _ = centre(run.landmarks[0])
            tiles.add(clip.shots[run.shot].tiles[int(x // clip.tile)][0])
        assert len(tiles) == 1, tiles
    selection = faces.select(AUTO, times, audio)
    assert share_in(selection, clip.speaker_rect) >= 0.95


def test_a_point_picks_the_face_under_it_and_follows_that_person_across_the_cuts(followed):
    clip, faces, times, audio = followed("swap")
    left = clip.rect(0)
    point = ActiveSpeaker(frame_number=5, coordinates=((left[0] + left[2]) / 2, (left[1] + left[3]) / 2))
    selection = faces.select(point, times, audio)
    vr2 = clip.shots[0].tiles[0][0]
    assert share_in(selection, lambda f: clip.rect_of(f, vr2)) == 1.0
    assert len(set(selection.identity.tolist())) == 1


def test_a_point_on_no_face_or_past_the_last_frame_is_refused_naming_the_problem(followed):
    clip, faces, times, audio = followed("side_left")
    with pytest.raises(InvalidOptions, match=r"coordinates \(5, 5\) are on no face on frame 3; faces there: \["):
        faces.select(ActiveSpeaker(frame_number=3, coordinates=(5, 5)), times, audio)
    with pytest.raises(InvalidOptions, match=rf"frame_number {clip.n_frames} is past the video's last frame"):
        faces.select(ActiveSpeaker(frame_number=clip.n_frames, coordinates=(100, 100)), times, audio)


def test_without_its_own_sound_auto_edits_the_most_prominent_face_and_says_so(followed):
    clip, faces, times, _audio = followed("side_left")
    selection = faces.select(AUTO, times, None)
    assert "no sound of its own" in selection.warnings[0]
    assert len(set(selection.identity.tolist())) == 1 and (selection.identity >= 0).all()


def test_the_hamilton_performer_is_one_person_across_the_cut_and_the_audience_others(media_dir):
    faces, times, audio = follow(media_dir / "videos" / "facerecognition_short_hamilton_clip.mp4")
    runs, run_at = faces.faces()
    first = next(r for r in runs if r.start == 0)  # the performer, far away at the piano
    close = max(runs, key=lambda r: len(r.landmarks))  # the performer's close shot after the cut
    assert first.shot != close.shot and first.identity == close.identity
    audience = [r for r in runs if r.shot == len(faces.shot_starts) - 1]
    assert audience and all(r.identity != first.identity for r in audience)
    # A point on the performer in the first shot edits him in the close shot too, nobody else.
    x, y = centre(first.landmarks[5])
    selection = faces.select(ActiveSpeaker(frame_number=5, coordinates=(x, y)), times, audio)
    assert set(selection.identity[selection.identity >= 0].tolist()) == {first.identity}
    assert (selection.identity[close.start:close.stop] == first.identity).all()


def test_boxes_mesh_the_face_in_each_box_and_leave_null_frames(followed, two_people):
    clip = two_people("side_left")
    info = media.probe(clip.path)
    right = clip.rect(1)
    boxes = tuple(right if i < 40 else None for i in range(clip.n_frames))
    boxed = BoxedFace(info.width, info.height, boxes)
    for index, _t, rgb in media.iter_frames(info):
        boxed.update(index, rgb)
    boxed.close()
    selection = boxed.select()
    assert all(lm is not None and right[0] <= centre(lm)[0] < right[2] for lm in selection.landmarks[:40])
    assert all(lm is None for lm in selection.landmarks[40:])
    short = BoxedFace(info.width, info.height, boxes[:-3])
    short.landmarks = [None] * clip.n_frames
    with pytest.raises(InvalidOptions, match=rf"has {clip.n_frames - 3} boxes; the video has {clip.n_frames} frames"):
        short.select()


# --- the parts, on made-up numbers --------------------------------------------------------------


def test_windowed_correlation_is_pearsons_in_each_window():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=60), rng.normal(size=60)
    got = windowed_corr(x, y, 5)
    for t in (0, 7, 30, 59):
        lo, hi = max(0, t - 5), min(60, t + 6)
        assert got[t] == pytest.approx(np.corrcoef(x[lo:hi], y[lo:hi])[0, 1])
    assert (windowed_corr(np.ones(20), y[:20], 3) == 0).all()


def test_viterbi_switches_for_sustained_evidence_only():
    n = 200
    ev = np.zeros((2, n))
    ev[0, :] = 0.3
    ev[1, 100:105] = 0.9  # a blip: not worth a switch
    ev[1, 140:] = 0.8  # sustained: switch
    path = viterbi(ev, np.ones((2, n), bool))
    assert (path[:130] == 0).all() and (path[150:] == 1).all()
    assert len(np.nonzero(np.diff(path))[0]) == 1
    nobody = viterbi(ev, np.zeros((2, n), bool))
    assert (nobody == -1).all()


def _run(start: int, stop: int, descriptor: np.ndarray) -> FaceRun:
    return FaceRun(shot=0, start=start, landmarks=[np.zeros((478, 3))] * (stop - start), box=np.zeros(4),
                   descriptors=[descriptor])


def test_runs_are_one_person_when_close_and_never_when_seen_at_once():
    a, b = np.zeros(128), np.full(128, 0.1)  # 1.13 apart
    runs = [_run(0, 10, a), _run(0, 10, a + 0.01), _run(20, 30, a - 0.005), _run(20, 30, b)]
    assert link_identities(runs) == 3
    assert runs[0].identity == runs[2].identity != runs[1].identity
    assert runs[3].identity not in (runs[0].identity, runs[1].identity)
