"""``Queue(default_job_options=...)``: the options every add starts from."""

from __future__ import annotations

import pytest

from corral import Backoff, Queue


async def test_every_add_starts_from_the_queue_defaults(url: str, queue_name: str) -> None:
    defaults = {"attempts": 3, "backoff": 2, "remove_on_complete": 10, "priority": 4}
    async with Queue(queue_name, url=url, default_job_options=defaults) as queue:
        job = await queue.add("a", {})
        assert job.opts.attempts == 3
        assert job.opts.backoff == Backoff("fixed", 2)
        assert job.opts.remove_on_complete == 10
        assert job.priority == 4
        # An option given to add wins ...
        own = await queue.add("b", {}, attempts=5, priority=1)
        assert own.opts.attempts == 5
        assert own.priority == 1
        # ... in add_bulk too.
        first, second = await queue.add_bulk(
            [{"name": "c"}, {"name": "d", "attempts": 1, "remove_on_complete": True}]
        )
        assert first.opts.attempts == 3
        assert second.opts.attempts == 1
        assert second.opts.remove_on_complete is True
        stored = await queue.get_job(job.id)
        assert stored is not None
        assert stored.opts.attempts == 3
        assert queue.default_job_options == defaults


async def test_bad_default_options_are_refused_at_construction(url: str) -> None:
    with pytest.raises(
        TypeError, match=r"default_job_options: unknown job option\(s\) \['tries'\]"
    ):
        Queue("q", url=url, default_job_options={"tries": 3})
    with pytest.raises(ValueError, match=r"default_job_options: .*attempts"):
        Queue("q", url=url, default_job_options={"attempts": -1})
    with pytest.raises(ValueError, match="name a single job"):
        Queue("q", url=url, default_job_options={"job_id": "x"})
    with pytest.raises(TypeError, match="must be a mapping"):
        Queue("q", url=url, default_job_options=[("attempts", 3)])  # type: ignore[arg-type]
