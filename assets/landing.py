"""Land one arrival folder of raw JSON Lines files into the warehouse.

Python only reads bytes; Arrow validates UTF-8 and splits lines; parsing, validation and
typing happen in one vectorized DuckDB statement. A partition is replaced in a single
transaction, so a crash half-way leaves the previous state and a re-run is idempotent.

Every entry of an arrival folder is accounted for in `raw.landing_files`: an event file is
read (every line lands in raw.events or raw.quarantine), anything else is skipped with the
reason. A folder's fingerprint is the SHA-256 of its event files' names and contents (plus the
names of skipped entries): `botmeter run` lands a date again exactly when it changed, even
when a file was rewritten with the same size and modification time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.raw_schema import (
    LANDING_FILE_COLUMNS,
    LOAD_COLUMNS,
    RAW_EVENT_COLUMNS,
    REQUIRED_BY_TYPE,
    REQUIRED_FIELDS,
    ensure_raw_schema,
)
from botmeter.settings import CheckSettings, Rules, load_check_settings, load_rules

# Raise when the classification rules change: every date is landed again by the next run.
CONTRACT_VERSION = 2
EVENT_SUFFIXES = (".jsonl", ".json", ".ndjson")
OTHER_COMPRESSIONS = (".bz2", ".xz", ".zst", ".zstd", ".lz4", ".zip", ".7z", ".tar", ".tgz")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# No UTC offset in use is larger than 14:00 (Kiribati): a bigger one is a typo, not a timezone.
MAX_OFFSET_MINUTES = 14 * 60
# hh, hhmm, hh:mm or hh:mm:ss after the time; groups: hours, minutes (seconds only count
# against the bound through the minutes they add, so +14:00:01 is refused too).
_OFFSET_PATTERN = r"'\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*[+-](\d{2}):?(\d{2})?(?::?(\d{2}))?$'"
GZIP_MAGIC = b"\x1f\x8b"
# The fingerprint part of a file that cannot be read (the same at landing and when compared).
UNREADABLE = "unreadable"

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


# The checksum of a date without rows (see `land_partition`: rows:sum of row hashes).
EMPTY_CHECKSUM = "0:0"


@dataclass(frozen=True)
class LandingResult:
    arrival_date: dt.date
    load_id: int
    files: int
    files_skipped: int
    lines_read: int
    accepted: int
    rejected: int
    duplicates_within_day: int
    has_changed_rows: bool
    events_replaced: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[tuple[str, str], ...] = ()

    def summary(self, duplicates_of_earlier_days: int | None = None) -> str:
        """One line: what was read and where every line went."""
        dupes = f"duplicates={self.duplicates_within_day} within the day"
        if duplicates_of_earlier_days is not None:
            dupes += f" + {duplicates_of_earlier_days} already delivered earlier"
        text = (
            f"{self.arrival_date}: files={self.files} read={self.lines_read} "
            f"accepted={self.accepted} rejected={self.rejected} {dupes}"
        )
        if self.files_skipped:
            text += f" skipped_files={self.files_skipped}"
        return text


# ------------------------------------------------------------------------ the landing folder


@dataclass(frozen=True)
class ArrivalFolders:
    """The arrival-date folders under `<landing>/events/`, and what was ignored and why."""

    dates: list[dt.date]
    ignored: list[tuple[str, str]]  # (name, reason)


def events_root(landing_dir: Path) -> Path:
    return Path(landing_dir) / "events"


def partition_folder(landing_dir: Path, arrival_date: dt.date) -> Path:
    return events_root(landing_dir) / arrival_date.isoformat()


def list_arrival_dates(
    landing_dir: Path, rules: Rules, today: dt.date | None = None
) -> ArrivalFolders:
    """Folders named YYYY-MM-DD from the data start to tomorrow (UTC); everything else under
    `events/` is ignored with a reason (a folder dated far ahead is a typo, not a day)."""
    root = events_root(landing_dir)
    if not root.is_dir():
        raise LandingError(f"landing folder not found: {root} (expected events/<YYYY-MM-DD>/)")
    today = today or dt.datetime.now(dt.UTC).date()
    try:
        children = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise LandingError(f"cannot read {root}: {exc.strerror or exc}") from None
    dates, ignored = [], []
    for child in children:
        if not child.is_dir():
            ignored.append((child.name, "a file, not an arrival-date folder (YYYY-MM-DD)"))
            continue
        day = None
        if DATE_FOLDER.match(child.name):
            try:
                day = dt.date.fromisoformat(child.name)
            except ValueError:
                pass
        if day is None:
            ignored.append((child.name, "not an arrival-date folder (YYYY-MM-DD)"))
        elif day > today + dt.timedelta(days=1):
            ignored.append((child.name, f"arrival date after tomorrow ({today} UTC)"))
        elif day < rules.data_start_date:
            ignored.append(
                (child.name, f"arrival date before the data start {rules.data_start_date}")
            )
        else:
            dates.append(day)
    return ArrivalFolders(dates, ignored)


@dataclass(frozen=True)
class FileStat:
    """What tells a file apart without reading it: a rewrite changes the change time (and a
    replacement the inode) even when size and modification time are kept."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


@dataclass(frozen=True)
class FolderEntry:
    name: str
    path: Path
    stat: FileStat | None
    skip_reason: str | None = None  # None: an event file, read

    @property
    def is_event_file(self) -> bool:
        return self.skip_reason is None


def _skip_reason(name: str) -> str | None:
    lower = name.lower()
    base = lower[:-3] if lower.endswith(".gz") else lower
    if name.startswith("."):
        return "a hidden file: not read"
    if base.endswith(EVENT_SUFFIXES):
        return None
    for suffix in OTHER_COMPRESSIONS:
        if lower.endswith(suffix):
            return f"compressed as {suffix[1:]}: only gzip (.gz) files are read"
    return "not an event file: .jsonl, .json or .ndjson (optionally .gz) are read"


def scan_folder(folder: Path) -> list[FolderEntry]:
    """Every entry of an arrival folder, sorted by name; a missing folder has none."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LandingError(f"cannot read arrival folder {folder}: {exc.strerror or exc}") from None
    out = []
    for entry in entries:
        path = Path(entry.path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            out.append(FolderEntry(entry.name, path, None, "a broken symbolic link"))
            continue
        except OSError as exc:
            out.append(FolderEntry(entry.name, path, None, f"cannot be read: {exc.strerror}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            out.append(FolderEntry(entry.name, path, None, "a sub-folder: its files are not read"))
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(FolderEntry(entry.name, path, None, "not a regular file"))
            continue
        file_stat = FileStat(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        out.append(FolderEntry(entry.name, path, file_stat, _skip_reason(entry.name)))
    return out


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(parts: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, value in parts:
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()


def folder_fingerprint(
    entries: list[FolderEntry], known: dict[str, tuple[FileStat, str]] | None = None
) -> str:
    """SHA-256 over the event files' names and contents and the skipped entries' names. A
    file whose stat is the one in `known` (name -> (stat, sha-256) recorded when it was
    landed) is not read again."""
    known = known or {}
    parts = []
    for entry in entries:
        if not entry.is_event_file:
            parts.append((entry.name, f"skipped:{entry.skip_reason}"))
            continue
        seen = known.get(entry.name)
        if seen and seen[1] and seen[0] == entry.stat:
            sha = seen[1]
        else:
            try:
                sha = _sha256_file(entry.path)
            except OSError:
                sha = UNREADABLE
        parts.append((entry.name, sha))
    return _fingerprint(parts)


# ----------------------------------------------------------------------------- reading files


@dataclass
class _FileLines:
    """Lines of one file (an Arrow string array) plus file-level problems, ready for DuckDB."""

    lines: pa.Array
    sha256: str | None = None
    bad_utf8: pa.Array | None = None  # per line; None when every line is valid UTF-8
    file_problem: tuple[str, str] | None = None  # (reason, detail): one quarantined row
    note: str | None = None  # what to know about the file (kept in raw.landing_files)


_NO_LINES = pa.array([], pa.large_string())


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
    A file named .gz that is not gzip-compressed is read as plain text (and noted).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = ("unreadable_file", exc.strerror or str(exc))
        return _FileLines(_NO_LINES, file_problem=problem, note=f"unreadable: {problem[1]}")
    sha = hashlib.sha256(data).hexdigest()
    problem, note = None, None
    if path.name.lower().endswith(".gz"):
        if data[:2] == GZIP_MAGIC:
            data, gz_problem = _gunzip(data)
            if gz_problem:
                problem, note = ("truncated_file", gz_problem), gz_problem
        elif data:
            note = "named .gz but not gzip-compressed: read as plain text"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        return _FileLines(_NO_LINES, sha, file_problem=problem, note=note)
    crlf = b"\r" in data
    try:
        text = pa.array([data], pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        text = None
    if text is not None:
        lines = pc.list_flatten(pc.split_pattern(text, "\n"))
        return _FileLines(_strip_cr(lines) if crlf else lines, sha, file_problem=problem, note=note)
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
        sha,
        bad_utf8=pa.array(bad, pa.bool_()),
        file_problem=problem,
        note=note,
    )


def _strip_cr(lines: pa.Array) -> pa.Array:
    """Windows line endings: drop trailing carriage returns (only files that have any pay)."""
    return pc.utf8_rtrim(lines, characters="\r")


@dataclass(frozen=True)
class FolderBatch:
    """One arrival folder read into memory: its lines, and one record per folder entry."""

    arrival_date: dt.date
    fingerprint: str
    table: pa.Table
    files: list[tuple]  # rows of raw.landing_files

    @property
    def landed_files(self) -> int:
        return sum(1 for f in self.files if f[2])

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(f[1], f[9]) for f in self.files if not f[2]]

    @property
    def notes(self) -> list[tuple[str, str]]:
        return [(f[1], f[9]) for f in self.files if f[2] and f[9]]


def read_partition(landing_dir: Path, arrival_date: dt.date) -> FolderBatch:
    """Every line of the folder's event files as an Arrow table (source_file, line_number,
    line, flags), and the folder's entries for raw.landing_files."""
    entries = scan_folder(partition_folder(landing_dir, arrival_date))
    names, numbers, lines, bad, problems, files, parts = [], [], [], [], [], [], []
    for entry in entries:
        st = entry.stat
        stat_cols = [st.size, st.mtime_ns, st.ctime_ns, st.inode] if st else [None] * 4
        if not entry.is_event_file:
            files.append(
                (arrival_date, entry.name, False, *stat_cols, None, None, entry.skip_reason)
            )
            parts.append((entry.name, f"skipped:{entry.skip_reason}"))
            continue
        fl = read_file_lines(entry.path)
        n = len(fl.lines)
        names.append(pa.repeat(pa.scalar(entry.name, pa.string()), n))
        numbers.append(pa.array(np.arange(1, n + 1, dtype=np.int64)))
        lines.append(fl.lines)
        bad.append(fl.bad_utf8 if fl.bad_utf8 is not None else pa.repeat(pa.scalar(False), n))
        problems.append(pa.nulls(n, pa.string()))
        if fl.file_problem:
            reason, detail = fl.file_problem
            names.append(pa.array([entry.name], pa.string()))
            numbers.append(pa.array([n + 1], pa.int64()))
            lines.append(pa.array([None], pa.large_string()))
            bad.append(pa.array([False], pa.bool_()))
            problems.append(pa.array([f"{reason}|{detail}"], pa.string()))
        read = n + (1 if fl.file_problem else 0)
        files.append((arrival_date, entry.name, True, *stat_cols, fl.sha256, read, fl.note))
        parts.append((entry.name, fl.sha256 or UNREADABLE))

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
    return FolderBatch(arrival_date, _fingerprint(parts), table, files)


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


# --------------------------------------------------------------------------- classification


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


def _classify_sql(arrival_date: dt.date, rules: Rules) -> str:
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
            -- an explicit UTC offset after the time (+hh, +hhmm or +hh:mm), in minutes
            coalesce(
                try_cast(regexp_extract(s_occurred_at, {_OFFSET_PATTERN}, 1) as integer) * 60
                + coalesce(
                    try_cast(regexp_extract(s_occurred_at, {_OFFSET_PATTERN}, 2) as integer), 0
                )
                + coalesce(
                    try_cast(regexp_extract(s_occurred_at, {_OFFSET_PATTERN}, 3) as integer), 0
                ) / 60.0,
                0
            ) as offset_minutes,
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
                when s_event_type not in {_sql_tuple(rules.event_types)}
                    then 'unknown_event_type|' || s_event_type
                when j_occurred_at <> 'VARCHAR' or ts is null
                     or offset_minutes > {MAX_OFFSET_MINUTES}
                    then 'invalid_timestamp|' || s_occurred_at
                when ts < timestamp '{rules.data_start_at.isoformat(sep=" ")}'
                    then 'before_data_start|' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')
                when ts > {arrival} + interval 2 day
                    then 'future_timestamp|' || strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')
                {missing_by_type}
                when s_actor is not null and s_actor not in {_sql_tuple(rules.actors)}
                    then 'invalid_value|actor=' || s_actor
                when s_confidence is not null
                     and (confidence_d is null or not isfinite(confidence_d)
                          or confidence_d < 0 or confidence_d > 1)
                    then 'invalid_value|confidence=' || s_confidence
                when s_status_code is not null
                     and (status_d is null or not isfinite(status_d)
                          or status_d <> floor(status_d) or status_d < 0 or status_d > 999)
                    then 'invalid_value|status_code=' || s_status_code
                when s_latency_ms is not null
                     and (latency_d is null or not isfinite(latency_d) or latency_d < 0)
                    then 'invalid_value|latency_ms=' || s_latency_ms
                when s_value is not null and (value_d is null or not isfinite(value_d))
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


def contract_fingerprint(rules: Rules, checks: CheckSettings) -> str:
    """What a landing depends on besides the files: the classification (CONTRACT_VERSION),
    the rules it applies and the settings of the checks that validate it. A date landed
    under another contract is landed again."""
    settings = checks.model_dump(mode="json")
    text = json.dumps(
        {
            "version": CONTRACT_VERSION,
            "data_start_at": rules.data_start_at.isoformat(),
            "event_types": rules.event_types,
            "actors": rules.actors,
            "checks": settings,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _PreviousLanding:
    has_rows: bool  # if so, the hash of each row is in the temp table _PREVIOUS_HASHES
    checksum: str


_PREVIOUS_HASHES = "previous_row_hashes"


def _remember_previous_rows(con: duckdb.DuckDBPyConnection, day: str) -> _PreviousLanding | None:
    """Before a date's rows are replaced: its landing's checksum, and (in a temp table) the
    hash of each of its rows. None when the date was never landed."""
    row = con.execute(
        "select accepted, events_checksum from raw.load_audit where arrival_date = ?", [day]
    ).fetchone()
    if not row:
        return None
    accepted, checksum = row
    if accepted:
        con.execute(
            f"create or replace temp table {_PREVIOUS_HASHES} as "
            "select hash(e) as row_hash from raw.events as e where arrival_date = ?",
            [day],
        )
    return _PreviousLanding(bool(accepted), checksum)


def _replaced_rows(
    con: duckdb.DuckDBPyConnection, day: str, previous: _PreviousLanding | None, checksum: str
) -> int:
    """Rows of the date's previous landing that the new one lacks (removed, or changed in any
    column). The incremental models only add rows, so a build whose batch holds such a
    landing rebuilds every model (dbt_project/macros/build_record.sql)."""
    if previous is None or not previous.has_rows:
        return 0
    lacking = 0
    if checksum != previous.checksum:  # the same rows again lack none
        lacking = con.execute(
            f"select count(*) from (from {_PREVIOUS_HASHES} except all "
            "select hash(e) from raw.events as e where arrival_date = ?)",
            [day],
        ).fetchone()[0]
    con.execute(f"drop table {_PREVIOUS_HASHES}")
    return int(lacking)


LOAD_COLUMN_LIST = ", ".join(name for name, _ in LOAD_COLUMNS)
Validator = Callable[[duckdb.DuckDBPyConnection, dt.date], None]


def land_partition(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    arrival_date: dt.date,
    rules: Rules | None = None,
    checks: CheckSettings | None = None,
    batch: FolderBatch | None = None,
    validate: Validator | None = None,
) -> LandingResult:
    """Replace one arrival date's rows in the raw layer atomically, as a new load.

    A missing folder lands nothing, so landing a date whose folder was removed empties it.
    `batch` is the folder already read (see `read_ahead`); without it the folder is read here.
    `validate` runs inside the transaction once the rows are in place: raising refuses the
    landing (the previous state stays).
    """
    rules = rules or load_rules()
    checks = checks or load_check_settings()
    if batch is None:
        batch = read_partition(landing_dir, arrival_date)
    if batch.arrival_date != arrival_date:
        raise LandingError(f"batch of {batch.arrival_date} handed to landing of {arrival_date}")
    con.execute("set TimeZone = 'UTC'")
    ensure_raw_schema(con)
    day = arrival_date.isoformat()
    con.register("batch", batch.table)
    try:
        con.execute("begin transaction")
        try:
            con.execute(
                "create or replace temp table classified_batch as "
                + _classify_sql(arrival_date, rules)
            )
            previous = _remember_previous_rows(con, day)
            for table in ("raw.events", "raw.quarantine", "raw.load_audit", "raw.landing_files"):
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
            if batch.files:
                marks = ", ".join("?" for _ in LANDING_FILE_COLUMNS)
                con.executemany(f"insert into raw.landing_files values ({marks})", batch.files)
            read, accepted, rejected = con.execute(
                """
                select
                    count(*),
                    count(*) filter (where rejection is null),
                    count(*) filter (where rejection is not null)
                from classified_batch
                """
            ).fetchone()
            # The checksum (rows and the sum of their hashes, whatever their order) tells a
            # re-landed day from a changed one.
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
            ).fetchone()
            replaced = _replaced_rows(con, day, previous, checksum)
            # A date never landed before had no rows: an empty new folder changes nothing.
            changed = checksum != (previous.checksum if previous else EMPTY_CHECKSUM)
            by_reason = dict(
                con.execute(
                    "select reason, count(*) from raw.quarantine where arrival_date = ? "
                    "group by reason order by reason",
                    [day],
                ).fetchall()
            )
            load_id = con.execute("select nextval('raw.load_ids')").fetchone()[0]
            row = [
                day,
                load_id,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                batch.landed_files,
                len(batch.files) - batch.landed_files,
                read,
                accepted,
                rejected,
                int(dupes),
                0,  # duplicates_of_earlier_days: `count_earlier_duplicates`, once all are in
                json.dumps(by_reason),
                batch.fingerprint,
                checksum,
                replaced,
                changed,
                contract_fingerprint(rules, checks),
                None,  # contract_passed: set by the raw checks once every date is in
            ]
            marks = ", ".join("?" for _ in LOAD_COLUMNS)
            for table in ("raw.load_audit", "raw.load_history"):
                con.execute(f"insert into {table} ({LOAD_COLUMN_LIST}) values ({marks})", row)
            con.execute("drop table classified_batch")
            if validate is not None:
                validate(con, arrival_date)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.unregister("batch")
    return LandingResult(
        arrival_date=arrival_date,
        load_id=int(load_id),
        files=batch.landed_files,
        files_skipped=len(batch.files) - batch.landed_files,
        lines_read=int(read),
        accepted=int(accepted),
        rejected=int(rejected),
        duplicates_within_day=int(dupes),
        has_changed_rows=bool(changed),
        events_replaced=replaced,
        rejected_by_reason={k: int(c) for k, c in by_reason.items()},
        skipped=tuple(batch.skipped),
        notes=tuple(batch.notes),
    )


def count_earlier_duplicates(
    con: duckdb.DuckDBPyConnection, dates: list[dt.date]
) -> dict[dt.date, int]:
    """Per landed date: accepted rows whose event_id had already arrived on an earlier arrival
    date (staging keeps that earlier copy). Recorded on the dates' current loads; one pass
    over the raw rows of the dates and the event ids before them, whatever the number of
    dates."""
    if not dates:
        return {}
    counts = dict(
        con.execute(
            """
            with landed as (
                select arrival_date, event_id from raw.events
                where list_contains(?::date[], arrival_date)
            ),
            first_arrivals as (
                select event_id, min(arrival_date) as first_arrival_date
                from raw.events
                where event_id in (select event_id from landed)
                group by event_id
            )
            select landed.arrival_date, count(*)
            from landed
            inner join first_arrivals using (event_id)
            where first_arrivals.first_arrival_date < landed.arrival_date
            group by landed.arrival_date
            """,
            [dates],
        ).fetchall()
    )
    counts = {day: int(counts.get(day, 0)) for day in dates}
    for table in ("raw.load_audit", "raw.load_history"):
        con.execute(
            f"""update {table} as t set duplicates_of_earlier_days = c.n
                from (select unnest(?::date[]) as d, unnest(?::bigint[]) as n) as c
                where t.arrival_date = c.d
                  and t.load_id = (select load_id from raw.load_audit where arrival_date = c.d)""",
            [list(counts), list(counts.values())],
        )
    return counts


def remove_dates(
    con: duckdb.DuckDBPyConnection, keep: list[dt.date], rules: Rules, checks: CheckSettings
) -> list[dt.date]:
    """A full refresh of the raw layer: dates not in `keep` lose their rows, as a new empty
    load each (so the next build sees the removal and rebuilds every model)."""
    ensure_raw_schema(con)
    gone = [
        r[0]
        for r in con.execute(
            "select arrival_date from raw.load_audit "
            "where not list_contains(?::date[], arrival_date) "
            "and (files > 0 or files_skipped > 0 or lines_read > 0) order by 1",
            [keep],
        ).fetchall()
    ]
    empty = pa.table(
        {
            "source_file": pa.array([], pa.string()),
            "line_number": pa.array([], pa.int64()),
            "line": pa.array([], pa.large_string()),
            "bad_utf8": pa.array([], pa.bool_()),
            "file_problem": pa.array([], pa.string()),
        }
    )
    for day in gone:
        tombstone = FolderBatch(day, _fingerprint([]), empty, [])
        land_partition(con, Path("/nonexistent"), day, rules, checks, batch=tombstone)
    return gone
