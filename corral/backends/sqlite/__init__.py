"""The embedded SQLite backend: one file, no server, the same behaviour as Redis.

The modules, by concern:

* ``backend``: :class:`SQLiteBackend`, URL forms; forwards each operation to
  the database thread and nudges waiters.
* ``connection``: the database thread, its connection and group commit.
* ``_tx``: the per-operation unit of work and job-row decoding.
* ``ops``: adding, fetching, finishing, locks, stalled jobs.
* ``ops_read``: every read.
* ``ops_admin``: changes by hand, to one job or a whole queue.
* ``wakeups``: how blocked waiters learn of commits (this process and others).
* ``sql``: ``queries.sql`` (every statement, by name), ``schema.sql``, migrations.
"""

from corral.backends.sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
