"""Schema versions: the migrations build exactly schema.sql, and an older file is
upgraded in place when a newer corral opens it, with its jobs kept."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from corral.backends.base import FetchRequest, JobState, NewJob
from corral.backends.sqlite import SQLiteBackend
from corral.backends.sqlite.sql import SCHEMA_VERSION, migrate, split_statements


def shape(conn: sqlite3.Connection) -> dict[str, object]:
    """Tables (columns with types, defaults, keys) and indexes, ignoring SQL formatting."""
    out: dict[str, object] = {}
    objects = conn.execute(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    for kind, name, table in objects:
        if kind == "table":
            out[name] = (
                sorted(conn.execute(f"PRAGMA table_info({name})").fetchall()),
                sorted(conn.execute(f"PRAGMA foreign_key_list({name})").fetchall()),
            )
        elif kind == "index":
            unique = [r[2] for r in conn.execute(f"PRAGMA index_list({table})") if r[1] == name]
            out[name] = (table, unique, conn.execute(f"PRAGMA index_xinfo({name})").fetchall())
        else:
            out[name] = kind
    return out


def test_migrations_build_the_schema_file(tmp_path: Path) -> None:
    migrated = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrate(migrated) == 0
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    fresh = sqlite3.connect(":memory:")
    text = resources.files("corral.backends.sqlite").joinpath("schema.sql").read_text()
    for statement in split_statements(text):
        fresh.execute(statement)
    assert shape(migrated) == shape(fresh)
    assert migrate(migrated) == SCHEMA_VERSION  # idempotent


async def test_an_older_file_is_upgraded_in_place_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, target=1)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    columns = [r[1] for r in old.execute("PRAGMA table_info(queues)")]
    assert "limiter_max" not in columns
    old.execute("INSERT INTO queues (qid, name, id_counter) VALUES (1, 'bull:q', 1)")
    old.execute(
        "INSERT INTO jobs (qid, id, name, data, opts, timestamp, state, lane, seq)"
        " VALUES (1, '1', 'kept', '{}', '{}', 5, 'waiting', 0, 1)"
    )
    old.close()

    backend = SQLiteBackend(f"sqlite:///{path}")
    try:
        assert await backend.get_state("q", "1") is JobState.WAITING
        got = await backend.move_to_active("q", FetchRequest("t", 1000), 10)
        assert got.job is not None
        assert got.job.name == "kept"
        assert await backend.add_jobs("q", []) == []
        assert await backend.add_jobs("q", [NewJob("n", "{}", "{}", 1)]) == ["2"]
    finally:
        await backend.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "limiter_max" in [r[1] for r in check.execute("PRAGMA table_info(queues)")]
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
