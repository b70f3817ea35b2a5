"""A processor module that imports in the test process only, never in a child:
a worker whose children cannot load their processor must say so."""

from __future__ import annotations

import multiprocessing
import os

_home = os.environ.setdefault("CORRAL_TEST_PARENT_ONLY_PID", str(os.getpid()))
if multiprocessing.parent_process() is not None or _home != str(os.getpid()):
    raise ImportError("this module imports only in the test process")


def process(job: object) -> None:
    return None
