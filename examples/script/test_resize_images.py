"""The script as its user runs it: a producer process, then a consumer process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("resize_images.py")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_URL"}  # the SQLite default
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_images_are_queued_then_resized_by_hand(tmp_path: Path) -> None:
    added = run("add", "cat.png", "dog.jpg", "notes.txt", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout == "queued 3 image(s)\n"
    assert (tmp_path / "corral.db").exists()

    worked = run("work", cwd=tmp_path)
    assert worked.returncode == 0, worked.stderr
    assert worked.stdout.splitlines() == [
        "cat.png: cat.thumb.png",
        "dog.jpg: dog.thumb.png",
        "notes.txt: notes.txt is not an image",  # first attempt: retried (attempts=2)
        "notes.txt: notes.txt is not an image",  # second: failed for good
    ]


def test_without_a_command_it_says_how_to_use_it(tmp_path: Path) -> None:
    assert run(cwd=tmp_path).returncode == 2
