"""User-defined KPIs: validate `config/kpis.yml` and load it into the warehouse as data.

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

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from assets.raw_schema import EVENT_TYPES
from orchestration.settings import PROJECT_ROOT

__all__ = [
    "CONFIG_VERSION",
    "COUNT_UNITS",
    "DEFAULT_KPI_CONFIG",
    "GRAINS",
    "KpiConfig",
    "KpiConfigError",
    "KpiDefinition",
    "KpiFilter",
    "KpiPart",
    "load_kpi_config",
    "load_kpi_definitions",
    "validate_kpi_config",
]

DEFAULT_KPI_CONFIG = PROJECT_ROOT / "config" / "kpis.yml"
CONFIG_VERSION = 1
COUNT_UNITS = ("events", "sessions", "conversations")
GRAINS = ("day", "month")
PARTS = ("numerator", "denominator")
CLAUSES = ("where", "without")
CLAUSE_FIELDS = ("event_type", "kpi_name", "properties")
KPI_FIELDS = ("name", "description", "grain", "numerator", "denominator")
PART_FIELDS = ("count",) + CLAUSES

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PROPERTY_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_TEXT = 500
MAX_VALUES = 1000

SCHEMA = "config"
DEFINITIONS_TABLE = f"{SCHEMA}.kpi_definitions"
FILTERS_TABLE = f"{SCHEMA}.kpi_filters"


class KpiConfigError(ValueError):
    """The KPI configuration is invalid; the message names the KPI and the field."""

    def __init__(self, message: str, kpi: str | None = None, field: str | None = None):
        self.kpi = kpi
        self.field = field
        where = " ".join(
            part
            for part in (f"KPI {kpi!r}" if kpi else "", f"field {field!r}" if field else "")
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class KpiFilter:
    """One accepted value of one filter field of a clause."""

    clause: str  # where | without
    field: str  # event_type | kpi_name | property
    property_key: str | None
    value: str


@dataclass(frozen=True)
class KpiPart:
    count: str  # events | sessions | conversations
    filters: tuple[KpiFilter, ...]

    def canonical(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "filters": sorted(
                [f.clause, f.field, f.property_key or "", f.value] for f in self.filters
            ),
        }


@dataclass(frozen=True)
class KpiDefinition:
    name: str
    description: str
    grain: str
    numerator: KpiPart
    denominator: KpiPart | None

    def parts(self) -> list[tuple[str, KpiPart]]:
        parts = [("numerator", self.numerator)]
        if self.denominator is not None:
            parts.append(("denominator", self.denominator))
        return parts


@dataclass(frozen=True)
class KpiConfig:
    version: int
    kpis: tuple[KpiDefinition, ...]
    source: str = "<memory>"

    @property
    def config_hash(self) -> str:
        """Fingerprint of everything that changes a count (not descriptions nor grains)."""
        canonical = {
            "version": self.version,
            "kpis": sorted(
                [k.name, [[name, part.canonical()] for name, part in k.parts()]] for k in self.kpis
            ),
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def by_name(self) -> dict[str, KpiDefinition]:
        return {k.name: k for k in self.kpis}


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_keys(mapping: Mapping, allowed: tuple[str, ...], kpi: str | None, prefix: str) -> None:
    for key in mapping:
        if key not in allowed:
            field = f"{prefix}.{key}" if prefix else str(key)
            raise KpiConfigError(
                f"unknown field (allowed: {', '.join(allowed)})", kpi=kpi, field=field
            )


def _text(value: Any, kpi: str | None, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KpiConfigError(f"must be a non-empty string, got {_describe(value)}", kpi, field)
    if len(value) > MAX_TEXT:
        raise KpiConfigError(f"must be at most {MAX_TEXT} characters", kpi, field)
    if "\x00" in value:
        raise KpiConfigError("must not contain NUL characters", kpi, field)
    return value


def _scalar_values(value: Any, kpi: str, field: str, allow_typed: bool) -> list[str]:
    """A value or a non-empty list of values, normalised to the text DuckDB's
    json_extract_string returns (strings as-is, integers in decimal, booleans true/false)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise KpiConfigError("must not be an empty list", kpi, field)
    if len(values) > MAX_VALUES:
        raise KpiConfigError(f"must list at most {MAX_VALUES} values", kpi, field)
    out = []
    for item in values:
        if isinstance(item, bool) and allow_typed:
            out.append("true" if item else "false")
        elif isinstance(item, int) and not isinstance(item, bool) and allow_typed:
            out.append(str(item))
        elif isinstance(item, str):
            out.append(_text(item, kpi, field))
        else:
            kinds = "a string, an integer or a boolean" if allow_typed else "a string"
            raise KpiConfigError(f"each value must be {kinds}, got {_describe(item)}", kpi, field)
    return sorted(set(out))


def _clause(value: Any, kpi: str, field: str, clause: str) -> list[KpiFilter]:
    if not isinstance(value, Mapping) or not value:
        raise KpiConfigError(
            "must be a mapping with at least one of: " + ", ".join(CLAUSE_FIELDS), kpi, field
        )
    _check_keys(value, CLAUSE_FIELDS, kpi, field)
    filters: list[KpiFilter] = []
    if "event_type" in value:
        sub = f"{field}.event_type"
        types = _scalar_values(value["event_type"], kpi, sub, allow_typed=False)
        for event_type in types:
            if event_type not in EVENT_TYPES:
                raise KpiConfigError(
                    f"unknown event type {event_type!r} (known: {', '.join(EVENT_TYPES)})",
                    kpi,
                    sub,
                )
        filters += [KpiFilter(clause, "event_type", None, t) for t in types]
    if "kpi_name" in value:
        sub = f"{field}.kpi_name"
        names = _scalar_values(value["kpi_name"], kpi, sub, allow_typed=False)
        filters += [KpiFilter(clause, "kpi_name", None, n) for n in names]
    if "properties" in value:
        props = value["properties"]
        sub = f"{field}.properties"
        if not isinstance(props, Mapping) or not props:
            raise KpiConfigError("must be a non-empty mapping of property: value", kpi, sub)
        for key, accepted in props.items():
            if not isinstance(key, str) or not PROPERTY_KEY_PATTERN.match(key):
                raise KpiConfigError(
                    f"property name {_describe(key)} must be a plain identifier "
                    "(letters, digits, underscores; not starting with a digit)",
                    kpi,
                    sub,
                )
            values = _scalar_values(accepted, kpi, f"{sub}.{key}", allow_typed=True)
            filters += [KpiFilter(clause, "property", key, v) for v in values]
    return filters


def _part(value: Any, kpi: str, field: str) -> KpiPart:
    if not isinstance(value, Mapping):
        raise KpiConfigError(
            f"must be a mapping with `count` (and optional `where`/`without`), "
            f"got {_describe(value)}",
            kpi,
            field,
        )
    _check_keys(value, PART_FIELDS, kpi, field)
    if "count" not in value:
        raise KpiConfigError(
            f"is required (one of: {', '.join(COUNT_UNITS)})", kpi, f"{field}.count"
        )
    count = value["count"]
    if count not in COUNT_UNITS:
        raise KpiConfigError(
            f"must be one of {', '.join(COUNT_UNITS)}, got {_describe(count)}",
            kpi,
            f"{field}.count",
        )
    filters: list[KpiFilter] = []
    for clause in CLAUSES:
        if clause in value:
            filters += _clause(value[clause], kpi, f"{field}.{clause}", clause)
    return KpiPart(count=count, filters=tuple(filters))


def _kpi(value: Any, index: int, seen: set[str]) -> KpiDefinition:
    label = f"kpis[{index}]"
    if not isinstance(value, Mapping):
        raise KpiConfigError(f"each KPI must be a mapping, got {_describe(value)}", field=label)
    name = value.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise KpiConfigError(
            "must be a lowercase identifier (a-z, 0-9, _; starting with a letter; "
            f"at most 63 characters), got {_describe(name)}",
            kpi=name if isinstance(name, str) and name else label,
            field="name",
        )
    if name in seen:
        raise KpiConfigError("is defined more than once", kpi=name, field="name")
    seen.add(name)
    _check_keys(value, KPI_FIELDS, name, "")
    if "description" not in value:
        raise KpiConfigError("is required", name, "description")
    description = _text(value["description"], name, "description").strip()
    if "grain" not in value:
        raise KpiConfigError(f"is required (one of: {', '.join(GRAINS)})", name, "grain")
    grain = value["grain"]
    if grain not in GRAINS:
        raise KpiConfigError(
            f"must be one of {', '.join(GRAINS)}, got {_describe(grain)}", name, "grain"
        )
    if "numerator" not in value:
        raise KpiConfigError("is required", name, "numerator")
    numerator = _part(value["numerator"], name, "numerator")
    denominator = None
    if value.get("denominator") is not None:
        denominator = _part(value["denominator"], name, "denominator")
    return KpiDefinition(name, description, grain, numerator, denominator)


def validate_kpi_config(data: Any, source: str = "<memory>") -> KpiConfig:
    """Validate parsed YAML; raises KpiConfigError naming the KPI and the field."""
    if not isinstance(data, Mapping):
        raise KpiConfigError(f"{source}: the file must be a mapping with `version` and `kpis`")
    _check_keys(data, ("version", "kpis"), None, "")
    version = data.get("version")
    if isinstance(version, bool) or version != CONFIG_VERSION:
        raise KpiConfigError(
            f"{source}: unsupported config version {_describe(version)} "
            f"(this botmeter reads version {CONFIG_VERSION})",
            field="version",
        )
    kpis = data.get("kpis")
    if not isinstance(kpis, list) or not kpis:
        raise KpiConfigError(f"{source}: must be a non-empty list of KPIs", field="kpis")
    seen: set[str] = set()
    return KpiConfig(
        version=version,
        kpis=tuple(_kpi(item, i, seen) for i, item in enumerate(kpis)),
        source=source,
    )


def load_kpi_config(path: str | Path = DEFAULT_KPI_CONFIG) -> KpiConfig:
    """Read and validate a KPI file (default: config/kpis.yml)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KpiConfigError(f"cannot read KPI config {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KpiConfigError(f"{path} is not valid YAML: {exc}") from exc
    return validate_kpi_config(data, source=str(path))


# --------------------------------------------------------------------------------------
# Loading into the warehouse
# --------------------------------------------------------------------------------------

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
    con: duckdb.DuckDBPyConnection, path: str | Path | KpiConfig = DEFAULT_KPI_CONFIG
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


def main(argv: list[str] | None = None) -> int:
    """`python -m orchestration.kpi_config [path]`: validate a KPI file and print a summary."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_KPI_CONFIG
    try:
        config = load_kpi_config(path)
    except KpiConfigError as exc:
        print(f"invalid KPI config: {exc}", file=sys.stderr)
        return 1
    for kpi in config.kpis:
        parts = " / ".join(part.count for _, part in kpi.parts())
        print(f"{kpi.name:32} {kpi.grain:5} {parts}")
    print(f"{len(config.kpis)} KPIs, version {config.version}, hash {config.config_hash[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
