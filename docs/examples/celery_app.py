"""The Celery side of the Celery → corral side-by-side example."""

from celery import Celery

# --8<-- [start:celery]
app = Celery("shop", broker="redis://localhost:6379/0", backend="redis://localhost:6379/1")


@app.task(autoretry_for=(ConnectionError,), retry_backoff=1, max_retries=4)
def send_receipt(order_id: int, email: str) -> str:
    return f"receipt for order {order_id} sent to {email}"


def place_order() -> str:
    result = send_receipt.apply_async((42, "ada@example.com"), countdown=0)
    return str(result.get(timeout=10))


# --8<-- [end:celery]
