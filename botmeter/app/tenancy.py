"""Who is reading: an operator (every account) or one account's admin.

The reader's account is fixed before any page code runs, and every query gets it as
`Scope(tenant=...)`, so no URL, parameter or form field can widen what a reader sees. With
`--tokens`, each request proves its account with a token: `?token=` once (swapped for an
HttpOnly cookie, and dropped from the address bar so it is not bookmarked or logged), the
cookie, or an `Authorization: Bearer` header.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "botmeter_token"
# Paths that hold nothing of any account (the 401 page needs its stylesheet).
OPEN_PREFIXES = ("/static/", "/favicon.ico", "/healthz")


class TokensError(ValueError):
    """The tokens file is unusable (one line, shown by `botmeter serve`)."""


@dataclasses.dataclass(frozen=True)
class Reader:
    tenant: str | None  # None: an operator, who sees every account

    @property
    def is_operator(self) -> bool:
        return self.tenant is None


def load_tokens(path: Path) -> dict[str, str]:
    """token -> account from a YAML mapping (`token: account`)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokensError(f"cannot read the tokens file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TokensError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not data:
        raise TokensError(f"{path} must be a non-empty mapping of token: account")
    tokens: dict[str, str] = {}
    for token, account in data.items():
        if not isinstance(token, str) or len(token.strip()) < 16:
            raise TokensError(f"{path}: every token must be a string of at least 16 characters")
        if not isinstance(account, str) or not account.strip():
            raise TokensError(f"{path}: the token ending …{token[-4:]} names no account")
        tokens[token.strip()] = account.strip()
    return tokens


class Access:
    """How readers are identified: fixed (operator or one account) or by token."""

    def __init__(self, account: str | None = None, tokens: Mapping[str, str] | None = None):
        self.account = account
        self.tokens: dict[str, str] | None = None
        if tokens is not None:
            self.tokens = {t: a for t, a in tokens.items() if account is None or a == account}
            if not self.tokens:
                raise TokensError(f"no token gives access to account {account}")

    @property
    def needs_token(self) -> bool:
        return self.tokens is not None

    def describe(self) -> str:
        if self.tokens is not None:
            accounts = sorted(set(self.tokens.values()))
            return f"{len(self.tokens)} token(s) for {', '.join(accounts)}"
        return f"account {self.account}" if self.account else "operator (every account)"

    def reader_for(self, token: str | None) -> Reader | None:
        """The token's reader; every token is compared, in constant time each."""
        if self.tokens is None:
            return Reader(self.account)
        if not token:
            return None
        found = None
        given = token.encode()
        for known, account in self.tokens.items():
            if hmac.compare_digest(known.encode(), given):
                found = account
        return Reader(found) if found is not None else None


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


class TenancyMiddleware:
    """Puts the reader on `request.state.reader`, or answers 401 (pure ASGI: no buffering)."""

    def __init__(self, app, access: Access, unauthorized):
        self.app = app
        self.access = access
        self.unauthorized = unauthorized  # request -> Response

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response | None = None
        if not self.access.needs_token:
            reader = self.access.reader_for(None)
        elif "token" in request.query_params:
            token = request.query_params["token"]
            if self.access.reader_for(token) is None:
                response = self.unauthorized(request)
            else:
                kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                target = scope["path"] + (f"?{urlencode(kept)}" if kept else "")
                response = RedirectResponse(target, status_code=303)
                response.set_cookie(
                    COOKIE,
                    token,
                    httponly=True,
                    samesite="lax",
                    secure=request.url.scheme == "https",
                    path="/",
                )
            reader = None
        else:
            reader = self.access.reader_for(_presented_token(request))
            if reader is None:
                response = self.unauthorized(request)
        if response is not None:
            await response(scope, receive, send)
            return
        scope["state"] = {**scope.get("state", {}), "reader": reader}
        await self.app(scope, receive, send)
