"""QueueEvents: follow what happens to a queue's jobs, across processes.

```python
async with QueueEvents("emails") as events:
    async for event in events:
        if event.event == "completed":
            print(event.job_id, event.return_value)
```

On Redis this reads BullMQ's event stream, so it sees what Node workers do and
Node's ``QueueEvents`` sees corral's. On SQLite it reads the events table. Each
event has an ``id``; pass the last one you handled as ``last_event_id`` to
resume after a restart without missing or repeating events (as long as the
queue's bounded event log still holds them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from corral._client import QueueClient
from corral._codec import check_text, loads
from corral.connection import SharedConnection
from corral.options import Duration, to_ms

__all__ = ["QueueEvent", "QueueEvents"]


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One event: ``event`` is its name (``added``, ``waiting``, ``active``,
    ``progress``, ``completed``, ``failed``, ``delayed``, ``stalled``, ``removed``,
    ``drained``, ``paused``, ``resumed``, …), ``fields`` its raw fields."""

    id: str
    event: str
    fields: Mapping[str, str]

    @property
    def job_id(self) -> str | None:
        """The job the event is about (None for queue-wide events)."""
        return self.fields.get("jobId")

    @property
    def prev(self) -> str | None:
        """The state the job came from, when the event says."""
        return self.fields.get("prev")

    @property
    def return_value(self) -> Any:
        """For ``completed``: the job's return value, decoded."""
        return _json_or_text(self.fields.get("returnvalue"))

    @property
    def progress(self) -> Any:
        """For ``progress``: the reported progress, decoded."""
        return _json_or_text(self.fields.get("data"))

    @property
    def failed_reason(self) -> str | None:
        """For ``failed``: why the job failed."""
        return self.fields.get("failedReason")

    @property
    def delay(self) -> int | None:
        """For ``delayed``: when the job is due, in epoch milliseconds."""
        raw = self.fields.get("delay")
        try:
            return None if raw is None else int(float(raw))
        except ValueError:
            return None


def _json_or_text(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return loads(raw)
    except ValueError:
        return raw


class QueueEvents(QueueClient):
    """An async iterator over the events of queue ``queue_name``.

    ``last_event_id``: resume after this event id; None starts with the events
    that happen from now on ("now" being ``async with`` entry, or the first read). ``block`` (seconds): how long one read waits for
    news before looking again (also how soon ``close()`` is noticed).
    """

    def __init__(
        self,
        queue_name: str,
        *,
        url: str | None = None,
        prefix: str = "bull",
        connection: SharedConnection | None = None,
        last_event_id: str | None = None,
        block: Duration = 5,
        batch: int = 100,
    ) -> None:
        if last_event_id is not None and not isinstance(last_event_id, str):
            raise TypeError("last_event_id must be a string (an event's id) or None")
        if last_event_id is not None:
            check_text(last_event_id, "last_event_id")
        block_ms = to_ms(block, name="block", allow_zero=False)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a whole number >= 1, got {batch!r}")
        super().__init__(queue_name, url=url, prefix=prefix, connection=connection)
        self._cursor = last_event_id
        self._block_ms = block_ms
        self._batch = batch
        self._stop = asyncio.Event()

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event handed out (the place to resume from)."""
        return self._cursor

    async def _start(self) -> str:
        if self._cursor is None:
            self._cursor = await self._backend.events_cursor(self._name)
        return self._cursor

    async def __aenter__(self) -> QueueEvents:
        """Fix the starting point now, so no event after this line is missed."""
        await self._start()
        return self

    async def read(self, *, block: Duration | None = None) -> list[QueueEvent]:
        """The events since the last read (waiting up to ``block`` seconds for one)."""
        cursor = await self._start()
        wait = self._block_ms if block is None else to_ms(block, name="block")
        raw = await self._backend.read_events(self._name, cursor, count=self._batch, block_ms=wait)
        events = [QueueEvent(e.id, e.name, e.fields) for e in raw]
        if events:
            self._cursor = events[-1].id
        return events

    async def __aiter__(self) -> AsyncIterator[QueueEvent]:
        while not self._closed and not self._stop.is_set():
            try:
                batch = await self.read()
            except Exception:
                if self._closed or self._stop.is_set():
                    return  # closed while a read was waiting
                raise
            for event in batch:
                yield event
                if self._stop.is_set():
                    return

    async def close(self) -> None:
        """Stop iterating (within one ``block`` period) and close the connection."""
        self._stop.set()
        await super().close()
