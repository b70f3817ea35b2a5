"""One braced prefix: the queues of a flow in one Redis Cluster hash slot.

Runs unchanged on every store: CORRAL_URL=redis+cluster://host:7000,host:7001 (a
Cluster), redis+sentinel://host:26379/SERVICE (a Sentinel-managed primary),
redis://… or the SQLite default.
"""

import asyncio

from corral import FlowProducer, Job, Worker

# --8<-- [start:prefix]
PREFIX = "{shop}"  # braced: every queue under it hashes to one Cluster slot


async def pack(job: Job) -> str:
    return f"packed {job.data['item']}"


async def ship(job: Job) -> str:
    packed = await job.get_children_values()
    return f"shipped {len(packed)} parcel(s)"


async def main() -> None:
    async with FlowProducer(prefix=PREFIX) as flows:  # the URL: $CORRAL_URL, else sqlite
        order = await flows.add(
            {
                "name": "ship",
                "queue_name": "shipping",
                "children": [
                    {"name": "pack", "queue_name": "packing", "data": {"item": "boots"}},
                    {"name": "pack", "queue_name": "packing", "data": {"item": "socks"}},
                ],
            }
        )
        results: asyncio.Queue[str] = asyncio.Queue()
        shipper = Worker("shipping", ship, prefix=PREFIX, drain_delay=0.2)
        shipper.on("completed", lambda job, result: results.put_nowait(result))
        async with Worker("packing", pack, prefix=PREFIX, drain_delay=0.2), shipper:
            print(order.job.queue_name, await results.get())
    # --8<-- [end:prefix]


if __name__ == "__main__":
    asyncio.run(main())
