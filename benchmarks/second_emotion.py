"""A second emotion on an uploaded asset costs plan + render only (issue 16).

Starts ``reperform serve`` on loopback (a temporary data folder, one embedded worker), uploads a
real clip and an audio with a first prompt, then asks again for the same assets — by ``assetId``,
as the Studio and API clients do — with another prompt, then in another mode. Each job's time is
from its create to COMPLETED as a client sees it (polled every 0.2 s). The first job analyses;
the later ones load that analysis from the server's cache.

    python -m benchmarks.second_emotion     # writes benchmarks/sections/second_emotion.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import report as R  # noqa: E402
from benchmarks import sections  # noqa: E402
from benchmarks.load_server import _keys, _media_dir, _start_server  # noqa: E402

#: (clip, audio) pairs: a short close-up and a 20 s clip.
CASES = (("videos/videoretalking_4.mp4", "audio/musetalk_yongen.wav"),
         ("videos/mimictalk_German_20s.mp4", "audio/sadtalker_RD_Radio36_000.wav"))
#: The jobs, in order: the first analyses, the rest reuse.
JOBS = (("face", "happy"), ("face", "sad"), ("lips", None))
PORT = 8765
JOB_TIMEOUT_S = 1200.0


def _wait(http: httpx.Client, key: str, gen_id: str) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        body = http.get(f"/v2/generate/{gen_id}", headers={"x-api-key": key}).json()
        if body["status"] in ("COMPLETED", "FAILED", "REJECTED"):
            return body
        time.sleep(0.2)
    raise TimeoutError(gen_id)


def _options(mode: str, prompt: str | None) -> dict:
    return {"model_mode": mode, **({"prompt": prompt} if prompt else {})}


def run_case(http: httpx.Client, key: str, video: Path, audio: Path) -> list[tuple[str, float, str]]:
    """``[(job label, seconds create → COMPLETED, status)]`` for JOBS on one upload."""
    out: list[tuple[str, float, str]] = []
    assets: list[dict] | None = None
    for mode, prompt in JOBS:
        t0 = time.perf_counter()
        if assets is None:
            with video.open("rb") as v, audio.open("rb") as a:
                r = http.post("/v2/generate", headers={"x-api-key": key},
                              data={"model": "react-1", "options": json.dumps(_options(mode, prompt))},
                              files={"video": (video.name, v), "audio": (audio.name, a)})
            r.raise_for_status()
            assets = [{"type": i["type"], "assetId": i["assetId"]} for i in r.json()["input"]]
        else:
            r = http.post("/v2/generate", headers={"x-api-key": key},
                          json={"model": "react-1", "input": assets, "options": _options(mode, prompt)})
            r.raise_for_status()
        body = _wait(http, key, r.json()["id"])
        out.append((f"{mode}{' ' + prompt if prompt else ''}", time.perf_counter() - t0, body["status"]))
    return out


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    media = _media_dir()
    rows = []
    with tempfile.TemporaryDirectory(prefix="reperform-second-") as tmp:
        data = Path(tmp)
        server = _start_server(data, PORT, workers=1)
        try:
            key, _ = _keys(data, 0)
            with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=120) as http:
                for clip, audio in CASES:
                    got = run_case(http, key, media / clip, media / audio)
                    first = got[0][1]
                    for i, (label, secs, status) in enumerate(got):
                        note = "analyses" if i == 0 else f"{first / secs:.1f}× faster than the first"
                        rows.append([Path(clip).stem, label, R.f(secs, 1), status, note])
        finally:
            server.terminate()
            server.wait(timeout=30)
    body = "\n".join([
        "One upload, three jobs in a row through `reperform serve` (one embedded worker): the first prompt "
        "analyses the inputs, then the same assets by `assetId` with another prompt, then in lips mode. "
        "Seconds from create to COMPLETED as a polling client sees them (queueing, download of the stored "
        "inputs, the engine, storing the output). The later jobs load the first job's analysis from the "
        "server's analysis cache (`REPERFORM_ANALYSIS_CACHE_BYTES`, under the data folder, keyed by the inputs' full "
        "content, the organisation and the engine's source). The first case also pays the new server "
        "worker's start-up (engine libraries and models loaded on its first job); the second case runs on the "
        "warm worker, so its ratios are the cache's alone. Face mode's expression pass costs more than lips mode "
        "even without an analysis.", "",
        R.table(["clip", "job", "seconds", "status", ""], rows),
    ])
    sections.write("second_emotion", "A second emotion on the same upload (issue 16)", body,
                   argv=["python", "-m", "benchmarks.second_emotion", *(argv or [])])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
