"""Land one arrival folder of raw JSON Lines files into the warehouse.

Python only reads bytes; Arrow validates UTF-8 and splits lines; parsing,
validation and typing happen in one vectorized DuckDB statement. A partition is replaced in a
single transaction, so a crash half-way leaves the previous state and a re-run is idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.raw_schema import (
    ACTORS,
    EVENT_TYPES,
    RAW_EVENT_COLUMNS,
    REQUIRED_BY_TYPE,
    REQUIRED_FIELDS,
    ensure_raw_schema,
)
from orchestration.settings import DATA_START_AT

EVENT_FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")

# Fields read from each line's JSON object (one struct per line, see `_classify_sql`).
FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "occurred_at",
    "account_id",
    "bot_id",
    "channel",
    "customer_id",
    "bot_name",
    "bot_version",
    "conversation_id",
    "actor",
    "page_url",
    "intent",
    "confidence",
    "is_fallback",
    "api_name",
    "status_code",
    "latency_ms",
    "ticket_id",
    "kpi_name",
    "value",
    "properties",
)
# Fields whose JSON value must be a scalar string or number (ids and labels).
TEXT_FIELDS = tuple(
    f
    for f in FIELDS
    if f not in {"confidence", "is_fallback", "status_code", "latency_ms", "value", "properties"}
)


class LandingError(Exception):
    """A landing folder or file cannot be used at all (as opposed to a bad line)."""


@dataclass(frozen=True)
class LandingResult:
    arrival_date: dt.date
    files: int
    lines_read: int
    accepted: int
    rejected: int
    duplicates_in_partition: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.arrival_date}: files={self.files} read={self.lines_read} "
            f"accepted={self.accepted} rejected={self.rejected} "
            f"duplicates={self.duplicates_in_partition}"
        )


@dataclass
class _FileLines:
    """Lines of one file (an Arrow string array) plus file-level problems, ready for DuckDB."""

    lines: pa.Array
    bad_utf8: pa.Array | None = None  # per line; None when every line is valid UTF-8
    file_problem: tuple[str, str] | None = None  # (reason, detail)


_NO_LINES = pa.array([], pa.large_string())


def partition_folder(landing_dir: Path, arrival_date: dt.date) -> Path:
    return Path(landing_dir) / "events" / arrival_date.isoformat()


def list_arrival_dates(landing_dir: Path) -> tuple[list[dt.date], list[str]]:
    """Arrival dates present under `<landing>/events/`, and folder names that are not dates."""
    events_dir = Path(landing_dir) / "events"
    if not events_dir.is_dir():
        raise LandingError(
            f"landing folder not found: {events_dir} (expected events/<YYYY-MM-DD>/)"
        )
    dates, ignored = [], []
    for child in sorted(events_dir.iterdir()):
        if not child.is_dir():
            ignored.append(child.name)
            continue
        try:
            dates.append(dt.date.fromisoformat(child.name))
        except ValueError:
            ignored.append(child.name)
    return dates, ignored


def list_event_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(EVENT_FILE_SUFFIXES)
    )


def folder_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of a folder's event files: what `botmeter run`
    compares with raw.load_audit to land only new or changed arrival dates."""
    parts = [
        f"{p.name}|{p.stat().st_size}|{p.stat().st_mtime_ns}" for p in list_event_files(folder)
    ]
    return hashlib.md5("\n".join(parts).encode()).hexdigest()


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; on damage keep what decoded and report it."""
    out: list[bytes] = []
    while data:
        decomp = zlib.decompressobj(wbits=31)
        try:
            out.append(decomp.decompress(data))
        except zlib.error as exc:
            return b"".join(out), f"corrupt gzip stream: {exc}"
        if not decomp.eof:
            out.append(decomp.flush())
            return b"".join(out), "gzip stream ends before its end marker (truncated file)"
        data = decomp.unused_data.lstrip(b"\x00")
    return b"".join(out), None


def read_file_lines(path: Path) -> _FileLines:
    """Split a file into lines; never raises for bad content, reports it instead.

    The split happens in Arrow (validate UTF-8 once, split on newlines): building a Python
    string per line and converting them back cost more than the rest of reading together.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _FileLines(_NO_LINES, file_problem=("unreadable_file", str(exc)))
    problem = None
    if path.name.endswith(".gz"):
        data, gz_problem = _gunzip(data)
        if gz_problem:
            problem = ("truncated_file", gz_problem)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        return _FileLines(_NO_LINES, file_problem=problem)
    crlf = b"\r" in data
    try:
        text = pa.array([data], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        text = None
    if text is not None:
        lines = pc.list_flatten(pc.split_pattern(text, "\n"))
        return _FileLines(_strip_cr(lines) if crlf else lines, file_problem=problem)
    # Slow path only for files with broken bytes: find the bad lines one by one.
    decoded, bad = [], []
    for raw in data.split(b"\n"):
        try:
            decoded.append(raw.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            decoded.append(raw.decode("utf-8", errors="backslashreplace"))
            bad.append(True)
    lines = pa.array(decoded, pa.large_string())
    return _FileLines(
        _strip_cr(lines) if crlf else lines,
        bad_utf8=pa.array(bad, pa.bool_()),
        file_problem=problem,
    )


def _strip_cr(lines: pa.Array) -> pa.Array:
    """Windows line endings: drop trailing carriage returns (only files that have any pay)."""
    return pc.utf8_rtrim(lines, characters="\r")


def _batch_table(folder: Path) -> tuple[pa.Table, int]:
    """All lines of a folder as an Arrow table (source_file, line_number, line, flags)."""
    names, numbers, lines, bad, problems = [], [], [], [], []
    files = list_event_files(folder)
    for path in files:
        fl = read_file_lines(path)
        n = len(fl.lines)
        names.append(pa.repeat(pa.scalar(path.name, pa.string()), n))
        numbers.append(pa.array(np.arange(1, n + 1, dtype=np.int64)))
        lines.append(fl.lines)
        bad.append(fl.bad_utf8 if fl.bad_utf8 is not None else pa.repeat(pa.scalar(False), n))
        problems.append(pa.nulls(n, pa.string()))
        if fl.file_problem:
            reason, detail = fl.file_problem
            names.append(pa.array([path.name], pa.string()))
            numbers.append(pa.array([n + 1], pa.int64()))
            lines.append(pa.array([None], pa.large_string()))
            bad.append(pa.array([False], pa.bool_()))
            problems.append(pa.array([f"{reason}|{detail}"], pa.string()))

    def cat(chunks: list[pa.Array], kind: pa.DataType) -> pa.ChunkedArray:
        return pa.chunked_array(chunks, kind) if chunks else pa.chunked_array([], kind)

    table = pa.table(
        {
            "source_file": cat(names, pa.string()),
            "line_number": cat(numbers, pa.int64()),
            "line": cat(lines, pa.large_string()),
            "bad_utf8": cat(bad, pa.bool_()),
            "file_problem": cat(problems, pa.string()),
        }
    )
    return table, len(files)


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _sql_tuple(values) -> str:
    return "(" + _sql_list(values)[1:-1] + ")"


# Fields whose trimmed value (`x_`: empty as null) a rule or a raw.events column reads.
_TRIMMED = frozenset(
    {*REQUIRED_FIELDS, *(f for fs in REQUIRED_BY_TYPE.values() for f in fs), "ticket_id"}
)
# JSON types a text field must not have.
_NOT_TEXT = ("OBJECT", "ARRAY", "BOOLEAN")


def _classify_sql(arrival_date: dt.date) -> str:
    """One statement that parses, types and classifies every line of the batch.

    Each object is parsed once into a struct of strings (`json_transform`, the same text as
    `json_extract_string`: numbers as written, objects and arrays as JSON); struct fields cost
    nothing to read, unlike the elements of a list of extracted values, which took a third of
    landing. The JSON types the rules need (a text field that is an object, array or boolean;
    a timestamp that is not a string) come from one `json_type` list per line, and one lookup
    gives the first text field of a wrong type.
    """
    struct = "{" + ", ".join(f'"{f}": "VARCHAR"' for f in FIELDS if f != "properties") + "}"
    typed_paths = _sql_list(f"$.{f}" for f in ("occurred_at", *TEXT_FIELDS))
    fields = ",\n".join(
        [f"s.{f} as s_{f}" for f in FIELDS if f != "properties"]
        + [f"nullif(trim(s.{f}), '') as x_{f}" for f in FIELDS if f in _TRIMMED]
    )
    missing_common = "\n".join(
        f"when x_{f} is null then 'missing_field|{f}'" for f in REQUIRED_FIELDS
    )
    missing_by_type = "\n".join(
        f"when s_event_type = '{etype}' and x_{f} is null then 'missing_field|{f}'"
        for etype, required in REQUIRED_BY_TYPE.items()
        for f in required
    )
    arrival = f"date '{arrival_date.isoformat()}'"
    return f"""
    with parsed as (
        select
            source_file, line_number, line, bad_utf8, file_problem,
            case when not bad_utf8 and file_problem is null and json_valid(line)
                 and json_type(line) = 'OBJECT' then line end as obj
        from batch
    ),
    extracted as (
        select
            *,
            json_transform(obj, '{struct}') as s,
            json_type(obj, {typed_paths}) as t
        from parsed
    ),
    fields as (
        select
            source_file, line_number, line, bad_utf8, file_problem, obj,
            t[1] as j_occurred_at,
            list_position(
                list_transform(t[2:], lambda j: j in {_sql_tuple(_NOT_TEXT)}), true
            ) as bad_text,
            {fields}
        from extracted
    ),
    typed as (
        select
            *,
            timezone('UTC', try_cast(s_occurred_at as timestamptz)) as ts,
            try_cast(s_confidence as double) as confidence_d,
            try_cast(s_status_code as double) as status_d,
            try_cast(s_latency_ms as double) as latency_d,
            try_cast(s_value as double) as value_d,
            try_cast(s_is_fallback as boolean) as fallback_b
        from fields
    ),
    classified as (
        select
            *,
            case
                when obj is null then case
                    when file_problem is not null then file_problem
                    when bad_utf8 then 'invalid_utf8|line is not valid UTF-8'
                    when trim(line) = '' then 'blank_line|'
                    when not json_valid(line) then 'invalid_json|not valid JSON'
                    else 'invalid_json|JSON is not an object'
                end
                {missing_common}
                when bad_text > 0 then 'invalid_field|' || {_sql_list(TEXT_FIELDS)}[bad_text]
                when s_event_type not in {_sql_tuple(EVENT_TYPES)}
                    then 'unknown_event_type|' || s_event_type
                when j_occurred_at <> 'VARCHAR' or ts is null
                    then 'invalid_timestamp|' || s_occurred_at
                when ts < timestamp '{DATA_START_AT.isoformat(sep=" ")}'
                    then 'before_data_start|' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')
                when ts > {arrival} + interval 2 day
                    then 'future_timestamp|' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')
                {missing_by_type}
                when s_actor is not null and s_actor not in {_sql_tuple(ACTORS)}
                    then 'invalid_value|actor=' || s_actor
                when s_confidence is not null
                     and (confidence_d is null or confidence_d < 0 or confidence_d > 1
                          or isnan(confidence_d))
                    then 'invalid_value|confidence=' || s_confidence
                when s_status_code is not null
                     and (status_d is null or status_d <> floor(status_d)
                          or status_d < 0 or status_d > 999)
                    then 'invalid_value|status_code=' || s_status_code
                when s_latency_ms is not null
                     and (latency_d is null or latency_d < 0 or isnan(latency_d))
                    then 'invalid_value|latency_ms=' || s_latency_ms
                when s_value is not null and value_d is null
                    then 'invalid_value|value=' || s_value
                when s_is_fallback is not null and fallback_b is null
                    then 'invalid_value|is_fallback=' || s_is_fallback
            end as rejection
        from typed
    )
    select
        rejection,
        case when rejection is not null then line end as raw_line,
        {_typed_columns_sql(arrival_date)}
    from classified
    """


def _typed_columns_sql(arrival_date: dt.date) -> str:
    """The raw.events columns, typed inside the classify query (rejected rows: unused)."""
    exprs = {
        "event_id": "x_event_id",
        "event_type": "s_event_type",
        "occurred_at": "ts",
        "account_id": "x_account_id",
        "bot_id": "x_bot_id",
        "channel": "lower(x_channel)",
        "customer_id": "x_customer_id",
        "bot_name": "s_bot_name",
        "bot_version": "s_bot_version",
        "conversation_id": "x_conversation_id",
        "actor": "s_actor",
        "page_url": "s_page_url",
        "intent": "s_intent",
        "confidence": "confidence_d",
        "is_fallback": "fallback_b",
        "api_name": "s_api_name",
        "status_code": "try_cast(status_d as integer)",
        "latency_ms": "latency_d",
        "ticket_id": "x_ticket_id",
        "kpi_name": "s_kpi_name",
        "kpi_value": "value_d",
        "properties": "json_extract(obj, '$.properties')",
        "arrival_date": f"date '{arrival_date.isoformat()}'",
        "source_file": "source_file",
        "line_number": "line_number",
    }
    return ", ".join(f"{exprs[name]} as {name}" for name, _ in RAW_EVENT_COLUMNS)


RAW_COLUMN_LIST = ", ".join(name for name, _ in RAW_EVENT_COLUMNS)


def _insert_events_sql(arrival_date: dt.date) -> str:
    return (
        f"insert into raw.events ({RAW_COLUMN_LIST}) "
        f"select {RAW_COLUMN_LIST} from classified_batch "
        f"where rejection is null order by source_file, line_number"
    )


@dataclass(frozen=True)
class FolderBatch:
    """One arrival folder read into memory, with the fingerprint taken before reading."""

    arrival_date: dt.date
    fingerprint: str
    table: pa.Table
    files: int


def read_partition(landing_dir: Path, arrival_date: dt.date) -> FolderBatch:
    folder = partition_folder(landing_dir, arrival_date)
    fingerprint = folder_fingerprint(folder)
    table, n_files = _batch_table(folder)
    return FolderBatch(arrival_date, fingerprint, table, n_files)


def read_ahead(landing_dir: Path, dates: list[dt.date]) -> Iterator[FolderBatch]:
    """Folders in date order, the next one read on a thread while the caller lands this one.

    Reading (gunzip, decode, split) is Python work that releases the GIL in zlib and
    `bytes.decode`, and landing is DuckDB work that releases it too, so the two overlap on a
    multi-core machine; at most two folders are in memory at once.
    """
    if not dates:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="botmeter-read") as pool:
        pending = pool.submit(read_partition, landing_dir, dates[0])
        for next_day in [*dates[1:], None]:
            batch = pending.result()
            if next_day is not None:
                pending = pool.submit(read_partition, landing_dir, next_day)
            yield batch


@dataclass(frozen=True)
class _PreviousLanding:
    has_rows: bool  # if so, the hash of each row is in the temp table _PREVIOUS_HASHES
    checksum: str | None  # None: landed before checksums existed
    replaced: int  # rows removed or changed by earlier re-landings, not yet fully rebuilt


_PREVIOUS_HASHES = "previous_row_hashes"


def _remember_previous_rows(con: duckdb.DuckDBPyConnection, day: str) -> _PreviousLanding | None:
    """Before a date's rows are replaced: what its landing recorded, and (in a temp table) the
    hash of each of its rows. None when the date was never landed."""
    row = con.execute(
        "select accepted, events_checksum, coalesce(events_replaced, 0) from raw.load_audit "
        "where arrival_date = ?",
        [day],
    ).fetchone()
    if not row:
        return None
    accepted, checksum, replaced = row
    if accepted:
        con.execute(
            f"create or replace temp table {_PREVIOUS_HASHES} as "
            "select hash(e) as row_hash from raw.events as e where arrival_date = ?",
            [day],
        )
    return _PreviousLanding(bool(accepted), checksum, int(replaced))


def _replaced_rows(
    con: duckdb.DuckDBPyConnection, day: str, previous: _PreviousLanding | None, checksum: str
) -> int:
    """The date's pending count of replaced rows, plus the rows of its previous landing that
    the new one lacks (removed, or changed in any column). The incremental models only add
    rows, so the next whole build rebuilds every model while any date has some
    (orchestration/build_state.py); the count stays until then, whatever is re-landed."""
    if previous is None:
        return 0
    if not previous.has_rows:
        return previous.replaced
    lacking = 0
    if checksum != previous.checksum:  # the same rows again lack none
        lacking = con.execute(
            f"select count(*) from (from {_PREVIOUS_HASHES} except all "
            "select hash(e) from raw.events as e where arrival_date = ?)",
            [day],
        ).fetchone()[0]
    con.execute(f"drop table {_PREVIOUS_HASHES}")
    return previous.replaced + int(lacking)


def land_partition(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    arrival_date: dt.date,
    batch: FolderBatch | None = None,
) -> LandingResult:
    """Replace one arrival date's rows in raw.events/raw.quarantine/raw.load_audit atomically.

    A missing folder lands nothing, so a re-run after a folder was removed empties it too.
    `batch` is the folder already read (see `read_ahead`); without it the folder is read here.
    """
    if batch is None:
        batch = read_partition(landing_dir, arrival_date)
    if batch.arrival_date != arrival_date:
        raise LandingError(f"batch of {batch.arrival_date} handed to landing of {arrival_date}")
    fingerprint, n_files = batch.fingerprint, batch.files
    con.execute("set TimeZone = 'UTC'")
    ensure_raw_schema(con)
    con.register("batch", batch.table)
    try:
        con.execute("begin transaction")
        try:
            con.execute(
                f"create or replace temp table classified_batch as {_classify_sql(arrival_date)}"
            )
            day = arrival_date.isoformat()
            previous = _remember_previous_rows(con, day)
            for table in ("raw.events", "raw.quarantine", "raw.load_audit"):
                con.execute(f"delete from {table} where arrival_date = ?", [day])
            con.execute(_insert_events_sql(arrival_date))
            con.execute(
                """
                insert into raw.quarantine
                select ?::date, source_file, line_number, raw_line,
                       split_part(rejection, '|', 1),
                       nullif(substr(rejection, length(split_part(rejection, '|', 1)) + 2), '')
                from classified_batch where rejection is not null
                order by source_file, line_number
                """,
                [day],
            )
            counts = con.execute(
                """
                select
                    count(*),
                    count(*) filter (where rejection is null),
                    count(*) filter (where rejection is not null)
                from classified_batch
                """
            ).fetchall()[0]
            # The checksum (rows and the sum of their hashes, whatever their order) is what
            # orchestration.build_state compares to tell a re-landed day from a changed one.
            dupes, checksum = con.execute(
                """
                select
                    coalesce(sum(n - 1), 0),
                    coalesce(sum(n), 0)::varchar || ':' || coalesce(sum(h), 0)::varchar
                from (
                    select count(*) as n, sum(hash(e)::hugeint) as h
                    from raw.events as e where arrival_date = ?
                    group by event_id
                )
                """,
                [day],
            ).fetchall()[0]
            replaced = _replaced_rows(con, day, previous, checksum)
            by_reason = dict(
                con.execute(
                    "select reason, count(*) from raw.quarantine where arrival_date = ? "
                    "group by reason order by reason",
                    [day],
                ).fetchall()
            )
            con.execute(
                "insert into raw.load_audit values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    day,
                    n_files,
                    counts[0],
                    counts[1],
                    counts[2],
                    int(dupes),
                    json.dumps(by_reason),
                    fingerprint,
                    checksum,
                    int(replaced),
                ],
            )
            con.execute("drop table classified_batch")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.unregister("batch")
    return LandingResult(
        arrival_date=arrival_date,
        files=n_files,
        lines_read=int(counts[0]),
        accepted=int(counts[1]),
        rejected=int(counts[2]),
        duplicates_in_partition=int(dupes),
        rejected_by_reason={k: int(c) for k, c in by_reason.items()},
    )
