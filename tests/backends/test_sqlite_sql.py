"""The SQLite backend's SQL: every named query is valid, used, and fetches by index."""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

import corral.backends.sqlite
from corral.backends.sqlite.sql import QUERY_FILES, Q, parse_queries, split_statements


@pytest.fixture
def schema_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    schema = resources.files("corral.backends.sqlite").joinpath("schema.sql").read_text()
    for statement in split_statements(schema):
        conn.execute(statement)
    return conn


def test_parser_reads_named_blocks() -> None:
    text = "-- header\n\n-- name: one\n-- says what\nSELECT 1;\n\n-- name: two\n-- x\nSELECT\n  2\n"
    assert parse_queries(text) == {"one": "SELECT 1", "two": "SELECT\n  2"}
    with pytest.raises(ValueError, match="twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")
    with pytest.raises(ValueError, match="no statement"):
        parse_queries("-- name: a\n-- only a comment\n")


def test_every_query_says_what_it_does() -> None:
    folder = resources.files("corral.backends.sqlite")
    text = "".join(folder.joinpath(f).read_text() for f in QUERY_FILES)
    blocks = re.findall(r"^-- name: (\w+)\n(.*)$", text, flags=re.M)
    assert len(blocks) == len(Q)
    for name, line in blocks:
        assert line.startswith("-- "), f"query {name!r} has no description"
        assert len(line) > 6, f"query {name!r} has no description"


def bind(conn: sqlite3.Connection, sql: str, first: tuple[object, ...] = ()) -> sqlite3.Cursor:
    """Run ``sql`` with ``first`` then NULLs for as many parameters as it takes."""
    for extra in range(20):
        try:
            return conn.execute(sql, first + (None,) * extra)
        except sqlite3.ProgrammingError as exc:
            if "bindings" not in str(exc):
                raise
    raise AssertionError(f"could not bind {sql!r}")


@pytest.mark.parametrize("name", sorted(Q))
def test_every_query_compiles_against_the_schema(schema_db: sqlite3.Connection, name: str) -> None:
    bind(schema_db, f"EXPLAIN {Q[name]}")


def package_source() -> str:
    """Every Python module of the SQLite backend, concatenated."""
    here = Path(corral.backends.sqlite.__file__).parent
    return "".join(path.read_text() for path in sorted(here.glob("*.py")))


def undefined_and_unused(queries: dict[str, str], source: str) -> tuple[set[str], set[str]]:
    """Names ``source`` runs (``Q["x"]``, ``.run("x"``) that ``queries`` lacks, and
    names of ``queries`` that ``source`` never quotes."""
    run = set(re.findall(r'Q\["(\w+)"\]', source)) | set(re.findall(r'\.run\(\s*"(\w+)"', source))
    mentioned = set(re.findall(r'"(\w+)"', source))
    return run - set(queries), set(queries) - mentioned


def test_every_query_is_used() -> None:
    undefined, unused = undefined_and_unused(Q, package_source())
    assert undefined == set(), "queries used but not defined"
    assert unused == set(), "named queries nobody uses"


def test_the_usage_check_catches_an_orphan_and_a_typo() -> None:
    source = package_source() + 'tx.run("job_gett", 1)\n'
    undefined, unused = undefined_and_unused({**Q, "orphan": "SELECT 1"}, source)
    assert (undefined, unused) == ({"job_gett"}, {"orphan"})


@pytest.mark.parametrize(
    "name", ["job_next", "delayed_due", "delayed_next", "event_last_id", "events_after"]
)
def test_fetch_queries_are_index_seeks(schema_db: sqlite3.Connection, name: str) -> None:
    plan = bind(schema_db, f"EXPLAIN QUERY PLAN {Q[name]}").fetchall()
    details = " ".join(row[3] for row in plan)
    assert "INDEX" in details, details
    assert "SCAN" not in details, details
    assert "TEMP B-TREE" not in details, details
