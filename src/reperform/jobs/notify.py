"""What happens when a job has ended: its webhook, and for the last job of a batch the batch's
results file and webhook. Called by the attempt that ended the job, and again by the upkeep loop
for jobs whose finisher died before it got here (see :class:`.maintenance.Maintenance`)."""

from __future__ import annotations

import json
import logging

from ..protocol.views import COMPLETED, TERMINAL, batch_json, batch_results_key, generation_json
from .context import JobContext

log = logging.getLogger(__name__)


def on_terminal(ctx: JobContext, job_id: str) -> None:
    """Queue the job's webhook; for the last job of a batch, write the results file and batch webhook."""
    job = ctx.store.jobs.get(job_id)
    if job is None or job.status not in TERMINAL:
        return
    signer = ctx.signer()
    if job.webhook_url and not ctx.store.webhooks.of_job(job_id):
        payload = json.dumps(generation_json(job, ctx.store.assets.get, signer), separators=(",", ":"))
        ctx.store.webhooks.enqueue(org_id=job.org_id, url=job.webhook_url, payload=payload, job_id=job_id)
    if job.batch_id:
        jobs = ctx.store.jobs.of_batch(job.batch_id)
        if all(j.status in TERMINAL for j in jobs) and ctx.store.batches.mark_notified(job.batch_id):
            batch = ctx.store.batches.get(job.batch_id)
            assert batch is not None
            results = ctx.settings.work_dir / f"batch-{batch.id}.jsonl"
            with results.open("w") as fh:
                for j in jobs:
                    fh.write(json.dumps({"request_id": j.request_id, "status": j.status,
                                         "generation": generation_json(j, ctx.store.assets.get, signer)}) + "\n")
            ctx.storage.put_file(results, batch_results_key(batch.id))
            results.unlink(missing_ok=True)
            if batch.webhook_url:
                payload = json.dumps(batch_json(batch, jobs, signer), separators=(",", ":"))
                ctx.store.webhooks.enqueue(org_id=batch.org_id, url=batch.webhook_url, payload=payload,
                                          batch_id=batch.id)
            log.info("batch %s: all %d jobs done (%d completed)", batch.id, len(jobs),
                     sum(j.status == COMPLETED for j in jobs))
