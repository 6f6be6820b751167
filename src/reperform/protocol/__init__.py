"""The sync.so v2 protocol: what crosses the wire, with no web framework and no database.

Both sides of the service speak it: the HTTP server (``reperform.server``) parses requests and
renders responses with it, and the job workers (``reperform.jobs``) read a job's inputs, map its
options onto the engine, render the Generation JSON of webhook payloads and send them. Neither
side imports the other for that, so the package sits below both (checked by the ``layers``
contract in ``pyproject.toml``):

- :mod:`.requests` — the request models (pydantic; the options are generated from
  :class:`reperform.options.GenerateOptions`), ``parse_generate`` and the mapping onto the engine;
- :mod:`.catalog` — the models this server offers and their prices;
- :mod:`.views` — response objects (Generation, Asset, Batch), statuses and signed file URLs;
- :mod:`.fetch` — outbound HTTP that cannot be turned against us (media URLs, webhook POSTs);
- :mod:`.webhooks` — the ``Sync-Signature`` scheme and one delivery attempt;
- :mod:`.strictjson` — JSON parsing a request body needs;
- :mod:`.errors` — the errors of all of the above, each with its sync ``error_code``.
"""
