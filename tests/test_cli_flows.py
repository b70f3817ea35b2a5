"""The command line on a flow: ``corral jobs`` shows a child's parent and a parent's
children by bucket, ``corral status`` counts the parents waiting for children."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral import FlowProducer, Worker
from tests.test_cli import run


async def _flow(url: str) -> tuple[str, list[str]]:
    async with FlowProducer(url=url) as flows:
        node = await flows.add(
            {"name": "render", "queue_name": "render", "children": [
                {"name": "cut", "queue_name": "media"}, {"name": "mix", "queue_name": "media"}]}
        )  # fmt: skip
    async with Worker("media", url=url) as worker:
        job = await worker.get_next_job("t", block=False)
        assert job is not None
        await job.move_to_completed("ok", "t", fetch_next=False)
    return node.job.id, [c.job.id for c in node.children]


def test_jobs_and_status_show_a_flow(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    parent_id, _ = asyncio.run(_flow(url))
    parents = run("jobs", "render", "--url", url)
    assert parents.returncode == 0, parents.stderr
    (row,) = [line for line in parents.stdout.splitlines() if line.startswith(parent_id)]
    assert "waiting-children" in row
    assert "children: 1 pending, 1 done" in row
    kids = run("jobs", "media", "--url", url)
    assert kids.stdout.count(f"child of bull:render:{parent_id}") == 2, kids.stdout
    status = run("status", "--url", url)
    assert status.returncode == 0, status.stderr
    header, *rows = status.stdout.splitlines()
    column = header.split().index("waiting-children")
    (render_row,) = [r for r in rows if r.startswith("render")]
    assert render_row.split()[column] == "1"
