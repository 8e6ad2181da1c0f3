"""The KPI configuration as a Dagster asset: config/kpis.yml loaded into the warehouse as data.

Validation lives in botmeter/settings.py (typed models).

The KPI models never see the YAML: `load_kpi_definitions` validates the file and writes the
definitions into two tables with bound parameters, and the SQL joins to them generically.
No name, event type or property value from the file is ever pasted into SQL text.

    config.kpi_definitions  one row per KPI
        config_version, config_hash, kpi_name, description, grain,
        numerator_count, denominator_count (null without a denominator)
    config.kpi_filters      one row per accepted value of a filter field
        kpi_name, part (numerator|denominator), clause (where|without),
        field (event_type|kpi_name|property), property_key (null unless property), value

Filter semantics (implemented by models/intermediate/engagement/int_kpi_counts_daily.sql):
an event matches a clause when, for every (field, property_key) listed in the clause, its
value is one of the listed values. `config_hash` covers everything that changes a count, so
the KPI models recompute all history exactly when it changes.
"""

from pathlib import Path

import dagster as dg
import duckdb

from botmeter.settings import (
    DEFAULT_KPI_CONFIG,
    KpiConfig,
    KpiConfigError,
    load_kpi_config,
    validate_kpi_config,
)
from orchestration.resources import WarehouseResource

__all__ = [
    "DEFAULT_KPI_CONFIG",
    "KpiConfigError",
    "kpi_definitions",
    "load_kpi_config",
    "load_kpi_definitions",
    "loaded_config_hash",
    "validate_kpi_config",
]

SCHEMA = "config"
DEFINITIONS_TABLE = f"{SCHEMA}.kpi_definitions"
FILTERS_TABLE = f"{SCHEMA}.kpi_filters"


DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {DEFINITIONS_TABLE} (
    config_version integer not null,
    config_hash varchar not null,
    kpi_name varchar not null primary key,
    description varchar not null,
    grain varchar not null,
    numerator_count varchar not null,
    denominator_count varchar
);
create table if not exists {FILTERS_TABLE} (
    kpi_name varchar not null,
    part varchar not null,
    clause varchar not null,
    field varchar not null,
    property_key varchar,
    value varchar not null
);
"""


def definition_rows(config: KpiConfig) -> list[tuple]:
    digest = config.config_hash
    return [
        (
            config.version,
            digest,
            k.name,
            k.description,
            k.grain,
            k.numerator.count,
            k.denominator.count if k.denominator else None,
        )
        for k in config.kpis
    ]


def filter_rows(config: KpiConfig) -> list[tuple]:
    return [
        (k.name, part_name, f.clause, f.field, f.property_key, f.value)
        for k in config.kpis
        for part_name, part in k.parts()
        for f in part.filters
    ]


def load_kpi_definitions(
    con: duckdb.DuckDBPyConnection, path: str | Path | KpiConfig | None = None
) -> KpiConfig:
    """Validate the KPI file and replace config.kpi_definitions/config.kpi_filters with it,
    in one transaction and with bound parameters only. Returns the validated config."""
    config = path if isinstance(path, KpiConfig) else load_kpi_config(path)
    con.execute("begin transaction")
    try:
        con.execute(DDL)
        con.execute(f"delete from {FILTERS_TABLE}")
        con.execute(f"delete from {DEFINITIONS_TABLE}")
        con.executemany(
            f"insert into {DEFINITIONS_TABLE} values (?, ?, ?, ?, ?, ?, ?)", definition_rows(config)
        )
        rows = filter_rows(config)
        if rows:
            con.executemany(f"insert into {FILTERS_TABLE} values (?, ?, ?, ?, ?, ?)", rows)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return config


def loaded_config_hash(con: duckdb.DuckDBPyConnection) -> str | None:
    """The hash of the KPI configuration loaded into the warehouse (None: never loaded)."""
    try:
        return con.execute(f"select max(config_hash) from {DEFINITIONS_TABLE}").fetchone()[0]
    except duckdb.CatalogException:
        return None


KPI_DEFINITIONS_KEY = dg.AssetKey(["config", "kpi_definitions"])
KPI_FILTERS_KEY = dg.AssetKey(["config", "kpi_filters"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            KPI_DEFINITIONS_KEY,
            description="One row per KPI of config/kpis.yml (validated).",
            group_name="config",
            kinds={"duckdb", "yaml"},
            owners=["team:botmeter-data"],
        ),
        dg.AssetSpec(
            KPI_FILTERS_KEY,
            description="One row per accepted value of a KPI filter of config/kpis.yml.",
            group_name="config",
            kinds={"duckdb", "yaml"},
            owners=["team:botmeter-data"],
        ),
    ],
)
def kpi_definitions(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Load the KPI file into config.kpi_definitions / config.kpi_filters; the data version
    is the configuration's hash, which the KPI models compare to recompute history."""
    with warehouse.connection() as con:
        config = load_kpi_definitions(con)
    context.log.info(f"KPI configuration: {len(config.kpis)} KPIs ({config.source})")
    version = dg.DataVersion(config.config_hash[:16])
    yield dg.MaterializeResult(
        asset_key=KPI_DEFINITIONS_KEY,
        data_version=version,
        metadata={"kpis": len(config.kpis), "source": dg.MetadataValue.path(config.source)},
    )
    yield dg.MaterializeResult(asset_key=KPI_FILTERS_KEY, data_version=version)
