"""The Session Usage report equals the marts; filters, bad filters, empty ranges, formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import duckdb
import pytest

from botmeter.cli import main
from botmeter.report import ReportError, build_report, to_csv, to_json
from tests._serving import build_small_warehouse


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_small_warehouse(tmp_path_factory.mktemp("report"))[2]


def _q(path, sql, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_numbers_equal_the_marts(published):
    r = build_report(published)
    start, end = r["filters"]["from"], r["filters"]["to"]
    total, tickets = _q(
        published,
        "select sum(sessions), sum(tickets) from marts.agg_sessions_daily_total "
        "where session_date between ? and ?",
        [start, end],
    )[0]
    assert r["kpis"]["sessions"] == total and r["kpis"]["tickets"] == tickets
    daily = dict(
        _q(
            published,
            "select strftime(session_date, '%Y-%m-%d'), sum(sessions) from "
            "marts.agg_sessions_daily_total where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    assert {d["date"]: d["sessions"] for d in r["daily"] if d["sessions"]} == daily
    by_bot = dict(
        _q(
            published,
            "select bot_id, sum(sessions) from marts.agg_sessions_daily_total "
            "where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    assert {b["bot_id"]: b["sessions"] for b in r["by_bot"]} == by_bot
    by_channel = dict(
        _q(
            published,
            "select channel, sum(sessions) from marts.agg_sessions_daily "
            "where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    assert {c["channel"]: c["sessions"] for c in r["by_channel"]} == by_channel
    assert sum(by_channel.values()) >= total  # a session counts in every channel it touched
    monthly = dict(
        _q(
            published,
            "select strftime(session_month, '%Y-%m'), sum(sessions) from "
            "marts.agg_sessions_monthly_total group by 1",
        )
    )
    first = dt.date.fromisoformat(r["data_range"]["from"])
    full = build_report(published, start=first)
    assert {m["month"]: m["sessions"] for m in full["monthly"]} == monthly


def test_filters(published):
    bot, channel = _q(
        published,
        "select bot_id, channel from marts.agg_sessions_daily "
        "group by all order by sum(sessions) desc limit 1",
    )[0]
    r = build_report(published, bot=[bot], channel=[channel])
    start, end = r["filters"]["from"], r["filters"]["to"]
    expected = _q(
        published,
        "select sum(sessions) from marts.agg_sessions_daily where bot_id = ? and "
        "channel = ? and session_date between ? and ?",
        [bot, channel, start, end],
    )[0][0]
    assert r["kpis"]["sessions"] == expected
    customer, conversation = _q(
        published,
        "select customer_id, conversation_id from marts.rpt_session_usage "
        "where conversation_id is not null order by session_id limit 1",
    )[0]
    first = dt.date.fromisoformat(build_report(published)["data_range"]["from"])
    n = _q(published, "select count(*) from marts.fct_sessions where customer_id = ?", [customer])[
        0
    ][0]
    assert build_report(published, start=first, customer=[customer])["kpis"]["sessions"] == n
    m = _q(
        published,
        "select count(distinct session_id) from marts.bridge_session_conversations "
        "where conversation_id = ?",
        [conversation],
    )[0][0]
    assert (
        build_report(published, start=first, conversation=[conversation])["kpis"]["sessions"] == m
    )


def test_bad_filter_and_empty_range(published, capsys):
    with pytest.raises(ReportError, match="unknown --channel 'fax'"):
        build_report(published, channel=["fax"])
    assert main(["report", "--warehouse", str(published), "--bot", "no_such_bot"]) == 1
    assert "unknown --bot" in capsys.readouterr().err
    assert (
        main(
            ["report", "--warehouse", str(published), "--from", "2023-01-01", "--to", "2023-01-31"]
        )
        == 1
    )
    assert "no sessions for 2023-01-01..2023-01-31" in capsys.readouterr().err


def test_json_csv_text(published, capsys):
    r = build_report(published)
    assert json.loads(to_json(r))["kpis"]["sessions"] == r["kpis"]["sessions"]
    rows = list(csv.DictReader(io.StringIO(to_csv(r))))
    assert any(
        x["widget"] == "kpis"
        and x["metric"] == "sessions"
        and int(x["value"]) == r["kpis"]["sessions"]
        for x in rows
    )
    assert main(["report", "--warehouse", str(published), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kpis"]["sessions"] == r["kpis"]["sessions"]
    assert main(["report", "--warehouse", str(published)]) == 0
    out = capsys.readouterr().out
    assert "Sessions consumed" in out and f"{r['kpis']['sessions']:,}" in out
