"""The frames a process worker's parent and child exchange, and how they travel.

A frame is a JSON object, sent as a 4-byte big-endian length and then its UTF-8
text, over a ``socket.socketpair``. Nothing is pickled: a job's fields, its
result and an error's text are all JSON (or text inside JSON).

Parent to child:

| ``t`` | fields | meaning |
|---|---|---|
| ``job`` | ``job`` (the job's record), ``queue``, ``prefix``, ``token`` | run the processor on this job |
| ``reply`` | ``rid``, ``ok``, ``value`` or ``error`` | the answer to a child's ``call`` |
| ``stop`` | ``type``, ``message`` | the job is cancelled or timed out (``job.stop_reason``); SIGTERM follows |
| ``exit`` | | finish and exit (the child is idle) |

Child to parent:

| ``t`` | fields | meaning |
|---|---|---|
| ``ready`` | ``pid`` | the processor is imported; the child takes jobs |
| ``fatal`` | ``error`` | the child cannot start (the processor does not import) |
| ``call`` | ``rid``, ``op``, ``args`` | do ``op`` on the store for the running job (progress, log…) |
| ``stopping`` | | the child heard a ``stop`` (its job is cancelled or timed out) |
| ``done`` | ``id``, ``ok``, ``value`` (JSON text) or ``error``, ``rss`` | the job's outcome, and the child's memory (bytes) |
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import threading
from typing import Any

from corral.backends.base import JobRecord, ParentLink
from corral.backends.flow_types import ParentPolicy

__all__ = [
    "BlockingLink",
    "encode_frame",
    "error_payload",
    "record_from_payload",
    "record_payload",
]

_HEADER = struct.Struct(">I")

MAX_FRAME = 1 << 31
"""A frame larger than this is refused (a job's data is far smaller in practice)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """``message`` as one frame: its length, then its JSON text."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )
    if len(body) >= MAX_FRAME:
        raise ValueError(f"a frame of {len(body)} bytes is too large to send to a child")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """The message a frame's body holds."""
    message = json.loads(body.decode("utf-8", "surrogatepass"))
    if not isinstance(message, dict):
        raise ValueError("a frame must hold a JSON object")
    return message


HEADER_SIZE = _HEADER.size


def body_length(header: bytes) -> int:
    """The body length a frame's header announces."""
    (length,) = _HEADER.unpack(header)
    return int(length)


class BlockingLink:
    """The child's end of the socket: blocking reads (one reader thread) and
    writes from any thread (serialised by a lock)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        self._sock = sock
        self._write_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Send one frame (thread-safe)."""
        frame = encode_frame(message)
        with self._write_lock:
            self._sock.sendall(frame)

    def receive(self) -> dict[str, Any] | None:
        """The next frame, or None once the other end has closed."""
        header = self._read_exactly(HEADER_SIZE)
        if header is None:
            return None
        body = self._read_exactly(body_length(header))
        if body is None:
            return None
        return decode_body(body)

    def _read_exactly(self, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            try:
                chunk = self._sock.recv(min(size - len(chunks), 1 << 20))
            except OSError:
                return None
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


# -- a job's record across the boundary -------------------------------------------------


def record_payload(record: JobRecord) -> dict[str, Any]:
    """A job's stored fields as JSON-ready values (its data stays JSON text)."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    parent = record.parent
    fields["parent"] = (
        None if parent is None else [parent.queue_key, parent.id, parent.policy.value]
    )
    return fields


def record_from_payload(fields: dict[str, Any]) -> JobRecord:
    """The record :func:`record_payload` sent."""
    parent = fields.pop("parent", None)
    link = None if parent is None else ParentLink(parent[0], parent[1], ParentPolicy(parent[2]))
    return JobRecord(**fields, parent=link)


def error_payload(error: BaseException, trace: str) -> dict[str, Any]:
    """What the parent needs to know of an exception raised in a child."""
    from corral.errors import RateLimitError, UnrecoverableError, WaitingChildrenError

    kind = "error"
    if isinstance(error, UnrecoverableError):
        kind = "unrecoverable"
    elif isinstance(error, RateLimitError):
        kind = "rate_limit"
    elif isinstance(error, WaitingChildrenError):
        kind = "waiting_children"
    return {
        "kind": kind,
        "type": type(error).__qualname__,
        "module": type(error).__module__,
        "message": str(error),
        "traceback": trace,
        "retry_after_ms": getattr(error, "retry_after_ms", None),
    }
