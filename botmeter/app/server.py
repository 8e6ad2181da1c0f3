"""`botmeter serve`: check the options, then run the app with uvicorn."""

from __future__ import annotations

import sys
from pathlib import Path

from botmeter.app.application import create_app
from botmeter.app.published import NotPublished, Published
from botmeter.app.security import allowed_hosts
from botmeter.app.tenancy import TokensError, load_tokens
from botmeter.report import queries


def _warn(message: str) -> None:
    print(f"botmeter serve: {message}", file=sys.stderr, flush=True)


def _check_account(published: Path, account: str) -> None:
    """A typo in --account would show an empty app: say so at start (not fatal: the
    account's first data may not be published yet)."""
    store = Published(published)
    try:
        with store.connect() as con:
            if account not in queries.accounts(con, account):
                _warn(f"account {account!r} has no sessions in {published} (yet)")
    except NotPublished:
        pass
    finally:
        store.close()


def serve(
    published: Path,
    host: str = "127.0.0.1",
    port: int = 8050,
    account: str | None = None,
    tokens_file: Path | None = None,
    allow_edit: bool = False,
    kpi_config: Path | None = None,
) -> int:
    """Run the usage app until interrupted; returns the exit code."""
    import uvicorn

    tokens = None
    if tokens_file is not None:
        try:
            tokens = load_tokens(tokens_file)
        except TokensError as exc:
            _warn(str(exc))
            return 2
    if account:
        _check_account(Path(published), account)
    if not Path(published).is_file():
        _warn(f"{published} does not exist yet: the app shows how to publish it")
    try:
        app = create_app(
            published,
            account=account,
            tokens=tokens,
            allow_edit=allow_edit,
            kpi_config=kpi_config,
            allowed_hosts=allowed_hosts(host),
        )
    except TokensError as exc:
        _warn(str(exc))
        return 2
    who = app.state.botmeter.access.describe()
    edit = "KPI editing on" if allow_edit else "read-only"
    print(
        f"botmeter usage app on http://{host}:{port} — {who}, {edit}\n"
        f"reading {published} (read-only); press Ctrl+C to stop",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, server_header=False
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind the port
        return int(exc.code or 1)
    except KeyboardInterrupt:
        return 130
    return 0 if server.started else 1
