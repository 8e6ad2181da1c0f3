"""great-expectations suites run on pandas DataFrames pulled from DuckDB.

GX 1.24 over SQLAlchemy/duckdb-engine fails on column lookup and result fetching, so each
suite validates a DataFrame of the run's *slice* (the rows a run can have changed, plus any
row before the data start, which a zone-map-pruned filter finds cheaply), with a pandas
datasource in an ephemeral context. A failing validation also renders GX Data Docs into
`<warehouse folder>/gx_docs/<suite>/index.html`, linked from the check metadata.

Billing suites (data start, uniqueness) are blocking; value suites (not-null keys, accepted
values, ranges, session end >= start) warn. dbt tests are not repeated here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
from checks.core import (
    BLOCKING,
    DATA_START_AT,
    WARN,
    CheckOutcome,
    Window,
    affected_from,
    columns,
    records,
    table_exists,
)
from checks.settings import CheckSettings, load_check_settings
from orchestration.memory import release_freed_memory

from assets.raw_schema import ACTORS, EVENT_TYPES
from botmeter.settings import PROJECT_ROOT

DATA_START_MONTH = dt.datetime(DATA_START_AT.year, DATA_START_AT.month, 1)


@dataclass(frozen=True)
class Suite:
    name: str
    table: str  # schema.table
    severity: str
    description: str
    # (settings, columns of the table) -> list of GX expectations
    expectations: Callable[[CheckSettings, list[str]], list]
    slice_kind: str = "mart"  # raw | staging | mart
    time_column: str | None = None  # for the slice; None: first date/timestamp column

    @property
    def unique_key(self) -> tuple[str, ...]:
        """Columns the suite checks unique (chunks are split on them)."""
        return getattr(self.expectations, "unique_key", ())


def _gx():
    import great_expectations as gx
    from great_expectations.execution_engine import pandas_execution_engine

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    # GX fingerprints every DataFrame under this many bytes by hashing each row (a batch
    # marker for its caches, which an ephemeral context never reads): 1.3 s per 1.7M rows,
    # more than the expectations themselves. 0 turns the fingerprint off.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return gx


# ---------------------------------------------------------------------------- expectations


def _data_start(cols: list[str], types: dict[str, str] | None = None) -> list:
    """Every date/timestamp column of a billing table is on or after the data start."""
    gx = _gx()
    out = []
    for col in cols:
        kind = (types or {}).get(col, "")
        if not (kind.startswith("DATE") or kind.startswith("TIMESTAMP")):
            continue
        if col.endswith("_month"):
            floor = DATA_START_MONTH
        elif col in {"session_window_end_at"}:
            continue  # derived, always later than its start
        else:
            floor = DATA_START_AT
        out.append(gx.expectations.ExpectColumnValuesToBeBetween(column=col, min_value=floor))
    return out


def _unique(*cols: str) -> list:
    gx = _gx()
    if len(cols) == 1:
        return [
            gx.expectations.ExpectColumnValuesToNotBeNull(column=cols[0]),
            gx.expectations.ExpectColumnValuesToBeUnique(column=cols[0]),
        ]
    return [gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(cols))]


def _not_null(cols: list[str], *names: str) -> list:
    gx = _gx()
    return [gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in names if c in cols]


def _event_values(settings: CheckSettings, cols: list[str]) -> list:
    gx = _gx()
    return [
        *_not_null(
            cols,
            "event_id",
            "event_type",
            "occurred_at",
            "account_id",
            "bot_id",
            "customer_id",
            "channel",
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="event_type", value_set=list(EVENT_TYPES)
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(column="actor", value_set=list(ACTORS)),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="channel", value_set=list(settings.channels)
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="confidence", min_value=0, max_value=1
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(column="latency_ms", min_value=0),
    ]


def _session_values(settings: CheckSettings, cols: list[str]) -> list:
    gx = _gx()
    return [
        *_not_null(
            cols,
            "session_id",
            "account_id",
            "bot_id",
            "customer_id",
            "session_start_at",
            "session_end_at",
            "session_date",
        ),
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="session_end_at", column_B="session_start_at", or_equal=True
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(column="user_event_count", min_value=1),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="first_channel", value_set=list(settings.channels)
        ),
    ]


def _bridge_values(settings: CheckSettings, cols: list[str]) -> list:
    gx = _gx()
    return [
        *_not_null(cols, "session_id", "conversation_id", "account_id", "bot_id"),
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="last_event_in_session_at",
            column_B="first_event_in_session_at",
            or_equal=True,
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="channel", value_set=list(settings.channels)
        ),
    ]


# The types are needed for the data-start expectations; `_TYPES` is filled per validation.
_TYPES: dict[str, str] = {}


def _billing(*key: str) -> Callable[[CheckSettings, list[str]], list]:
    def build(settings: CheckSettings, cols: list[str]) -> list:
        unique = _unique(*key) if key and all(k in cols for k in key) else []
        return [*unique, *_data_start(cols, _TYPES)]

    build.unique_key = key
    return build


SUITES: tuple[Suite, ...] = (
    Suite(
        "raw_events_data_start",
        "raw.events",
        BLOCKING,
        "Landed events of the run's arrival dates are all on or after the data start "
        "(2022-02-04 00:00 UTC).",
        lambda s, c: _data_start(["occurred_at"], {"occurred_at": "TIMESTAMP"}),
        slice_kind="raw",
        time_column="occurred_at",
    ),
    Suite(
        "raw_events_value_rules",
        "raw.events",
        WARN,
        "Landed events have known event types, actors and configured channels "
        "(config/checks.yml), confidence in [0, 1] and latency_ms >= 0.",
        _event_values,
        slice_kind="raw",
        time_column="occurred_at",
    ),
    Suite(
        "stg_events_billing_rules",
        "staging.stg_botmeter__events",
        BLOCKING,
        "Staged events: event_id present and unique, nothing before the data start.",
        _billing("event_id"),
        slice_kind="staging",
        time_column="occurred_at",
    ),
    Suite(
        "stg_events_value_rules",
        "staging.stg_botmeter__events",
        WARN,
        "Staged events: keys not null, known event types/actors/channels, confidence in "
        "[0, 1], latency_ms >= 0.",
        _event_values,
        slice_kind="staging",
        time_column="occurred_at",
    ),
    Suite(
        "fct_sessions_billing_rules",
        "marts.fct_sessions",
        BLOCKING,
        "Sessions: session_id present and unique, no session before the data start.",
        _billing("session_id"),
        time_column="session_start_at",
    ),
    Suite(
        "fct_sessions_value_rules",
        "marts.fct_sessions",
        WARN,
        "Sessions: keys not null, session end >= start, >= 1 user event, first channel configured.",
        _session_values,
        time_column="session_start_at",
    ),
    Suite(
        "bridge_session_conversations_billing_rules",
        "marts.bridge_session_conversations",
        BLOCKING,
        "Session-conversation bridge: (session_id, conversation_id) unique, nothing before "
        "the data start.",
        _billing("session_id", "conversation_id"),
        time_column="session_start_at",
    ),
    Suite(
        "bridge_session_conversations_value_rules",
        "marts.bridge_session_conversations",
        WARN,
        "Bridge: keys not null, last event >= first event, channel configured.",
        _bridge_values,
        time_column="session_start_at",
    ),
    Suite(
        "bridge_session_channels_billing_rules",
        "marts.bridge_session_channels",
        BLOCKING,
        "Session-channel bridge: (session_id, channel) unique, nothing before the data start.",
        _billing("session_id", "channel"),
        time_column="session_start_at",
    ),
    Suite(
        "fct_tickets_billing_rules",
        "marts.fct_tickets",
        BLOCKING,
        "Tickets: ticket_id present and unique, nothing before the data start.",
        _billing("ticket_id"),
        time_column="ticket_created_at",
    ),
    Suite(
        "dim_conversations_billing_rules",
        "marts.dim_conversations",
        BLOCKING,
        "Conversations: conversation_id present and unique, nothing before the data start.",
        _billing("conversation_id"),
        time_column="conversation_updated_at",
    ),
    Suite(
        "agg_sessions_daily_billing_rules",
        "marts.agg_sessions_daily",
        BLOCKING,
        "Daily sessions per channel: one row per (day, account, bot, channel), no day "
        "before the data start.",
        _billing("session_date", "account_id", "bot_id", "channel"),
        time_column="session_date",
    ),
    Suite(
        "agg_sessions_daily_total_billing_rules",
        "marts.agg_sessions_daily_total",
        BLOCKING,
        "Daily sessions: one row per (day, account, bot), no day before the data start.",
        _billing("session_date", "account_id", "bot_id"),
        time_column="session_date",
    ),
    Suite(
        "agg_sessions_monthly_billing_rules",
        "marts.agg_sessions_monthly",
        BLOCKING,
        "Monthly sessions per channel: one row per (month, account, bot, channel), no month "
        "before the data start.",
        _billing("session_month", "account_id", "bot_id", "channel"),
        time_column="session_month",
    ),
    Suite(
        "agg_sessions_monthly_total_billing_rules",
        "marts.agg_sessions_monthly_total",
        BLOCKING,
        "Monthly sessions (the billing figure): one row per (month, account, bot), no month "
        "before the data start.",
        _billing("session_month", "account_id", "bot_id"),
        time_column="session_month",
    ),
    # Engagement marts (added by another workstream): validated when they exist.
    Suite(
        "fct_impressions_billing_rules",
        "marts.fct_impressions",
        BLOCKING,
        "Impressions: impression_id present and unique, nothing before the data start.",
        _billing("impression_id"),
    ),
    Suite(
        "agg_impressions_daily_billing_rules",
        "marts.agg_impressions_daily",
        BLOCKING,
        "Daily impressions: no day before the data start.",
        _billing(),
    ),
    Suite(
        "agg_intents_daily_billing_rules",
        "marts.agg_intents_daily",
        BLOCKING,
        "Daily intents: no day before the data start.",
        _billing(),
    ),
    Suite(
        "agg_api_calls_daily_billing_rules",
        "marts.agg_api_calls_daily",
        BLOCKING,
        "Daily API calls: no day before the data start.",
        _billing(),
    ),
    Suite(
        "agg_kpis_daily_billing_rules",
        "marts.agg_kpis_daily",
        BLOCKING,
        "Daily KPIs: no day before the data start.",
        _billing(),
    ),
    Suite(
        "agg_kpis_monthly_billing_rules",
        "marts.agg_kpis_monthly",
        BLOCKING,
        "Monthly KPIs: no month before the data start.",
        _billing(),
    ),
    Suite(
        "agg_usage_daily_billing_rules",
        "marts.agg_usage_daily",
        BLOCKING,
        "Daily usage: no day before the data start.",
        _billing(),
    ),
)

SUITES_BY_NAME = {s.name: s for s in SUITES}


# ---------------------------------------------------------------------------- slices


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    return dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    )


@dataclass(frozen=True)
class SliceQuery:
    """The SQL of a suite's slice: `where` selects the rows, `key` splits them into chunks."""

    table: str
    where: str
    params: list
    label: str
    types: dict[str, str]
    selected: list[str]
    key: list[str]

    def count(self, con: duckdb.DuckDBPyConnection) -> int:
        sql = f"select count(*) from {self.table} where {self.where}"
        return int(con.execute(sql, self.params).fetchone()[0])

    def frame(
        self, con: duckdb.DuckDBPyConnection, chunk: int = 0, chunks: int = 1
    ) -> pd.DataFrame:
        """One chunk of the slice as pandas: rows whose key hashes to `chunk` modulo `chunks`.

        Rows come through Arrow (4-5x faster than `.df()` for string columns) with
        timestamps as nanoseconds, the resolution GX compares vectorised (others go row by
        row in Python).
        """
        where, params = self.where, list(self.params)
        if chunks > 1:
            keys = ", ".join(f'"{c}"' for c in self.key)
            # Integers inlined: untyped parameters here make DuckDB 5x slower.
            where = f"({where}) and hash({keys}) % {int(chunks)} = {int(chunk)}"
        cols = ", ".join(f'"{c}"' for c in self.selected)
        # A cursor: `con` may hold a half-read result, and a relation's Arrow output (unlike
        # a DB-API result's) is not copied once more.
        with con.cursor() as cur:
            sql = f"select {cols} from {self.table} where {where}"
            arrow = cur.sql(sql, params=params).to_arrow_table()
        for i, f in enumerate(arrow.schema):
            arrow = arrow.set_column(i, f.name, _gx_friendly(arrow.column(i)))
        frame = arrow.to_pandas()
        for col, kind in self.types.items():
            if kind == "JSON" and col in frame:
                frame[col] = frame[col].astype("string")
        return frame


def _gx_friendly(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps and dates as nanosecond timestamps, the resolution GX compares vectorised
    (others go row by row in Python); repetitive strings (types, channels, account ids) as
    dictionaries, i.e. pandas categoricals, which GX's many row filters copy as integer codes
    instead of string bytes. Near-unique strings (event ids) stay plain: a dictionary as big
    as the column costs more to build than it saves."""
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return column.cast(pa.timestamp("ns"))
    if (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and len(column) >= 1000:
        probe = column.slice(0, 10_000)
        if pa.compute.count_distinct(probe).as_py() * 20 <= len(probe):
            return pa.compute.dictionary_encode(column)
    return column


def slice_query(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    window: Window,
    columns: list[str] | None = None,
    types: dict[str, str] | None = None,
) -> SliceQuery:
    """The rows a run over `window` can have changed, plus rows before the data start.

    `columns` narrows the frame to what the expectations read (plus the table's first `*_id`
    column, which names a failing row in the sample): at 10M rows every extra string column
    costs about a gigabyte of pandas memory. `types`: the table's column types, if the
    caller already has them.
    """
    types = types or _column_types(con, suite.table)
    time_col = suite.time_column or next(
        (c for c, t in types.items() if t.startswith(("DATE", "TIMESTAMP"))), None
    )
    floor = DATA_START_MONTH if (time_col or "").endswith("_month") else DATA_START_AT
    if window.whole or (suite.slice_kind == "staging" and _covers_every_landed_date(con, window)):
        where, params, label = "true", [], "all rows"
    elif suite.slice_kind == "raw":
        where, params = "arrival_date between ? and ?", [window.first, window.last]
        label = f"arrival dates {window.first}..{window.last}"
    elif suite.slice_kind == "staging":
        where = "event_id in (select event_id from raw.events where arrival_date between ? and ?)"
        params = [window.first, window.last]
        label = f"events landed {window.first}..{window.last}"
    elif time_col is None:
        where, params, label = "true", [], "all rows (no time column)"
    else:
        since = affected_from(con, window)
        if time_col.endswith("_month"):
            since = dt.datetime(since.year, since.month, 1)
        where, params = f'"{time_col}" >= ?', [since]
        label = f"{time_col} >= {since}"
    if time_col is not None and where != "true":
        where = f'({where}) or "{time_col}" < ?'
        params.append(floor)
        label += f" (+ rows before {floor:%Y-%m-%d})"
    first_id = next((c for c in types if c.endswith("_id")), None)  # names a failing row
    if columns is None:
        selected = list(types)
    else:
        keep = set(columns) | ({first_id} if first_id else set())
        selected = [c for c in types if c in keep] or list(types)
    # Chunk by the suite's unique key when it has one (equal keys land in one chunk, so
    # uniqueness stays exact), else by the row's id.
    key = list(suite.unique_key) or ([first_id] if first_id else selected[:1])
    return SliceQuery(suite.table, where, params, label, types, selected, key)


def _covers_every_landed_date(con: duckdb.DuckDBPyConnection, window: Window) -> bool:
    """A window spanning every landed arrival date (a full refresh) touches every staged row:
    the slice is the whole table, without the semi-join against raw.events."""
    if not table_exists(con, "raw.load_audit"):
        return False
    first, last = con.execute(
        "select min(arrival_date), max(arrival_date) from raw.load_audit"
    ).fetchone()
    return first is not None and window.first <= first and window.last >= last


# ---------------------------------------------------------------------------- running


def docs_root(con: duckdb.DuckDBPyConnection) -> Path:
    """`gx_docs/` next to the warehouse file (data/gx_docs for the default warehouse)."""
    try:
        path = con.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchone()[0]
    except duckdb.Error:
        path = None
    base = Path(path).parent if path else PROJECT_ROOT / "data"
    return base / "gx_docs"


def validate_frame(
    suite: Suite,
    frame: pd.DataFrame,
    settings: CheckSettings,
    docs_dir: Path | None = None,
    types: dict[str, str] | None = None,
) -> CheckOutcome:
    """Validate one DataFrame with the suite's expectations in an ephemeral GX context."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    cols = list(frame.columns)
    _TYPES.clear()
    _TYPES.update(types or {})
    wanted = _applicable(suite, settings, cols)
    if not wanted:
        return CheckOutcome(
            suite.name,
            True,
            suite.severity,
            "no applicable columns",
            details={"rows_validated": len(frame)},
        )
    # Pass or fail first: COMPLETE results (counts, failing row indexes) make GX copy the whole
    # frame once per expectation, 3 s of a 10M-row suite. Only a failing chunk is validated
    # again for them, with its Data Docs page.
    run, _ = _checkpoint_run(suite, wanted, frame, "BOOLEAN_ONLY", None)
    docs_page = None
    if not run.success:
        # Expectation objects built afresh for the second context, as for the first.
        again = _applicable(suite, settings, cols)
        run, docs_page = _checkpoint_run(suite, again, frame, "COMPLETE", docs_dir)
    failed, failing_rows, per_expectation = 0, [], []
    for result in next(iter(run.run_results.values())).results:
        cfg = result.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
        count = int(result.result.get("unexpected_count") or 0)
        if not result.success and count == 0 and result.exception_info:
            count = 1  # an expectation that could not run counts as failed
        per_expectation.append(
            {
                "expectation": cfg.type,
                **{k: str(v) for k, v in kwargs.items()},
                "success": bool(result.success),
                "unexpected_count": count,
            }
        )
        if not result.success:
            failed += count
            failing_rows += list(result.result.get("unexpected_index_list") or [])[
                : settings.sample_rows
            ]
    sample_idx = list(dict.fromkeys(i for i in failing_rows if i in frame.index))[
        : settings.sample_rows
    ]
    sample = records(frame.loc[sample_idx], settings.sample_rows) if sample_idx else []
    broken = [e for e in per_expectation if not e["success"]]
    summary = _summary(broken, len(wanted), len(frame))
    details = {"rows_validated": len(frame), "expectations": per_expectation}
    if docs_page is not None:
        details["data_docs"] = str(docs_page)
    return CheckOutcome(
        suite.name,
        bool(run.success),
        suite.severity,
        summary,
        failed_count=failed,
        sample=sample,
        details=details,
    )


def _applicable(suite: Suite, settings: CheckSettings, cols: list[str]) -> list:
    """The suite's expectations whose columns are all in the frame."""
    return [e for e in suite.expectations(settings, cols) if _columns_of(e) <= set(cols)]


def _checkpoint_run(suite: Suite, expectations: list, frame, result_format: str, docs_dir):
    """One checkpoint run of `expectations` on `frame` in a fresh ephemeral context; the Data
    Docs page (rendered into `docs_dir` when given and the run failed), else None."""
    gx = _gx()
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    batch_def = (
        context.data_sources.add_pandas("duckdb_frames")
        .add_dataframe_asset(suite.table)
        .add_batch_definition_whole_dataframe("slice")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=expectations))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_def, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=suite.name,
            validation_definitions=[validation],
            actions=[],
            result_format={"result_format": result_format},
        )
    )
    try:
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        docs_page = None
        if docs_dir is not None and not run.success:
            docs_page = _render_data_docs(context, docs_dir)
    finally:
        # GX keeps the newest context alive module-wide, and its datasource holds the frame:
        # at 10M rows that was 1-2 GB held through the dbt step. Dropping the datasource
        # lets the frame go with this call.
        context.data_sources.delete("duckdb_frames")
    return run, docs_page


def _render_data_docs(context, docs_dir: Path) -> Path:
    """Render the context's validation results as a Data Docs site in `docs_dir`.

    Only failing validations get a page: rendering costs ~0.3 s per suite (GX compiles its
    Jinja templates per context), which on every passing check of every run was a third of a
    daily run's fixed cost, for pages nobody opens.
    """
    docs_dir.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(
        site_name="botmeter",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.build_data_docs(site_names=["botmeter"])
    return docs_dir / "index.html"


def _columns_of(expectation) -> set[str]:
    cols = set()
    for attr in ("column", "column_A", "column_B"):
        value = getattr(expectation, attr, None)
        if value:
            cols.add(value)
    cols.update(getattr(expectation, "column_list", None) or [])
    return cols


def run_suite(
    con: duckdb.DuckDBPyConnection,
    suite: Suite | str,
    window: Window,
    settings: CheckSettings | None = None,
    build_docs: bool = True,
) -> CheckOutcome:
    """Validate the suite's table slice for `window`; a table not built yet passes (skipped).

    A slice over `settings.gx_chunk_rows` (a full refresh at 10M events) is validated chunk
    by chunk, one DataFrame in memory at a time, and the chunks' results are added up.
    """
    suite = SUITES_BY_NAME[suite] if isinstance(suite, str) else suite
    settings = settings or load_check_settings()
    if not table_exists(con, suite.table):
        return CheckOutcome(
            suite.name,
            True,
            suite.severity,
            f"{suite.table} does not exist yet: skipped",
            details={"skipped": True},
        )
    types = _column_types(con, suite.table)
    _TYPES.clear()
    _TYPES.update(types)
    needed = set().union(*(_columns_of(e) for e in suite.expectations(settings, list(types))))
    query = slice_query(con, suite, window, columns=sorted(needed), types=types)
    rows = query.count(con)
    chunks = max(1, -(-rows // settings.gx_chunk_rows))
    docs_dir = docs_root(con) / suite.name if build_docs else None
    outcomes = []
    for frame in _read_ahead(con, query, chunks):
        # Data Docs of the first failing chunk only: one page per suite, as without chunks.
        docs = docs_dir if all(o.passed for o in outcomes) else None
        outcomes.append(validate_frame(suite, frame, settings, docs, types=types))
        del frame
        release_freed_memory()
    outcome = outcomes[0] if chunks == 1 else merge_chunk_outcomes(suite, outcomes, settings)
    outcome.details["slice"] = query.label
    outcome.details["table"] = suite.table
    if chunks > 1:
        outcome.details["chunks"] = chunks
        outcome.details["chunk_key"] = query.key
    return outcome


def _read_ahead(
    con: duckdb.DuckDBPyConnection, query: SliceQuery, chunks: int
) -> Iterator[pd.DataFrame]:
    """The slice's chunks in order, the next one fetched on a thread while this one is
    validated: the fetch is DuckDB and Arrow work that releases the GIL, validation is
    pandas, so on 2 cores they overlap (a 10M-row suite spends about a third of its time
    fetching). At most two chunks are in memory at once; one chunk needs no thread."""
    if chunks == 1:
        yield query.frame(con)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="botmeter-gx-fetch") as pool:
        pending = pool.submit(query.frame, con, 0, chunks)
        for chunk in range(chunks):
            # Held in a list that is emptied by the yield: once the caller drops a chunk,
            # nothing here keeps it alive.
            ready = [pending.result()]
            if chunk + 1 < chunks:
                pending = pool.submit(query.frame, con, chunk + 1, chunks)
            yield ready.pop()


def merge_chunk_outcomes(
    suite: Suite, outcomes: list[CheckOutcome], settings: CheckSettings
) -> CheckOutcome:
    """One outcome for a suite validated in chunks: per expectation, unexpected counts add up
    and success needs every chunk; the sample takes failing rows in chunk order."""
    rows = sum(o.details.get("rows_validated", 0) for o in outcomes)
    per_expectation: list[dict] = []
    for parts in zip(*(o.details.get("expectations", []) for o in outcomes), strict=True):
        merged = dict(parts[0])
        merged["success"] = all(p["success"] for p in parts)
        merged["unexpected_count"] = sum(p["unexpected_count"] for p in parts)
        per_expectation.append(merged)
    passed = all(o.passed for o in outcomes)
    broken = [e for e in per_expectation if not e["success"]]
    summary = (
        _summary(broken, len(per_expectation), rows) if per_expectation else outcomes[0].summary
    )
    details: dict = {"rows_validated": rows, "expectations": per_expectation}
    docs = next((o.details["data_docs"] for o in outcomes if "data_docs" in o.details), None)
    if docs is not None:
        details["data_docs"] = docs
    return CheckOutcome(
        suite.name,
        passed,
        suite.severity,
        summary,
        failed_count=sum(o.failed_count for o in outcomes),
        sample=[r for o in outcomes for r in o.sample][: settings.sample_rows],
        details=details,
    )


def _summary(broken: list[dict], total: int, rows: int) -> str:
    """The outcome's one-line summary: pass, or which expectations failed and how often."""
    if not broken:
        return f"{total} expectations passed on {rows} rows"
    return (
        f"{len(broken)} of {total} expectations failed on {rows} rows ("
        + ", ".join(
            f"{e['expectation']}[{e.get('column') or e.get('column_list') or e.get('column_A')}]"
            f"={e['unexpected_count']}"
            for e in broken
        )
        + ")"
    )


__all__ = [
    "SUITES",
    "SUITES_BY_NAME",
    "Suite",
    "run_suite",
    "slice_query",
    "validate_frame",
    "columns",
]
