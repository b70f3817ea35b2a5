"""``hiredis`` is needed only where Redis is used: without it corral imports and
runs on SQLite, and asking for Redis says which command installs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["hiredis"] = None  # as if it were not installed: importing it fails

    import asyncio
    import corral
    from corral import MissingDependency, Queue, Worker

    async def main(path):
        async with Queue("q", url=f"sqlite:///{path}") as queue:
            added = await queue.add("x", {"n": 1})
        async with Worker("q", url=f"sqlite:///{path}") as worker:
            job = await worker.get_next_job("tok")
            assert job is not None and job.id == added.id and job.data == {"n": 1}
        print("sqlite ok")
        try:
            Queue("q", url="redis://127.0.0.1:1/0")
        except MissingDependency as exc:
            print("missing:", exc)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_without_hiredis_the_embedded_store_works_and_redis_names_the_install(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "q.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sqlite ok"
    assert lines[1].startswith("missing: ")
    assert "pip install 'corral[redis]'" in lines[1]
    assert "hiredis" in lines[1]
