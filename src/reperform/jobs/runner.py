"""Executing one job, and the embedded pool that runs jobs beside the server when there is no Redis.

:func:`execute` is the whole life of one attempt and is shared by the embedded pool and the Celery
task: claim with a lease → fetch inputs → probe them → ``reperform.generate`` (lease renewed from a
heartbeat thread and from progress) → store the output under a per-attempt key → COMPLETED by
compare-and-set; any :class:`~reperform.errors.ReperformError` → FAILED with its message and code.
The terminal step also queues the webhook and, for the last job of a batch, its results file.

The embedded pool runs jobs in worker processes (``python -m reperform.jobs.child``), kept between
jobs so the engine loads once per worker: the engine's CPU work never competes with the API for
the GIL, an engine crash cannot take the server down, and a worker whose server died (``kill -9``)
exits at once; its job's lease then expires and the restarted server runs the job again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import api
from ..errors import (
    AudioMissing,
    EngineError,
    InputError,
    InvalidOptions,
    MediaUnreadable,
    ReperformError,
    VideoMissing,
)
from ..settings import Settings
from ..storage import Storage
from .store import COMPLETED, TERMINAL, Claim, JobStore
from .views import UrlSigner, batch_json, generation_json

log = logging.getLogger(__name__)

#: Progress is written to the job row at most this often (every write is a DB transaction).
PROGRESS_WRITE_INTERVAL_S = 0.5
#: espeak-ng voice names look like "en-us", "de", "pt-br"; anything else (an ElevenLabs id) → default.
ESPEAK_VOICE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8}){0,2}$")
DEFAULT_VOICE = "en-us"


@dataclass
class JobContext:
    """What executing a job needs, built once per process from :class:`Settings`."""

    settings: Settings
    store: JobStore
    storage: Storage

    @classmethod
    def build(cls, settings: Settings) -> JobContext:
        return cls(settings=settings, store=JobStore(settings.db_url), storage=Storage(settings.files_url))

    def signer(self) -> UrlSigner:
        base = self.settings.public_url or self.store.meta("public_url") or self.settings.base_url
        return UrlSigner(self.store.url_secret(), base, self.settings.output_url_ttl_s)


def _owner_prefix(pid: int) -> str:
    """Lease owners start with host and pid, so a parent can hand back the jobs of a child it stopped."""
    return f"{socket.gethostname()[:24]}:{pid}:"


def _owner() -> str:
    return _owner_prefix(os.getpid()) + uuid.uuid4().hex[:12]


class _Lease:
    """Keeps the lease alive and carries progress to the job row; notices when ownership is lost."""

    def __init__(self, ctx: JobContext, job_id: str, owner: str) -> None:
        self.ctx, self.job_id, self.owner = ctx, job_id, owner
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._progress: tuple[float, str] | None = None
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self, progress: float | None = None, stage: str | None = None) -> None:
        if not self.ctx.store.heartbeat(self.job_id, self.owner, self.ctx.settings.lease_s,
                                        progress=progress, stage=stage):
            self.lost.set()

    def _run(self) -> None:
        interval = max(self.ctx.settings.lease_s / 4, 0.2)
        while not self._stop.wait(interval):
            with self._lock:
                pending, self._progress = self._progress, None
            self._beat(*(pending or (None, None)))
            if self.lost.is_set():
                log.warning("job %s: lease lost; this attempt's result will be discarded", self.job_id)
                return

    def progress(self, stage: str, fraction: float, detail: str = "") -> None:
        """A :class:`~reperform.progress.ProgressSink`: throttled writes of the overall fraction."""
        if self.lost.is_set():
            raise EngineError("job lease lost to another worker; stopping this attempt")
        now = time.monotonic()
        with self._lock:
            self._progress = (min(max(fraction, 0.0), 0.99), stage)
            if now - self._last_write < PROGRESS_WRITE_INTERVAL_S:
                return
            self._last_write = now
            pending, self._progress = self._progress, None
        self._beat(*pending)


def _materialize(ctx: JobContext, org_id: str, item: dict[str, Any], dest: Path,
                 error: type[InputError]) -> Path:
    """A local file for an input item: a stored asset of the job's organisation, or a URL."""
    from ..server.fetch import fetch

    if item.get("assetId"):
        asset = ctx.store.get_asset(str(item["assetId"]), org_id)
        if asset is None:
            raise error(f"asset {item['assetId']} does not exist")
        ctx.storage.get_file(asset.key, dest)
        return dest
    s = ctx.settings
    return fetch(item["url"], dest, max_bytes=s.max_fetch_bytes, timeout_s=s.fetch_timeout_s,
                 allow_private=s.allow_private_urls, error=error)


def _inputs(ctx: JobContext, org_id: str, job_input: list[dict[str, Any]],
            work: Path) -> tuple[Path, Path, str | None]:
    """Download or synthesise the inputs, then sniff them: the bytes decide what they are."""
    from ..server.fetch import AudioInaccessible, VideoInaccessible
    from ..server.wire import text_script

    video_item = next(i for i in job_input if i.get("type") in ("video", "image"))
    video = _materialize(ctx, org_id, video_item, work / "video.bin", VideoInaccessible)
    vinfo = api.probe(video)
    if vinfo.kind == "audio":
        raise VideoMissing("the video input has no video stream or picture")
    text = text_script(job_input)
    if text is not None:
        script, voice = text
        voice = voice.lower() if voice and ESPEAK_VOICE_RE.match(voice.lower()) else DEFAULT_VOICE
        try:
            audio = api.synthesize_speech(script, work / "speech.wav", voice=voice)
        except InvalidOptions:
            if voice == DEFAULT_VOICE:
                raise
            # sync clients send provider voice ids (ElevenLabs); an unknown one speaks in the default voice
            log.warning("voice %r is not an espeak-ng voice; using %s", voice, DEFAULT_VOICE)
            audio = api.synthesize_speech(script, work / "speech.wav", voice=DEFAULT_VOICE)
        return video, Path(audio), script
    audio_item = next(i for i in job_input if i.get("type") == "audio")
    audio = _materialize(ctx, org_id, audio_item, work / "audio.bin", AudioInaccessible)
    ainfo = api.probe(audio)
    if not ainfo.has_audio:
        raise AudioMissing("the audio input has no audio stream")
    return video, audio, None


def execute(ctx: JobContext, job_id: str) -> Claim:
    """Run one attempt of ``job_id``. Returns why nothing ran (DONE/BUSY/MISSING) or CLAIMED once done."""
    from ..server.wire import to_generate_options

    owner = _owner()
    claim, job = ctx.store.claim(job_id, owner, ctx.settings.lease_s, ctx.settings.max_attempts)
    if claim is Claim.GAVE_UP:
        log.warning("job %s: failed after %d interrupted attempts", job_id, ctx.settings.max_attempts)
        on_terminal(ctx, job_id)
        return Claim.DONE
    if claim is not Claim.CLAIMED or job is None:
        log.info("job %s: %s, not running", job_id, claim.value)
        return claim
    log.info("job %s: attempt %d started by %s", job_id, job.attempts, owner)
    work = ctx.settings.work_dir / job_id / owner.rsplit(":", 1)[-1]
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    finished = False  # True once this attempt has ended the job (its compare-and-set won)
    try:
        with _Lease(ctx, job_id, owner) as lease:
            video, audio, script = _inputs(ctx, job.org_id, job.input, work)
            options = to_generate_options(job.model, job.options, text=script)
            out = work / "output.mp4"
            api.generate(video, audio, out, options, progress=lease.progress, config=ctx.settings.engine_config())
            if lease.lost.is_set():
                log.warning("job %s: finished after losing the lease; discarding output", job_id)
                return claim
            info = api.probe(out)
            key = f"outputs/{job_id}/{owner.rsplit(':', 1)[-1]}/{job.output_file_name or 'output'}.mp4"
            ctx.storage.put_file(out, key)
            finished = ctx.store.complete(job_id, owner, key, round(info.duration_s, 3))
            if not finished:
                log.warning("job %s: another attempt finished first; discarding %s", job_id, key)
                ctx.storage.delete(key)
                return claim
            log.info("job %s: COMPLETED in %.1f s", job_id, time.perf_counter() - t0)
    except ReperformError as exc:
        if isinstance(exc, MediaUnreadable):
            exc = MediaUnreadable(f"an input is not readable media: {exc.message}")
        log.info("job %s: FAILED %s: %s", job_id, exc.code, exc.message)
        finished = ctx.store.fail(job_id, owner, exc.message, exc.code)
    except Exception as exc:  # a bug or environment problem: fail the job, keep the worker alive
        # The client sees the kind of failure only: the message may name this server's paths.
        log.exception("job %s: internal error", job_id)
        finished = ctx.store.fail(job_id, owner, f"internal error ({exc.__class__.__name__}); the server's "
                                  f"log has the details", EngineError.code)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not finished:  # the lease was lost: the attempt that owns the job now finishes it
        log.warning("job %s: this attempt no longer owns the job; leaving it to its owner", job_id)
        return claim
    # The job has ended: scratch left by earlier, killed attempts can go too.
    shutil.rmtree(work.parent, ignore_errors=True)
    on_terminal(ctx, job_id)
    return claim


#: Fairest claimable jobs a Celery task tries before falling back to the job its message named.
FAIR_CANDIDATES = 8


def execute_fairly(ctx: JobContext, hint_job_id: str) -> Claim:
    """Run the job that is fairest to run now, which need not be the one the message named.

    Celery delivers messages in the order jobs were created, so one organisation's big batch
    would otherwise occupy every worker until it is done. There is one message per job, so
    treating each message as "run one job" still runs every job; when nothing is claimable, the
    named job is tried as before (BUSY → the task retries, so an expired lease is re-run).
    """
    for job_id in ctx.store.claimable(FAIR_CANDIDATES):
        if execute(ctx, job_id) is Claim.CLAIMED:
            return Claim.CLAIMED
    return execute(ctx, hint_job_id)


def on_terminal(ctx: JobContext, job_id: str) -> None:
    """Queue the job's webhook; for the last job of a batch, write the results file and batch webhook."""
    job = ctx.store.get_job(job_id)
    if job is None or job.status not in TERMINAL:
        return
    signer = ctx.signer()
    if job.webhook_url and not ctx.store.webhook_deliveries(job_id):
        payload = json.dumps(generation_json(job, ctx.store, signer), separators=(",", ":"))
        ctx.store.enqueue_webhook(org_id=job.org_id, url=job.webhook_url, payload=payload, job_id=job_id)
    if job.batch_id:
        jobs = ctx.store.batch_jobs(job.batch_id)
        if all(j.status in TERMINAL for j in jobs) and ctx.store.mark_batch_notified(job.batch_id):
            batch = ctx.store.get_batch(job.batch_id)
            assert batch is not None
            results = ctx.settings.work_dir / f"batch-{batch.id}.jsonl"
            with results.open("w") as fh:
                for j in jobs:
                    fh.write(json.dumps({"request_id": j.request_id, "status": j.status,
                                         "generation": generation_json(j, ctx.store, signer)}) + "\n")
            ctx.storage.put_file(results, f"batches/{batch.id}/results.jsonl")
            results.unlink(missing_ok=True)
            if batch.webhook_url:
                payload = json.dumps(batch_json(batch, jobs, signer), separators=(",", ":"))
                ctx.store.enqueue_webhook(org_id=batch.org_id, url=batch.webhook_url, payload=payload,
                                          batch_id=batch.id)
            log.info("batch %s: all %d jobs done (%d completed)", batch.id, len(jobs),
                     sum(j.status == COMPLETED for j in jobs))


#: What a worker answers on its protocol channel after each job: ``done JOB_ID``.
WORKER_DONE = "done"
#: A worker process is replaced after this many jobs: bounds whatever a long-lived process might
#: accumulate (fragmented heap, caches) at the price of one start-up in this many jobs.
MAX_JOBS_PER_WORKER = 50


@dataclass(eq=False)
class _Worker:
    """One embedded worker process and the job it is running (None: idle)."""

    proc: subprocess.Popen[str]
    job: str | None = None
    jobs_started: int = 0


class EmbeddedPool:
    """Runs jobs in worker processes beside the server, ``settings.workers`` at a time.

    The database is the queue: the pool claims nothing itself, it hands each claimable job id to
    an idle worker and the worker claims it. Several servers sharing one database therefore
    cooperate safely. Workers are kept between jobs (see :mod:`reperform.jobs.child`), started on
    demand and replaced after :data:`MAX_JOBS_PER_WORKER` jobs.
    """

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._thread = threading.Thread(target=self._loop, name="embedded-pool", daemon=True)

    def start(self) -> None:
        if self.settings.workers > 0:
            self._thread.start()

    def wake(self) -> None:
        """Called after a create so a new job starts without waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop dispatching; running workers are stopped and their jobs handed back as PENDING.

        (After a crash nobody hands them back: their leases expire and they are re-run then.)
        """
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        for w in workers:
            w.proc.terminate()
        for w in workers:
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(timeout=10)
            if w.job is not None and self.store.release(w.job, _owner_prefix(w.proc.pid)):
                log.info("job %s handed back as PENDING (server stopping)", w.job)

    def _spawn(self) -> _Worker:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # run the same checkout even when not installed
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen([sys.executable, "-m", "reperform.jobs.child", str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        assert proc.stdin is not None
        proc.stdin.write(self.settings.model_dump_json() + "\n")
        proc.stdin.flush()
        worker = _Worker(proc)
        threading.Thread(target=self._listen, args=(worker,), name=f"worker-{proc.pid}", daemon=True).start()
        return worker

    def _listen(self, worker: _Worker) -> None:
        """Read a worker's answers: ``done JOB_ID`` makes it idle again."""
        assert worker.proc.stdout is not None
        for line in worker.proc.stdout:
            word, _, job_id = line.strip().partition(" ")
            if word == WORKER_DONE:
                with self._lock:
                    if worker.job == job_id:
                        worker.job = None
                self._wake.set()
        self._wake.set()  # it exited: let the loop reap it now

    def _send(self, worker: _Worker, job_id: str) -> bool:
        assert worker.proc.stdin is not None
        try:
            worker.proc.stdin.write(job_id + "\n")
            worker.proc.stdin.flush()
        except (BrokenPipeError, OSError):  # it died since the last look: reaped next round
            return False
        worker.job = job_id
        worker.jobs_started += 1
        return True

    def _reap(self) -> None:
        """Forget workers that exited; retire idle ones that have run their share of jobs."""
        with self._lock:
            for w in list(self._workers):
                if w.proc.poll() is not None:
                    self._workers.remove(w)
                    # SIGTERM is a polite stop (a service manager or a terminal stopping the whole
                    # process group, often before this dispatcher hears of it): hand the job back
                    # now, uncounted, as stop() would. Other deaths wait for the lease to expire.
                    if (w.job is not None and w.proc.returncode == -signal.SIGTERM
                            and self.store.release(w.job, _owner_prefix(w.proc.pid))):
                        log.info("job %s handed back as PENDING (its process was terminated)", w.job)
                elif w.job is None and w.jobs_started >= MAX_JOBS_PER_WORKER:
                    self._workers.remove(w)
                    assert w.proc.stdin is not None
                    w.proc.stdin.close()  # it finishes and exits; nothing is running in it

    def _dispatch(self) -> None:
        with self._lock:
            running = {w.job for w in self._workers if w.job is not None}
        free = self.settings.workers - len(running)
        if free <= 0:
            return
        try:
            candidates = self.store.claimable(free + len(running))
        except Exception:  # the database may be briefly locked; try again next round
            log.exception("embedded pool: listing jobs failed")
            return
        for job_id in candidates:
            if job_id in running or free <= 0:
                continue
            with self._lock:
                idle = next((w for w in self._workers if w.job is None), None)
                if idle is None and len(self._workers) < self.settings.workers:
                    idle = self._spawn()
                    self._workers.append(idle)
                if idle is None or not self._send(idle, job_id):
                    return
            log.info("embedded pool: job %s → worker %d", job_id, idle.proc.pid)
            running.add(job_id)
            free -= 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._reap()
            self._dispatch()
            self._wake.wait(self.settings.maintenance_interval_s)
            self._wake.clear()
