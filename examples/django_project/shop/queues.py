"""The shop's queue, opened once per process from ``settings.CORRAL``.

Views are plain (blocking) Django views, so they use ``corral.sync``; its calls
run on one background event loop shared by the process, so every request
thread may use the same Queue. (In an ``async def`` view, use ``corral.Queue``.)
"""

import functools

from django.conf import settings

from corral.sync import Queue


@functools.cache
def shop_queue() -> Queue:
    return Queue(settings.CORRAL["QUEUE"], url=settings.CORRAL["URL"])
