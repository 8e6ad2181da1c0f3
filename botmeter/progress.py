"""Progress for long work: a single updating line on a terminal, silence in CI and logs.

    with Progress("publish", total=len(tables), unit="tables") as bar:
        for table in tables:
            rows = copy(table)
            bar.advance(rows=rows, label=table)

Shown only when the stream is a TTY and neither `CI` nor `BOTMETER_NO_PROGRESS` is set;
`BOTMETER_PROGRESS=1` forces it on. The final line is kept; nothing is ever written otherwise.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def progress_enabled(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("BOTMETER_PROGRESS") == "1":
        return True
    if os.environ.get("CI") or os.environ.get("BOTMETER_NO_PROGRESS"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """`done/total unit, rows/s` on one line; `advance()` after each partition/table."""

    def __init__(
        self,
        title: str,
        total: int,
        unit: str = "partitions",
        stream: TextIO | None = None,
        min_interval: float = 0.1,
    ) -> None:
        self.title, self.total, self.unit = title, total, unit
        self.stream = stream or sys.stderr
        self.enabled = progress_enabled(self.stream)
        self.done = 0
        self.rows = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._min_interval = min_interval
        self.label = ""

    def __enter__(self) -> Progress:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def rows_per_second(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return self.rows / elapsed

    def line(self) -> str:
        text = f"{self.title}: {self.done}/{self.total} {self.unit}"
        if self.rows:
            text += f", {self.rows:,} rows, {self.rows_per_second:,.0f} rows/s"
        if self.label:
            text += f" ({self.label})"
        return text

    def advance(self, steps: int = 1, rows: int = 0, label: str = "") -> None:
        self.done += steps
        self.rows += rows
        self.label = label
        now = time.monotonic()
        if self.enabled and (
            now - self._last_draw >= self._min_interval or self.done >= self.total
        ):
            self._last_draw = now
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self.label = ""
            self.stream.write("\r\033[K" + self.line() + "\n")
            self.stream.flush()
            self.enabled = False
