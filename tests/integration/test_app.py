"""The usage app over HTTP: every page shows the reporting tables' figures, filters and the
date range change them, the underlying data pages, sorts and downloads what it shows, a
session is explained, and the KPI configuration is shown and (only with --allow-edit)
edited safely."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil

import duckdb
import pytest
import yaml
from starlette.testclient import TestClient

from botmeter import settings
from botmeter.app import create_app, serve
from botmeter.report import build_report
from tests.app_fixtures import (  # noqa: F401  (fixtures)
    Figures,
    accounts_by_size,
    data_bounds,
    kpi_file_fixture,
    published_fixture,
    sql,
)


@pytest.fixture(scope="module")
def client(published):
    with TestClient(create_app(published)) as c:
        yield c


def _default_range(published) -> tuple[dt.date, dt.date]:
    report = build_report(published)
    return (
        dt.date.fromisoformat(report["filters"]["from"]),
        dt.date.fromisoformat(report["filters"]["to"]),
    )


def _get(client, url, status=200) -> Figures:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.text[-800:])
    assert "Traceback" not in response.text
    return Figures(response.text)


def _sessions_sql(published, start, end, where="true", params=()):
    return sql(
        published,
        f"""select count(*), coalesce(sum(ticket_count), 0),
                   count(*) filter (where has_ticket), coalesce(sum(conversation_count), 0)
            from reporting.rpt_sessions where session_date between ? and ? and {where}""",
        [start, end, *params],
    )[0]


# ------------------------------------------------------------------------- every page


@pytest.mark.parametrize(
    "path, title",
    [
        ("/sessions", "Session Usage"),
        ("/sessions/data", "Sessions consumed"),
        ("/usage", "Usage"),
        ("/intents", "Intent Drilldown"),
        ("/apis", "API Metrics"),
        ("/kpis", "KPI Metrics"),
        ("/config", "Configuration"),
    ],
)
def test_every_page_renders(client, path, title):
    response = client.get(path)
    assert response.status_code == 200
    assert f"<h1>{title}" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    # Every asset is the app's own: no CDN, no other host.
    for url in re.findall(r'(?:src|href)="([^"]+)"', response.text):
        assert not re.match(r"(https?:)?//", url), url


def test_root_redirects_to_session_usage(client):
    response = client.get("/?bot=x", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/sessions?bot=x"


def test_assets_are_served_locally_and_cached(client):
    page = client.get("/sessions").text
    plotly = re.search(r'data-charts="(/static/plotly\.min\.js\?v=\w+)"', page).group(1)
    response = client.get(plotly, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert len(response.content) > 1_000_000  # the whole library, served by the app
    for name in ("app.css", "app.js", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../settings.py").status_code == 404


# ------------------------------------------------------------------ session usage page


def test_session_usage_equals_the_reporting_tables(client, published):
    start, end = _default_range(published)
    page = _get(client, "/sessions")
    sessions, tickets, with_ticket, conversations = _sessions_sql(published, start, end)
    assert int(page.tiles["sessions"]) == sessions > 0
    assert int(page.tiles["tickets"]) == tickets
    assert int(page.tiles["sessions_with_ticket"]) == with_ticket
    assert int(page.tiles["conversations"]) == conversations
    daily = dict(
        sql(
            published,
            "select strftime(session_date, '%Y-%m-%d'), count(*) from reporting.rpt_sessions "
            "where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    shown = page.column("daily", "sessions")
    assert {k: v for k, v in shown.items() if v} == daily
    assert len(shown) == (end - start).days + 1  # every day of the range, zeros included
    by_bot = dict(
        sql(
            published,
            "select bot_id, count(*) from reporting.rpt_sessions "
            "where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    assert page.column("by_bot", "sessions") == by_bot
    by_channel = dict(
        sql(
            published,
            "select channel, count(*) from reporting.rpt_session_channels "
            "where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    assert page.column("by_channel", "sessions") == by_channel
    by_version = {
        f"{bot}|{version or ''}": n
        for bot, version, n in sql(
            published,
            "select bot_id, bot_version, count(*) from reporting.rpt_sessions "
            "where session_date between ? and ? group by 1, 2",
            [start, end],
        )
    }
    assert page.column("by_version", "sessions") == by_version
    monthly = dict(
        sql(
            published,
            "select strftime(session_month, '%Y-%m'), count(*) from reporting.rpt_sessions "
            "where session_date between ? and ? group by 1",
            [start, end],
        )
    )
    assert page.column("monthly", "sessions") == monthly
    # The same figures as the CLI report.
    report = build_report(published)
    assert int(page.tiles["sessions"]) == report["kpis"]["sessions"]
    assert page.column("by_bot", "sessions") == {
        b["bot_id"]: b["sessions"] for b in report["by_bot"]
    }
    engagement = sql(
        published,
        "select sum(unique_impressions) from reporting.rpt_engagement_daily "
        "where event_date between ? and ?",
        [start, end],
    )[0][0]
    assert int(page.tiles["unique_impressions"]) == engagement
    assert page.notes == []  # no filter: nothing is left unapplied


def test_default_range_is_the_last_30_complete_days(published):
    first, last = data_bounds(published)
    today = last  # the newest data day is still filling: the range ends the day before
    with TestClient(create_app(published, today=lambda: today)) as c:
        page = c.get("/sessions").text
    figures = Figures(page)
    days = sorted(figures.tables["daily"])
    expected_end = last - dt.timedelta(days=1)
    assert days[-1] == expected_end.isoformat()
    assert days[0] == max(expected_end - dt.timedelta(days=29), first).isoformat()
    assert len(days) <= 30

    # A range that holds today marks today and its month as still filling.
    with TestClient(create_app(published, today=lambda: today)) as c:
        page = c.get(f"/sessions?from={first}&to={last}").text
    assert "still filling: today is" in page
    figures = Figures(page)
    assert figures.find(**{"_tag": "tr", "data-key": last.isoformat(), "class": "filling"})
    month = last.strftime("%Y-%m")
    assert figures.find(**{"_tag": "tr", "data-key": month, "class": "filling"})


def test_one_range_chip_is_on_whatever_the_day(published):
    """Presets can cover the same days (clamped to the data's first day, or on the 1st of a
    month); the page marks one of them, never two."""
    first, last = data_bounds(published)
    for today in sorted(
        {first + dt.timedelta(days=n) for n in (1, 2, 8)}
        | {last, last.replace(day=1) + dt.timedelta(days=1)}
    ):
        with TestClient(create_app(published, today=lambda today=today: today)) as c:
            page = c.get("/sessions").text
        chips = re.findall(r'<a href="[^"]*" class="on">([^<]+)</a>', page)
        assert len(chips) == 1, (today, chips)


def test_a_range_before_the_data_start_is_clamped_and_explained(client):
    page = client.get("/sessions?from=2021-01-01&to=2024-02-25").text
    assert "starts at the data start 2022-02-04" in page
    page = client.get("/sessions?to=2021-01-01")
    assert page.status_code == 400 and "before the data start" in page.text
    page = client.get("/sessions?from=2024-03-01&to=2024-02-25")
    assert page.status_code == 400 and "after it ends" in page.text
    assert client.get("/sessions?from=yesterday").status_code == 400


def test_filters_change_every_session_widget(client, published):
    start, end = data_bounds(published)
    base = f"/sessions?from={start}&to={end}"
    everything = int(_get(client, base).tiles["sessions"])
    bot, account, customer = sql(
        published,
        "select bot_id, account_id, customer_id from reporting.rpt_sessions "
        "group by all order by count(*) desc limit 1",
    )[0]
    cases = [
        (f"bot={bot}", "bot_id = ?", [bot]),
        (f"account={account}", "account_id = ?", [account]),
        (f"customer={customer}", "customer_id = ?", [customer]),
        (
            "channel=whatsapp",
            "session_id in (select session_id from reporting.rpt_session_channels "
            "where channel = 'whatsapp')",
            [],
        ),
    ]
    version = sql(
        published,
        "select bot_version from reporting.rpt_sessions where bot_id = ? "
        "and bot_version is not null group by 1 order by count(*) desc limit 1",
        [bot],
    )[0][0]
    cases.append(
        (f"bot={bot}&bot_version={version}", "bot_id = ? and bot_version = ?", [bot, version])
    )
    conversation, conv_session = sql(
        published,
        "select conversation_id, any_value(session_id) from reporting.rpt_session_usage "
        "where conversation_id is not null group by 1 having count(*) > 1 limit 1",
    )[0]
    cases.append(
        (
            f"conversation={conversation}",
            "session_id in (select session_id from reporting.rpt_session_usage "
            "where conversation_id = ?)",
            [conversation],
        )
    )
    cases.append((f"session={conv_session}", "session_id = ?", [conv_session]))
    for query, where, params in cases:
        page = _get(client, f"{base}&{query}")
        expected = _sessions_sql(published, start, end, where, params)
        assert int(page.tiles["sessions"]) == expected[0], query
        assert int(page.tiles["tickets"]) == expected[1], query
        assert sum(page.column("daily", "sessions").values()) == expected[0], query
        assert sum(page.column("by_bot", "sessions").values()) == expected[0], query
        assert expected[0] < everything
    # A bot can be named instead of given by id, like in the CLI.
    name = sql(
        published, "select any_value(bot_name) from reporting.rpt_sessions where bot_id = ?", [bot]
    )[0][0]
    by_name = _get(client, f"{base}&bot={name}")
    assert by_name.tiles["sessions"] == _get(client, f"{base}&bot={bot}").tiles["sessions"]


def test_widgets_that_a_filter_cannot_narrow_say_so(client, published):
    customer = sql(published, "select min(customer_id) from reporting.rpt_sessions")[0][0]
    page = _get(client, f"/sessions?customer={customer}")
    assert len(page.notes) == 4  # impressions, engagement rate, intent matches, fallbacks
    assert all("customer filter does not apply" in n for n in page.notes)
    for path in ("/usage", "/intents", "/apis", "/kpis"):
        page = _get(client, f"{path}?customer={customer}")
        assert len(page.notes) == 1 and "customer filter does not apply" in page.notes[0], path
    # Intents apply the version filter, KPIs the channel filter; the others say not.
    page = _get(client, "/intents?channel=web")
    assert "channel filter does not apply to intents" in page.notes[0]
    assert _get(client, "/kpis?channel=web").notes == []
    page = _get(client, "/apis?channel=web&customer=" + customer)
    assert "channel, customer filters do not apply to API calls" in page.notes[0]


def test_unknown_filter_values_are_an_error_not_an_empty_page(client):
    for query in ("bot=no_such_bot", "customer=nobody", "session=nope", "channel=fax"):
        page = client.get(f"/sessions?{query}")
        assert page.status_code == 404, query
        assert Figures(page.text).errors, query
    page = client.get("/sessions?customer=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text


# ------------------------------------------------------------------ underlying data


def test_underlying_data_pages_and_sorts(client, published):
    start, end = data_bounds(published)
    base = f"/sessions/data?from={start}&to={end}"
    page = client.get(f"{base}&sort=customer_id&dir=asc&size=25&page=2")
    figures = Figures(page.text)
    expected = [
        r[0]
        for r in sql(
            published,
            "select session_id from reporting.rpt_sessions where session_date between ? and ? "
            "order by customer_id asc, session_id limit 25 offset 25",
            [start, end],
        )
    ]
    assert figures.row_order["sessions"] == expected
    total = sql(published, "select count(*) from reporting.rpt_sessions")[0][0]
    assert figures.find(**{"data-total": str(total)})
    # Descending by tickets, and each session's conversations.
    figures = _get(client, f"{base}&sort=ticket_count&dir=desc&size=50")
    tickets = [int(v["ticket_count"]) for v in figures.tables["sessions"].values()]
    assert tickets == sorted(tickets, reverse=True)
    top = figures.row_order["sessions"][0]
    conversations = {
        r[0]
        for r in sql(
            published,
            "select conversation_id from reporting.rpt_session_usage where session_id = ? "
            "and conversation_id is not null",
            [top],
        )
    }
    html = client.get(f"{base}&sort=ticket_count&dir=desc&size=50").text
    row = html[html.index(f'data-key="{top}"') :]
    row = row[: row.index("</tr>")]
    assert set(re.findall(r'data-conversation="([^"]+)"', row)) == conversations
    # A page past the end shows the last one; an unknown sort falls back to the default.
    last = _get(client, f"{base}&size=200&page=999")
    assert len(last.row_order["sessions"]) == total - 200 * ((total - 1) // 200)
    assert _get(client, f"{base}&sort=drop_table").row_order["sessions"]


def test_csv_download_is_the_page_on_screen(client, published):
    url = "/sessions/data?sort=session_start_at&dir=asc&size=25&page=2"
    figures = _get(client, url)
    html = client.get(url).text
    response = client.get(url.replace("/sessions/data?", "/sessions/data.csv?"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    sessions = list(dict.fromkeys(r["session_id"] for r in rows))
    assert sessions == figures.row_order["sessions"] and len(sessions) == 25
    shown_conversations = re.findall(r'data-conversation="([^"]+)"', html)
    assert [r["conversation_id"] for r in rows if r["conversation_id"]] == shown_conversations
    for r in rows:
        shown = figures.tables["sessions"][r["session_id"]]
        assert int(r["ticket_count"]) == int(shown["ticket_count"])
        assert int(r["conversation_count"]) == int(shown["conversation_count"])
    first = rows[0]
    start, customer = sql(
        published,
        "select session_start_at, customer_id from reporting.rpt_sessions where session_id = ?",
        [first["session_id"]],
    )[0]
    assert first["customer_id"] == customer
    assert first["session_start_at"] == start.isoformat(sep=" ", timespec="milliseconds")


def test_a_session_is_explained(client, published):
    session, customer = sql(
        published,
        "select session_id, customer_id from reporting.rpt_session_explain "
        "where new_session_reason = 'inactivity_gap' order by session_id limit 1",
    )[0]
    events = sql(
        published,
        "select event_id, gap_seconds, new_session_reason from reporting.rpt_session_explain "
        "where session_id = ? order by occurred_at, event_id",
        [session],
    )
    page = client.get(f"/sessions/{session}/explain")
    assert page.status_code == 200
    figures = Figures(page.text)
    assert figures.row_order["explain"] == [e[0] for e in events]
    first_gap = float(figures.tables["explain"][events[0][0]]["gap_seconds"])
    assert first_gap == pytest.approx(events[0][1]) and first_gap >= 600
    assert "inactivity timeout" in page.text and customer in page.text
    assert figures.find(**{"data-reason": "inactivity_gap"})
    download = client.get(f"/sessions/{session}/explain.csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["event_id"] for r in rows] == [e[0] for e in events]
    assert rows[0]["new_session_reason"] == "inactivity_gap"
    assert float(rows[0]["gap_seconds"]) == pytest.approx(events[0][1])
    assert client.get("/sessions/nope/explain").status_code == 404
    assert client.get("/sessions/nope/explain.csv").status_code == 404


# ------------------------------------------------------------------ the rollup pages


def test_usage_page_equals_the_reporting_table(client, published):
    start, end = _default_range(published)
    page = _get(client, "/usage")
    expected = {
        d.isoformat(): (s, m, a)
        for d, s, m, a in sql(
            published,
            "select event_date, sum(sessions), sum(user_messages), sum(api_calls) "
            "from reporting.rpt_usage_daily where event_date between ? and ? group by 1",
            [start, end],
        )
    }
    table = page.tables["usage"]
    for day, (s, m, a) in expected.items():
        assert (
            int(table[day]["sessions"]),
            int(table[day]["user_messages"]),
            int(table[day]["api_calls"]),
        ) == (s, m, a)
    assert int(page.tiles["sessions"]) == sum(v[0] for v in expected.values())


def test_intents_page_equals_the_reporting_table(client, published):
    start, end = _default_range(published)
    page = _get(client, "/intents")
    rows = sql(
        published,
        "select intent, sum(matches), sum(fallback_matches), sum(confidence_sum) / sum(matches) "
        "from reporting.rpt_intents_daily where event_date between ? and ? group by 1",
        [start, end],
    )
    assert page.column("intents", "matches") == {r[0]: r[1] for r in rows}
    confidence = page.column("intents", "avg_confidence", float)
    for intent, _, _, avg in rows:
        assert confidence[intent] == pytest.approx(float(avg))
    matches, fallbacks = sum(r[1] for r in rows), sum(r[2] for r in rows)
    assert int(page.tiles["matches"]) == matches
    assert float(page.tiles["fallback_share"]) == pytest.approx(fallbacks / matches)


def test_api_page_equals_the_reporting_table(client, published):
    start, end = _default_range(published)
    page = _get(client, "/apis")
    rows = sql(
        published,
        "select api_name, count(*), count(*) filter (where is_error), "
        "quantile_cont(latency_ms, 0.95) from reporting.rpt_api_calls "
        "where event_date between ? and ? group by 1",
        [start, end],
    )
    assert page.column("apis", "calls") == {r[0]: r[1] for r in rows}
    assert page.column("apis", "error_calls") == {r[0]: r[2] for r in rows}
    p95 = page.column("apis", "latency_p95", float)
    for api, _, _, latency in rows:
        assert p95[api] == pytest.approx(latency)


def test_kpi_page_shows_every_configured_kpi_by_day_and_month(client, published):
    start, end = _default_range(published)
    page = _get(client, "/kpis")
    configured = [
        k["name"] for k in yaml.safe_load(settings.DEFAULT_KPI_CONFIG.read_text())["kpis"]
    ]
    assert page.row_order["kpis"] == configured
    rows = sql(
        published,
        "select kpi_name, any_value(has_denominator), sum(numerator), sum(denominator) "
        "from reporting.rpt_kpis_daily where kpi_date between ? and ? group by 1",
        [start, end],
    )
    values = page.column("kpis", "value", float)
    for name, has_denominator, numerator, denominator in rows:
        expected = numerator / denominator if has_denominator else numerator
        assert values[name] == pytest.approx(expected), name
    monthly = sql(
        published,
        "select kpi_name, strftime(kpi_date, '%Y-%m'), sum(numerator) "
        "from reporting.rpt_kpis_daily where kpi_date between ? and ? group by 1, 2",
        [start, end],
    )
    for name, month, numerator in monthly:
        assert int(page.tables[f"kpi-month-{name}"][month]["numerator"]) == numerator
    daily = sql(
        published,
        "select strftime(kpi_date, '%Y-%m-%d'), sum(numerator) from reporting.rpt_kpis_daily "
        "where kpi_name = 'escalation_rate' and kpi_date between ? and ? group by 1",
        [start, end],
    )
    shown = page.column("kpi-day-escalation_rate", "numerator")
    assert {k: v for k, v in shown.items() if v} == {d: n for d, n in daily if n}


def test_kpi_page_marks_kpis_the_next_run_adds(published, kpi_file):
    text = kpi_file.read_text() + (
        "\n  - name: tickets_raised\n    description: Tickets raised.\n    grain: day\n"
        "    numerator:\n      count: events\n      where:\n        event_type: ticket_created\n"
    )
    kpi_file.write_text(text)
    with TestClient(create_app(published, kpi_config=kpi_file)) as c:
        page = c.get("/kpis").text
    row = page[page.index('data-key="tickets_raised"') :]
    assert "not computed yet" in row[: row.index("</tr>")]


# --------------------------------------------------------------- the configuration page


def test_configuration_is_read_only_without_allow_edit(client, published, kpi_file):
    with TestClient(create_app(published, kpi_config=kpi_file)) as c:
        page = c.get("/config")
        assert page.status_code == 200
        assert "<textarea" not in page.text and "--allow-edit" in page.text
        assert "escalation_rate" in page.text and "data-listing" in page.text
        before = kpi_file.read_bytes()
        refused = c.post("/config", data={"yaml": "version: 1\nkpis: []\n", "action": "save"})
        assert refused.status_code == 403
    assert kpi_file.read_bytes() == before
    assert list(kpi_file.parent.iterdir()) == [kpi_file]


def _form(page: str) -> dict[str, str]:
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1)
        for name in ("csrf", "base")
    }


def test_configuration_edit_refuses_an_invalid_value_then_saves_a_valid_one(published, kpi_file):
    original = kpi_file.read_text()
    with TestClient(create_app(published, kpi_config=kpi_file, allow_edit=True)) as c:
        page = c.get("/config").text
        assert "<textarea" in page
        form = _form(page)
        # The escalation rate's numerator counts something that does not exist.
        marker = "  - name: escalation_rate"
        head, tail = original.split(marker)
        invalid = head + marker + tail.replace("      count: sessions", "      count: visits", 1)
        bad_line = invalid.split("\n").index("      count: visits") + 1
        response = c.post("/config", data={**form, "yaml": invalid, "action": "save"})
        assert response.status_code == 200 and "Not saved" in response.text
        problem = Figures(response.text).find(_tag="aside")[0]
        assert problem["data-kpi"] == "escalation_rate"
        assert problem["data-field"] == "numerator.count"
        assert problem["data-line"] == str(bad_line)
        errors = Figures(response.text).errors
        assert any("must be one of events, sessions, conversations" in e for e in errors)
        assert "count: visits" in response.text  # the draft is kept for fixing
        assert kpi_file.read_text() == original
        assert list(kpi_file.parent.iterdir()) == [kpi_file]

        # Without the form's token, nothing is saved (another site cannot post here).
        forged = c.post("/config", data={"yaml": original, "action": "save", "base": ""})
        assert forged.status_code == 403

        # Valid: the escalation rate counts conversations now, a KPI is added, one removed
        # and one only described differently.
        valid = (
            head + marker + tail.replace("      count: sessions", "      count: conversations", 1)
        )
        valid = valid.replace(
            "Share of sessions handled by the bot alone", "Sessions the bot handled alone"
        )
        data = yaml.safe_load(valid)
        data["kpis"] = [k for k in data["kpis"] if k["name"] != "payments_completed"]
        data["kpis"].append(
            {
                "name": "tickets_raised",
                "description": "Tickets raised.",
                "grain": "day",
                "numerator": {"count": "events", "where": {"event_type": "ticket_created"}},
            }
        )
        valid = yaml.safe_dump(data, sort_keys=False)
        checked = c.post("/config", data={**form, "yaml": valid, "action": "check"})
        assert checked.status_code == 200 and "What would change" in checked.text
        assert kpi_file.read_text() == original  # checking does not save
        saved = c.post(
            "/config", data={**form, "yaml": valid.replace("\n", "\r\n"), "action": "save"}
        )
        assert saved.status_code == 200, saved.text[-500:]
    assert kpi_file.read_text() == valid  # browsers' CRLF lines are saved as LF
    backups = [p for p in kpi_file.parent.iterdir() if p != kpi_file]
    assert len(backups) == 1 and re.fullmatch(r"kpis\.yml\.\d{8}T\d{6}Z\.bak", backups[0].name)
    assert backups[0].read_text() == original
    changes = {
        (a["data-change"], a["data-kpi"])
        for a in Figures(saved.text).find(_tag="li")
        if "data-change" in a
    }
    assert changes == {
        ("added", "tickets_raised"),
        ("changed", "escalation_rate"),
        ("removed", "payments_completed"),
        ("relabelled", "containment_rate"),
    }
    assert "recomputed on the next" in saved.text
    assert f'data-saved="{backups[0].name}"' in saved.text


def test_a_save_over_a_file_changed_meanwhile_is_refused(published, kpi_file):
    with TestClient(create_app(published, kpi_config=kpi_file, allow_edit=True)) as c:
        form = _form(c.get("/config").text)
        kpi_file.write_text(kpi_file.read_text() + "# edited by someone else\n")
        edited = kpi_file.read_text()
        response = c.post(
            "/config",
            data={**form, "yaml": edited.replace("grain: month", "grain: day"), "action": "save"},
        )
        assert response.status_code == 409
    assert kpi_file.read_text() == edited


# ------------------------------------------------------------------ the published file


def test_a_missing_file_is_a_friendly_page_and_a_new_publish_is_picked_up(published, tmp_path):
    target = tmp_path / "served.duckdb"
    with TestClient(create_app(target)) as c:
        page = c.get("/sessions")
        assert page.status_code == 503 and "No published data yet" in page.text
        assert "botmeter run" in page.text and "Traceback" not in page.text

        shutil.copy(published, target)
        first = _get(c, "/sessions?from=2024-02-20&to=2024-03-10")
        # A new publish replaces the file by rename: fewer sessions now.
        account = accounts_by_size(published)[0]
        fresh = tmp_path / "next.duckdb"
        shutil.copy(published, fresh)
        con = duckdb.connect(str(fresh))
        con.execute("delete from reporting.rpt_sessions where account_id = ?", [account])
        con.close()
        os.replace(fresh, target)
        second = _get(c, "/sessions?from=2024-02-20&to=2024-03-10")
        removed = sql(
            published,
            "select count(*) from reporting.rpt_sessions where account_id = ?",
            [account],
        )[0][0]
        assert int(second.tiles["sessions"]) == int(first.tiles["sessions"]) - removed

        target.write_text("not a database")
        page = c.get("/sessions")
        assert page.status_code == 503 and "Traceback" not in page.text


def test_unknown_hosts_are_refused_when_serving_on_loopback(published):
    with TestClient(create_app(published, allowed_hosts=["127.0.0.1", "localhost"])) as c:
        assert c.get("/sessions", headers={"host": "evil.example"}).status_code == 400
        assert c.get("/sessions", headers={"host": "127.0.0.1:8050"}).status_code == 200


def test_serve_refuses_a_bad_tokens_file(published, tmp_path, capsys):
    tokens = tmp_path / "tokens.yml"
    tokens.write_text("short: acc_acme\n")
    assert serve(published=published, tokens_file=tokens) == 2
    assert "at least 16 characters" in capsys.readouterr().err
