"""JSON in and out of the store.

Payloads are JSON, never pickle: nothing read from a store is ever evaluated.
Encoding is compact and strict (no NaN, no non-JSON types, no text UTF-8 cannot
hold), and an error names what could not be encoded; a stored field that is not
JSON is reported by name. :func:`check_text` applies the UTF-8 rule to names.
BullMQ's own field names and encodings live in :mod:`corral._wire`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from corral.errors import CorruptJobError

__all__ = ["UnencodableError", "check_text", "dumps", "escape_surrogates", "loads", "loads_field"]

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class UnencodableError(TypeError):
    """A value has no JSON form; the message names what it was and why."""


def dumps(value: Any, *, what: str = "value") -> str:
    """Encode ``value`` as compact JSON text; UnencodableError (a TypeError) names what
    could not be encoded and why."""
    if value is None:
        return "null"  # what a job without a return value stores, every time
    try:
        text = _encoder.encode(value)
    except TypeError as exc:
        raise UnencodableError(
            f"{what} must be JSON-encodable (dict, list, str, int, float, bool, None): {exc}"
        ) from None
    except ValueError as exc:
        if "Circular reference" in str(exc):
            raise UnencodableError(f"{what} refers to itself, which JSON cannot hold") from None
        # allow_nan=False: NaN and infinities have no JSON form.
        raise UnencodableError(
            f"{what} must be JSON-encodable: {exc} (NaN and Infinity are not JSON)"
        ) from None
    except RecursionError:
        raise UnencodableError(
            f"{what} is nested too deeply (or refers to itself) to encode as JSON"
        ) from None
    problem = _utf8_problem(text)
    if problem:
        raise UnencodableError(f"{what} {problem}")
    return text


def check_text(text: str, what: str) -> str:
    """Return ``text`` if UTF-8 can hold it (so can every store), else raise
    ValueError naming ``what`` and the character at fault."""
    problem = _utf8_problem(text)
    if problem:
        raise ValueError(f"{what} {problem}")
    return text


def escape_surrogates(text: str) -> str:
    """``text`` with any lone surrogate written as its escape (``\\ud800``), for text
    that must be stored whatever it holds (an error's message)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _utf8_problem(text: str) -> str | None:
    # Python strings may hold lone surrogates; UTF-8 (what both stores keep) cannot.
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"holds a lone surrogate ({text[exc.start]!r} at position {exc.start}), which "
            "UTF-8 cannot encode, so no store can hold it: pass valid Unicode text"
        )
    return None


def loads(text: str) -> Any:
    """Decode JSON text written by any client."""
    return json.loads(text)


def loads_field(job_id: str, field: str, text: str | None, default: Any = None) -> Any:
    """Decode one stored JSON field of a job, or raise CorruptJobError naming it."""
    if text is None:
        return default
    try:
        # The common case, a value with nothing around it, straight to the C scanner;
        # anything else (whitespace, trailing text, an error) through json.loads.
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (ValueError, StopIteration, RecursionError):
        pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CorruptJobError(job_id, field, f"not valid JSON ({exc})") from None
