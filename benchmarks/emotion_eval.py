"""Emotion benchmark: does each prompt move the face's geometric signature the right way?

For each clip the engine analyses once (``reperform.analyze`` of the clip driven by its own
audio — a self re-performance, so the lips say what they said), then face mode is planned and
rendered from that analysis for every emotion and temperature (``reperform.plan`` /
``reperform.render``: the issue-16 use case of a second emotion on the same upload). MediaPipe (the face stage's tracker) measures the *output*
frames and the *input* frames they came from; the table reports, per prompt, the change of the
signature the prompt should produce, in inter-ocular units (IOD) in the face's own eye frame:

- happy: lip corners up (``corner_lift``), cheeks up (``cheek_raise``);
- sad: inner brows up (``inner_brow``), corners down (``corner_lift``);
- angry: brows down (``brow_height``), brows together (``brow_gap``);
- surprised: brows up (``brow_height``), eyes wider (``eye_open``), jaw lower (``jaw``);
- disgusted: upper lip raised — nose-to-lip distance shorter (``nose_lip``);
- neutral: upper face closer to the person's median face (``neutral_dev``).

Also reported: mean absolute head-pose change (must stay ≤ 0.5° in face mode) and render time
per output frame against lips mode: the render seam's own time (``timings_s["render"]``: decode,
render and H.264 encode). Every ``stride``-th output frame is measured, read back from the MP4.

Run: ``.venv/bin/python -m benchmarks.emotion_eval [clip stems...]`` (prints a Markdown table);
:func:`emotion_table` returns the rows for the benchmark report.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import reperform
from reperform import face, media
from reperform import landmarks as L
from reperform.face.pose import head_pose
from reperform.options import Emotion, GenerateOptions, ModelMode

from .measure import iter_rgb

log = logging.getLogger(__name__)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = ("videoretalking_2", "videoretalking_4", "pcavs_00373")
TEMPERATURES = (0.2, 0.5, 0.9)
#: Signatures each prompt must move, with the expected sign of the change.
EXPECTED: dict[Emotion, tuple[tuple[str, int], ...]] = {
    Emotion.happy: (("corner_lift", +1), ("cheek_raise", +1)),
    Emotion.sad: (("inner_brow", +1), ("corner_lift", -1)),
    Emotion.angry: (("brow_height", -1), ("brow_gap", -1)),
    Emotion.surprised: (("brow_height", +1), ("eye_open", +1), ("jaw", +1)),
    Emotion.disgusted: (("nose_lip", -1),),
    Emotion.neutral: (("neutral_dev", -1),),
}
SIGNATURES = ("corner_lift", "cheek_raise", "inner_brow", "brow_height", "brow_gap", "eye_open", "jaw",
              "nose_lip", "neutral_dev")
_BROW_INNER = (107, 66, 55, 65, 336, 296, 285, 295)
_BROWS = _BROW_INNER + (70, 63, 105, 46, 53, 52, 300, 293, 334, 276, 283, 282)
_CHEEKS = (118, 347, 117, 346, 50, 280)
_LIDS = ((159, 145), (386, 374), (160, 144), (385, 380))
#: Upper-face signatures whose deviation from the person's median measures "not neutral".
_NEUTRAL_SIGS = ("brow_height", "inner_brow", "brow_gap", "cheek_raise")


@dataclass(frozen=True, slots=True)
class EmotionRow:
    clip: str
    emotion: str
    temperature: float
    changes: dict[str, float]  # signature → mean output − input (IOD units)
    ok: bool  # every expected signature moved the expected way
    pose_change_deg: float  # largest per-axis |mean Δ pose| (°) output vs input, :func:`pose_2d`
    pose_change_stable_deg: float  # the same with the face stage's 3-D pose (brows included)
    ms_per_frame: float  # render time (face mode)
    lips_ms_per_frame: float  # render time of the same frames in lips mode
    changes_vs_lips: dict[str, float]  # signature → mean output − lips-mode output (the expression alone)
    ok_vs_lips: bool
    pose_change_vs_lips_deg: float  # rigid 2-D pose Δ against lips mode's output
    pose_change_flow_deg: float  # rigid 2-D pose Δ from optical flow against lips mode's output


WORK_DIR = Path(__file__).resolve().parent / ".work" / "emotion_eval"


@dataclass(frozen=True, slots=True)
class ClipRun:
    """One clip's analysis (made once, planned for every prompt) and where its outputs go."""

    stem: str
    analysis: reperform.Analysis


def analyse(stem: str) -> ClipRun:
    """``reperform.analyze`` of ``videos/<stem>.mp4`` driven by its own audio."""
    video = SHARED / "videos" / f"{stem}.mp4"
    return ClipRun(stem, reperform.analyze(video, video))


def render_frames(a: ClipRun, options: GenerateOptions, ks: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Output frames ``ks`` of ``a`` under ``options`` and the render seam's time per output frame (s)."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"{a.stem}.{options.mode.value}.{options.emotion}.{options.temperature}.mp4"
    result = reperform.render(a.analysis, reperform.plan(a.analysis, options), out)
    wanted = set(int(k) for k in ks)
    frames = [f for k, f in enumerate(iter_rgb(out)) if k in wanted]
    return frames, result.timings_s["render"] / max(result.n_frames, 1)


def source_frames(a: ClipRun, ks: np.ndarray) -> list[np.ndarray]:
    timemap = reperform.plan(a.analysis).timemap  # cut_off: output frame k shows source frame k
    source = media.FrameSource(a.analysis.info, a.analysis.frame_times_s)
    try:
        return [source.get(int(timemap.src_frame[k])).copy() for k in ks]
    finally:
        source.close()


def track_frames(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks float32[n, 478, 3], present bool[n]) as the face stage's tracker sees ``frames``."""
    h, w = frames[0].shape[:2]
    tracker = face.FaceTracker(w, h)
    for i, f in enumerate(frames):
        tracker.update(i, f)
    t = tracker.finish()
    return t.landmarks, t.present


def signatures(lms: np.ndarray, reference: dict[str, float]) -> dict[str, np.ndarray]:
    """Per-frame signature values of ``lms[n, 478, ≥2]`` in each frame's eye frame (IOD units).

    ``reference`` holds the person's median (input) value of each upper-face signature:
    ``neutral_dev`` is the mean absolute deviation of brows and cheeks from it (lids left out:
    blinks are not expression).
    """
    n = _normalise(lms)
    y = n[..., 1]
    mid_lips = (y[:, 13] + y[:, 14]) / 2
    inner = list(_BROW_INNER)
    out = {
        "corner_lift": mid_lips - y[:, list(L.MOUTH_CORNERS)].mean(1),
        "cheek_raise": -y[:, list(_CHEEKS)].mean(1),
        "inner_brow": -y[:, inner].mean(1),
        "brow_height": -y[:, list(_BROWS)].mean(1),
        "brow_gap": np.abs(n[:, 285, 0] - n[:, 55, 0]),
        "eye_open": np.mean([np.linalg.norm(n[:, a] - n[:, b], axis=-1) for a, b in _LIDS], axis=0),
        "jaw": np.linalg.norm(n[:, L.NOSE_TIP] - n[:, L.CHIN], axis=-1),
        "nose_lip": np.linalg.norm(n[:, L.SUBNASALE] - n[:, L.UPPER_LIP_TOP], axis=-1),
    }
    out["neutral_dev"] = np.mean([np.abs(out[name] - reference[name]) for name in _NEUTRAL_SIGS], axis=0)
    return out


def _normalise(lms: np.ndarray) -> np.ndarray:
    """Landmarks in each frame's eye frame: origin between the eye centres, x along the eyes, unit IOD."""
    xy = lms[..., :2].astype(np.float64)
    r = xy[:, list(L.RIGHT_EYE)].mean(1)
    left = xy[:, list(L.LEFT_EYE)].mean(1)
    d = left - r
    iod = np.linalg.norm(d, axis=-1)
    c, s = d[:, 0] / iod, d[:, 1] / iod
    p = xy - ((r + left) / 2)[:, None]
    x = (p[..., 0] * c[:, None] + p[..., 1] * s[:, None]) / iod[:, None]
    yy = (-p[..., 0] * s[:, None] + p[..., 1] * c[:, None]) / iod[:, None]
    return np.stack([x, yy], -1)


#: Depth of the nose tip in front of the eye corners (inter-ocular units, adult average): turns
#: the nose tip's 2-D offset into an angle.
NOSE_DEPTH_IOD = 0.6


def pose_2d(lms: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) degrees per frame from points no expression moves: eye corners and nose tip.

    The face stage's 3-D pose fits the brows too, and MediaPipe's depth estimate of the whole mesh
    shifts with the expression, so both read a brow raise as a small nod. Here roll is the angle
    of the eye line and yaw/pitch come from the nose tip's offset from the eye midpoint — rigid
    points the expression warp never moves — so the number isolates real head motion.
    """
    xy = lms[..., :2].astype(np.float64)
    r = xy[:, list(L.RIGHT_EYE)].mean(1)
    left = xy[:, list(L.LEFT_EYE)].mean(1)
    roll = np.degrees(np.arctan2(left[:, 1] - r[:, 1], left[:, 0] - r[:, 0]))
    nose = _normalise(lms)[:, L.NOSE_TIP]
    yaw = np.degrees(np.arcsin(np.clip(nose[:, 0] / NOSE_DEPTH_IOD, -1, 1)))
    pitch = np.degrees(np.arcsin(np.clip(nose[:, 1] / (2 * NOSE_DEPTH_IOD), -1, 1)))
    return np.stack([yaw, pitch, roll], 1)


def flow_pose_change(before: list[np.ndarray], after: list[np.ndarray], lms: np.ndarray) -> float:
    """Largest per-axis |mean Δ| (°) of :func:`pose_2d` when the rigid points of ``lms`` move with the
    optical flow from ``before`` to ``after`` frames.

    MediaPipe refits its whole mesh to a new expression (a smile shifts its nose-tip estimate by
    ~0.02 IOD although those pixels do not move), so landmark-based pose over-reports head motion.
    Dense optical flow (DIS) at the eye corners and nose tip measures what the pixels did.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    rigid = list(L.RIGHT_EYE + L.LEFT_EYE) + [L.NOSE_TIP]
    moved = []
    for f0, f1, lm in zip(before, after, lms, strict=True):
        flow = dis.calc(cv2.cvtColor(f0, cv2.COLOR_RGB2GRAY), cv2.cvtColor(f1, cv2.COLOR_RGB2GRAY), None)
        h, w = flow.shape[:2]
        lm2 = lm.astype(np.float64).copy()
        for i in rigid:
            x, y = np.clip(np.round(lm[i, :2]).astype(int), 2, [w - 3, h - 3])
            lm2[i, :2] += flow[y - 2:y + 3, x - 2:x + 3].reshape(-1, 2).mean(0)
        moved.append(lm2)
    d = pose_2d(np.array(moved)) - pose_2d(np.asarray(lms))
    return float(np.abs(d.mean(0)).max())


def _compare(sig_a, sig_b, lm_a, lm_b, mask, emotion):
    """(signature changes b − a, all expected signs right, rigid 2-D pose Δ, face-stage 3-D pose Δ)."""
    changes = {name: float(np.mean(sig_b[name][mask] - sig_a[name][mask])) for name in SIGNATURES}
    ok = all(np.sign(changes[name]) == sign for name, sign in EXPECTED[emotion])
    if not mask.any():
        return changes, ok, float("nan"), float("nan")
    ref = np.median(lm_a[mask], axis=0)
    dpose = float(np.abs((pose_2d(lm_b[mask]) - pose_2d(lm_a[mask])).mean(0)).max())
    dstable = float(np.abs((head_pose(lm_b[mask], ref) - head_pose(lm_a[mask], ref)).mean(0)).max())
    return changes, ok, dpose, dstable


def evaluate_clip(a: ClipRun, emotions=tuple(Emotion), temperatures=TEMPERATURES,
                  stride: int = 2) -> list[EmotionRow]:
    """Rows for one analysed clip (every prompt × temperature).

    Each row compares face mode's output with the input (the issue's criterion) and with lips
    mode's output of the same frames (the expression's own effect: the re-performed mouth alone
    already shifts mouth-area signatures on some clips).
    """
    src_frame = reperform.plan(a.analysis).timemap.src_frame
    ks = np.arange(0, len(src_frame), stride)
    src = source_frames(a, ks)
    lm_in, ok_in = track_frames(src)
    zero = {name: 0.0 for name in _NEUTRAL_SIGS}
    reference = {name: float(np.median(v[ok_in])) for name, v in signatures(lm_in, zero).items()}
    sig_in = signatures(lm_in, reference)
    lips_frames, lips_s = render_frames(a, GenerateOptions(mode=ModelMode.lips), ks)
    lm_lips, ok_lips = track_frames(lips_frames)
    sig_lips = signatures(lm_lips, reference)
    rows = []
    for emotion in emotions:
        for temp in temperatures:
            opts = GenerateOptions(mode=ModelMode.face, emotion=emotion, temperature=temp)
            frames, spent = render_frames(a, opts, ks)
            lm_out, ok_out = track_frames(frames)
            sig_out = signatures(lm_out, reference)
            changes, ok, dpose, dstable = _compare(sig_in, sig_out, lm_in, lm_out, ok_in & ok_out, emotion)
            vs_lips, ok_lips_row, dpose_lips, _ = _compare(sig_lips, sig_out, lm_lips, lm_out, ok_lips & ok_out,
                                                          emotion)
            track = a.analysis.track
            present = track.present[src_frame[ks]]
            dflow = flow_pose_change([f for f, p in zip(lips_frames, present, strict=True) if p],
                                     [f for f, p in zip(frames, present, strict=True) if p],
                                     track.landmarks[src_frame[ks][present]])
            rows.append(EmotionRow(a.stem, emotion.value, temp, changes, ok, dpose, dstable, spent * 1000,
                                   lips_s * 1000, vs_lips, ok_lips_row, dpose_lips, dflow))
            log.info("%s %s %.1f ok=%s/%s %s", a.stem, emotion.value, temp, ok, ok_lips_row,
                     {n: round(changes[n], 4) for n, _ in EXPECTED[emotion]})
    return rows


def emotion_table(clips=CLIPS, temperatures=TEMPERATURES, stride: int = 2) -> list[EmotionRow]:
    """Every clip × prompt × temperature (the benchmark runner's entry point)."""
    rows: list[EmotionRow] = []
    for stem in clips:
        rows.extend(evaluate_clip(analyse(stem), temperatures=temperatures, stride=stride))
    return rows


def markdown(rows: list[EmotionRow]) -> str:
    """Rows as a Markdown table: the expected signatures' changes in milli-IOD (IOD / 1000)."""
    lines = ["| clip | emotion | T | expected signatures, Δ vs input (milli-IOD) | right way | "
             "Δ vs lips-mode output | right way | pose Δ ° (2-D rigid / face-stage 3-D / 2-D vs lips / flow vs lips) | "
             "ms/frame face (lips) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        names = [n for n, _ in EXPECTED[Emotion(r.emotion)]]
        sig = ", ".join(f"{n} {r.changes[n] * 1000:+.1f}" for n in names)
        sig_l = ", ".join(f"{r.changes_vs_lips[n] * 1000:+.1f}" for n in names)
        lines.append(f"| {r.clip} | {r.emotion} | {r.temperature:.1f} | {sig} | {'yes' if r.ok else 'NO'} | "
                     f"{sig_l} | {'yes' if r.ok_vs_lips else 'NO'} | {r.pose_change_deg:.2f} / "
                     f"{r.pose_change_stable_deg:.2f} / {r.pose_change_vs_lips_deg:.2f} / {r.pose_change_flow_deg:.2f} | "
                     f"{r.ms_per_frame:.0f} ({r.lips_ms_per_frame:.0f}) |")
    n_ok = sum(r.ok for r in rows)
    n_ok_l = sum(r.ok_vs_lips for r in rows)
    lines.append("")
    lines.append(f"{n_ok}/{len(rows)} clip × prompt × temperature cases move every expected signature the right "
                 f"way relative to the input; {n_ok_l}/{len(rows)} relative to lips mode's output.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--stride", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    print(markdown(emotion_table(args.clips, stride=args.stride)))  # noqa: T201


if __name__ == "__main__":
    main()
