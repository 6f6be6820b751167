"""A long-lived server worker gives the same bytes as a fresh process: the embedded pool keeps its
worker process between jobs (engine loaded once), so state from earlier jobs must not leak into
later results."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from reperform_harness import JOB_TIMEOUT_S, REPO, LiveServer, child_env, wait_for
from tests.conftest import speech_excerpt

pytestmark = [pytest.mark.e2e, pytest.mark.media]


def _generate(server: LiveServer, key: str, video: Path, audio: Path, options: dict) -> str:
    """Upload, wait for completion, download: the output's sha256."""
    with video.open("rb") as v, audio.open("rb") as a:
        r = httpx.post(server.url + "/v2/generate", headers={"x-api-key": key}, timeout=60,
                       data={"model": "react-1", "options": json.dumps(options)},
                       files={"video": (video.name, v), "audio": (audio.name, a)})
    assert r.status_code == 201, r.text
    gen_id = r.json()["id"]

    def done() -> dict | None:
        body = httpx.get(f"{server.url}/v2/generate/{gen_id}", headers={"x-api-key": key}, timeout=10).json()
        assert body["status"] != "FAILED", body
        return body if body["status"] == "COMPLETED" else None

    body = wait_for(done, JOB_TIMEOUT_S, f"generation {gen_id}", interval_s=0.5)
    out = httpx.get(body["outputUrl"], timeout=60)
    assert out.status_code == 200
    return hashlib.sha256(out.content).hexdigest()


def test_a_kept_worker_gives_a_job_the_same_bytes_before_and_after_other_jobs(tmp_path, media):
    env = child_env()  # no Whisper in the server's jobs: the same for the fresh-process reference
    server = LiveServer(tmp_path / "server", "--workers", "1", env=env)
    server.start()
    try:
        key = server.make_key()
        # 3 s excerpts of real speech: every stage runs, on a third of the frames of the whole files
        a = (media / "videos/videoretalking_4.mp4",
             speech_excerpt(media / "audio/sadtalker_RD_Radio36_000.wav", tmp_path / "a.wav", 3.0),
             {"model_mode": "head", "prompt": "happy"})
        b = (media / "videos/pcavs_00373.mp4", speech_excerpt(media / "audio/whisper_jfk.flac", tmp_path / "b.wav", 3.0),
             {"model_mode": "face"})
        first = _generate(server, key, *a)
        other = _generate(server, key, *b)
        again = _generate(server, key, *a)
    finally:
        server.stop()
    assert other != first
    assert again == first, "the kept worker's result for a job changed after it ran another job"
    # The repeat of ``a`` (same bytes, same organisation) loaded the analysis the first run stored —
    # so ``again == first`` above also says a reused analysis renders the same bytes as a fresh one.
    entries = [p for p in (tmp_path / "server" / "analyses").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 2, entries

    out = tmp_path / "fresh.mp4"
    script = ("import sys, reperform; from reperform.config import EngineConfig; "
              "reperform.generate(sys.argv[1], sys.argv[2], sys.argv[3], "
              "reperform.Options(mode='head', emotion='happy'), config=EngineConfig(whisper_model=''))")
    subprocess.run([sys.executable, "-c", script, str(a[0]), str(a[1]), str(out)], env=env, cwd=REPO,
                   check=True, capture_output=True, timeout=600)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == first, "a server worker and a fresh process differ"
