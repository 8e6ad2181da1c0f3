"""great-expectations suites of the landed raw batch, before dbt reads it.

Three suites validate the arrival days a landing run wrote, read from the lake's Parquet
that landing wrote for them (assets/lake.py: `raw/events/` of those days and `raw/load_audit/`),
so the checks read the same files whichever engine then builds the models. Each suite has a
Data Docs page for every validation:

- `raw_events_contract` (blocking): what landing promises: known event types and actors,
  confidence within [0, 1], latencies not negative, no event more than 24 h after the end of
  its arrival day, and the column types of the raw contract;
- `raw_events_channels` (warn): channels are the ones configured in config/checks.yml (an
  unknown channel is still counted; billing never drops data silently);
- `raw_events_volume` (warn): each day's accepted rows lie between `low_ratio` and
  `high_ratio` times the median of the `trailing_days` arrival days before it.

The rows are validated as one narrow pandas frame per run, the columns the expectations
read (repetitive strings as categoricals), selected from the Parquet by an in-memory DuckDB.
The suites, the results and the Data Docs site live in the warehouse's own
great-expectations project, `<warehouse dir>/gx/` (Data Docs: `gx/gx_docs/index.html`).
Uniqueness, not-null keys, the data start and every reconciliation are dbt tests: no rule is
checked both here and there.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from assets.lake import raw_files, raw_partition
from botmeter.settings import CheckSettings, Rules

CONTRACT = "raw_events_contract"
CHANNELS = "raw_events_channels"
VOLUME = "raw_events_volume"
BLOCKING_SUITES = (CONTRACT,)
SUITE_DESCRIPTIONS = {
    CONTRACT: (
        "[great-expectations, blocking] The landed rows (their Parquet in the lake) keep the "
        "raw contract: known event types and actors, confidence in [0, 1], latency_ms >= 0, "
        "no event more than 24 h after its arrival day, the contract's column types."
    ),
    CHANNELS: (
        "[great-expectations, warn] Channels are the ones listed in config/checks.yml "
        "(other channels are still counted)."
    ),
    VOLUME: (
        "[great-expectations, warn] Each landed day's accepted rows lie between low_ratio and "
        "high_ratio times the median of the trailing days (config/checks.yml)."
    ),
}
DOCS_SITE = "botmeter"
# The raw contract's column types, as pandas sees them in the validated frame.
CONTRACT_TYPES = {"confidence": "float64", "latency_ms": "float64", "hours_after_window": "float64"}


@dataclass
class SuiteOutcome:
    name: str
    passed: bool
    blocking: bool
    summary: str
    failed_count: int = 0
    failing_dates: list[dt.date] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)
    data_docs: str | None = None


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx


# The Parquet files of one raw table (a bound list), the arrival date from their folder names.
READ_RAW = (
    "read_parquet(?::varchar[], hive_partitioning = true, hive_types = {'arrival_date': date})"
)


def _frame(con: duckdb.DuckDBPyConnection, lake: Path, dates: list[dt.date]) -> pd.DataFrame:
    """The columns the contract and channel suites read, for the landed dates."""
    files = [f for f in (raw_partition(lake, "events", d) for d in dates) if f.exists()]
    if not files:
        return pd.DataFrame()
    table = con.execute(
        f"""
        select
            arrival_date,
            event_type,
            actor,
            channel,
            confidence,
            latency_ms,
            -- hours past the end of the day after the arrival day (must not be positive)
            epoch(occurred_at - (arrival_date + interval 2 day)) / 3600.0 as hours_after_window
        from {READ_RAW}
        """,
        [[str(f) for f in files]],
    ).to_arrow_table()
    for i, column in enumerate(table.columns):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            table = table.set_column(i, table.field(i).name, pc.dictionary_encode(column))
    return table.to_pandas()


def _volumes(
    con: duckdb.DuckDBPyConnection, lake: Path, dates: list[dt.date], settings: CheckSettings
) -> pd.DataFrame:
    """One row per landed date with enough history: accepted rows / trailing median."""
    fresh = settings.volume
    audits = raw_files(lake, "load_audit")
    if not audits:
        return pd.DataFrame()
    return con.execute(
        f"""
        with days as (
            select arrival_date, accepted from {READ_RAW}
        ),
        judged as (
            select
                d.arrival_date,
                d.accepted,
                (select median(h.accepted) from days as h
                 where h.arrival_date >= d.arrival_date - to_days(?)
                   and h.arrival_date < d.arrival_date) as trailing_median,
                (select count(*) from days as h
                 where h.arrival_date >= d.arrival_date - to_days(?)
                   and h.arrival_date < d.arrival_date) as history_days
            from days as d
            where list_contains(?::date[], d.arrival_date)
        )
        select
            arrival_date,
            accepted,
            trailing_median,
            case when trailing_median > 0 then accepted / trailing_median
                 when accepted = 0 then 1.0 end as volume_ratio
        from judged
        where history_days >= ?
        order by arrival_date
        """,
        [
            [str(f) for f in audits],
            fresh.trailing_days,
            fresh.trailing_days,
            dates,
            fresh.min_history_days,
        ],
    ).df()


def _expectations(suite: str, rules: Rules, settings: CheckSettings) -> list:
    E = _gx().expectations
    if suite == CONTRACT:
        return [
            E.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(rules.event_types)),
            E.ExpectColumnValuesToBeInSet(column="actor", value_set=list(rules.actors)),
            E.ExpectColumnValuesToBeBetween(column="confidence", min_value=0, max_value=1),
            E.ExpectColumnValuesToBeBetween(column="latency_ms", min_value=0),
            E.ExpectColumnValuesToBeBetween(column="hours_after_window", max_value=0),
            *(
                E.ExpectColumnValuesToBeInTypeList(column=c, type_list=[t])
                for c, t in CONTRACT_TYPES.items()
            ),
        ]
    if suite == CHANNELS:
        return [E.ExpectColumnValuesToBeInSet(column="channel", value_set=list(settings.channels))]
    fresh = settings.volume
    return [
        E.ExpectColumnValuesToBeBetween(
            column="volume_ratio", min_value=fresh.low_ratio, max_value=fresh.high_ratio
        )
    ]


class RawBatchValidator:
    """Validates the days of one landing run in the warehouse's great-expectations project
    (`<warehouse dir>/gx/`, a file context: the suites and every validation result are kept,
    so the Data Docs site lists the validations of past runs too, the newest
    `DOCS_HISTORY` of them)."""

    DOCS_HISTORY = 200

    def __init__(self, rules: Rules, settings: CheckSettings, project_dir: Path):
        self.rules, self.settings = rules, settings
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="file", project_root_dir=str(project_dir))
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = project_dir / "gx_docs"
        if DOCS_SITE not in (self.context.variables.data_docs_sites or {}):
            self.context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(self.docs_dir),
                    },
                    "site_index_builder": {
                        "class_name": "DefaultSiteIndexBuilder",
                        "validation_results_limit": self.DOCS_HISTORY,
                    },
                },
            )
        self.source = self.context.data_sources.add_or_update_pandas("landed_raw_events")

    def validate(self, lake: Path, dates: list[dt.date]) -> list[SuiteOutcome]:
        """Validate the arrival `dates` from their Parquet in `lake` (written by landing)."""
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            frames = {
                CONTRACT: _frame(con, lake, dates),
                VOLUME: _volumes(con, lake, dates, self.settings),
            }
        frames[CHANNELS] = frames[CONTRACT]
        label = f"{dates[0]}..{dates[-1]}" if len(dates) > 1 else str(dates[0])
        runs = [self._run(name, frames[name], label) for name in (CONTRACT, CHANNELS, VOLUME)]
        keys = [key for _, key in runs if key is not None]
        if keys:
            self.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=keys)
        index = self.docs_dir / "index.html"
        outcomes = []
        for outcome, _ in runs:
            outcome.data_docs = str(index)
            if not outcome.passed and not outcome.failing_dates:
                outcome.failing_dates = list(dates)
            outcomes.append(outcome)
        return outcomes

    def _run(self, name: str, frame: pd.DataFrame, label: str):
        gx = _gx()
        if frame.empty:
            return SuiteOutcome(
                name, True, name in BLOCKING_SUITES, f"nothing to validate ({label})"
            ), None
        try:
            asset = self.source.get_asset(name)
        except LookupError:
            asset = self.source.add_dataframe_asset(name)
        try:
            batch = asset.get_batch_definition("landed days")
        except KeyError:
            batch = asset.add_batch_definition_whole_dataframe("landed days")
        suite = self.context.suites.add_or_update(
            gx.ExpectationSuite(
                name=name, expectations=_expectations(name, self.rules, self.settings)
            )
        )
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        checkpoint = self.context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[],
                result_format={
                    "result_format": "SUMMARY",
                    "unexpected_index_column_names": ["arrival_date"],
                    "partial_unexpected_count": self.settings.sample_rows,
                },
            )
        )
        run = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=gx.RunIdentifier(run_name=f"{name} {label}"),
        )
        key, result = next(iter(run.run_results.items()))
        return self._outcome(name, frame, label, result), key

    def _outcome(self, name: str, frame: pd.DataFrame, label: str, result) -> SuiteOutcome:
        failed_count, failing_dates, sample, broken = 0, set(), [], []
        for item in result.results:
            if item.success:
                continue
            config = item.expectation_config
            count = int(item.result.get("unexpected_count") or 0)
            column = config.kwargs.get("column")
            broken.append(f"{config.type}[{column}]={count}")
            failed_count += count
            for row in item.result.get("partial_unexpected_index_list") or []:
                if isinstance(row, dict) and "arrival_date" in row:
                    failing_dates.add(pd.Timestamp(row["arrival_date"]).date())
            sample += [
                {"column": column, "value": str(v)}
                for v in (item.result.get("partial_unexpected_list") or [])
            ][: self.settings.sample_rows]
        if name == VOLUME and not result.success:
            ratio = frame.set_index("arrival_date")["volume_ratio"]
            fresh = self.settings.volume
            bad = ratio[(ratio < fresh.low_ratio) | (ratio > fresh.high_ratio)]
            failing_dates = {pd.Timestamp(d).date() for d in bad.index}
        if result.success:
            summary = f"{len(result.results)} expectations passed on {len(frame)} rows ({label})"
        else:
            summary = (
                f"{len(broken)} of {len(result.results)} expectations failed on {len(frame)} "
                f"rows ({label}): {', '.join(broken)}"
            )
        return SuiteOutcome(
            name,
            bool(result.success),
            name in BLOCKING_SUITES,
            summary,
            failed_count=failed_count,
            failing_dates=sorted(failing_dates),
            sample=sample[: self.settings.sample_rows],
        )
