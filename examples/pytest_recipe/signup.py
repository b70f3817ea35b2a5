"""The code under test: signing up queues a welcome email; a processor sends it."""

from __future__ import annotations

from corral import Job, Queue

QUEUE = "welcome-emails"
sent: list[str] = []  # stands in for the mail server


async def sign_up(queue: Queue, email: str) -> str:
    """Create the account (not shown) and queue its welcome email; return the job's id."""
    job = await queue.add("welcome", {"to": email}, attempts=3, backoff=1)
    return job.id


async def send_welcome(job: Job) -> str:
    """The processor: send the email the job asks for."""
    if not job.data["to"].endswith("@example.com"):
        raise ValueError(f"will not email {job.data['to']}")
    sent.append(job.data["to"])
    return f"sent to {job.data['to']}"
