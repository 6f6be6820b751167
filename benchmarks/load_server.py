"""Bounded loopback load test of the /v2 API: N clients polling and creating for a fixed time.

Starts ``reperform serve`` on 127.0.0.1 (a temporary data folder, the embedded pool running the
real engine on the jobs it can). Every client polls its generations with its own key and tries a
create every few seconds with one shared key of the same organisation, so creates are capped by the per-key rate limit: the 429s that follow
are intended and counted, anything else is an error. Stops by itself after ``duration_s``.

    python benchmarks/load_server.py --duration 60 --clients 50

Returns (and prints as JSON) p50/p99 latencies in milliseconds of accepted creates and of gets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
CLIP = "videos/pcavs_00373.mp4"
#: How often each client polls its generation, and tries to create one (seconds, jittered).
POLL_INTERVAL_S = 0.2
CREATE_INTERVAL_S = 5.0
#: Per-request timeout: anything slower counts as an error.
REQUEST_TIMEOUT_S = 30.0
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _media_dir() -> Path:
    return Path(os.environ.get("REPERFORM_SHARED_MEDIA") or REPO.parent / "shared" / "media")


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)


def _start_server(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPERFORM_")}
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = (data_dir / "server.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "reperform.cli_server", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", str(data_dir), "--workers", str(workers),
                             "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited; see {data_dir / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


def _keys(data_dir: Path, n: int) -> tuple[str, list[str]]:
    """One create key and ``n`` polling keys, all in one organisation (so they see each other's jobs)."""
    sys.path.insert(0, str(REPO / "src"))
    from reperform.jobs.store import JobStore

    store = JobStore(f"sqlite:///{data_dir / 'reperform.db'}")
    try:
        first = store.keys.create("load-create")
        return first.secret, [store.keys.create(f"load-{i}", first.org_id).secret for i in range(n)]
    finally:
        store.close()


async def _client(base: str, create_key: str, poll_key: str, body: dict[str, Any], seed_id: str,
                  deadline: float, stats: dict[str, Any]) -> None:
    ids = [seed_id]
    # Each client's first create lands in the first half of the run even when the run is shorter
    # than the create interval (a 3 s smoke run would otherwise see no create at all ~1 % of times).
    next_create = time.monotonic() + random.uniform(0, min(CREATE_INTERVAL_S, (deadline - time.monotonic()) / 2))
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as http:
        while time.monotonic() < deadline:
            if time.monotonic() >= next_create:
                next_create = time.monotonic() + random.uniform(0.5, 1.5) * CREATE_INTERVAL_S
                t0 = time.perf_counter()
                try:
                    resp = await http.post("/v2/generate", json=body, headers={"x-api-key": create_key})
                    ms = 1000 * (time.perf_counter() - t0)
                    if resp.status_code == 201:
                        stats["create_ms"].append(ms)
                        ids.append(resp.json()["id"])
                    elif resp.status_code == 429 and resp.json().get("errorCode") == "rate_limit_exceeded":
                        stats["create_429"] += 1
                    else:
                        stats["errors"].append(f"create {resp.status_code}")
                except httpx.HTTPError as exc:
                    stats["errors"].append(f"create {exc.__class__.__name__}")
            t0 = time.perf_counter()
            try:
                resp = await http.get(f"/v2/generate/{random.choice(ids)}", headers={"x-api-key": poll_key})
                if resp.status_code == 200:
                    stats["get_ms"].append(1000 * (time.perf_counter() - t0))
                else:
                    stats["errors"].append(f"get {resp.status_code}")
            except httpx.HTTPError as exc:
                stats["errors"].append(f"get {exc.__class__.__name__}")
            await asyncio.sleep(random.uniform(0.5, 1.5) * POLL_INTERVAL_S)


def _run_coroutine(coro: Any) -> Any:
    """asyncio.run, also from a thread that already runs an event loop (e.g. after Playwright's sync API
    in the same pytest process): then the load runs on a fresh thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def run(duration_s: float = 60.0, clients: int = 50, workers: int = 1, media: Path | None = None) -> dict[str, Any]:
    """Start a loopback server, load it for ``duration_s``, stop it; return the latency summary."""
    media = media or _media_dir()
    clip = media / CLIP
    with tempfile.TemporaryDirectory(prefix="reperform-load-") as tmp:
        data_dir = Path(tmp)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = _start_server(data_dir, port, workers)
        try:
            base = f"http://127.0.0.1:{port}"
            create_key, poll_keys = _keys(data_dir, clients)
            seed = httpx.post(base + "/v2/generate", headers={"x-api-key": create_key}, timeout=60,
                              data={"model": "react-1", "options": json.dumps({"model_mode": "lips"})},
                              files={"video": ("upload", clip.read_bytes()), "audio": ("upload", clip.read_bytes())})
            seed.raise_for_status()
            seed_json = seed.json()
            body = {"model": "react-1", "options": {"model_mode": "lips"},
                    "input": [{"type": i["type"], "assetId": i["assetId"]} for i in seed_json["input"]]}
            coro = _load(base, create_key, poll_keys, body, seed_json["id"], duration_s, workers)
            return _run_coroutine(coro)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _load(base: str, create_key: str, poll_keys: list[str], body: dict[str, Any], seed_id: str,
                duration_s: float, workers: int) -> dict[str, Any]:
    if urlsplit(base).hostname not in LOOPBACK_HOSTS:
        raise ValueError("the load test only talks to loopback servers")
    stats: dict[str, Any] = {"create_ms": [], "get_ms": [], "create_429": 0, "errors": []}
    t0 = time.monotonic()
    deadline = t0 + duration_s
    await asyncio.gather(*(_client(base, create_key, key, body, seed_id, deadline, stats) for key in poll_keys))
    elapsed = time.monotonic() - t0
    requests = len(stats["create_ms"]) + stats["create_429"] + len(stats["get_ms"]) + len(stats["errors"])
    return {
        "clients": len(poll_keys), "duration_s": round(elapsed, 1), "embedded_workers": workers,
        "creates_accepted": len(stats["create_ms"]), "creates_429": stats["create_429"],
        "gets": len(stats["get_ms"]), "errors": len(stats["errors"]),
        "error_kinds": sorted(set(stats["errors"]))[:10], "requests_per_s": round(requests / elapsed, 1),
        "create_p50_ms": _percentile(stats["create_ms"], 50), "create_p99_ms": _percentile(stats["create_ms"], 99),
        "get_p50_ms": _percentile(stats["get_ms"], 50), "get_p99_ms": _percentile(stats["get_ms"], 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--workers", type=int, default=1, help="embedded job workers during the test (default 1)")
    args = parser.parse_args()
    print(json.dumps(run(args.duration, args.clients, args.workers), indent=2))


if __name__ == "__main__":
    main()
