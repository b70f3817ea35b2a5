"""``python manage.py corral_worker``: process the shop's jobs until SIGINT/SIGTERM.

The first signal lets running jobs finish within ``--grace`` seconds, a second
stops at once (as ``corral worker`` does). ``--burst`` stops once the queue is
empty instead: for a cron job, or a test.
"""

import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from corral.sync import Worker
from shop.tasks import process


class Command(BaseCommand):
    help = "Run a corral worker for the shop's queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=4, help="jobs at once (4)")
        parser.add_argument("--grace", type=float, default=30, help="seconds to finish on stop")
        parser.add_argument("--burst", action="store_true", help="stop once the queue is empty")

    def handle(
        self, *args: Any, concurrency: int, grace: float, burst: bool, **options: Any
    ) -> None:
        worker = Worker(
            settings.CORRAL["QUEUE"], process, url=settings.CORRAL["URL"],
            concurrency=concurrency, drain_delay=1,
        )  # fmt: skip
        if burst:
            stopping = threading.Event()

            def stop_when_drained() -> None:
                # Hooks run on corral's event loop: the blocking close() goes to a thread.
                if not stopping.is_set():
                    stopping.set()
                    threading.Thread(target=worker.close, kwargs={"grace": grace}).start()

            worker.on("drained", stop_when_drained)
        worker.on("completed", lambda job, result: self.stdout.write(f"job {job.id} completed"))
        worker.on("failed", lambda job, error: self.stderr.write(f"job {job.id} failed: {error}"))
        self.stdout.write(f"worker for queue {worker.name!r} on {worker.url}")
        in_main_thread = threading.current_thread() is threading.main_thread()
        worker.run(handle_signals=in_main_thread, grace=grace)
        self.stdout.write("worker stopped")
