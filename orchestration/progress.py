"""Dagster loggers for runs started by `botmeter run`: one line per stage as it happens on
standard error, and everything (Dagster's debug events and tracebacks) in a log file.

The console line comes from what the steps log themselves (each landed day, each dbt model
built, the publish), from failed checks, and from a failed step, shown by its cause alone:
the traceback goes to the log file.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg

_FAILURES = {"STEP_FAILURE", "RUN_FAILURE"}


def _cause(event) -> str:
    """The innermost error message of a failure event, on one line."""
    data = event.event_specific_data
    error = getattr(data, "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    text = (error.message if error is not None else "").strip()
    return text.splitlines()[0] if text else "failed"


class _ProgressHandler(logging.Handler):
    def __init__(self, stream) -> None:
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        line = None
        if event is None:
            # what the steps log (errors come as failure events, with their cause)
            if logging.INFO <= record.levelno < logging.ERROR:
                line = meta.get("orig_message") or record.getMessage()
        elif event.event_type_value in _FAILURES and event.step_key:
            line = f"step {event.step_key} failed: {_cause(event)}"
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                severity = evaluation.severity.value.lower()
                line = (
                    f"check {evaluation.asset_check_key.name} failed ({severity}): "
                    f"{evaluation.description or ''}".rstrip(": ")
                )
        if line:
            self.stream.write(line.splitlines()[0] + "\n")
            self.stream.flush()


@dg.logger(
    config_schema={},
    description="One line per stage of a run on standard error (used by `botmeter run`).",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    # A logger of this run only (not registered with `logging`), gone when the run ends.
    log = logging.Logger("botmeter.progress", logging.INFO)
    log.addHandler(_ProgressHandler(sys.stderr))
    return log


@dg.logger(
    config_schema={"path": dg.Field(str)},
    description="Every event of a run, with tracebacks, appended to a file.",
)
def file_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("botmeter.run_file", logging.DEBUG)
    handler = logging.FileHandler(init_context.logger_config["path"], encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return log
