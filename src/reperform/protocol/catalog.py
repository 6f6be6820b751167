"""The models this server offers under sync's names, and what each one runs.

A model's ``modes`` are the engine modes it can run: react-1 any of them (``model_mode`` picks),
the lipsync models only lips mode (sync's react-only options are ignored for them). That is the
whole of the model → mode decision; :func:`reperform.protocol.requests.to_generate_options`
reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..options import ModelMode


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of ``/v2/models`` (sync's ModelInfo) and what serves it."""

    name: str
    type: Literal["react", "lipsync"]
    version: str
    description: str
    modes: tuple[ModelMode, ...]
    #: Price used by /v2/analyze/cost, USD per output second (an estimate; self-hosted runs are free).
    price_per_s_usd: float

    @property
    def is_react(self) -> bool:
        """react models honour ``model_mode`` and ``prompt``; the others ignore them."""
        return self.type == "react"


MODELS: dict[str, ModelInfo] = {
    "react-1": ModelInfo("react-1", "react", "1",
                         "Re-performs lips, facial expression (prompt) and head motion (model_mode).",
                         tuple(ModelMode), 0.05),
    "lipsync-2": ModelInfo("lipsync-2", "lipsync", "2", "Lip-sync only; served by reperform's lips mode.",
                           (ModelMode.lips,), 0.05),
    "lipsync-2-pro": ModelInfo("lipsync-2-pro", "lipsync", "2-pro", "Alias of lipsync-2 (lips mode).",
                               (ModelMode.lips,), 0.083),
    # sync's newest model name: clients written for it get the lips engine (react-only options,
    # model_mode and prompt, are ignored as for lipsync-2), so they work unchanged.
    "sync-3": ModelInfo("sync-3", "lipsync", "3", "Served by reperform's lips mode, as lipsync-2.",
                        (ModelMode.lips,), 0.083),
}
#: Price for a model without one (never used for the models above).
DEFAULT_PRICE_PER_S_USD = 0.05


def price_per_s_usd(model: str) -> float:
    info = MODELS.get(model)
    return info.price_per_s_usd if info is not None else DEFAULT_PRICE_PER_S_USD


def model_list() -> list[dict[str, Any]]:
    """The ``/v2/models`` answer: sync's ModelInfo, plus the modes of react models."""
    out = []
    for model_id, info in MODELS.items():
        entry: dict[str, Any] = {"id": model_id, "name": info.name, "type": info.type, "version": info.version,
                                 "description": info.description}
        if info.is_react:
            entry["modes"] = [m.value for m in info.modes]
        out.append(entry)
    return out
