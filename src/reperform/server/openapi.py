"""The OpenAPI document for routes that read their bodies themselves.

``POST /v2/generate`` takes JSON or multipart/form-data on one path, so FastAPI cannot take its
body from a parameter: the route reads it and validates it with the protocol's models
(:mod:`reperform.protocol.requests`). This module puts those same models into the document —
their pydantic JSON schema under ``components/schemas``, as FastAPI does for its own — so what
the document says a request may hold is what the server accepts, and nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

#: Where a model's schema sits in the document.
REF_TEMPLATE = "#/components/schemas/{model}"


def request_body(*, json: type[BaseModel], form: type[BaseModel] | None = None) -> dict[str, Any]:
    """A route's ``openapi_extra``: its request body, by reference to the models that validate it."""
    content = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=json.__name__)}}}
    if form is not None:
        content["multipart/form-data"] = {"schema": {"$ref": REF_TEMPLATE.format(model=form.__name__)}}
    return {"requestBody": {"required": True, "content": content}}


def add_models(app: FastAPI, models: Iterable[type[BaseModel]]) -> None:
    """Put ``models`` (and every model they use) into ``app``'s OpenAPI components."""
    models = list(models)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI's own document; it is cached on the app, so it is completed once
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                own = model.model_json_schema(ref_template=REF_TEMPLATE)
                schemas.update(own.pop("$defs", {}))
                schemas[model.__name__] = own
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
