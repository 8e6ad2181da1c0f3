"""An app started for one account (--account, or --tokens) shows that account only: no URL,
parameter, form field or download reaches another account's bots, sessions,
conversations or customers; with --tokens a request needs a valid token."""

from __future__ import annotations

import csv
import io

import pytest
from starlette.testclient import TestClient

from botmeter.app import create_app
from botmeter.app.tenancy import COOKIE, TokensError, load_tokens
from tests.app_fixtures import (  # noqa: F401  (fixtures)
    Figures,
    accounts_by_size,
    data_bounds,
    kpi_file_fixture,
    published_fixture,
    sql,
)

TOKEN_A = "tok-a-0123456789abcdef"
TOKEN_B = "tok-b-fedcba9876543210"
PAGES = ("/sessions", "/sessions/data", "/usage", "/intents", "/apis", "/kpis")


@pytest.fixture(scope="module")
def accounts(published):
    """The account the app is for, and another one with the most data."""
    ordered = accounts_by_size(published)
    return ordered[-1], ordered[0]


@pytest.fixture(scope="module")
def other(published, accounts):
    """Ids of the other account's things, each absent from the tenant's data."""
    mine, theirs = accounts

    def pick(query):
        return sql(published, query, [theirs, mine][: query.count("?")])[0][0]

    return {
        "bot": pick(
            "select min(bot_id) from reporting.rpt_sessions where account_id = ? "
            "and bot_id not in (select bot_id from reporting.rpt_sessions where account_id = ?)"
        ),
        "session": pick("select min(session_id) from reporting.rpt_sessions where account_id = ?"),
        "customer": pick(
            "select min(customer_id) from reporting.rpt_sessions where account_id = ? and "
            "customer_id not in (select customer_id from reporting.rpt_sessions "
            "where account_id = ?)"
        ),
        "conversation": pick(
            "select min(conversation_id) from reporting.rpt_session_usage where account_id = ? "
            "and conversation_id not in (select conversation_id from "
            "reporting.rpt_session_usage where account_id = ? and conversation_id is not null)"
        ),
        "bot_name": pick(
            "select min(bot_name) from reporting.rpt_sessions where account_id = ? and bot_name "
            "not in (select bot_name from reporting.rpt_sessions where account_id = ?)"
        ),
    }


@pytest.fixture(scope="module")
def tenant(published, accounts):
    with TestClient(create_app(published, account=accounts[0])) as c:
        yield c


def _theirs(published, account) -> set[str]:
    """Strings that only the other account's data holds."""
    rows = sql(
        published,
        "select session_id, customer_id, bot_id from reporting.rpt_sessions where account_id = ?",
        [account],
    )
    return {v for r in rows for v in r}


def test_every_page_shows_the_account_only(tenant, published, accounts):
    mine, theirs = accounts
    start, end = data_bounds(published)
    leaks = _theirs(published, theirs) - _theirs(published, mine)
    for path in PAGES:
        page = tenant.get(f"{path}?from={start}&to={end}")
        assert page.status_code == 200, path
        assert f"Account · {mine}" in page.text
        assert theirs not in page.text, path
        assert not [x for x in leaks if x in page.text], path
    figures = Figures(tenant.get(f"/sessions?from={start}&to={end}").text)
    assert (
        int(figures.tiles["sessions"])
        == sql(
            published, "select count(*) from reporting.rpt_sessions where account_id = ?", [mine]
        )[0][0]
    )
    usage = Figures(tenant.get(f"/usage?from={start}&to={end}").text)
    assert (
        int(usage.tiles["api_calls"])
        == sql(
            published,
            "select count(*) from reporting.rpt_api_calls where account_id = ? "
            "and event_date between ? and ?",
            [mine, start, end],
        )[0][0]
    )
    data = Figures(tenant.get(f"/sessions/data?from={start}&to={end}&size=200").text)
    mine_ids = {
        r[0]
        for r in sql(
            published, "select session_id from reporting.rpt_sessions where account_id = ?", [mine]
        )
    }
    assert set(data.row_order["sessions"]) <= mine_ids
    # No account picker for an account admin.
    assert 'name="account"' not in tenant.get("/sessions").text


@pytest.mark.parametrize("field", ["bot", "session", "customer", "conversation", "bot_name"])
def test_another_accounts_ids_in_a_filter_find_nothing(tenant, published, accounts, other, field):
    name = "bot" if field == "bot_name" else field
    value = other[field]
    for path in (*PAGES, "/sessions/data.csv"):
        response = tenant.get(path, params={name: value})
        assert response.status_code == 404, (path, field)
        assert not response.headers["content-type"].startswith("text/csv")
        text = response.text.replace(value, "")  # the reader's own input may be echoed
        assert accounts[1] not in text
        assert not [x for x in _theirs(published, accounts[1]) if x in text]


def test_naming_another_account_finds_nothing(tenant, accounts):
    for path in (*PAGES, "/sessions/data.csv"):
        response = tenant.get(path, params={"account": accounts[1]})
        assert response.status_code == 404, path
        assert "Traceback" not in response.text


def test_another_accounts_session_cannot_be_opened_or_downloaded(tenant, published, other):
    session = other["session"]
    for url in (f"/sessions/{session}/explain", f"/sessions/{session}/explain.csv"):
        response = tenant.get(url)
        assert response.status_code == 404
        assert other["customer"] not in response.text
    # The account's own sessions can.
    own = Figures(tenant.get("/sessions/data").text).row_order["sessions"][0]
    assert tenant.get(f"/sessions/{own}/explain").status_code == 200
    rows = list(csv.DictReader(io.StringIO(tenant.get("/sessions/data.csv").text)))
    assert rows and session not in {r["session_id"] for r in rows}


@pytest.fixture(scope="module")
def tokened(published, accounts):
    tokens = {TOKEN_A: accounts[0], TOKEN_B: accounts[1]}
    with TestClient(create_app(published, tokens=tokens)) as c:
        yield c


def test_a_request_without_a_valid_token_is_refused(tokened):
    for path in (*PAGES, "/sessions/data.csv", "/config", "/sessions/x/explain"):
        response = tokened.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert tokened.get("/sessions", params={"token": "not-a-token"}).status_code == 401
    assert (
        tokened.get(
            "/sessions", headers={"authorization": "Bearer tok-a-0123456789abcdeX"}
        ).status_code
        == 401
    )
    assert tokened.get("/static/app.css").status_code == 200  # nothing of any account


def test_a_token_in_the_url_becomes_a_cookie(published, accounts):
    mine, theirs = accounts
    with TestClient(create_app(published, tokens={TOKEN_A: mine, TOKEN_B: theirs})) as c:
        response = c.get(
            "/sessions/data", params={"token": TOKEN_A, "size": "25"}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/sessions/data?size=25"  # token dropped
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie.lower()
        assert "samesite=lax" in cookie.lower()
        page = c.get("/sessions")
        assert page.status_code == 200 and f"Account · {mine}" in page.text
        # The cookie's account, whatever the parameters say.
        assert c.get("/sessions", params={"account": theirs}).status_code == 404
    # A bearer header works too, for scripts.
    with TestClient(create_app(published, tokens={TOKEN_A: mine, TOKEN_B: theirs})) as c:
        page = c.get("/usage", headers={"authorization": f"Bearer {TOKEN_B}"})
        assert page.status_code == 200 and f"Account · {theirs}" in page.text


def test_tokens_and_an_account_together_accept_that_accounts_tokens_only(published, accounts):
    mine, theirs = accounts
    app = create_app(published, account=mine, tokens={TOKEN_A: mine, TOKEN_B: theirs})
    with TestClient(app) as c:
        assert c.get("/sessions", headers={"authorization": f"Bearer {TOKEN_B}"}).status_code == 401
        assert c.get("/sessions", headers={"authorization": f"Bearer {TOKEN_A}"}).status_code == 200
    with pytest.raises(TokensError):
        create_app(published, account="acc_nobody", tokens={TOKEN_A: mine})


def test_tokens_file(tmp_path):
    path = tmp_path / "tokens.yml"
    path.write_text(f"{TOKEN_A}: acc_acme\n{TOKEN_B}: acc_telco\n")
    assert load_tokens(path) == {TOKEN_A: "acc_acme", TOKEN_B: "acc_telco"}
    for text in ("- a list\n", f"{TOKEN_A}:\n", "{not yaml", ""):
        path.write_text(text)
        with pytest.raises(TokensError):
            load_tokens(path)


def test_an_account_admin_cannot_edit_without_allow_edit(published, accounts, kpi_file):
    before = kpi_file.read_bytes()
    with TestClient(create_app(published, account=accounts[0], kpi_config=kpi_file)) as c:
        assert c.post("/config", data={"yaml": "version: 1\n"}).status_code == 403
    assert kpi_file.read_bytes() == before
