"""The dashboard in your own ASGI site, its JSON API and its Prometheus metrics."""

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount

from corral import Connection, Queue
from corral.dashboard import create_app


async def main() -> None:
    async with Connection() as conn:  # $CORRAL_URL, else sqlite:///corral.db
        queue = Queue("thumbnails", connection=conn)
        await queue.add_bulk([{"name": "resize", "data": {"image": f"{i}.png"}} for i in range(3)])
        await queue.add("resize", {"image": "big.png"}, delay=60)

        # --8<-- [start:mount]
        dashboard = create_app(connection=conn, queues=["thumbnails"])
        site = Starlette(routes=[Mount("/corral", app=dashboard)])  # or FastAPI's app.mount
        # --8<-- [end:mount]

        transport = httpx.ASGITransport(app=site)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            # --8<-- [start:api]
            overview = (await http.get("/corral/api/queues")).json()
            for shown in overview["queues"]:
                print(shown["name"], "waiting:", shown["counts"]["waiting"],
                      "delayed:", shown["counts"]["delayed"])  # fmt: skip
            page = (await http.get("/corral/api/jobs", params={"queue": "thumbnails"})).json()
            print("first page:", [job["data"] for job in page["jobs"]])
            # --8<-- [end:api]
            # --8<-- [start:metrics]
            scraped = (await http.get("/corral/metrics")).text
            for family in text_string_to_metric_families(scraped):
                for sample in family.samples:
                    if sample.name == "corral_queue_jobs" and sample.value:
                        print(sample.name, sample.labels, sample.value)
            # --8<-- [end:metrics]
        await dashboard.state.corral.close()  # a mounted app: close it with the site
        await queue.close()


if __name__ == "__main__":
    asyncio.run(main())
