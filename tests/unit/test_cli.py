"""The `botmeter` console script as a user runs it: without an activated virtual environment,
progress per stage when its output is not a terminal, and one line for every mistake."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline_helpers import event, write_landing

BOTMETER = Path(sys.executable).with_name("botmeter")


def _run(*args, tmp_path, env=None, timeout=600):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [str(BOTMETER), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
    )


def _one_line_error(result) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("botmeter: error:"), lines[0]
    return lines[0]


def test_a_missing_landing_folder_is_one_line(tmp_path):
    result = _run(
        "run",
        "--landing",
        str(tmp_path / "missing"),
        "--warehouse",
        str(tmp_path / "wh.duckdb"),
        tmp_path=tmp_path,
    )
    assert "landing folder not found" in _one_line_error(result)
    assert not (tmp_path / "wh.duckdb").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("directory", "is a directory"),
        ("corrupted", "corrupted"),
    ],
)
def test_a_bad_warehouse_file_is_one_line(tmp_path, make, message):
    """A warehouse path that is a directory, or a file that is not a DuckDB database (or
    fails its checksums), stops the run with one line (issue 19, item 8)."""
    landing = tmp_path / "landing"
    write_landing(landing, {dt.date(2024, 3, 1): [event("e1", "message", "2024-03-01T10:00:00Z")]})
    warehouse = tmp_path / "wh.duckdb"
    if make == "directory":
        warehouse.mkdir()
    else:
        warehouse.write_bytes(b"\x00" * 4096 + b"this is not a duckdb file" * 100)
    result = _run(
        "run", "--landing", str(landing), "--warehouse", str(warehouse), tmp_path=tmp_path
    )
    assert message in _one_line_error(result)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOTMETER_MEMORY_LIMIT": "abc"}, "BOTMETER_MEMORY_LIMIT='abc' is not a memory size"),
        ({"BOTMETER_KPI_CONFIG": "BINARY"}, "not a text file"),
        ({"BOTMETER_CHECKS_CONFIG": "CHUNKS"}, "gx_chunk_rows is no longer used"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, env, message):
    landing = tmp_path / "landing"
    write_landing(landing, {dt.date(2024, 3, 1): [event("e1", "message", "2024-03-01T10:00:00Z")]})
    binary = tmp_path / "kpis.yml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 20)
    chunks = tmp_path / "checks.yml"
    chunks.write_text("gx_chunk_rows: 1\n")
    env = {k: {"BINARY": str(binary), "CHUNKS": str(chunks)}.get(v, v) for k, v in env.items()}
    result = _run(
        "run",
        "--landing",
        str(landing),
        "--warehouse",
        str(tmp_path / "wh.duckdb"),
        tmp_path=tmp_path,
        env=env,
    )
    assert message in _one_line_error(result)
    assert not (tmp_path / "wh.duckdb").exists()


def test_a_read_only_warehouse_folder_is_one_line(tmp_path):
    """A folder the run cannot write to (simulated with a file where the folder should be,
    since tests run as root) is one line."""
    landing = tmp_path / "landing"
    write_landing(landing, {dt.date(2024, 3, 1): [event("e1", "message", "2024-03-01T10:00:00Z")]})
    (tmp_path / "locked").write_text("a file, not a folder")
    result = _run(
        "run",
        "--landing",
        str(landing),
        "--warehouse",
        str(tmp_path / "locked" / "wh.duckdb"),
        tmp_path=tmp_path,
    )
    assert "cannot write beside the warehouse" in _one_line_error(result)


def test_check_config_prints_the_rules_and_the_kpis(tmp_path):
    result = _run("check-config", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sessions end after 10 min" in result.stdout and "containment_rate" in result.stdout
