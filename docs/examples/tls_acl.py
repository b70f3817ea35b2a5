"""TLS and an ACL user: a rediss:// URL built from its parts, the secrets percent-encoded."""

import asyncio
import os
from urllib.parse import quote, urlencode

from corral import Queue


# --8<-- [start:url]
def redis_url(host: str, port: int, *, user: str, password: str, ca_file: str, db: int = 0) -> str:
    """A TLS URL for an ACL user; characters such as @ : / # in the password are encoded."""
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    query = urlencode({"ssl_ca_certs": ca_file})  # the CA that signed the server's certificate
    return f"rediss://{credentials}@{host}:{port}/{db}?{query}"


# --8<-- [end:url]


async def main(url: str) -> None:
    # --8<-- [start:use]
    async with Queue("invoices", url=url) as queue:
        job = await queue.add("render", {"invoice": 7})
        print(f"added job {job.id} over TLS as {queue.url}")  # the password is shown as ***
    # --8<-- [end:use]


if __name__ == "__main__":
    url = redis_url(
        "redis.internal", 6380, user="corral", password=os.environ["REDIS_PASSWORD"],
        ca_file="/etc/ssl/corral/ca.crt",
    )  # fmt: skip
    asyncio.run(main(url))
