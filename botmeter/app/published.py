"""The published warehouse as the app reads it: read-only, current, never in a run's way.

Opening a DuckDB instance costs ~40 ms, so one read-only connection is kept per version of
the file (inode, size, mtime) and every request gets its own cursor on it. The pipeline
publishes by writing a new file and renaming it over the old one, so the next request sees
the new stamp and opens the new file; the old connection is closed when its last request
ends. The file is attached to a private in-memory instance rather than opened by path,
because DuckDB hands a second open of a path the instance already open in this process,
which would keep serving the replaced file.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

REQUIRED_TABLES = {"rpt_sessions", "rpt_session_channels", "rpt_session_usage"}
CATALOG = "published"


class NotPublished(Exception):
    """The published file is missing or is not a botmeter published warehouse."""


@dataclasses.dataclass(eq=False)
class _Handle:
    con: duckdb.DuckDBPyConnection
    stamp: tuple[int, ...]
    users: int = 0
    retired: bool = False


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Published:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._current: _Handle | None = None

    def stamp(self) -> tuple[int, ...]:
        try:
            st = self.path.stat()
        except OSError:
            raise NotPublished(f"{self.path} does not exist") from None
        if not self.path.is_file():
            raise NotPublished(f"{self.path} is not a file")
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the current published file (schema-qualified names resolve in it)."""
        handle, cursor = self._acquire()
        try:
            cursor.execute(f"use {CATALOG}")
            cursor.execute("set TimeZone = 'UTC'")
            yield cursor
        finally:
            self._release(handle, cursor)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.retired = True
                if self._current.users == 0:
                    self._current.con.close()
                self._current = None

    def _acquire(self) -> tuple[_Handle, duckdb.DuckDBPyConnection]:
        stamp = self.stamp()
        with self._lock:  # cursors are made and closed under the lock: the parent is shared
            current = self._current
            if current is None or current.stamp != stamp:
                fresh = _Handle(self._open(), stamp)
                if current is not None:
                    current.retired = True
                    if current.users == 0:
                        current.con.close()
                self._current = current = fresh
            cursor = current.con.cursor()
            current.users += 1
            return current, cursor

    def _release(self, handle: _Handle, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            cursor.close()
            handle.users -= 1
            if handle.retired and handle.users == 0:
                handle.con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"attach {_sql_str(str(self.path))} as {CATALOG} (read_only)")
            con.execute("set TimeZone = 'UTC'")
            tables = {
                r[0]
                for r in con.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = ? and table_schema = 'reporting'",
                    [CATALOG],
                ).fetchall()
            }
        except duckdb.Error as exc:
            con.close()
            first = str(exc).splitlines()[0]
            raise NotPublished(f"{self.path} cannot be read as a DuckDB file: {first}") from None
        if not REQUIRED_TABLES <= tables:
            con.close()
            raise NotPublished(
                f"{self.path} has no reporting models: it is not a botmeter published "
                "warehouse, or an older botmeter made it (run `botmeter run` to publish again)"
            )
        return con
