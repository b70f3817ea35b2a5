"""The worker engine: fetching, running, renewing locks, stalled checks, hooks and signals.

Each part receives what it uses as keyword-only arguments and never the
:class:`~corral.Worker` that assembles it, so each can be read, tested and
replaced on its own:

| module | owns |
|---|---|
| ``fetcher`` | the fetch request, the rate-limit window, deferred failures, waiting for work |
| ``runner`` | the slots of ``Worker.run()``: processor calls, finishing, shutdown |
| ``locks`` | renewing the locks of the jobs in hand |
| ``stalled`` | the stalled-job check loop |
| ``hooks`` | ``worker.on(...)`` callbacks |
| ``signals`` | SIGINT/SIGTERM: graceful, then immediate, close |
"""
