"""Run the CLI (`reperform ARGS...`) and print what it handed the MP4 encoder, hashed.

    .venv/bin/python scripts/output_hashes.py generate VIDEO AUDIO -o OUT.mp4 --mode lips --quiet

prints ``frames+audio sha256 <hex>`` (every RGB frame in output order, the output audio samples
and the frame count) and ``mp4 sha256 <hex>`` of the file. Why both: for behaviour-neutral
changes the MP4's own hash is the evidence, but x264's AVX-512 code makes the bitstream of some
inputs (pcavs_00373, 224x224) differ between runs of the very same code from identical frames;
the hash of the encoder's input shows what the engine produced, byte for byte.
``X264_ASM=avx2`` in the environment caps x264's instruction sets for the run (its ``asm``
parameter), which makes those bitstreams stable too.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from reperform import cli
from reperform.media import encode


def _instrument(digest: hashlib._Hash) -> None:  # type: ignore[name-defined]
    write, write_audio, init = encode.Mp4Writer.write, encode.Mp4Writer._write_audio, encode.Mp4Writer.__init__

    def hashed_write(self: encode.Mp4Writer, rgb: np.ndarray) -> None:
        digest.update(np.ascontiguousarray(rgb).tobytes())
        write(self, rgb)

    def hashed_audio(self: encode.Mp4Writer) -> None:
        if self._audio is not None:
            digest.update(np.ascontiguousarray(self._audio).tobytes())
        digest.update(str(self._written).encode())
        write_audio(self)

    def capped_init(self: encode.Mp4Writer, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)
        self._v.options = {**self._v.options, "x264-params": f"asm={os.environ['X264_ASM']}"}

    encode.Mp4Writer.write, encode.Mp4Writer._write_audio = hashed_write, hashed_audio
    if os.environ.get("X264_ASM"):
        encode.Mp4Writer.__init__ = capped_init


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
