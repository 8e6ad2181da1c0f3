"""The Session Usage report equals the marts; its ranges, filters, notes and formats.

The report reads the reporting models through botmeter/report/queries.py; these tests check
its figures against the marts (a different path to the same numbers).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import duckdb
import pytest

from botmeter.cli import main
from botmeter.report import ReportError, build_report, default_range
from botmeter.report.formats import to_csv, to_json, to_text
from tests._serving import shared_small_warehouse


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return shared_small_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def published(built):
    return built[2]


@pytest.fixture(scope="module")
def full(published):
    """The report over all the data (the default range ends before today, which is long
    after the generated days)."""
    first, last = _q(
        published, "select min(session_date), max(session_date) from marts.fct_sessions"
    )[0]
    return build_report(published, start=first, end=last)


def _q(path, sql, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_numbers_equal_the_marts(published, full):
    r = full
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
    assert {m["month"]: m["sessions"] for m in r["monthly"]} == monthly
    assert sum(v["sessions"] for v in r["by_version"]) == total


def test_default_range_is_the_last_30_complete_days(published):
    """A day dated today is still filling: the default window ends yesterday at the latest,
    and a day or month still filling is marked (issue 17, item 3)."""
    assert default_range((dt.date(2024, 1, 1), dt.date(2024, 3, 10)), dt.date(2024, 3, 10)) == (
        dt.date(2024, 2, 9),
        dt.date(2024, 3, 9),
    )
    assert default_range((dt.date(2024, 3, 5), dt.date(2024, 3, 20)), dt.date(2024, 6, 1)) == (
        dt.date(2024, 3, 5),
        dt.date(2024, 3, 20),
    )
    last = _q(published, "select max(session_date) from marts.fct_sessions")[0][0]
    today_is_last = build_report(published, today=last)
    assert today_is_last["filters"]["to"] == (last - dt.timedelta(days=1)).isoformat()
    asked = build_report(published, start=last - dt.timedelta(days=2), end=last, today=last)
    assert [d["is_filling"] for d in asked["daily"]] == [False, False, True]
    assert asked["monthly"][-1]["is_filling"]
    assert any("still filling" in n for n in asked["notes"])
    assert "still filling" in to_text(asked)


def test_dates_before_the_data_start_are_clamped_and_said(published):
    """A range from before 4 February 2022 starts at the data start, and the report says so
    instead of averaging over empty days (issue 17, item 4)."""
    first, last = _q(
        published, "select min(session_date), max(session_date) from marts.fct_sessions"
    )[0]
    r = build_report(published, start=dt.date(2021, 12, 1), end=last)
    assert r["filters"]["from"] == "2022-02-04"
    assert any("data start 2022-02-04, not 2021-12-01" in n for n in r["notes"])
    assert r["daily"][0]["date"] == "2022-02-04"
    with pytest.raises(ReportError, match="before the data start"):
        build_report(published, start=dt.date(2021, 1, 1), end=dt.date(2021, 12, 31))


def test_intents_show_the_fallback_share_and_low_confidence_per_intent(published, full):
    """The share of matches that fell back is its own figure; each intent shows its
    low-confidence share (issue 17, item 5)."""
    matches, fallbacks = _q(
        published,
        "select sum(matches), sum(fallback_matches) from marts.agg_intents_daily "
        "where event_date between ? and ?",
        [full["filters"]["from"], full["filters"]["to"]],
    )[0]
    assert full["kpis"]["fallback_share"] == pytest.approx(fallbacks / matches, abs=0)
    assert full["kpis"]["intent_matches"] == matches
    top = full["intents"][0]
    low = _q(
        published,
        "select sum(low_confidence_matches) from marts.agg_intents_daily "
        "where intent = ? and event_date between ? and ?",
        [top["intent"], full["filters"]["from"], full["filters"]["to"]],
    )[0][0]
    assert top["low_confidence_share"] == low / top["matches"]
    assert "Matches that fell back" in to_text(full) and "Low confidence" in to_text(full)


def test_engagement_rate_is_a_share_of_unique_impressions(published, full):
    """Conversations on channels without page loads are not divided by web impressions: the
    rate is engaged / unique impressions, never above 100 % (issue 17, item 6)."""
    unique, engaged = _q(
        published,
        "select sum(unique_impressions), sum(engaged_impressions) from marts.agg_engagement_daily "
        "where event_date between ? and ?",
        [full["filters"]["from"], full["filters"]["to"]],
    )[0]
    assert full["kpis"]["unique_impressions"] == unique
    assert full["kpis"]["engagement_rate"] == engaged / unique <= 1
    worst = _q(published, "select max(engagement_rate) from marts.agg_engagement_daily")[0][0]
    assert worst <= 1


def test_no_bot_is_blank_and_versions_are_broken_down(published, full):
    """Every session shows its bot's name as known when it started (issue 17, item 10), and
    the report breaks sessions down by bot version (item 11)."""
    blank = _q(
        published,
        "select count(*) from reporting.rpt_sessions where bot_name is null or bot_name = ''",
    )[0][0]
    assert blank == 0
    assert all(b["bot_name"] for b in full["by_bot"])
    by_version = _q(
        published,
        "select bot_id, bot_version, count(*) from reporting.rpt_sessions "
        "where session_date between ? and ? group by all",
        [full["filters"]["from"], full["filters"]["to"]],
    )
    assert {(v["bot_id"], v["bot_version"]): v["sessions"] for v in full["by_version"]} == {
        (b, v): n for b, v, n in by_version
    }


def test_filters(published, full):
    start, end = full["filters"]["from"], full["filters"]["to"]
    bot, channel = _q(
        published,
        "select bot_id, channel from marts.agg_sessions_daily "
        "group by all order by sum(sessions) desc, bot_id, channel limit 1",
    )[0]
    r = build_report(
        published,
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end),
        bot=[bot],
        channel=[channel],
    )
    expected = _q(
        published,
        "select sum(sessions) from marts.agg_sessions_daily where bot_id = ? and "
        "channel = ? and session_date between ? and ?",
        [bot, channel, start, end],
    )[0][0]
    assert r["kpis"]["sessions"] == expected
    # a bot can be given by its name
    name = next(b["bot_name"] for b in full["by_bot"] if b["bot_id"] == bot)
    by_name = build_report(
        published,
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end),
        bot=[name.upper()],
    )
    assert by_name["kpis"]["sessions"] == next(
        b["sessions"] for b in full["by_bot"] if b["bot_id"] == bot
    )
    customer, conversation, session, version = _q(
        published,
        "select customer_id, conversation_id, session_id, bot_version "
        "from reporting.rpt_session_usage where conversation_id is not null "
        "and bot_version is not null order by session_id limit 1",
    )[0]
    days = dict(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))
    n = _q(published, "select count(*) from marts.fct_sessions where customer_id = ?", [customer])[
        0
    ][0]
    assert build_report(published, **days, customer=[customer])["kpis"]["sessions"] == n
    m = _q(
        published,
        "select count(distinct session_id) from marts.bridge_session_conversations "
        "where conversation_id = ?",
        [conversation],
    )[0][0]
    assert build_report(published, **days, conversation=[conversation])["kpis"]["sessions"] == m
    # the session id and bot version filters of the Session Usage report (issue 17, item 11)
    assert build_report(published, **days, session=[session])["kpis"]["sessions"] == 1
    v = _q(
        published,
        "select count(*) from reporting.rpt_sessions where bot_version = ? "
        "and session_date between ? and ?",
        [version, start, end],
    )[0][0]
    assert build_report(published, **days, bot_version=[version])["kpis"]["sessions"] == v


def test_every_format_says_which_widgets_a_filter_does_not_apply_to(published, full):
    """A customer or conversation filter cannot narrow the daily rollups: the report says so
    in text, JSON and CSV instead of dropping the widgets silently (issue 17, item 12)."""
    customer = _q(published, "select customer_id from marts.fct_sessions limit 1")[0][0]
    days = dict(
        start=dt.date.fromisoformat(full["filters"]["from"]),
        end=dt.date.fromisoformat(full["filters"]["to"]),
    )
    r = build_report(published, **days, customer=[customer])
    assert r["not_applied"] == {
        "engagement": ["customer"],
        "intents": ["customer"],
        "apis": ["customer"],
        "kpis": ["customer"],
    }
    assert "does not apply to impressions and engagement rate" in to_text(r)
    assert json.loads(to_json(r))["not_applied"]["intents"] == ["customer"]
    rows = list(csv.DictReader(io.StringIO(to_csv(r))))
    assert {x["widget"] for x in rows if x["metric"] == "filters_not_applied"} == {
        "engagement",
        "intents",
        "apis",
        "kpis",
    }
    # the widgets are still there, unfiltered, and say so
    assert r["kpis"]["unique_impressions"] == full["kpis"]["unique_impressions"]


def test_kpis_come_from_the_configuration(published, full):
    """The report lists every KPI of the loaded configuration, none hard-coded."""
    configured = {
        r[0] for r in _q(published, "select distinct kpi_name from reporting.rpt_kpis_daily")
    }
    assert {k["kpi_name"] for k in full["kpi_values"]} == configured
    assert {"containment_rate", "escalation_rate"} <= configured


def test_bad_filter_and_empty_range(published, built, capsys):
    with pytest.raises(ReportError, match="unknown channel 'fax'"):
        build_report(published, channel=["fax"])
    warehouse = str(built[1])
    assert main(["report", "--warehouse", warehouse, "--bot", "no_such_bot"]) == 1
    assert "unknown bot 'no_such_bot'" in capsys.readouterr().err
    assert (
        main(["report", "--warehouse", warehouse, "--from", "2023-01-01", "--to", "2023-01-31"])
        == 1
    )
    assert "no sessions for 2023-01-01..2023-01-31" in capsys.readouterr().err


def test_report_out_never_overwrites_a_warehouse_file(built, tmp_path, capsys):
    """`--out` at the published or working file, a directory or a missing folder is refused
    in one line before anything is written (issue 19, item 4)."""
    _, warehouse, published = built
    before = published.read_bytes()
    for out, message in [
        (published, "warehouse file"),
        (warehouse, "warehouse file"),
        (tmp_path, "is a directory"),
        (tmp_path / "missing" / "r.txt", "does not exist"),
    ]:
        assert main(["report", "--warehouse", str(warehouse), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert published.read_bytes() == before


def test_json_csv_text(published, built, full, capsys):
    r = full
    assert json.loads(to_json(r))["kpis"]["sessions"] == r["kpis"]["sessions"]
    rows = list(csv.DictReader(io.StringIO(to_csv(r))))
    assert any(
        x["widget"] == "kpis"
        and x["metric"] == "sessions"
        and int(x["value"]) == r["kpis"]["sessions"]
        for x in rows
    )
    args = [
        "report",
        "--warehouse",
        str(built[1]),
        "--from",
        r["filters"]["from"],
        "--to",
        r["filters"]["to"],
    ]
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kpis"]["sessions"] == r["kpis"]["sessions"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Sessions consumed" in out and f"{r['kpis']['sessions']:,}" in out
    assert "all accounts" in out
