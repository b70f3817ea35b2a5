"""The shop's jobs, run by ``python manage.py corral_worker``.

They are plain functions: the Django ORM is blocking, and a plain-def processor
runs in the worker's thread pool. Each job starts and ends by closing database
connections that are stale, as Django does around a request.
"""

from collections.abc import Callable

from django.db import close_old_connections

from corral import Job, UnrecoverableError
from shop.models import Order


def send_confirmation(job: Job) -> dict[str, object]:
    try:
        order = Order.objects.get(pk=job.data["order_id"])
    except Order.DoesNotExist:
        raise UnrecoverableError(f"order {job.data['order_id']} does not exist") from None
    if not order.confirmation_sent:  # a second run of the job sends nothing twice
        # ... send the email here ...
        Order.objects.filter(pk=order.pk).update(confirmation_sent=True)
    return {"order": order.pk, "to": order.email}


HANDLERS: dict[str, Callable[[Job], object]] = {"send-confirmation": send_confirmation}


def process(job: Job) -> object:
    """The worker's processor: the job's name picks the function."""
    close_old_connections()
    try:
        return HANDLERS[job.name](job)
    finally:
        close_old_connections()
