"""The benchmark's verdicts compare each figure with its target (no timing is measured here)."""

from __future__ import annotations


def test_targets_compare_against_the_limits() -> None:
    from benchmarks.run import targets

    def result(botmeter_s: float, duckdb_s: float, new_day_s: float) -> dict:
        e2e = {
            "events": 1_000_000,
            "botmeter": {"wall_s": botmeter_s, "sessions": 5, "tree_peak_mb": 900},
            "duckdb": {"wall_s": duckdb_s},
            "sessions_equal": True,
            "ratio_to_duckdb": round(botmeter_s / duckdb_s, 2),
        }
        daily = {"new_day": {"wall_s": new_day_s}, "empty_day": {"wall_s": 3.0}}
        return {"sizes": {"1M": {"end_to_end": e2e, "daily": daily}}}

    rows = targets(result(20.0, 5.0, 9.0))
    assert any("4.00x" in r and r.endswith("**met** |") for r in rows)
    assert any("one new day" in r and r.endswith("**met** |") for r in rows)
    rows = targets(result(30.0, 5.0, 16.0))
    assert any("6.00x" in r and r.endswith("**NOT met** |") for r in rows)
    assert any("one new day" in r and r.endswith("**NOT met** |") for r in rows)


def test_sizes_without_a_ratio_target_list_only_their_session_counts() -> None:
    from benchmarks.run import targets

    e2e = {
        "events": 100_000,
        "botmeter": {"wall_s": 80.0, "sessions": 7, "tree_peak_mb": 900},
        "duckdb": {"wall_s": 2.0, "sessions": 7},
        "sessions_equal": True,
        "ratio_to_duckdb": 40.0,
    }
    rows = targets({"sizes": {"100k": {"end_to_end": e2e}}})
    assert not any("x of the bare DuckDB" in r for r in rows)
    assert any("session counts equal (botmeter, DuckDB)" in r and "**met**" in r for r in rows)
