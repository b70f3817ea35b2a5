"""The shop end to end: a view saves an order, on_commit queues its job, the worker runs it.

Run with ``python manage.py test``. Each test gets its own corral store (a
temporary SQLite file); Django's test database is its own, as always.
"""

import io
import json
import tempfile
from pathlib import Path

from django.core.management import call_command
from django.db import transaction
from django.test import TransactionTestCase, override_settings

from shop.models import Order
from shop.queues import shop_queue
from shop.views import create_order


class ShopTests(TransactionTestCase):
    # TransactionTestCase: the view's transaction really commits, so on_commit runs, and
    # the worker's threads see the order (a TestCase's transaction is never committed).

    def setUp(self) -> None:
        store = tempfile.TemporaryDirectory()
        self.addCleanup(store.cleanup)
        url = f"sqlite:///{Path(store.name) / 'corral.db'}"
        settings = override_settings(CORRAL={"URL": url, "QUEUE": "shop"})
        settings.enable()
        self.addCleanup(settings.disable)
        shop_queue.cache_clear()
        self.addCleanup(lambda: (shop_queue().close(), shop_queue.cache_clear()))

    def place(self, email: str = "ada@example.com") -> int:
        response = self.client.post(
            "/orders/", json.dumps({"email": email, "total_cents": 4200}),
            content_type="application/json",
        )  # fmt: skip
        self.assertEqual(response.status_code, 201)
        return int(response.json()["order"])

    def run_worker(self) -> str:
        out = io.StringIO()
        call_command("corral_worker", "--burst", "--concurrency", "1", stdout=out, stderr=out)
        return out.getvalue()

    def status(self, order: int) -> dict[str, object]:
        return dict(self.client.get(f"/orders/{order}/").json())

    def test_an_order_is_queued_once_committed_and_confirmed_by_the_worker(self) -> None:
        order = self.place()
        self.assertEqual(
            self.status(order), {"order": order, "confirmation_sent": False, "job": "waiting"}
        )
        self.assertIn(f"job confirm-{order} completed", self.run_worker())
        self.assertEqual(
            self.status(order), {"order": order, "confirmation_sent": True, "job": "completed"}
        )
        job = shop_queue().get_job(f"confirm-{order}")
        assert job is not None
        self.assertEqual(job.return_value, {"order": order, "to": "ada@example.com"})

    def test_a_rolled_back_order_queues_nothing(self) -> None:
        with self.assertRaises(RuntimeError), transaction.atomic():
            create_order("grace@example.com", 100)
            raise RuntimeError("payment declined")
        self.assertEqual(Order.objects.count(), 0)
        self.assertEqual(shop_queue().get_job_counts("waiting"), {"waiting": 0})

    def test_a_job_for_a_missing_order_fails_without_retrying(self) -> None:
        shop_queue().add("send-confirmation", {"order_id": 999}, attempts=5)
        self.assertIn("failed: order 999 does not exist", self.run_worker())
        (job,) = shop_queue().get_jobs("failed")
        self.assertEqual(job.failed_reason, "order 999 does not exist")
        self.assertEqual(job.attempts_made, 1)
