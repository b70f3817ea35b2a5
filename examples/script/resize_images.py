"""A plain script with corral.sync: queue a folder's images, then work through them by hand.

    python resize_images.py add photos/*.png    # a producer: one job per file
    python resize_images.py work                # a consumer: until the queue is empty

No event loop in sight: corral.sync's calls block, and its jobs have blocking moves.
"""

from __future__ import annotations

import sys

from corral.sync import Job, Queue, Worker


def resize(job: Job) -> dict[str, str]:
    """The work (here: pretend to make a thumbnail)."""
    name = job.data["file"]
    if not name.endswith((".png", ".jpg")):
        raise ValueError(f"{name} is not an image")
    job.log(f"resizing {name}")
    return {"thumbnail": name.rsplit(".", 1)[0] + ".thumb.png"}


def add(files: list[str]) -> None:
    with Queue("images") as queue:
        jobs = queue.add_bulk(
            [{"name": "resize", "data": {"file": name}, "attempts": 2} for name in files]
        )
    print(f"queued {len(jobs)} image(s)")


def work() -> None:
    # --8<-- [start:loop]
    with Worker("images", lock_duration=60, drain_delay=1) as worker:
        token = "resize-script"
        job = worker.get_next_job(token)
        while job is not None:
            try:
                result = resize(job)
            except ValueError as error:
                print(f"{job.data['file']}: {error}")
                job = job.move_to_failed(error, token, fetch_next=True)
            else:
                print(f"{job.data['file']}: {result['thumbnail']}")
                job = job.move_to_completed(result, token)
    # --8<-- [end:loop]


def main(argv: list[str]) -> int:
    if argv[:1] == ["add"] and len(argv) > 1:
        add(argv[1:])
    elif argv == ["work"]:
        work()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
