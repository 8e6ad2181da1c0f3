"""botmeter's configuration: where things are, the product rules, the checks and the KPIs.

Every file a user edits is read through a typed (pydantic) model here, so a misspelt key or a
bad value stops a run before anything is written, with one line that names the file, the
field and what is wrong. Environment variables are read when a value is asked for, never at
import time, so tests and the CLI can point botmeter elsewhere without re-importing modules.

- product rules: the `vars:` of dbt_project.yml, read by the dbt models and by landing
  (`load_rules`); `rule_vars` lists the ones every figure depends on;
- checks: config/checks.yml (`load_check_settings`);
- KPIs: config/kpis.yml (`load_kpi_config`);
- paths and the memory budget: flags, then environment variables, then defaults.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_FILE = PROJECT_ROOT / "dbt_project.yml"

WAREHOUSE_ENV = "BOTMETER_WAREHOUSE"
LANDING_ENV = "BOTMETER_LANDING"
PUBLISHED_ENV = "BOTMETER_PUBLISHED"
KPI_CONFIG_ENV = "BOTMETER_KPI_CONFIG"
CHECKS_CONFIG_ENV = "BOTMETER_CHECKS_CONFIG"
MEMORY_LIMIT_ENV = "BOTMETER_MEMORY_LIMIT"
DAGSTER_HOME_ENV = "DAGSTER_HOME"
ENGINE_ENV = "BOTMETER_ENGINE"
LAKE_ENV = "BOTMETER_LAKE"
SPARK_HOME_ENV = "BOTMETER_SPARK_DIR"
SPARK_DBT_ENV = "BOTMETER_SPARK_DBT"

# The engines dbt can build the models on (docs/spark.md); each is a target of
# dbt_project/profiles.yml of the same name.
ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"

DEFAULT_WAREHOUSE = PROJECT_ROOT / "data" / "warehouse.duckdb"
DEFAULT_LANDING = PROJECT_ROOT / "data" / "landing"
DEFAULT_KPI_CONFIG = PROJECT_ROOT / "config" / "kpis.yml"
DEFAULT_CHECKS_CONFIG = PROJECT_ROOT / "config" / "checks.yml"
# The memory budget of each process botmeter starts: dbt's DuckDB gets all of it, botmeter's
# own DuckDB connections half (they share the process with Dagster and the checks). At 10M
# events 3GB keeps every process under 4 GiB (benchmarks/FINDINGS.md).
DEFAULT_MEMORY_LIMIT = "3GB"

# Inside the published file: when it was made and from which build (written by publish).
PUBLISH_INFO_TABLE = "meta.publish_info"


class ConfigError(ValueError):
    """A configuration file or value is unusable; raised before any data is written."""


# ------------------------------------------------------------------------------ paths


def _resolve(explicit: str | os.PathLike | None, env_name: str, default: Path) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(env_name)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return default


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    """The pipeline's working DuckDB file: flag, then $BOTMETER_WAREHOUSE, then data/."""
    return _resolve(explicit, WAREHOUSE_ENV, DEFAULT_WAREHOUSE)


def landing_path(explicit: str | os.PathLike | None = None) -> Path:
    """The landing folder that holds `events/<YYYY-MM-DD>/` arrival folders."""
    return _resolve(explicit, LANDING_ENV, DEFAULT_LANDING)


def kpi_config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The user-defined KPI file: flag, then $BOTMETER_KPI_CONFIG, then config/kpis.yml."""
    return _resolve(explicit, KPI_CONFIG_ENV, DEFAULT_KPI_CONFIG)


def checks_config_path(explicit: str | os.PathLike | None = None) -> Path:
    return _resolve(explicit, CHECKS_CONFIG_ENV, DEFAULT_CHECKS_CONFIG)


def published_path(
    explicit: str | os.PathLike | None = None, warehouse: Path | None = None
) -> Path:
    """The read-only copy of the marts that BI tools open (next to the working file)."""
    wh = warehouse or warehouse_path()
    return _resolve(explicit, PUBLISHED_ENV, wh.with_name(f"{wh.stem}_published.duckdb"))


def parquet_dir(published: Path) -> Path:
    return published.parent / "parquet"


def dashboard_path(published: Path) -> Path:
    """The dashboard the pipeline writes beside the published file."""
    return published.parent / "dashboard.html"


def dagster_home(warehouse: Path) -> Path:
    """The Dagster instance of a warehouse: $DAGSTER_HOME, else `.dagster/` beside the
    warehouse file (one instance per warehouse, so the UI never shows another warehouse's
    runs as this one's)."""
    from_env = os.environ.get(DAGSTER_HOME_ENV)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return warehouse.parent / f".dagster-{warehouse.stem}"


def engine(explicit: str | None = None) -> str:
    """The engine the models are built on: flag, then $BOTMETER_ENGINE, then DuckDB."""
    name = (explicit or os.environ.get(ENGINE_ENV, "") or DEFAULT_ENGINE).strip().lower()
    if name not in ENGINES:
        raise ConfigError(f"engine {name!r} is not one of {', '.join(ENGINES)}")
    return name


def lake_path(warehouse: Path) -> Path:
    """The Parquet copy of the raw and config tables that Spark reads, and where Spark writes
    the models: $BOTMETER_LAKE, else `<warehouse name>-lake/` beside the warehouse file."""
    return _resolve(None, LAKE_ENV, warehouse.parent / f"{warehouse.stem}-lake")


def spark_dir(warehouse: Path) -> Path:
    """Local Spark's own state (metastore, scratch): $BOTMETER_SPARK_DIR, else
    `.spark-<warehouse name>/` beside the warehouse file, one per warehouse."""
    return _resolve(None, SPARK_HOME_ENV, warehouse.parent / f".spark-{warehouse.stem}")


def spark_dbt_executable() -> Path:
    """dbt of the Spark environment (`make setup-spark`, dbt_project/spark/): $BOTMETER_SPARK_DBT,
    else .venv-spark/bin/dbt of the project. Refused in one line when it is not installed."""
    path = _resolve(None, SPARK_DBT_ENV, PROJECT_ROOT / ".venv-spark" / "bin" / "dbt")
    if not path.exists():
        raise ConfigError(
            f"the Spark engine is not installed ({path} not found): run `make setup-spark` "
            "(docs/spark.md)"
        )
    return path


def check_paths(warehouse: Path, landing: Path | None = None) -> Path:
    """The working and published files, refused before anything is written when a setting
    would make botmeter overwrite something it must not. Returns the published path."""
    if warehouse.is_dir():
        raise ConfigError(f"warehouse {warehouse} is a directory: give the path of a .duckdb file")
    published = published_path(warehouse=warehouse)
    if published.resolve() == warehouse.resolve():
        raise ConfigError(
            f"{PUBLISHED_ENV} is the working warehouse {warehouse}: publishing would replace "
            "it with a copy of the marts; point it at another file"
        )
    if published.is_dir():
        raise ConfigError(f"published file {published} is a directory")
    if landing is not None and published.resolve().is_relative_to(landing.resolve()):
        raise ConfigError(f"published file {published} is inside the landing folder {landing}")
    return published


# ------------------------------------------------------------------------ memory budget

_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
MIN_MEMORY = 256 * 10**6


def parse_memory_size(text: str) -> int:
    """Bytes of a DuckDB-style size ('4GB', '3.5 GB', '4096MiB'; KB..TB are powers of 1000,
    KiB..TiB powers of 1024, as in DuckDB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in _UNITS):
        raise ConfigError(
            f"{MEMORY_LIMIT_ENV}={text!r} is not a memory size: use e.g. 4GB, 3.5GB or 4096MiB"
        )
    size = int(float(match.group(1)) * _UNITS[unit or "b"])
    if size < 2 * MIN_MEMORY:
        raise ConfigError(f"{MEMORY_LIMIT_ENV}={text!r} is too small: give at least 512MB")
    return size


def memory_limit() -> str:
    """The per-process budget ($BOTMETER_MEMORY_LIMIT or the default), validated."""
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT
    parse_memory_size(text)
    return text


def own_memory_limit() -> str:
    """DuckDB's limit inside botmeter's own process: half the budget."""
    return f"{parse_memory_size(memory_limit()) // 2 // 10**6}MB"


# ------------------------------------------------------------------ pydantic plumbing


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("botmeter", message)


def _first_error(exc: ValidationError) -> tuple[tuple, str]:
    """The location and the user-facing message of a validation's first error."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return loc, "unknown setting"
    if kind == "missing":
        return loc, "is required"
    message = error["msg"]
    if kind != "botmeter":  # pydantic's own wording, with the value that was given
        message = f"{message[0].lower()}{message[1:]}, got {_describe(error.get('input'))}"
    return loc, message


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({what} must be UTF-8 YAML)") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc


# ------------------------------------------------------------------------ product rules


class Rules(_Model):
    """The product rules in dbt_project.yml `vars:` (the dbt models read them by name)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data_start_at: dt.datetime
    session_timeout_minutes: int = Field(strict=True, ge=1, le=24 * 60)
    unique_impression_hours: int = Field(strict=True, ge=1, le=24 * 31)
    low_confidence_threshold: float = Field(ge=0, le=1)
    fallback_intents: tuple[str, ...]
    event_types: tuple[str, ...] = Field(min_length=1)
    actors: tuple[str, ...] = Field(min_length=1)
    # Warn when the newest landing is older than this (Dagster's freshness policy on the
    # landing asset and dbt's source freshness both read it).
    max_landing_lag_hours: int = Field(strict=True, ge=1, le=24 * 366)
    rule_vars: tuple[str, ...] = Field(min_length=1)

    @field_validator("data_start_at", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> dt.datetime:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise _error(f"must be a timestamp 'YYYY-MM-DD HH:MM:SS', got {value!r}") from None
        if parsed.tzinfo is not None:
            raise _error("must be a UTC timestamp without an offset")
        return parsed

    @field_validator("low_confidence_threshold", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _error(f"must be a number in [0, 1], got {value!r}")
        return float(value)

    @field_validator("fallback_intents", "event_types", "actors", "rule_vars", mode="before")
    @classmethod
    def _names(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _error(f"must be a list of names, got {value!r}")
        return tuple(value)

    @model_validator(mode="after")
    def _rule_vars_exist(self) -> Rules:
        unknown = [n for n in self.rule_vars if n not in type(self).model_fields]
        if unknown:
            raise _error(f"rule_vars names unknown vars: {', '.join(unknown)}")
        return self

    @property
    def data_start_date(self) -> dt.date:
        return self.data_start_at.date()

    def rule_values(self) -> dict[str, Any]:
        """The vars every figure depends on, as JSON-friendly values (dbt records the same
        names at every build, see dbt_project/macros/build_record.sql)."""
        values = self.model_dump(mode="json")
        return {name: _jsonable(values[name]) for name in self.rule_vars}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str) and "T" in value and value[:4].isdigit():
        return value.replace("T", " ")  # a timestamp, written as in dbt_project.yml
    return value


def load_rules(path: Path | None = None) -> Rules:
    """The product rules from dbt_project.yml (validated; re-read when the file changes)."""
    path = Path(path or DBT_PROJECT_FILE)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _load_rules(path, stamp)


@lru_cache(maxsize=8)
def _load_rules(path: Path, _stamp: int | None) -> Rules:
    data = _read_yaml(path, "the dbt project file")
    variables = data.get("vars") if isinstance(data, dict) else None
    if not isinstance(variables, dict):
        raise ConfigError(f"{path}: missing a `vars:` mapping")
    try:
        return Rules.model_validate(variables)
    except ValidationError as exc:
        loc, message = _first_error(exc)
        raise ConfigError(f"{path.name} vars: {'.'.join(map(str, loc))} {message}") from None


# ------------------------------------------------------------------------------- checks


class VolumeSettings(_Model):
    # An arrival day's accepted rows against the median of the trailing days before it.
    trailing_days: int = Field(default=14, strict=True, ge=1, le=366)
    min_history_days: int = Field(default=3, strict=True, ge=1, le=366)
    low_ratio: float = Field(default=0.2, ge=0, lt=1)
    high_ratio: float = Field(default=5.0, gt=1, le=1000)

    @field_validator("low_ratio", "high_ratio", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _error(f"must be a number, got {value!r}")
        return float(value)

    @model_validator(mode="after")
    def _history(self) -> VolumeSettings:
        if self.min_history_days > self.trailing_days:
            raise _error("min_history_days must not exceed trailing_days")
        return self


class CheckSettings(_Model):
    """config/checks.yml: what the raw checks accept and when they warn."""

    # Channels an event may come from: another channel is still counted (billing never
    # drops data silently) but the raw value check warns about it.
    channels: tuple[str, ...] = ("web", "whatsapp", "messenger", "sms", "slack", "teams")
    volume: VolumeSettings = VolumeSettings()
    # Offending rows shown in a failing check's metadata.
    sample_rows: int = Field(default=10, strict=True, ge=1, le=1000)

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> tuple[str, ...]:
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(c, str) and c.strip() for c in value)
        ):
            raise _error(f"channels must be a non-empty list of names, got {value!r}")
        return tuple(c.strip().lower() for c in value)

    @field_validator("volume", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, (dict, VolumeSettings)):
            raise _error("volume must be a mapping")
        return value

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


RETIRED_CHECK_KEYS = {
    "gx_chunk_rows": "raw batches are validated one landing run at a time: remove it",
    "freshness": (
        "its volume settings moved to `volume:`, max_lag_hours to the dbt var "
        "max_landing_lag_hours in dbt_project.yml"
    ),
}


def load_check_settings(path: Path | None = None) -> CheckSettings:
    path = Path(path) if path else checks_config_path()
    if not path.exists():
        return CheckSettings()
    raw = _read_yaml(path, "the checks settings")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key, why in RETIRED_CHECK_KEYS.items():
        if key in raw:
            raise ConfigError(f"{path}: {key} is no longer used ({why})")
    try:
        return CheckSettings.model_validate(raw)
    except ValidationError as exc:
        loc, message = _first_error(exc)
        where = ": ".join([str(path), *map(str, loc[:-1])])
        if message == "unknown setting":
            known = CheckSettings.model_fields if len(loc) == 1 else VolumeSettings.model_fields
            message = f"unknown setting(s) {loc[-1]} (known: {', '.join(sorted(known))})"
            raise ConfigError(f"{where}: {message}") from None
        field = ".".join(map(str, loc))
        if not message.startswith(str(loc[-1]) if loc else "\0"):
            message = f"{field}: {message}"
        raise ConfigError(f"{path}: {message}") from None


# --------------------------------------------------------------------------------- KPIs

KPI_CONFIG_VERSION = 1
COUNT_UNITS = ("events", "sessions", "conversations")
GRAINS = ("day", "month")
CLAUSES = ("where", "without")
CLAUSE_FIELDS = ("event_type", "kpi_name", "properties")
KPI_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PROPERTY_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_TEXT = 500
MAX_VALUES = 1000


class KpiConfigError(ConfigError):
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


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(f"must be a non-empty string, got {_describe(value)}")
    if len(value) > MAX_TEXT:
        raise _error(f"must be at most {MAX_TEXT} characters")
    if "\x00" in value:
        raise _error("must not contain NUL characters")
    return value


def _scalar_values(value: Any, allow_typed: bool) -> tuple[str, ...]:
    """A value or a non-empty list of values, normalised to the text DuckDB's
    json_extract_string returns (strings as-is, integers in decimal, booleans true/false)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise _error("must not be an empty list")
    if len(values) > MAX_VALUES:
        raise _error(f"must list at most {MAX_VALUES} values")
    out = []
    for item in values:
        if isinstance(item, bool) and allow_typed:
            out.append("true" if item else "false")
        elif isinstance(item, int) and not isinstance(item, bool) and allow_typed:
            out.append(str(item))
        elif isinstance(item, str):
            out.append(_text(item))
        else:
            kinds = "a string, an integer or a boolean" if allow_typed else "a string"
            raise _error(f"each value must be {kinds}, got {_describe(item)}")
    return tuple(sorted(set(out)))


class KpiFilter(_Model):
    """One accepted value of one filter field of a clause."""

    clause: str  # where | without
    field: str  # event_type | kpi_name | property
    property_key: str | None
    value: str


def _typed_values(value: Any) -> tuple[str, ...]:
    return _scalar_values(value, allow_typed=True)


def _property_key(key: Any) -> str:
    if not isinstance(key, str) or not PROPERTY_KEY_PATTERN.match(key):
        raise _error(
            f"property name {_describe(key)} must be a plain identifier "
            "(letters, digits, underscores; not starting with a digit)"
        )
    return key


PropertyKey = Annotated[str, BeforeValidator(_property_key)]
PropertyValues = Annotated[tuple[str, ...], BeforeValidator(_typed_values)]


class KpiClause(_Model):
    """A `where` or `without` clause: a unit matches when one of its events has one of the
    listed values for every listed field."""

    event_type: tuple[str, ...] | None = None
    kpi_name: tuple[str, ...] | None = None
    properties: dict[PropertyKey, PropertyValues] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if not isinstance(value, Mapping) or not value:
            raise _error("must be a mapping with at least one of: " + ", ".join(CLAUSE_FIELDS))
        return value

    @field_validator("event_type", mode="before")
    @classmethod
    def _event_types(cls, value: Any) -> tuple[str, ...]:
        types = _scalar_values(value, allow_typed=False)
        known = load_rules().event_types
        for event_type in types:
            if event_type not in known:
                raise _error(f"unknown event type {event_type!r} (known: {', '.join(known)})")
        return types

    @field_validator("kpi_name", mode="before")
    @classmethod
    def _kpi_names(cls, value: Any) -> tuple[str, ...]:
        return _scalar_values(value, allow_typed=False)

    @field_validator("properties", mode="before")
    @classmethod
    def _properties(cls, value: Any) -> Any:
        if not isinstance(value, Mapping) or not value:
            raise _error("must be a non-empty mapping of property: value")
        return value

    def filters(self, clause: str) -> list[KpiFilter]:
        singles = [("event_type", None, v) for v in self.event_type or ()]
        singles += [("kpi_name", None, v) for v in self.kpi_name or ()]
        singles += [
            ("property", key, v) for key, values in (self.properties or {}).items() for v in values
        ]
        return [
            KpiFilter(clause=clause, field=field, property_key=key, value=value)
            for field, key, value in singles
        ]


class KpiPart(_Model):
    count: str
    where: KpiClause | None = None
    without: KpiClause | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _error(
                "must be a mapping with `count` (and optional `where`/`without`), "
                f"got {_describe(value)}"
            )
        return value

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, value: Any) -> str:
        if value not in COUNT_UNITS:
            raise _error(f"must be one of {', '.join(COUNT_UNITS)}, got {_describe(value)}")
        return value

    @cached_property
    def filters(self) -> tuple[KpiFilter, ...]:
        return tuple(
            f
            for clause in CLAUSES
            if getattr(self, clause) is not None
            for f in getattr(self, clause).filters(clause)
        )

    def canonical(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "filters": sorted(
                [f.clause, f.field, f.property_key or "", f.value] for f in self.filters
            ),
        }


class KpiDefinition(_Model):
    name: str
    description: str
    grain: str
    numerator: KpiPart
    denominator: KpiPart | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        if not isinstance(value, str) or not KPI_NAME_PATTERN.match(value):
            raise _error(
                "must be a lowercase identifier (a-z, 0-9, _; starting with a letter; "
                f"at most 63 characters), got {_describe(value)}"
            )
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> str:
        return _text(value).strip()

    @field_validator("grain", mode="before")
    @classmethod
    def _grain(cls, value: Any) -> str:
        if value not in GRAINS:
            raise _error(f"must be one of {', '.join(GRAINS)}, got {_describe(value)}")
        return value

    def parts(self) -> list[tuple[str, KpiPart]]:
        parts = [("numerator", self.numerator)]
        if self.denominator is not None:
            parts.append(("denominator", self.denominator))
        return parts


class KpiConfig(_Model):
    version: int = Field(strict=True)
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


_REQUIRED_HINTS = {
    "grain": f" (one of: {', '.join(GRAINS)})",
    "count": f" (one of: {', '.join(COUNT_UNITS)})",
}


def _kpi_error(data: Mapping, exc: ValidationError) -> KpiConfigError:
    """A pydantic error as the message users see: `KPI 'name' field 'numerator.count': ...`."""
    loc, message = _first_error(exc)
    index, path = loc[1], [str(p) for p in loc[2:]]
    item = data["kpis"][index]
    name = item.get("name") if isinstance(item.get("name"), str) and item.get("name") else None
    if path and path[-1] == "[key]":  # a property name: the field is the mapping
        path = path[:-2]
    if message == "unknown setting":
        allowed = (
            KpiDefinition.model_fields
            if len(path) == 1
            else (KpiPart.model_fields if len(path) == 2 else KpiClause.model_fields)
        )
        message = f"unknown field (allowed: {', '.join(allowed)})"
    elif message == "is required":
        message += _REQUIRED_HINTS.get(path[-1], "")
    return KpiConfigError(message, kpi=name or f"kpis[{index}]", field=".".join(path))


def validate_kpi_config(data: Any, source: str = "<memory>") -> KpiConfig:
    """Validate parsed YAML; raises KpiConfigError naming the KPI and the field."""
    if not isinstance(data, Mapping):
        raise KpiConfigError(f"{source}: the file must be a mapping with `version` and `kpis`")
    for key in data:
        if key not in ("version", "kpis"):
            raise KpiConfigError("unknown field (allowed: version, kpis)", field=str(key))
    version = data.get("version")
    if isinstance(version, bool) or version != KPI_CONFIG_VERSION:
        raise KpiConfigError(
            f"{source}: unsupported config version {_describe(version)} "
            f"(this botmeter reads version {KPI_CONFIG_VERSION})",
            field="version",
        )
    kpis = data.get("kpis")
    if not isinstance(kpis, list) or not kpis:
        raise KpiConfigError(f"{source}: must be a non-empty list of KPIs", field="kpis")
    seen: set[str] = set()
    for index, item in enumerate(kpis):
        if not isinstance(item, Mapping):
            raise KpiConfigError(
                f"each KPI must be a mapping, got {_describe(item)}", field=f"kpis[{index}]"
            )
        name = item.get("name")
        if isinstance(name, str) and KPI_NAME_PATTERN.match(name):
            if name in seen:
                raise KpiConfigError("is defined more than once", kpi=name, field="name")
            seen.add(name)
    try:
        return KpiConfig.model_validate({"version": version, "kpis": kpis, "source": source})
    except ValidationError as exc:
        raise _kpi_error(data, exc) from None


def load_kpi_config(path: str | Path | None = None) -> KpiConfig:
    """Read and validate a KPI file (default: config/kpis.yml or $BOTMETER_KPI_CONFIG)."""
    path = Path(path) if path else kpi_config_path()
    try:
        data = _read_yaml(path, "KPI config")
    except ConfigError as exc:
        raise KpiConfigError(str(exc)) from None
    return validate_kpi_config(data, source=str(path))


# ---------------------------------------------------------------------------- all of it


def validate_configuration() -> None:
    """Raise ConfigError listing every configuration problem; return None when all is fine."""
    problems = []
    for load in (load_rules, load_check_settings, load_kpi_config, memory_limit):
        try:
            load()
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("invalid configuration, nothing was run: " + "; ".join(problems))
