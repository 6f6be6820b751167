"""Run the CLI (`reperform ARGS...`) and print what it handed the MP4 encoder, hashed.

    .venv/bin/python scripts/output_hashes.py generate VIDEO AUDIO -o OUT.mp4 --mode lips --quiet

prints ``frames+audio sha256 <hex>`` (every RGB frame in output order, the output audio samples
and the frame count) and ``mp4 sha256 <hex>`` of the file. Why both: for behaviour-neutral
changes the MP4's own hash is the evidence; the hash of the encoder's input says what the engine
produced, byte for byte, and tells a change in the frames from a change in the encoding.
(x264's AVX-512 kernels once made pcavs_00373's bitstream vary between runs from identical
frames; the writer no longer lets x264 use them, see ``media.encode.x264_params``.)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from reperform import cli
from reperform.media import encode


def _instrument(digest: hashlib._Hash) -> None:  # type: ignore[name-defined]
    write, write_audio = encode.Mp4Writer.write, encode.Mp4Writer._write_audio

    def hashed_write(self: encode.Mp4Writer, rgb: np.ndarray) -> None:
        digest.update(np.ascontiguousarray(rgb).tobytes())
        write(self, rgb)

    def hashed_audio(self: encode.Mp4Writer) -> None:
        if self._audio is not None:
            digest.update(np.ascontiguousarray(self._audio).tobytes())
        digest.update(str(self._written).encode())
        write_audio(self)

    encode.Mp4Writer.write, encode.Mp4Writer._write_audio = hashed_write, hashed_audio


def main(argv: list[str]) -> int:
    digest = hashlib.sha256()
    _instrument(digest)
    sys.argv = ["reperform", *argv]
    try:
        cli.main()
    except SystemExit as exc:
        if exc.code:
            return int(exc.code)
    out = Path(argv[argv.index("-o") + 1])
    print(f"frames+audio sha256 {digest.hexdigest()}")
    print(f"mp4 sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
