"""Validate configuration before a run writes anything (called first by `run_pipeline`).

Checked: the dbt product-rule vars in dbt_project.yml, config/checks.yml, and the KPI
configuration when orchestration/kpi_config.py provides a validator. Every problem is
collected and reported at once as a ConfigError.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from checks.settings import ConfigError, load_check_settings
from orchestration.settings import DATA_START_AT, PROJECT_ROOT

DBT_PROJECT_FILE = PROJECT_ROOT / "dbt_project.yml"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_dbt_vars(variables: dict) -> list[str]:
    """Problems with the product-rule vars (empty list when they are fine)."""
    problems = []
    timeout = variables.get("session_timeout_minutes")
    if not _is_int(timeout) or timeout <= 0:
        problems.append(f"session_timeout_minutes must be a positive whole number, got {timeout!r}")
    hours = variables.get("unique_impression_hours")
    if hours is not None and (not _is_int(hours) or hours <= 0):
        problems.append(f"unique_impression_hours must be a positive whole number, got {hours!r}")
    threshold = variables.get("low_confidence_threshold")
    if threshold is not None and (not _is_number(threshold) or not 0 <= threshold <= 1):
        problems.append(f"low_confidence_threshold must be a number in [0, 1], got {threshold!r}")
    intents = variables.get("fallback_intents")
    if intents is not None and (
        not isinstance(intents, list) or not all(isinstance(i, str) and i for i in intents)
    ):
        problems.append(f"fallback_intents must be a list of intent names, got {intents!r}")
    start = variables.get("data_start_at")
    try:
        parsed = dt.datetime.fromisoformat(str(start))
    except ValueError:
        problems.append(f"data_start_at must be a timestamp 'YYYY-MM-DD HH:MM:SS', got {start!r}")
    else:
        if parsed != DATA_START_AT:
            problems.append(
                f"data_start_at is {start!r} but the landing rule (orchestration/settings.py) "
                f"is {DATA_START_AT}; both must agree"
            )
    for name in ("run_start_date", "run_end_date"):
        value = variables.get(name)
        if value is not None:
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                problems.append(f"{name} must be null or a date YYYY-MM-DD, got {value!r}")
    return problems


def _dbt_vars(path: Path) -> dict:
    try:
        project = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML ({exc})") from exc
    variables = project.get("vars") if isinstance(project, dict) else None
    if not isinstance(variables, dict):
        raise ConfigError(f"{path}: missing a `vars:` mapping")
    return variables


def _kpi_problems() -> list[str]:
    """Validate the KPI configuration file (orchestration.kpi_config owns its rules)."""
    from orchestration.kpi_config import KpiConfigError, load_kpi_config
    from orchestration.settings import kpi_config_path

    try:
        load_kpi_config(kpi_config_path())
    except (KpiConfigError, OSError) as exc:
        return [f"KPI configuration: {exc}"]
    return []


def validate_configuration(dbt_project_file: Path | None = None) -> None:
    """Raise ConfigError listing every configuration problem; return None when all is fine."""
    path = Path(dbt_project_file or DBT_PROJECT_FILE)
    problems = [f"{path.name} vars: {p}" for p in validate_dbt_vars(_dbt_vars(path))]
    try:
        load_check_settings()
    except ConfigError as exc:
        problems.append(str(exc))
    problems += _kpi_problems()
    if problems:
        raise ConfigError("invalid configuration, nothing was run: " + "; ".join(problems))
