"""The sync v2–compatible HTTP API. ``create_app(settings)`` lives in :mod:`reperform.server.app`.

Kept empty of imports so the job workers can use :mod:`.fetch` and :mod:`.webhooks` without
loading FastAPI.
"""
