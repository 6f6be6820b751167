"""Which part of a rendered expression moves identity? (issue 15)

Face mode draws a prompt with several components: the smooth shape warp (brows, lids, cheeks,
lip corners), the brow block lift, wide eyes, the smile's/sneer's upper teeth, the person's own
retrieved smile shading, synthesised wrinkles, and the mouth-target offsets (smile width and
parting, jaw drop) plus the prompt's articulation gain. This bench renders each prompt with one
component switched off at a time and reports, beside the full render, the dlib identity distance
to the input and the classifier's reading — so the cost (identity) and benefit (readability) of
each component are measured on the same frames.

It also checks the identity measure: dlib aligns each face by 5 points it finds itself (eye
corners, nose base), so an output whose eyes or nose moved is also *aligned* differently. The
``id_fixed`` column embeds the output with the input's 5-point shape (same alignment for both),
which separates appearance change from alignment change.

Run: ``.venv/bin/python -m benchmarks.emotion_ablate [clips...] --frames 8 [--prompts ...]``.
Components are switched off by patching module attributes for the duration of one render (a
benchmark-only device: the engine has no switches for them).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator

import numpy as np

from benchmarks import emotion_bench as eb
from benchmarks.expression_classifier import CLASSES, PROMPT_CLASS
from reperform.options import Emotion, GenerateOptions, ModelMode

log = logging.getLogger(__name__)


@contextlib.contextmanager
def without(components: str) -> Iterator[None]:
    """Switch rendering components off (``a+b``: both; ``none``: the full render)."""
    saved: list[tuple[object, str, object]] = []

    def patch(obj: object, name: str, value: object) -> None:
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    for component in components.split("+"):
        _switch_off(component, patch)
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


def _switch_off(component: str, patch) -> None:
    from reperform.motion import plan as plan_mod
    from reperform.rendering import brows, eyes, smile, wrinkles
    from reperform.rendering import expression as ex

    if component == "warp":
        patch(ex.ExpressionWarp, "_apply_field", lambda self, frame, n, m, d, box, inplace: (frame, box))
    elif component == "brows":
        patch(brows, "lift", lambda frame, face, rise, m, side, box, inplace: (frame, box))
    elif component == "eyes":
        patch(eyes, "widen", lambda frame, face, m, level, side, box, inplace: (frame, box))
    elif component == "teeth":
        patch(smile, "upper_teeth", lambda frame, *a, **k: (frame, None))
    elif component == "own_smile":
        patch(smile.SmileBank, "shade", lambda self, frame, *a, **k: (frame, None))
    elif component == "wrinkles":
        patch(wrinkles, "shade", lambda frame, *a, **k: (frame, None))
    elif component == "mouth_offsets":
        patch(ex, "mouth_target_offsets", lambda au: np.zeros((len(au), 4), np.float32))
    elif component == "articulation":
        patch(plan_mod, "articulate", lambda mouth, *a, **k: mouth)
    elif component in _PARTS:
        _PARTS[component](ex, patch)
    elif component != "none":
        raise ValueError(component)


def _offset(au: str, column: int):
    """Switch one column of one AU's mouth-target offset off (0 open, 1 width, 2 protrusion, 3 jaw)."""
    def off(ex, patch) -> None:
        row = list(ex.MOUTH_OFFSETS[au])
        row[column] = 0.0
        patch(ex, "MOUTH_OFFSETS", {**ex.MOUTH_OFFSETS, au: tuple(row)})
    return off


def _move(au: str, *parts: str):
    """Switch named parts of one AU's warp move off (:data:`reperform.rendering.expression.AU_MOVES`)."""
    def off(ex, patch) -> None:
        patch(ex, "AU_MOVES", {**ex.AU_MOVES, au: {k: (0.0 if k in parts else v) for k, v in ex.AU_MOVES[au].items()}})
    return off


def _constants(**values: object):
    def off(ex, patch) -> None:
        for name, value in values.items():
            patch(ex, name, value)
    return off


#: Finer parts of the geometric change (which displacement moves the face's shape): the smile's
#: mouth width, parting, corner lift, cheek lift, lower-lid push, nasolabial fold and brow un-knit;
#: the surprise's jaw drop (chin), its parting, its narrowing and its brow un-knit.
_PARTS = {
    "smile_width": _offset("AU12", 1),
    "smile_open": _constants(SMILE_OPEN_IOD=0.0),
    "corner_lift": lambda ex, patch: (_move("AU12", "corner_lift")(ex, patch),
                                      _constants(SMILE_CORNER_LIFT=0.0, SMILE_MAX_LIFT=0.0)(ex, patch)),
    "cheek_lift": _move("AU6", "cheek_lift", "outward"),
    "lower_lid": _move("AU6", "lower_lid_lift"),
    "fold": _move("AU12", "fold_lift", "fold_outward"),
    "unknit": _constants(SMILE_UNKNIT=0.0, SURPRISE_UNKNIT=0.0),
    "relax": lambda ex, patch: patch(ex, "RELAX_SHARE", {k: v for k, v in ex.RELAX_SHARE.items()
                                                          if k.value == "neutral"}),
    "jaw": _offset("AU26", 3),
    "jaw_open": _constants(JAW_OPEN_IOD=0.0),
    "jaw_narrow": _offset("AU26", 1),
}


COMPONENTS = ("none", "warp", "brows", "eyes", "teeth", "own_smile", "wrinkles", "mouth_offsets", "articulation",
              *_PARTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", default=list(eb.DONE_CLIPS))
    parser.add_argument("--prompts", nargs="*", default=list(eb.PROMPTS))
    parser.add_argument("--components", nargs="*", default=list(COMPONENTS))
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--exec", nargs="*", default=[], dest="statements", metavar="PYTHON",
                        help="statements run before rendering, to try other engine constants "
                             "(e.g. 'from reperform.rendering import expression as e; e.MAX_SHIFT_IOD = 0.1')")
    args = parser.parse_args()
    for statement in args.statements:
        exec(statement, {})  # noqa: S102 - the bench's own command line, for trying constants
    logging.basicConfig(level=logging.WARNING)
    bench = eb.Bench()
    emb = bench.embedder
    print("| clip | prompt | off | p prompt (in) | top | id d | id d, input's alignment |")  # noqa: T201
    print("|---|---|---|---|---|---|---|")  # noqa: T201
    for stem in args.clips:
        a = eb.analyse(eb.SHARED / "videos" / f"{stem}.mp4",
                       eb.SHARED / eb.DRIVES[stem] if stem in eb.DRIVES else None)
        ks = eb.sample_ks(a, args.frames)
        source = eb.media.FrameSource(a.vinfo, a.frame_times)
        try:
            inputs = [source.get(int(a.timemap.src_frame[k])).copy() for k in ks]
        finally:
            source.close()
        lm_in = eb.measure(inputs)
        p_in = np.nanmean(bench.read(a, inputs, ks), 0)
        shapes_in, e_in = [], []
        for f, lm in zip(inputs, lm_in, strict=True):
            x0, x1 = float(np.min(lm[:, 0])), float(np.max(lm[:, 0]))
            rect = emb._dlib.rectangle(int(x0), int(lm[105, 1]), int(x1), int(lm[152, 1]))
            shp = emb._shape(np.ascontiguousarray(f), rect)
            shapes_in.append(shp)
            e_in.append(np.asarray(emb._net.compute_face_descriptor(np.ascontiguousarray(f), shp)))

        def ident(frames: list[np.ndarray], lm_in=lm_in, shapes_in=shapes_in, e_in=e_in) -> tuple[float, float]:
            d, dfix = [], []
            for f, lm, shp, e0 in zip(frames, lm_in, shapes_in, e_in, strict=True):
                e1 = emb.embed(f, lm)
                e2 = np.asarray(emb._net.compute_face_descriptor(np.ascontiguousarray(f), shp))
                d.append(float(np.linalg.norm(e1 - e0)))
                dfix.append(float(np.linalg.norm(e2 - e0)))
            return float(np.mean(d)), float(np.mean(dfix))

        runs = [("lips", "none", GenerateOptions(mode=ModelMode.lips))]
        for e in args.prompts:
            for c in args.components:
                emotion = None if e == "source" else Emotion(e)  # source: face mode, no prompt
                runs.append((e, c, GenerateOptions(mode=ModelMode.face, emotion=emotion,
                                                   temperature=args.temperature)))
        for name, comp, opts in runs:
            with without(comp):
                frames, _ = eb.render_frames(a, opts, ks)
            p = np.nanmean(bench.read(a, frames, ks), 0)
            d, dfix = ident(frames)
            tgt = PROMPT_CLASS.get(name)
            pc = f"{p[CLASSES.index(tgt)]:.2f} ({p_in[CLASSES.index(tgt)]:.2f})" if tgt else "—"
            print(f"| {stem} | {name} | {comp} | {pc} | {CLASSES[int(np.argmax(p))]} | {d:.3f} | {dfix:.3f} |",  # noqa: T201
                  flush=True)


if __name__ == "__main__":
    main()
