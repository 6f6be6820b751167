"""One attempt at one job, from claim to COMPLETED or FAILED; shared by the embedded pool and Celery.

:func:`execute` is the whole life of one attempt: claim with a lease → fetch inputs → probe them →
``reperform.generate`` (lease renewed from a heartbeat thread and from progress) → store the output
under a per-attempt key → COMPLETED by compare-and-set; any :class:`~reperform.errors.ReperformError`
→ FAILED with its message and code. The end of a job is announced by :mod:`.notify`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
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
from ..options import GenerateOptions
from ..protocol.errors import AudioInaccessible, VideoInaccessible
from ..protocol.fetch import fetch
from ..protocol.requests import audio_items, ref_of, request_segments, text_script, to_generate_options
from ..records import MediaInfo
from .context import JobContext
from .notify import on_terminal
from .store import Claim

log = logging.getLogger(__name__)

#: Progress is written to the job row at most this often (every write is a DB transaction).
PROGRESS_WRITE_INTERVAL_S = 0.5
#: espeak-ng voice names look like "en-us", "de", "pt-br"; anything else (an ElevenLabs id) → default.
ESPEAK_VOICE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8}){0,2}$")
DEFAULT_VOICE = "en-us"


def owner_prefix(pid: int) -> str:
    """Lease owners start with host and pid, so a parent can hand back the jobs of a child it stopped."""
    return f"{socket.gethostname()[:24]}:{pid}:"


def new_owner() -> str:
    """A fresh attempt id (lease owner)."""
    return owner_prefix(os.getpid()) + uuid.uuid4().hex[:12]


class Lease:
    """Keeps the lease alive and carries progress to the job row; notices when ownership is lost."""

    def __init__(self, ctx: JobContext, job_id: str, owner: str) -> None:
        self.ctx, self.job_id, self.owner = ctx, job_id, owner
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._progress: tuple[float, str] | None = None
        self._last_write = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self, progress: float | None = None, stage: str | None = None) -> None:
        if not self.ctx.store.jobs.heartbeat(self.job_id, self.owner, self.ctx.settings.lease_s,
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
    if item.get("assetId"):
        asset = ctx.store.assets.get(str(item["assetId"]), org_id)
        if asset is None:
            raise error(f"asset {item['assetId']} does not exist")
        ctx.storage.get_file(asset.key, dest)
        return dest
    s = ctx.settings
    return fetch(item["url"], dest, max_bytes=s.max_fetch_bytes, timeout_s=s.fetch_timeout_s,
                 allow_private=s.allow_private_urls, error=error)


def _speech(script: str, voice: str | None, dest: Path) -> Path:
    """A text input spoken offline (espeak-ng)."""
    voice = voice.lower() if voice and ESPEAK_VOICE_RE.match(voice.lower()) else DEFAULT_VOICE
    try:
        return Path(api.synthesize_speech(script, dest, voice=voice))
    except InvalidOptions:
        if voice == DEFAULT_VOICE:
            raise
        # sync clients send provider voice ids (ElevenLabs); an unknown one speaks in the default voice
        log.warning("voice %r is not an espeak-ng voice; using %s", voice, DEFAULT_VOICE)
        return Path(api.synthesize_speech(script, dest, voice=DEFAULT_VOICE))


def _audio(ctx: JobContext, org_id: str, item: dict[str, Any], work: Path, n: int) -> Path:
    """A local audio file for one audio or text input (the bytes decide what it is)."""
    if item.get("type") == "text":
        provider = item.get("provider") or {}
        return _speech(provider.get("script", ""), provider.get("voiceId"), work / f"speech-{n}.wav")
    audio = _materialize(ctx, org_id, item, work / f"audio-{n}.bin", AudioInaccessible)
    if not api.probe(audio).has_audio:
        raise AudioMissing(f"the audio input{f' {ref_of(item)!r}' if item.get('refId') else ''} has no audio stream")
    return audio


def _inputs(ctx: JobContext, org_id: str, job_input: list[dict[str, Any]],
            work: Path) -> tuple[Path, MediaInfo, dict[str, Path], str | None]:
    """Download or synthesise the inputs, then sniff them: (video, its info, {refId: audio}, script
    of a single text input, used as its transcript)."""
    video_item = next(i for i in job_input if i.get("type") in ("video", "image"))
    video = _materialize(ctx, org_id, video_item, work / "video.bin", VideoInaccessible)
    vinfo = api.probe(video)
    if vinfo.kind == "audio":
        raise VideoMissing("the video input has no video stream or picture")
    items = audio_items(job_input)
    audios = {ref_of(item): _audio(ctx, org_id, item, work, n) for n, item in enumerate(items)}
    text = text_script(job_input) if len(items) == 1 else None
    return video, vinfo, audios, (text[0] if text is not None else None)


def _run(ctx: JobContext, job_id: str, org_id: str, owner: str, lease: Lease, video: Path, audio: Path,
         options: GenerateOptions, work: Path) -> tuple[Path | None, tuple[str, ...]]:
    """The engine's part of an attempt: the output file and the engine's warnings, or None when
    the job went to the queue in chunks (Celery, long output: :mod:`.chunkjobs`). In the embedded
    pool a long output is rendered in ``Settings.render_workers`` local processes
    (``api.generate(workers=...)``)."""
    if ctx.enqueue_chunk is not None:
        from .chunkjobs import analyse_and_split

        return analyse_and_split(ctx, job_id, owner, lease, video, audio, options, work)
    out = work / "output.mp4"
    result = api.generate(video, audio, out, options, progress=lease.progress, config=ctx.settings.engine_config(),
                          analysis_cache=ctx.analysis_cache(), cache_scope=org_id,
                          workers=ctx.settings.render_workers or os.cpu_count() or 1)
    return out, result.warnings


def execute(ctx: JobContext, job_id: str) -> Claim:
    """Run one attempt of ``job_id``. Returns why nothing ran (DONE/BUSY/MISSING) or CLAIMED once done."""
    owner = new_owner()
    claim, job = ctx.store.jobs.claim(job_id, owner, ctx.settings.lease_s, ctx.settings.max_attempts)
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
        with Lease(ctx, job_id, owner) as lease:
            video, vinfo, audios, script = _inputs(ctx, job.org_id, job.input, work)
            segments = request_segments(job.model, job.input, job.segments, fps=float(vinfo.fps))
            options = to_generate_options(job.model, job.options, text=None if segments else script,
                                          segments=segments)
            if segments:  # several audios on spans of the video: rendered here, in one piece
                out = work / "output.mp4"
                warnings = api.generate(video, audios, out, options, progress=lease.progress,
                                        config=ctx.settings.engine_config(), analysis_cache=ctx.analysis_cache(),
                                        cache_scope=job.org_id).warnings
            else:
                out, warnings = _run(ctx, job_id, job.org_id, owner, lease, video, next(iter(audios.values())),
                                     options, work)
            if out is None:  # cut into chunks on the queue: their workers finish the job
                return claim
            if lease.lost.is_set():
                log.warning("job %s: finished after losing the lease; discarding output", job_id)
                return claim
            info = api.probe(out)
            key = f"outputs/{job_id}/{owner.rsplit(':', 1)[-1]}/{job.output_file_name or 'output'}.mp4"
            ctx.storage.put_file(out, key)
            finished = ctx.store.jobs.complete(job_id, owner, key, round(info.duration_s, 3), warnings)
            if not finished:
                log.warning("job %s: another attempt finished first; discarding %s", job_id, key)
                ctx.storage.delete(key)
                return claim
            log.info("job %s: COMPLETED in %.1f s", job_id, time.perf_counter() - t0)
    except ReperformError as exc:
        if isinstance(exc, MediaUnreadable):
            exc = MediaUnreadable(f"an input is not readable media: {exc.message}")
        log.info("job %s: FAILED %s: %s", job_id, exc.code, exc.message)
        finished = ctx.store.jobs.fail(job_id, owner, exc.message, exc.code)
    except Exception as exc:  # a bug or environment problem: fail the job, keep the worker alive
        # The client sees the kind of failure only: the message may name this server's paths.
        log.exception("job %s: internal error", job_id)
        finished = ctx.store.jobs.fail(job_id, owner, f"internal error ({exc.__class__.__name__}); the server's "
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
    for job_id in ctx.store.jobs.claimable(FAIR_CANDIDATES):
        if execute(ctx, job_id) is Claim.CLAIMED:
            return Claim.CLAIMED
    return execute(ctx, hint_job_id)
