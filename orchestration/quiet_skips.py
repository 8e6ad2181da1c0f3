"""Silence Dagster's misleading warnings about a build step that skipped its work on purpose.

When the models are not rebuilt (orchestration/build_state.py), Dagster's plan logs a
warning for every blocking check downstream (dbt tests and botmeter's own) that yielded
nothing ("... emitted no result in step ...; downstream step ... will proceed without gating
on it"), then skips those steps anyway: dozens of wrong lines on every quiet day.

Kept in a module that imports nothing heavy: a filter whose module held DuckDB objects, left
on the logger, kept them past interpreter shutdown (DuckDB's bindings then print "leaked
instance" warnings).
"""

from __future__ import annotations

import logging

# Where Dagster's execution plan logs the warning (a logger name, not an import).
PLAN_LOGGER = "dagster._core.execution.plan.active"
_MESSAGE = "will proceed without gating on it"


class _NoGatingWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _MESSAGE not in record.getMessage()


_FILTER = _NoGatingWarnings()


def quiet_skipped_check_warnings() -> None:
    """Drop the warnings until `restore_check_warnings` (idempotent). Called by the build
    step when it skips; the warehouse resource restores them when the run ends, so a later
    run in the same process (tests, the Python API) still gets a genuine warning."""
    logger = logging.getLogger(PLAN_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def restore_check_warnings() -> None:
    logging.getLogger(PLAN_LOGGER).removeFilter(_FILTER)
