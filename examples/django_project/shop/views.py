"""The shop's views: an order is saved, and its confirmation queued once it is committed."""

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from shop.models import Order
from shop.queues import shop_queue


def confirmation_job_id(order: Order) -> str:
    return f"confirm-{order.pk}"  # one job per order, however often it is queued


def create_order(email: str, total_cents: int) -> Order:
    """Save an order; queue its confirmation when (and only if) the transaction commits."""
    order = Order.objects.create(email=email, total_cents=total_cents)

    # A worker must find the order when it runs the job, and a rolled-back order must
    # send nothing: so the job is added after the commit, not inside the transaction.
    def enqueue_confirmation() -> None:
        shop_queue().add(
            "send-confirmation", {"order_id": order.pk}, job_id=confirmation_job_id(order),
            attempts=5, backoff={"type": "exponential", "delay": 2},
        )  # fmt: skip

    transaction.on_commit(enqueue_confirmation)
    return order


@csrf_exempt
@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    with transaction.atomic():
        order = create_order(data["email"], int(data["total_cents"]))
    return JsonResponse({"order": order.pk}, status=201)


@require_GET
def order_status(request: HttpRequest, pk: int) -> JsonResponse:
    order = get_object_or_404(Order, pk=pk)
    job = shop_queue().get_job(confirmation_job_id(order))
    return JsonResponse(
        {
            "order": order.pk,
            "confirmation_sent": order.confirmation_sent,
            "job": None if job is None else str(job.get_state()),
        }
    )
