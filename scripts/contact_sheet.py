"""Before/after contact sheet of full frames and mouth crops, for looking at what the renderer makes.

    .venv/bin/python scripts/contact_sheet.py SOURCE OUTPUT sheet.png [--frames 10,40,70] [--map loop]

Output frame k is compared with source frame src(k) (identity, or modulo the source length for
loop-mode outputs). Mouth crops are located with the engine's own face tracker on the output.
"""

from __future__ import annotations

import argparse
import itertools

import cv2
import numpy as np

from reperform.face import FaceTracker
from reperform.media import iter_frames, probe


def _frames(path, wanted):
    info = probe(path)
    out = {}
    for i, _t, img in itertools.islice(iter_frames(info), max(wanted) + 1):
        if i in wanted:
            out[i] = img
    return out


def _mouth_box(img):
    tr = FaceTracker(img.shape[1], img.shape[0])
    lm = tr.update(0, img)
    tr.finish()
    if lm is None:
        return None
    mouth = lm[[61, 291, 0, 17, 152]]
    x0, y0 = mouth[:, 0].min(), mouth[:, 1].min()
    x1, y1 = mouth[:, 0].max(), mouth[:, 1].max()
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 0.75
    return int(cx - s), int(cy - s), int(cx + s), int(cy + s)


def _crop(img, box, size):
    x0, y0, x1, y1 = box
    pad = max(0, -x0, -y0, x1 - img.shape[1], y1 - img.shape[0])
    p = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
    return cv2.resize(p[y0 + pad : y1 + pad, x0 + pad : x1 + pad], (size, size), interpolation=cv2.INTER_CUBIC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("output")
    ap.add_argument("sheet")
    ap.add_argument("--frames", default="10,30,50,70,90,110")
    ap.add_argument("--map", default="identity", choices=["identity", "loop", "bounce"])
    ap.add_argument("--thumb", type=int, default=256)
    a = ap.parse_args()
    ks = [int(k) for k in a.frames.split(",")]
    n_src = probe(a.source).n_frames or 1
    cycle = list(range(n_src)) + list(range(n_src - 2, 0, -1))  # bounce: forward, then back
    src_idx = {k: (k % n_src if a.map == "loop" else cycle[k % len(cycle)] if a.map == "bounce" else k) for k in ks}
    src = _frames(a.source, set(src_idx.values()))
    out = _frames(a.output, set(ks))
    rows = []
    for k in ks:
        s, o = src[src_idx[k]], out[k]
        box = _mouth_box(o) or _mouth_box(s)
        h = a.thumb
        full_s = cv2.resize(s, (int(s.shape[1] * h / s.shape[0]), h))
        full_o = cv2.resize(o, (int(o.shape[1] * h / o.shape[0]), h))
        crops = [_crop(s, box, h), _crop(o, box, h)] if box else []
        row = np.concatenate([full_s, full_o, *crops], axis=1)
        cv2.putText(row, f"k={k}", (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(a.sheet, cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    print(a.sheet)


if __name__ == "__main__":
    main()
