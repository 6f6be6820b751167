"""JSON as a request body needs it parsed: strict, bounded, and failing only with a 400.

Python's parser accepts things a request must not carry: ``NaN``/``Infinity`` (and ``1e400``,
which overflows to infinity) would be stored, then break every later response of that job,
since responses are strict JSON. Its failures — invalid UTF-8, nesting deeper than the
recursion limit, integers over the 4300-digit conversion limit — raise exceptions that are not
``JSONDecodeError`` and would otherwise surface as 500s.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import WireError

#: Deepest nesting a JSON body may have. Real bodies nest 4 deep; the limit keeps every later
#: recursive walk (the JSON column, response rendering) far from Python's recursion limit.
MAX_JSON_DEPTH = 32


class _NonFinite(Exception):  # noqa: N818 - internal signal, never leaves strict_loads
    """A NaN or infinite number met while parsing."""


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)  # "1e400" parses to inf without ever being spelled "Infinity"
    if not math.isfinite(value):
        raise _NonFinite(text[:40])
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def strict_loads(data: bytes | str, what: str = "the body") -> Any:
    """Parse JSON the way the wire needs it, or raise :class:`WireError` (400), never anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise WireError(f"{what} is not valid UTF-8") from None
    except _NonFinite as exc:
        raise WireError(f"{what} holds a non-finite number ({exc.args[0]}); only finite numbers are "
                        f"allowed") from None
    except json.JSONDecodeError as exc:
        raise WireError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise WireError(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # an integer too long to convert, and anything else the parser refuses
        raise WireError(f"{what} holds a value that cannot be read: {str(exc)[:120]}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise WireError(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value


def loads_maybe(value: Any, what: str) -> Any:
    """Multipart forms carry nested objects as JSON strings; JSON bodies carry them as objects."""
    if isinstance(value, str):
        return strict_loads(value, what)
    return value
