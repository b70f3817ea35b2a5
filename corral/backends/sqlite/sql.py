"""The SQLite backend's SQL files: named queries, the schema and its migrations.

SQL lives in ``.sql`` files shipped inside the package and read with
:mod:`importlib.resources`, never in Python strings:

* ``queries.sql``: named blocks (``-- name: x``, a comment saying what it does,
  one statement), parsed by :func:`parse_queries` into :data:`Q`.
* ``schema.sql``: the current full schema, for reading (and for a test).
* ``migrations/NNNN_*.sql``: applied in order by :func:`migrate`, which records
  the version reached in ``PRAGMA user_version``. Numbers start at 1 and only
  increase; a gap is allowed, so migrations written side by side keep the numbers
  they were given (the schema version is the highest number).
* ``queries_flows.sql``, ``queries_cancel.sql``, ``queries_schedulers.sql``: more
  named blocks (flows, cancellation, job schedulers and deduplication), merged into
  :data:`Q` (:data:`QUERY_FILES`); a name defined in two files is refused.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources

from corral.errors import BackendError

__all__ = [
    "Q",
    "QUERY_FILES",
    "SCHEMA_VERSION",
    "migrate",
    "migrations",
    "parse_queries",
    "split_statements",
]

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$")


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into ``{name: statement}``; comment lines are dropped."""
    queries: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def flush() -> None:
        if name is not None:
            statement = "\n".join(body).strip().rstrip(";").strip()
            if not statement:
                raise ValueError(f"query {name!r} has no statement")
            queries[name] = statement

    for line in text.splitlines():
        match = _NAME.match(line.strip())
        if match:
            flush()
            name, body = match.group(1), []
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice")
        elif name is not None and not line.lstrip().startswith("--"):
            body.append(line)
    flush()
    return queries


QUERY_FILES: tuple[str, ...] = (
    "queries.sql",
    "queries_flows.sql",
    "queries_cancel.sql",
    "queries_schedulers.sql",
)
"""The files of named queries, merged into :data:`Q`."""


def _all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for file in QUERY_FILES:
        more = parse_queries(_read(file))
        twice = sorted(queries.keys() & more.keys())
        if twice:
            raise ValueError(f"queries defined in two files: {twice}")
        queries |= more
    return queries


Q: dict[str, str] = _all_queries()
"""Every named query, by name."""


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (``executescript`` would commit)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:80]!r}")
    return statements


def migrations() -> list[tuple[int, str]]:
    """``(version, script)`` for every migration file, in order."""
    found: list[tuple[int, str]] = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = re.match(r"^(\d{4})_\w+\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [v for v, _ in found]
    if not numbers or numbers[0] != 1 or len(set(numbers)) != len(numbers):
        raise RuntimeError(f"migration files must be numbered from 1, each once: {numbers}")
    return found


SCHEMA_VERSION = migrations()[-1][0]
"""The schema version this corral writes (the number of the newest migration)."""


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to ``target`` in one ``BEGIN IMMEDIATE`` transaction.

    Safe when several processes open the same file at once: the version is read
    again under the write lock. Returns the version found before migrating.
    Refuses a database written by a newer corral.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise BackendError(
                f"the database has schema version {found}, newer than this corral "
                f"understands ({SCHEMA_VERSION}); upgrade corral"
            )
        for version, script in migrations():
            if found < version <= target:
                for statement in split_statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
