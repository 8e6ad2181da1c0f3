"""Checks fail on data broken on purpose, and blocking ones block.

One small warehouse is built per module (generator + landing + in-process `dbt build`) and
copied for each test, which then breaks one thing and asserts the matching check fails.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from checks.asset_checks import botmeter_asset_checks, to_check_result
from checks.core import EVERYTHING, Window
from checks.freshness import newest_arrival, volume_anomalies
from checks.reconciliation import (
    landing_balance,
    session_assignment,
    sessions_rollup_balance,
    staging_balance,
)
from checks.settings import CheckSettings

from assets.landing import land_partition
from checks import blocking_failures
from checks.gx_suites import run_suite
from tests.pipeline_helpers import dbt

DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4)]
LAST = Window(DAYS[-1], DAYS[-1])


def dbt_build(warehouse: Path) -> None:
    dbt(warehouse, "build", "--full-refresh")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from tools.generator import generate

    base = tmp_path_factory.mktemp("checks")
    generate(base / "landing", start=DAYS[0], days=len(DAYS), events_per_day=250, seed=7)
    warehouse = base / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    for day in DAYS:
        land_partition(con, base / "landing", day)
    con.close()
    dbt_build(warehouse)
    con = duckdb.connect(str(warehouse))
    con.execute("checkpoint")  # the in-process dbt may leave its writes in the WAL
    con.close()
    return warehouse


@pytest.fixture
def con(built, tmp_path):
    copy = tmp_path / "wh.duckdb"
    shutil.copy(built, copy)
    if Path(f"{built}.wal").exists():
        shutil.copy(f"{built}.wal", f"{copy}.wal")
    connection = duckdb.connect(str(copy))
    connection.execute("set TimeZone = 'UTC'")
    yield connection
    connection.close()


def test_clean_warehouse_passes_every_blocking_check(con):
    assert blocking_failures(con) == []
    assert blocking_failures(con, LAST) == []
    outcome = run_suite(con, "fct_sessions_billing_rules", LAST)
    assert outcome.passed and outcome.details["rows_validated"] > 0
    assert "data_docs" not in outcome.details  # pages are rendered for failures only


def test_only_a_failing_frame_is_validated_again_for_counts_and_rows(con, monkeypatch):
    """COMPLETE results make GX copy the frame once per expectation: a passing frame gets the
    pass-or-fail run only; a failing one is validated again for its counts and rows."""
    from checks import gx_suites

    formats = []
    real = gx_suites._checkpoint_run

    def recording(suite, expectations, frame, result_format, docs_dir):
        formats.append(result_format)
        return real(suite, expectations, frame, result_format, docs_dir)

    monkeypatch.setattr(gx_suites, "_checkpoint_run", recording)
    assert run_suite(con, "fct_sessions_value_rules", LAST).passed
    assert formats == ["BOOLEAN_ONLY"]
    formats.clear()
    con.execute(
        "update marts.fct_sessions set user_event_count = 0 where session_id in "
        "(select session_id from marts.fct_sessions order by session_id limit 3)"
    )
    outcome = run_suite(con, "fct_sessions_value_rules", EVERYTHING)
    assert formats == ["BOOLEAN_ONLY", "COMPLETE"]
    assert not outcome.passed and outcome.failed_count == 3 and len(outcome.sample) == 3


def test_duplicate_session_id_fails_uniqueness_and_blocks(con):
    sid = con.execute(
        "select session_id from marts.fct_sessions order by session_start_at desc limit 1"
    ).fetchone()[0]
    con.execute(
        "insert into marts.fct_sessions select * from marts.fct_sessions "
        f"where session_id = '{sid}'"
    )
    outcome = run_suite(con, "fct_sessions_billing_rules", LAST)
    assert not outcome.passed and outcome.blocking
    assert outcome.failed_count == 2
    docs = Path(outcome.details["data_docs"])  # the failing suite's Data Docs page
    assert docs.exists() and docs.parent.parent.name == "gx_docs"
    assert list((docs.parent / "validations").rglob("*.html"))  # with the result page
    assert {row["session_id"] for row in outcome.sample} == {sid}
    failures = blocking_failures(con, LAST)
    assert any(f.startswith("fct_sessions_billing_rules") and sid in f for f in failures)
    result = to_check_result(outcome)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["failed_count"].value == 2


def test_pre_2022_row_smuggled_into_marts_fails_data_start(con):
    con.execute("""
        insert into marts.agg_sessions_monthly_total (session_month, account_id, bot_id,
            sessions, tickets, sessions_with_ticket)
        values (date '2021-12-01', 'acc_smuggled', 'bot_x', 5, 0, 0)""")
    con.execute("""
        insert into marts.fct_sessions by name
        select * replace ('smuggled' as session_id,
                          timestamp '2021-06-01 10:00:00' as session_start_at,
                          date '2021-06-01' as session_date)
        from marts.fct_sessions limit 1""")
    for name, marker in [
        ("agg_sessions_monthly_total_billing_rules", "acc_smuggled"),
        ("fct_sessions_billing_rules", "smuggled"),
    ]:
        # Even a slice for the latest arrival day sees rows before the data start.
        outcome = run_suite(con, name, LAST, build_docs=False)
        assert not outcome.passed, name
        assert marker in str(outcome.sample)
    failures = blocking_failures(con, LAST)
    assert len([f for f in failures if "billing_rules" in f]) == 2


def test_staged_event_before_data_start_fails(con):
    # staging is a view over an incremental table; smuggle a row into the table behind it
    relation = con.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_name = 'stg_botmeter__events'"
    ).fetchone()
    assert relation[2] == "BASE TABLE"
    con.execute("""
        insert into staging.stg_botmeter__events by name
        select * replace ('old_1' as event_id, timestamp '2022-02-03 23:59:59' as occurred_at)
        from staging.stg_botmeter__events limit 1""")
    outcome = run_suite(con, "stg_events_billing_rules", LAST, build_docs=False)
    assert not outcome.passed and "old_1" in str(outcome.sample)


def test_landing_mismatch_fails_reconciliation(con):
    assert landing_balance(con, LAST).passed
    con.execute(
        f"delete from raw.events where rowid in (select rowid from raw.events "
        f"where arrival_date = '{DAYS[-1]}' limit 2)"
    )
    outcome = landing_balance(con, LAST)
    assert not outcome.passed and outcome.blocking and outcome.failed_count == 1
    assert outcome.sample[0]["rows_in_raw_events"] == outcome.sample[0]["accepted"] - 2
    con.execute(
        f"update raw.load_audit set lines_read = lines_read + 1 where arrival_date = '{DAYS[0]}'"
    )
    assert landing_balance(con, EVERYTHING).failed_count == 2
    assert any("raw_events_lines_reconcile" in f for f in blocking_failures(con))


def test_lost_or_doubled_staged_event_fails_staging_reconciliation(con):
    assert staging_balance(con, LAST).passed
    eid = con.execute(
        f"select event_id from staging.stg_botmeter__events "
        f"where arrival_date = '{DAYS[-1]}' limit 1"
    ).fetchone()[0]
    con.execute(f"delete from staging.stg_botmeter__events where event_id = '{eid}'")
    outcome = staging_balance(con, LAST)
    assert not outcome.passed and outcome.sample[0]["lost_events"] == 1


def test_rollup_disagreeing_with_fct_sessions_fails(con):
    assert sessions_rollup_balance(con, LAST).passed
    con.execute("""update marts.agg_sessions_daily_total set sessions = sessions + 1
                   where (session_date, account_id, bot_id) in (
                       select (session_date, account_id, bot_id)
                       from marts.agg_sessions_daily_total order by session_date desc limit 1)""")
    outcome = sessions_rollup_balance(con, LAST)
    assert not outcome.passed and outcome.failed_count == 1
    assert outcome.sample[0]["rollup_sessions"] == outcome.sample[0]["fct_sessions"] + 1


def test_unassigned_ticket_and_conversation_fail_assignment(con):
    assert session_assignment(con, EVERYTHING).passed
    ticket = con.execute(
        "select ticket_id from marts.fct_tickets where session_id is not null limit 1"
    ).fetchone()
    assert ticket, "the generated data has in-session tickets"
    con.execute(f"update marts.fct_tickets set session_id = null where ticket_id = '{ticket[0]}'")
    pair = con.execute(
        "select session_id, conversation_id from marts.bridge_session_conversations limit 1"
    ).fetchone()
    con.execute(
        "delete from marts.bridge_session_conversations where session_id = ? "
        "and conversation_id = ?",
        list(pair),
    )
    counted = con.execute(
        "update marts.fct_sessions set event_count = event_count + 1 where session_id = "
        "(select min(session_id) from marts.fct_sessions) returning session_id, event_count"
    ).fetchone()
    outcome = session_assignment(con, EVERYTHING)
    problems = {row["problem"]: row for row in outcome.sample}
    assert not outcome.passed and outcome.failed_count == 3
    assert problems["ticket not assigned"]["ticket_id"] == ticket[0]
    assert problems["ticket not assigned"]["detail"] == "fct_tickets.session_id=null"
    bridge = problems["conversation not in bridge"]
    assert (bridge["session_id"], bridge["conversation_id"]) == pair
    assert bridge["detail"].startswith("first unassigned event ")
    assert problems["event count"]["session_id"] == counted[0]
    assert problems["event count"]["detail"] == (
        f"fct_sessions.event_count={counted[1]}, events in window={counted[1] - 1}"
    )


def test_value_rules_warn_without_blocking(con):
    con.execute(
        f"update raw.events set channel = 'fax', latency_ms = -1 where rowid in "
        f"(select rowid from raw.events where arrival_date = '{DAYS[-1]}' limit 1)"
    )
    outcome = run_suite(con, "raw_events_value_rules", LAST, build_docs=False)
    assert not outcome.passed and not outcome.blocking
    assert to_check_result(outcome).severity == dg.AssetCheckSeverity.WARN
    assert "fax" in str(outcome.sample) and "channel" in outcome.summary
    assert blocking_failures(con, LAST) == []


@pytest.mark.parametrize(
    "suite, damage",
    [
        (
            "fct_sessions_billing_rules",
            "insert into marts.fct_sessions select * from marts.fct_sessions using sample 3 rows",
        ),
        (
            "bridge_session_conversations_billing_rules",
            "insert into marts.bridge_session_conversations "
            "select * from marts.bridge_session_conversations using sample 2 rows",
        ),
        (
            "raw_events_value_rules",
            "update raw.events set channel = 'fax', latency_ms = -1 where rowid in "
            "(select rowid from raw.events using sample 5 rows)",
        ),
    ],
)
def test_chunked_validation_counts_exactly_what_one_frame_counts(con, suite, damage):
    """Slices above gx_chunk_rows are validated chunk by chunk (split on the suite's key):
    a duplicate whose copies would fall in different row ranges is still one duplicate."""
    con.execute("select setseed(0.5)")
    con.execute(damage)
    whole = run_suite(con, suite, EVERYTHING, CheckSettings(), build_docs=False)
    rows = whole.details["rows_validated"]
    small = CheckSettings(gx_chunk_rows=max(1, rows // 6))
    chunked = run_suite(con, suite, EVERYTHING, small, build_docs=False)
    assert not whole.passed and not chunked.passed
    assert "chunks" not in whole.details and chunked.details["chunks"] >= 6
    assert chunked.details["rows_validated"] == whole.details["rows_validated"]
    assert chunked.failed_count == whole.failed_count > 0
    assert chunked.details["expectations"] == whole.details["expectations"]
    assert chunked.summary == whole.summary
    assert 0 < len(chunked.sample) <= CheckSettings().sample_rows


def test_validated_frame_is_freed_after_the_suite(con):
    """GX keeps its newest context alive module-wide; its datasource must not keep the
    validated DataFrame too (at 10M events that held 1-2 GB through the dbt step)."""
    import gc
    import weakref

    from checks.gx_suites import SUITES_BY_NAME, validate_frame

    frame = con.sql("select event_id, event_type, actor, channel from raw.events").df()
    alive = weakref.ref(frame)
    outcome = validate_frame(SUITES_BY_NAME["raw_events_value_rules"], frame, CheckSettings())
    assert outcome.details["rows_validated"] == len(frame) > 0
    del frame
    gc.collect()
    assert alive() is None


def test_chunks_are_read_ahead_in_order_and_at_most_two_are_alive(con, monkeypatch):
    """The next chunk is fetched while this one is validated; chunks still arrive in key
    order and a validated chunk is not kept alive by the read-ahead."""
    import gc
    import weakref

    from checks import gx_suites

    fetched: list[tuple[int, weakref.ref]] = []
    alive_at_validation: list[int] = []
    validated: list[int] = []
    real_frame, real_validate = gx_suites.SliceQuery.frame, gx_suites.validate_frame

    def frame(self, con, chunk=0, chunks=1):
        result = real_frame(self, con, chunk, chunks)
        fetched.append((chunk, weakref.ref(result)))
        return result

    def validate(suite, frame, *args, **kwargs):
        gc.collect()
        alive_at_validation.append(sum(ref() is not None for _, ref in fetched))
        validated.append(next(c for c, ref in fetched if ref() is frame))
        return real_validate(suite, frame, *args, **kwargs)

    monkeypatch.setattr(gx_suites.SliceQuery, "frame", frame)
    monkeypatch.setattr(gx_suites, "validate_frame", validate)
    rows = con.execute("select count(*) from raw.events").fetchone()[0]
    settings = CheckSettings(gx_chunk_rows=max(1, rows // 5))
    outcome = run_suite(con, "raw_events_value_rules", EVERYTHING, settings, build_docs=False)
    chunks = outcome.details["chunks"]
    assert chunks >= 5 and outcome.details["rows_validated"] == rows
    assert validated == list(range(chunks))
    assert 1 <= max(alive_at_validation) <= 2


def test_misspelt_check_setting_is_refused(tmp_path):
    from checks.settings import ConfigError, load_check_settings

    path = tmp_path / "checks.yml"
    path.write_text("channels: [web]\nsample_row: 5\n")
    with pytest.raises(ConfigError, match="unknown setting.*sample_row"):
        load_check_settings(path)
    path.write_text("freshness:\n  max_lag_hour: 5\n")
    with pytest.raises(ConfigError, match="freshness: unknown setting.*max_lag_hour"):
        load_check_settings(path)
    path.write_text("gx_chunk_rows: 0\n")
    with pytest.raises(ConfigError, match="gx_chunk_rows"):
        load_check_settings(path)
    assert load_check_settings(tmp_path / "missing.yml") == CheckSettings()


def test_freshness_and_volume(con):
    newest = DAYS[-1]
    end_of_day = dt.datetime.combine(newest, dt.time()) + dt.timedelta(days=1)
    assert newest_arrival(con, now=end_of_day + dt.timedelta(hours=30)).passed
    late = newest_arrival(con, now=end_of_day + dt.timedelta(hours=37))
    assert not late.passed and late.severity == "warn"
    settings = CheckSettings(min_history_days=2)
    assert volume_anomalies(con, EVERYTHING, settings).passed
    con.execute(f"update raw.load_audit set lines_read = 10 where arrival_date = '{newest}'")
    outcome = volume_anomalies(con, LAST, settings)
    assert not outcome.passed and outcome.sample[0]["arrival_date"] == str(newest)


def test_checks_have_names_descriptions_and_blocking_flags():
    specs = {}
    for check in botmeter_asset_checks:
        for spec in check.check_specs:
            specs[spec.name] = spec
    assert specs["fct_sessions_billing_rules"].asset_key == dg.AssetKey(["marts", "fct_sessions"])
    assert specs["raw_events_lines_reconcile"].asset_key == dg.AssetKey(["raw", "events"])
    for name, spec in specs.items():
        assert spec.description, name
        billing = "billing" in name or "reconcile" in name or "match" in name or "assign" in name
        assert spec.blocking == billing or name.endswith("data_start"), name


def test_failing_blocking_check_on_raw_events_stops_downstream(tmp_path, monkeypatch):
    """A landing bug that loses a row: the blocking reconciliation fails the run and the
    asset downstream of raw/events (standing in for the dbt models) is not materialized."""
    import assets.raw_events as raw_module
    from assets.raw_events import raw_events
    from orchestration.resources import WarehouseResource
    from tools.generator import generate

    generate(tmp_path / "landing", start=DAYS[0], days=1, events_per_day=50, seed=3)

    def lossy_land(con, landing, day, batch=None):
        result = land_partition(con, landing, day, batch=batch)
        con.execute("delete from raw.events where rowid in (select min(rowid) from raw.events)")
        return result

    monkeypatch.setattr(raw_module, "land_partition", lossy_land)
    ran = []

    @dg.asset(deps=[raw_events], partitions_def=raw_events.partitions_def)
    def downstream():
        ran.append(True)

    raw_checks = [
        c
        for c in botmeter_asset_checks
        if all(s.asset_key == raw_events.key for s in c.check_specs)
    ]
    result = dg.materialize(
        [raw_events, downstream, *raw_checks],
        partition_key=DAYS[0].isoformat(),
        resources={
            "warehouse": WarehouseResource(
                warehouse_path=str(tmp_path / "wh.duckdb"), landing_path=str(tmp_path / "landing")
            )
        },
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert not result.success and not ran
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations["raw_events_lines_reconcile"]
    assert not failed.passed and failed.metadata["failed_count"].value == 1
    assert evaluations["raw_events_data_start"].passed
    # The failure is in the warehouse's check ledger, so a later publish is refused...
    from checks.ledger import open_failures, publish_gate

    with duckdb.connect(str(tmp_path / "wh.duckdb")) as ledger_con:
        assert any("raw_events_lines_reconcile" in m for m in open_failures(ledger_con))
        assert any("raw_events_lines_reconcile" in m for m in publish_gate(ledger_con))


def _outcome(name: str, passed: bool, severity: str = "blocking"):
    from checks.core import CheckOutcome

    return CheckOutcome(
        name, passed, severity, "ok" if passed else "3 duplicate rows", 0 if passed else 3
    )


def test_ledger_keeps_a_blocking_failure_open_until_a_pass_covers_its_dates():
    from checks.ledger import open_failures, record

    con = duckdb.connect()
    d = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(4)]
    assert open_failures(con) == []  # no ledger yet: nothing recorded, nothing open
    record(con, _outcome("sessions_unique", False), Window(d[1], d[2]), "run-1")
    record(con, _outcome("volume", False, "warn"), Window(d[1], d[2]), "run-1")  # warn: ignored
    assert open_failures(con) == ["sessions_unique: 3 duplicate rows"]
    record(con, _outcome("sessions_unique", True), Window(d[3], d[3]), "run-2")  # other dates
    record(con, _outcome("other_check", True), Window(d[0], d[3]), "run-2")  # other check
    record(con, _outcome("sessions_unique", True), Window(d[1], d[1]), "run-3")  # part of it
    assert len(open_failures(con)) == 1
    record(con, _outcome("sessions_unique", True), Window(d[0], d[2]), "run-4")  # covers it
    assert open_failures(con) == []
    record(con, _outcome("sessions_unique", False), Window(d[3], d[3]), "run-5")
    assert len(open_failures(con)) == 1
    record(con, _outcome("sessions_unique", True), EVERYTHING, "run-6")  # whole history
    assert open_failures(con) == []
    ids = [r[0] for r in con.execute("select evaluation_id from audit.check_results").fetchall()]
    assert ids == list(range(1, 9))


def test_publish_gate_runs_the_blocking_checks_the_ledger_never_saw(con):
    from checks.ledger import evaluated_checks, publish_gate, record

    assert publish_gate(con) == []  # no ledger: every blocking check runs, all pass
    con.execute(
        "insert into marts.fct_sessions select * from marts.fct_sessions "
        "order by session_start_at desc limit 1"
    )
    assert any("fct_sessions_billing_rules" in m for m in publish_gate(con))
    # Once the ledger has a (passing) evaluation of that check, the gate trusts the ledger.
    record(con, _outcome("fct_sessions_billing_rules", True), LAST, "run-1")
    assert "fct_sessions_billing_rules" in evaluated_checks(con)
    assert not any("fct_sessions_billing_rules" in m for m in publish_gate(con))
