"""The sync v2–compatible HTTP API. ``create_app(settings)`` lives in :mod:`reperform.server.app`.

The top of the service's layers: it uses the jobs (store, pool, queue) and the protocol
(:mod:`reperform.protocol`: request models, views, fetching), and nothing below imports it.
"""
