"""Data-quality checks: GX suites, reconciliations, freshness, and their Dagster asset checks.

`from checks import blocking_failures` is the publish gate (see checks/gate.py).
"""

from checks.core import EVERYTHING, CheckOutcome, Window


def blocking_failures(con, window: Window = EVERYTHING) -> list[str]:
    from checks.gate import blocking_failures as _impl

    return _impl(con, window)


__all__ = ["EVERYTHING", "CheckOutcome", "Window", "blocking_failures"]
