"""The Configuration page: the KPI configuration, and (only with --allow-edit) its editor.

An edit is checked by the pipeline's own validation; a valid one is saved atomically with
a backup, and the page lists the KPIs whose figures change on the next `botmeter run`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from botmeter.app import kpi_file
from botmeter.app.state import app_state, reader
from botmeter.settings import ConfigError, load_kpi_config

CONTEXT_LINES = 4  # lines shown around an error


def _current(path) -> dict[str, Any]:
    try:
        text = kpi_file.read(path)
    except OSError as exc:
        return {"text": None, "read_error": f"cannot read {path}: {exc.strerror or exc}"}
    checked = kpi_file.check(text, str(path))
    return {"text": text, "read_error": None, "checked": checked, "digest": kpi_file.digest(text)}


def _excerpt(text: str, line: int | None) -> list[tuple[int, str]]:
    lines = text.split("\n")
    if line is None:
        return []
    first = max(1, line - CONTEXT_LINES)
    last = min(len(lines), line + CONTEXT_LINES)
    return [(n, lines[n - 1]) for n in range(first, last + 1)]


def _render(request: Request, status: int = 200, **context: Any) -> Response:
    state = app_state(request)
    path = state.kpi_config_path()
    current = _current(path)
    values = {
        "path": path,
        "current": current,
        "summary": [
            {
                "kpi": k,
                "numerator": kpi_file.describe_part(k.numerator),
                "denominator": kpi_file.describe_part(k.denominator),
            }
            for k in (
                current["checked"].config.kpis
                if current.get("checked") and current["checked"].config
                else []
            )
        ],
        "allow_edit": state.allow_edit,
        "csrf": state.forms.token(reader(request).tenant),
        "draft": None,
        "base": None,
        "checked_only": False,
        "problem": None,
        "excerpt": [],
        "changes": None,
        "saved": None,
        "conflict": None,
        "unchanged": False,
        **context,
    }
    return state.renderer.page(
        request, "config.html", status=status, page="config", title="Configuration", **values
    )


def page(request: Request) -> Response:
    return _render(request)


async def submit(request: Request) -> Response:
    state = app_state(request)
    if not state.allow_edit:
        return state.renderer.page(
            request,
            "error.html",
            status=403,
            page="config",
            title="Editing is off",
            message="This app was started without --allow-edit: the KPI configuration is "
            "read-only here.",
        )
    form = await request.form()
    if not state.forms.check(request, reader(request).tenant, form.get("csrf")):
        return state.renderer.page(
            request,
            "error.html",
            status=403,
            page="config",
            title="Form expired",
            message="This form was not issued by this app (or the app restarted): reload the "
            "page and edit again.",
        )
    path = state.kpi_config_path()
    text = kpi_file.normalise(str(form.get("yaml", "")))
    base = str(form.get("base", ""))
    action = form.get("action", "check")
    checked = kpi_file.check(text, str(path))
    if checked.problem is not None:  # the form again, with the error at its line (200:
        return _render(  # a re-shown form is not a failed page load for the browser)
            request,
            draft=text,
            base=base,
            problem=checked.problem,
            excerpt=_excerpt(text, checked.problem.line),
        )
    try:
        old = load_kpi_config(path)
    except ConfigError:
        old = None
    changes = kpi_file.diff(old, checked.config)
    current = _current(path)
    if action != "save":
        return _render(request, draft=text, base=base, changes=changes, checked_only=True)
    if current["text"] == text:
        return _render(request, unchanged=True)
    try:
        backup = kpi_file.save(path, text, base)
    except kpi_file.SaveConflict as exc:
        return _render(
            request, status=409, draft=text, base=current.get("digest", ""), conflict=str(exc)
        )
    return _render(request, changes=changes, saved=backup.name)
