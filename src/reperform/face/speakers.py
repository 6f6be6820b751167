"""Several people in the video: follow every face, say who each is, and choose whom to edit.

Used only when the request says which person to edit (``Options.active_speaker``); without it the
engine follows one face as :class:`~reperform.face.track.FaceTracker` always did.

- :class:`AllFaces` follows every face: the full-range detector every few frames and at each cut
  finds faces, each face is meshed on its own crop frame by frame (a *run*), and a few dlib
  descriptors per run let :func:`link_identities` join runs of one person across cuts and losses.
- :class:`BoxedFace` meshes the face inside the boxes a client gave, frame by frame.
- :meth:`AllFaces.select` turns the request into one face per frame (a :class:`Selection`): the
  person under a point (followed by identity), or, in auto mode, per shot the person whose mouth
  moves with the video's own sound (windowed correlation of mouth opening and loudness, smoothed
  by a Viterbi path that pays for every switch). :meth:`AllFaces.select_spans` does the same when
  each segment of a request names its own speaker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidOptions
from ..landmarks import mouth_params
from ..options import ActiveSpeaker
from ..records import Audio
from .detect import Detection, MeshRunner
from .identity import SAME_PERSON, FaceDescriber, distance
from .track import SAME_FACE_IOU, CutDetector, _box_from_landmarks, _iou, _prominence

log = logging.getLogger(__name__)

#: Run the face detector this often (and at every cut, and when a face is lost): new faces enter.
DETECT_EVERY_FRAMES = 5
#: Two runs whose boxes overlap this much are one face meshed twice: the younger one ends.
DUPLICATE_IOU = 0.5
#: Runs shorter than this are detector false alarms or faces glimpsed in passing: dropped.
MIN_RUN_FRAMES = 3
#: Frames into a run at which it is described. A dlib descriptor costs ~40 ms on an idle core and
#: measured 250 ms on the loaded dev machine (a third of the speaker pass with five per run);
#: three per run link the test clips' people as well. From the third frame: shorter runs are dropped.
DESCRIBE_AT = (3, 25, 100)
#: Active-speaker evidence window (s): long enough for a few words, short enough to follow turns.
WINDOW_S = 3.0
#: Audio lags (frames) tried when correlating: the mouth opens slightly before its sound.
LAGS = (-2, -1, 0, 1, 2)
#: Smoothing (frames) of the sound's level and of mouth motion: syllable rate, not frame noise.
SMOOTH_FRAMES = 5
#: Cost of switching the edited person within a shot, in correlation x frames: at 25 fps a rival
#: must agree better by 0.3 for 0.8 s before the edit moves to them. Set with WINDOW_S on the
#: composites of benchmarks/speakers.py: frames right 3 s/6 -> 90 %, 3 s/10 -> 81 % (turns within a
#: shot were missed), 2 s/6 -> 85 %, 4 s/6 -> 87 %; its leave-one-case-out check (docs/tuning.md,
#: "Speakers") keeps them: 90 % of frames right held out.
SWITCH_COST = 6.0
#: Evidence for a person while their face is not found (brief loss: hold; long loss: move on).
ABSENT_SCORE = -0.3
#: Weight of face size and centrality in the auto score: breaks ties where the sound says nothing.
PROMINENCE_WEIGHT = 0.05
#: A point this far outside a face box (share of its size) still picks that face.
POINT_MARGIN = 0.1


@dataclass
class FaceRun:
    """One face followed frame by frame within one shot, until the mesh loses it."""

    shot: int
    start: int
    landmarks: list[np.ndarray]
    box: np.ndarray
    descriptors: list[np.ndarray] = field(default_factory=list)
    identity: int = -1

    @property
    def stop(self) -> int:
        return self.start + len(self.landmarks)


@dataclass(frozen=True)
class Selection:
    """The face to edit in each frame: raw landmarks (None: leave the frame as filmed), whose face
    it is, and where smoothing must restart (shot starts and switches of person)."""

    landmarks: list[np.ndarray | None]
    identity: np.ndarray  # int32[n], -1 where no face is edited
    cuts: list[int]
    warnings: tuple[str, ...] = ()


class AllFaces:
    """Follows every face; feed frames in order with :meth:`update`, then :meth:`select`."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._runner = MeshRunner()
        # A second mesh graph on its own thread: two faces are meshed at once (built there, used there).
        self._lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mesh-all")
        self._lane_runner: Future[MeshRunner] = self._lane.submit(MeshRunner)
        self._describer = FaceDescriber()
        self._cuts = CutDetector()
        self.runs: list[FaceRun] = []
        self._active: list[FaceRun] = []
        self.shot_starts: list[int] = [0]
        self._since_detect = DETECT_EVERY_FRAMES
        self.n = 0

    def update(self, index: int, rgb: np.ndarray) -> None:
        """Follow the faces into frame ``index`` (frames in order)."""
        if index != self.n:
            raise ValueError(f"frames must be fed in order: got {index}, expected {self.n}")
        self.n += 1
        if self._cuts.is_cut(rgb) and index > 0:
            self.shot_starts.append(index)
            self._active = []
        detected = not self._active or self._since_detect >= DETECT_EVERY_FRAMES
        dets = self._detect(index, rgb) if detected else []
        kept = []
        for run, lm in zip(self._active, self._mesh_all(rgb, [run.box for run in self._active]), strict=True):
            if lm is None and not detected:  # lost: look once more with a fresh detection
                dets, detected = self._detect(index, rgb, match_only=True), True
                box = max(dets, key=lambda d: _iou(d.box, run.box), default=None)
                lm = self._runner.mesh(rgb, box.box) if box is not None and _iou(box.box, run.box) > 0 else None
            if lm is not None:
                self._extend(run, rgb, lm)
                kept.append(run)
        self._active = self._dedupe(kept)
        self._since_detect = 0 if detected else self._since_detect + 1

    def _mesh_all(self, rgb: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray | None]:
        """The mesh in each box: every second one on the lane's graph, on its thread, while this
        thread meshes the others (MediaPipe releases the GIL; static-image graphs give the same
        mesh whichever graph runs it)."""
        far = [self._lane.submit(lambda b=b: self._lane_runner.result().mesh(rgb, b)) for b in boxes[1::2]]
        out: list[np.ndarray | None] = [None] * len(boxes)
        out[0::2] = [self._runner.mesh(rgb, b) for b in boxes[0::2]]
        out[1::2] = [f.result() for f in far]
        return out

    def _detect(self, index: int, rgb: np.ndarray, match_only: bool = False) -> list[Detection]:
        """Detect faces; unless ``match_only``, every face no run follows starts a run."""
        dets = self._runner.detect(rgb)
        if match_only:
            return dets
        for det in dets:
            if all(_iou(det.box, run.box) < SAME_FACE_IOU for run in self._active):
                run = FaceRun(shot=len(self.shot_starts) - 1, start=index, landmarks=[], box=det.box)
                self.runs.append(run)
                self._active.append(run)
        return dets

    def _extend(self, run: FaceRun, rgb: np.ndarray, lm: np.ndarray) -> None:
        run.landmarks.append(lm)
        run.box = _box_from_landmarks(lm)
        if len(run.landmarks) in DESCRIBE_AT:
            run.descriptors.append(self._describer.describe(rgb, lm))

    def _dedupe(self, runs: list[FaceRun]) -> list[FaceRun]:
        """Two runs on one face: the longer keeps it; the younger ends before this frame."""
        kept: list[FaceRun] = []
        for run in sorted(runs, key=lambda r: -len(r.landmarks)):
            if any(_iou(run.box, k.box) > DUPLICATE_IOU for k in kept):
                run.landmarks.pop()
                if not run.landmarks:
                    self.runs.remove(run)
                continue
            kept.append(run)
        return kept

    def close(self) -> None:
        self._runner.close()
        self._lane.submit(lambda: self._lane_runner.result().close())
        self._lane.shutdown(wait=True)

    # ------------------------------------------------------------------------------ selection

    def faces(self) -> tuple[list[FaceRun], np.ndarray]:
        """The kept runs with identities, and ``run_at`` int32[n_identities, n]: which run shows
        each identity in each frame (-1: not seen)."""
        runs = [r for r in self.runs if len(r.landmarks) >= MIN_RUN_FRAMES]
        n_ids = link_identities(runs)
        run_at = np.full((n_ids, self.n), -1, np.int32)
        for i, run in enumerate(runs):
            run_at[run.identity, run.start: run.stop] = i
        return runs, run_at

    def select(self, speaker: ActiveSpeaker, times_s: np.ndarray, audio: Audio | None) -> Selection:
        """One face per frame for ``speaker`` (point or auto). ``times_s``: each frame's time on the
        audio's clock; ``audio``: the video's own sound (None: it has none)."""
        return self.select_spans(speaker, (), times_s, audio)

    def select_spans(self, speaker: ActiveSpeaker | None,
                     spans: Sequence[tuple[np.ndarray, ActiveSpeaker | None, str]],
                     times_s: np.ndarray, audio: Audio | None) -> Selection:
        """One face per frame when parts of the video choose differently (one request dubbing a
        conversation): ``speaker`` everywhere (None: the largest, most central face per shot),
        except in each ``(frames, speaker, where)`` of ``spans`` (``frames`` bool[n]) where that
        span's speaker decides (``where`` prefixes its errors: ``segments[1].optionsOverride.``).
        Every choice is made from the same followed faces, so a person keeps one identity in every
        span (the renderer never borrows another person's mouth)."""
        runs, run_at = self.faces()
        log.info("speakers: %d face runs, %d people, %d shots", len(runs), len(run_at), len(self.shot_starts))
        chosen, warnings = self._chosen(runs, run_at, speaker, times_s, audio)
        for frames, own, where in spans:
            try:
                theirs, more = self._chosen(runs, run_at, own, times_s, audio)
            except InvalidOptions as exc:
                raise InvalidOptions(where + exc.message) from None
            chosen = np.where(frames, theirs, chosen)
            warnings += tuple(w for w in more if w not in warnings)
        return self._selection(runs, run_at, chosen, warnings)

    def _chosen(self, runs: list[FaceRun], run_at: np.ndarray, speaker: ActiveSpeaker | None,
                times_s: np.ndarray, audio: Audio | None) -> tuple[np.ndarray, tuple[str, ...]]:
        """The person (identity, -1 none) ``speaker`` edits in each frame, and warnings."""
        if speaker is None or speaker.kind is None:
            return self._most_prominent(runs, run_at), ()
        if speaker.kind == "point":
            return np.full(self.n, self._person_at(runs, run_at, speaker), np.int32), ()
        if audio is None:
            warning = ("the video has no sound of its own: in each shot the largest, most central face is "
                       "edited, not a detected speaker")
            return self._most_prominent(runs, run_at), (warning,)
        evidence = speaking_scores(runs, run_at, loudness(audio, times_s), _fps(times_s))
        evidence += PROMINENCE_WEIGHT * self._prominence(runs, run_at)
        chosen = np.full(self.n, -1, np.int32)
        for a, b in zip(self.shot_starts, [*self.shot_starts[1:], self.n], strict=True):
            chosen[a:b] = viterbi(evidence[:, a:b], run_at[:, a:b] >= 0)
        return chosen, ()

    def _person_at(self, runs: list[FaceRun], run_at: np.ndarray, speaker: ActiveSpeaker) -> int:
        frame = int(speaker.frame_number or 0)
        check_frame(frame, self.n)
        boxes = {int(p): _box_from_landmarks(_landmarks_at(runs, run_at, p, frame))
                 for p in np.nonzero(run_at[:, frame] >= 0)[0]}
        return face_under(boxes, speaker)

    def _prominence(self, runs: list[FaceRun], run_at: np.ndarray) -> np.ndarray:
        """float32[n_ids, n]: each visible face's size and centrality (0 where not seen)."""
        out = np.zeros(run_at.shape, np.float32)
        for person, frame in zip(*np.nonzero(run_at >= 0), strict=True):
            box = _box_from_landmarks(_landmarks_at(runs, run_at, person, frame))
            out[person, frame] = _prominence(Detection(box, 1.0), self.width, self.height) * 10.0
        return out

    def _most_prominent(self, runs: list[FaceRun], run_at: np.ndarray) -> np.ndarray:
        prominence = self._prominence(runs, run_at)
        chosen = np.full(self.n, -1, np.int32)
        for a, b in zip(self.shot_starts, [*self.shot_starts[1:], self.n], strict=True):
            if run_at[:, a:b].size and (run_at[:, a:b] >= 0).any():
                chosen[a:b] = int(np.argmax(prominence[:, a:b].sum(axis=1)))
        return chosen

    def _selection(self, runs: list[FaceRun], run_at: np.ndarray, chosen: np.ndarray,
                   warnings: tuple[str, ...]) -> Selection:
        landmarks: list[np.ndarray | None] = [None] * self.n
        identity = np.full(self.n, -1, np.int32)
        shown = np.full(self.n, -1, np.int32)  # the run edited in each frame
        for frame, person in enumerate(chosen):
            if person >= 0 and run_at[person, frame] >= 0:
                landmarks[frame] = _landmarks_at(runs, run_at, person, frame)
                identity[frame] = person
                shown[frame] = run_at[person, frame]
        # Smoothing restarts at shot starts and wherever the edited face changes (another person,
        # or the same person found again: a new mesh lock).
        changes = [i for i in range(1, self.n) if shown[i] != shown[i - 1]]
        return Selection(landmarks, identity, sorted({*self.shot_starts, *changes}), warnings)


def _landmarks_at(runs: list[FaceRun], run_at: np.ndarray, person: int, frame: int) -> np.ndarray:
    run = runs[run_at[person, frame]]
    return run.landmarks[frame - run.start]


class BoxedFace:
    """The face inside a client's box on each frame (``bounding_boxes``); no box: left as filmed."""

    def __init__(self, width: int, height: int, boxes: tuple[tuple[float, float, float, float] | None, ...]) -> None:
        self.width, self.height = width, height
        self._boxes = boxes
        self._runner = MeshRunner()
        self._cuts = CutDetector()
        self.shot_starts: list[int] = [0]
        self.landmarks: list[np.ndarray | None] = []
        self.missed = 0

    def update(self, index: int, rgb: np.ndarray) -> None:
        if self._cuts.is_cut(rgb) and index > 0:
            self.shot_starts.append(index)
        box = self._boxes[index] if index < len(self._boxes) else None
        lm = None
        if box is not None:
            b = np.asarray(box, np.float32)
            lm = self._runner.mesh(rgb, b)
            if lm is not None:  # the mesh must have found the face in the box, not a neighbour
                cx, cy = (lm[:, 0].min() + lm[:, 0].max()) / 2, (lm[:, 1].min() + lm[:, 1].max()) / 2
                lm = lm if b[0] <= cx <= b[2] and b[1] <= cy <= b[3] else None
            self.missed += lm is None
        self.landmarks.append(lm)

    def select(self) -> Selection:
        n = len(self.landmarks)
        check_boxes(len(self._boxes), n)
        warnings = (f"no face found in {self.missed} of the given boxes; those frames are unchanged",) if self.missed else ()
        identity = np.array([0 if lm is not None else -1 for lm in self.landmarks], np.int32)
        return Selection(self.landmarks, identity, list(self.shot_starts), warnings)

    def close(self) -> None:
        self._runner.close()


# ------------------------------------------------------------------------- checks on the video


def check_frame(frame: int, n_frames: int) -> None:
    """``frame_number`` must name a frame of the video."""
    if frame >= n_frames:
        raise InvalidOptions(f"active_speaker_detection.frame_number {frame} is past the video's last frame "
                             f"({n_frames - 1})")


def check_boxes(n_boxes: int, n_frames: int) -> None:
    """``bounding_boxes`` must hold one item per frame."""
    if n_boxes != n_frames:
        raise InvalidOptions(f"active_speaker_detection.bounding_boxes has {n_boxes} boxes; the video has "
                             f"{n_frames} frames (give one box or null per frame)")


def face_under(boxes: dict[int, np.ndarray], speaker: ActiveSpeaker) -> int:
    """The key of the face box (x0, y0, x1, y1; a :data:`POINT_MARGIN` around it counts) holding
    ``speaker.coordinates``, nearest centre first; :class:`InvalidOptions` naming the faces there
    when none does."""
    frame, (x, y) = int(speaker.frame_number or 0), speaker.coordinates or (0.0, 0.0)
    best, best_d = -1, np.inf
    for key, (x0, y0, x1, y1) in boxes.items():
        mx, my = POINT_MARGIN * (x1 - x0), POINT_MARGIN * (y1 - y0)
        d = float(np.hypot(x - (x0 + x1) / 2, y - (y0 + y1) / 2))
        if x0 - mx <= x <= x1 + mx and y0 - my <= y <= y1 + my and d < best_d:
            best, best_d = key, d
    if best < 0:
        there = "; ".join(f"[{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}]" for b in boxes.values())
        raise InvalidOptions(f"active_speaker_detection.coordinates ({x:.0f}, {y:.0f}) are on no face on frame "
                             f"{frame}; " + (f"faces there: {there}" if there else "no face was found there"))
    return best


def face_boxes(rgb: np.ndarray) -> dict[int, np.ndarray]:
    """Every face MediaPipe finds in one picture, as the box of its mesh (what a point is checked
    against, in the tracker and before a job starts alike)."""
    runner = MeshRunner()
    try:
        meshes = [runner.mesh(rgb, d.box) for d in runner.detect(rgb)]
    finally:
        runner.close()
    return {i: _box_from_landmarks(lm) for i, lm in enumerate(m for m in meshes if m is not None)}


# ------------------------------------------------------------------------------------ identities


def link_identities(runs: list[FaceRun]) -> int:
    """Give each run an identity (sets ``run.identity``); returns how many people there are.

    Groups of runs are joined closest first (average linkage: the mean distance between their
    runs' mean descriptors) while that is under :data:`~reperform.face.identity.SAME_PERSON` and
    the two groups never show a face in the same frame (one person is never seen twice at once).
    Average, not distance between group means: averaging descriptors shrinks distances, and on the
    Hamilton clip it joined an audience member (0.61 from each performer run) to the performer.
    """
    means = [np.mean(r.descriptors, axis=0) if r.descriptors else None for r in runs]
    n = len(runs)
    d = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(i + 1, n):
            if means[i] is not None and means[j] is not None:
                d[i, j] = d[j, i] = distance(means[i], means[j])
    groups: list[list[int]] = [[i] for i in range(n)]

    def overlap(a: list[int], b: list[int]) -> bool:
        return any(runs[x].start < runs[y].stop and runs[y].start < runs[x].stop for x in a for y in b)

    while True:
        best: tuple[float, int, int] | None = None
        for gi in range(len(groups)):
            for gj in range(gi + 1, len(groups)):
                link = float(d[np.ix_(groups[gi], groups[gj])].mean())
                if link < SAME_PERSON and (best is None or link < best[0]) and not overlap(groups[gi], groups[gj]):
                    best = (link, gi, gj)
        if best is None:
            break
        _, gi, gj = best
        groups[gi].extend(groups.pop(gj))
    groups.sort(key=lambda g: min(runs[i].start for i in g))
    for person, g in enumerate(groups):
        for i in g:
            runs[i].identity = person
    return len(groups)


# -------------------------------------------------------------------------------- active speaker


def _fps(times_s: np.ndarray) -> float:
    return 1.0 / float(np.median(np.diff(times_s))) if len(times_s) > 1 else 25.0


def loudness(audio: Audio, times_s: np.ndarray, window_s: float = 0.1) -> np.ndarray:
    """float64[n]: RMS level of the sound in a ``window_s`` window centred on each frame time (on
    the audio's clock), smoothed over :data:`SMOOTH_FRAMES` frames. Linear, not log: pauses then
    weigh little against speech, and speech against them is what the mouth follows."""
    x = audio.samples.astype(np.float64)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    half = max(1, int(window_s * audio.rate / 2))
    centre = np.round(np.asarray(times_s) * audio.rate).astype(np.int64)
    lo = np.clip(centre - half, 0, len(x))
    hi = np.clip(centre + half, 0, len(x))
    return _smooth(np.sqrt((c[hi] - c[lo]) / np.maximum(hi - lo, 1)))


def _smooth(x: np.ndarray) -> np.ndarray:
    """Moving mean over :data:`SMOOTH_FRAMES` frames (ends repeat the edge value); keeps the length."""
    half = SMOOTH_FRAMES // 2
    return np.convolve(np.pad(x, half, mode="edge"), np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="valid")


def mouth_signals(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two views of one face's speech, float64[n] each: how open the mouth is, and how much it
    moves (frame-to-frame change of opening plus width, smoothed). Some speakers' opening follows
    their loudness, others' hardly (a mouth kept ajar, a low-resolution 3/4 view) while its motion
    does; see :func:`speaking_scores`."""
    m = mouth_params(landmarks).astype(np.float64)
    motion = np.abs(np.diff(m[:, 0], prepend=m[0, 0])) + np.abs(np.diff(m[:, 1], prepend=m[0, 1]))
    return m[:, 0], _smooth(motion)


def windowed_corr(x: np.ndarray, y: np.ndarray, half: int) -> np.ndarray:
    """Pearson correlation of ``x`` and ``y`` in a window of ±``half`` samples around each sample
    (0 where either is flat)."""
    n = len(x)
    cs = [np.concatenate([[0.0], np.cumsum(v)]) for v in (x, y, x * x, y * y, x * y)]
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    m = (hi - lo).astype(np.float64)
    sx, sy, sxx, syy, sxy = ((c[hi] - c[lo]) for c in cs)
    vx, vy = sxx - sx * sx / m, syy - sy * sy / m
    cov = sxy - sx * sy / m
    ok = (vx > 1e-9 * m) & (vy > 1e-9 * m)
    return np.where(ok, cov / np.sqrt(np.maximum(vx * vy, 1e-30)), 0.0)


def speaking_scores(runs: list[FaceRun], run_at: np.ndarray, level: np.ndarray, fps: float) -> np.ndarray:
    """float64[n_ids, n]: how well each visible person's mouth follows the sound's level around
    each frame; :data:`ABSENT_SCORE` where the person is not seen.

    The better of two correlations (mouth opening, mouth motion) at the best of :data:`LAGS`.
    Measured on the five talking dev clips, each against its own sound and the four others' (5 s,
    benchmarks/speakers.py has the composites): opening alone ranks the own sound first in 13 of
    20 pairs, motion alone 16, the better of the two 18.
    """
    out = np.full(run_at.shape, ABSENT_SCORE)
    half = max(2, int(round(WINDOW_S * fps / 2)))
    for run in runs:
        signals = mouth_signals(np.stack(run.landmarks))
        best = np.full(len(run.landmarks), -1.0)
        for lag in LAGS:
            heard = level[np.clip(np.arange(run.start, run.stop) + lag, 0, len(level) - 1)]
            for signal in signals:
                best = np.maximum(best, windowed_corr(signal, heard, half))
        out[run.identity, run.start: run.stop] = best
    return out


def viterbi(evidence: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """int32[n]: the person to edit in each frame of one shot, maximising summed ``evidence``
    (float[n_ids, n]) minus :data:`SWITCH_COST` per change. Only people seen in the shot are
    candidates; -1 throughout when nobody is."""
    n_ids, n = evidence.shape
    cand = np.nonzero(seen.any(axis=1))[0]
    if n == 0 or len(cand) == 0:
        return np.full(n, -1, np.int32)
    e = evidence[cand]
    score = e[:, 0].copy()
    back = np.zeros((len(cand), n), np.int32)
    for t in range(1, n):
        stay = score
        move = score.max() - SWITCH_COST
        arg = int(np.argmax(score))
        back[:, t] = np.where(stay >= move, np.arange(len(cand)), arg)
        score = np.maximum(stay, move) + e[:, t]
    path = np.zeros(n, np.int32)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[path[t], t]
    return cand[path].astype(np.int32)
