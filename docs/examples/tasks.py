"""The jobs of the getting-started pages: a module of processor functions.

``corral worker tasks:send_welcome_email --queue emails`` runs the first one.
"""

import asyncio

from corral import Job


async def send_welcome_email(job: Job) -> dict[str, str]:
    """Send the welcome email the job asks for; what it returns is the job's result."""
    address = job.data["to"]
    await job.log(f"sending the welcome email to {address}")
    await asyncio.sleep(0.05)  # the real work: talk to your mail server
    return {"sent_to": address}
