"""The RQ side of the RQ → corral side-by-side example (``main`` runs it on ``url``)."""

import sys

from redis import Redis
from rq import Queue, Retry, SimpleWorker


# --8<-- [start:rq]
def send_receipt(order_id: int, email: str) -> str:
    return f"receipt for order {order_id} sent to {email}"


def place_order(redis: Redis) -> str:
    queue = Queue("receipts", connection=redis)
    job = queue.enqueue(send_receipt, 42, "ada@example.com", retry=Retry(max=3, interval=[1, 5]))
    SimpleWorker([queue], connection=redis).work(burst=True)  # usually: `rq worker receipts`
    return str(job.return_value())


# --8<-- [end:rq]


def main(url: str) -> None:
    print(place_order(Redis.from_url(url)))


if __name__ == "__main__":
    main(sys.argv[1])
