"""Check settings from config/checks.yml (channels, freshness thresholds, sample size).

BOTMETER_CHECKS_CONFIG points at another file (tests use it). Values are validated by
checks.config_validation before a run; `load_check_settings` raises ConfigError on bad ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestration.settings import PROJECT_ROOT

CHECKS_CONFIG_ENV = "BOTMETER_CHECKS_CONFIG"
DEFAULT_CHECKS_CONFIG = PROJECT_ROOT / "config" / "checks.yml"


class ConfigError(ValueError):
    """A configuration file or value is unusable; raised before any data is written."""


@dataclass(frozen=True)
class CheckSettings:
    channels: tuple[str, ...] = ("web", "whatsapp", "messenger", "sms", "slack", "teams")
    max_lag_hours: float = 36.0
    trailing_days: int = 14
    min_history_days: int = 3
    low_ratio: float = 0.2
    high_ratio: float = 5.0
    sample_rows: int = 10
    # Rows per GX validation: bigger slices are validated in hash-split chunks (memory bound).
    gx_chunk_rows: int = 2_000_000


TOP_LEVEL_KEYS = {"channels", "freshness", "sample_rows", "gx_chunk_rows"}
FRESHNESS_KEYS = {"max_lag_hours", "trailing_days", "min_history_days", "low_ratio", "high_ratio"}


def _reject_unknown(keys, known: set[str], where: str) -> None:
    """A misspelt key would silently fall back to its default: refuse it instead."""
    unknown = sorted(str(k) for k in keys if k not in known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def checks_config_path() -> Path:
    return Path(os.environ.get(CHECKS_CONFIG_ENV) or DEFAULT_CHECKS_CONFIG)


def _positive(value, name: str, kind=float, allow_zero: bool = False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return kind(value)


def load_check_settings(path: Path | None = None) -> CheckSettings:
    path = Path(path) if path else checks_config_path()
    if not path.exists():
        return CheckSettings()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    _reject_unknown(raw, TOP_LEVEL_KEYS, str(path))
    defaults = CheckSettings()
    channels = raw.get("channels", list(defaults.channels))
    if (
        not isinstance(channels, list)
        or not channels
        or not all(isinstance(c, str) and c.strip() for c in channels)
    ):
        raise ConfigError(f"{path}: channels must be a non-empty list of names, got {channels!r}")
    fresh = raw.get("freshness", {}) or {}
    if not isinstance(fresh, dict):
        raise ConfigError(f"{path}: freshness must be a mapping")
    _reject_unknown(fresh, FRESHNESS_KEYS, f"{path}: freshness")
    where = f"{path}: freshness."
    settings = CheckSettings(
        channels=tuple(c.strip().lower() for c in channels),
        max_lag_hours=_positive(
            fresh.get("max_lag_hours", defaults.max_lag_hours), where + "max_lag_hours"
        ),
        trailing_days=_positive(
            fresh.get("trailing_days", defaults.trailing_days), where + "trailing_days", int
        ),
        min_history_days=_positive(
            fresh.get("min_history_days", defaults.min_history_days),
            where + "min_history_days",
            int,
        ),
        low_ratio=_positive(
            fresh.get("low_ratio", defaults.low_ratio), where + "low_ratio", allow_zero=True
        ),
        high_ratio=_positive(fresh.get("high_ratio", defaults.high_ratio), where + "high_ratio"),
        sample_rows=_positive(
            raw.get("sample_rows", defaults.sample_rows), f"{path}: sample_rows", int
        ),
        gx_chunk_rows=_positive(
            raw.get("gx_chunk_rows", defaults.gx_chunk_rows), f"{path}: gx_chunk_rows", int
        ),
    )
    if settings.low_ratio >= settings.high_ratio:
        raise ConfigError(f"{where}low_ratio must be below high_ratio")
    return settings
