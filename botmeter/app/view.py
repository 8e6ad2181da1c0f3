"""What a reader asked for: the date range and filters of a request, resolved against the
published data into a `Scope` with the same rules as the CLI report (botmeter.report):
the default range is the last complete UTC days of the data, a range is clamped to the
data start, and an unknown filter value is an error rather than an empty page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from botmeter.app.tenancy import Reader
from botmeter.report import ReportError, default_range, queries, resolve_range
from botmeter.report.queries import SESSION_FILTERS, QueryError, Scope

RANGE_PARAMS = ("from", "to")
MAX_VALUES = 50  # per filter
MAX_VALUE_LENGTH = 200
FILTER_LABELS = {
    "account": "account",
    "bot": "bot",
    "bot_version": "bot version",
    "channel": "channel",
    "customer": "customer",
    "conversation": "conversation",
    "session": "session",
}


# Why a rollup cannot apply a filter: what it is counted per.
GRAINS = {
    "engagement": "counted per day, account, bot and channel",
    "intents": "counted per day, account, bot and bot version",
    "apis": "counted per day, account and bot",
    "kpis": "counted per day, account, bot and channel",
}


@dataclasses.dataclass
class Preset:
    label: str
    start: dt.date
    end: dt.date
    active: bool = False


@dataclasses.dataclass
class View:
    reader: Reader
    today: dt.date
    rules: dict[str, Any]
    data_start: dt.date
    bounds: tuple[dt.date, dt.date] | None
    values: dict[str, list[str]]  # filter values as the reader gave them
    given: dict[str, str]  # from / to as given
    start: dt.date | None = None
    end: dt.date | None = None
    scope: Scope | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    status: int = 200
    pickers: dict[str, Any] = dataclasses.field(default_factory=dict)
    presets: list[Preset] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.scope is not None and self.error is None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1 if self.start and self.end else 0

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The request's filters as query parameters, with `changes` (None removes)."""
        items: dict[str, Any] = {k: v for k, v in self.given.items() if v}
        items.update({k: v for k, v in self.values.items() if v})
        for key, value in changes.items():
            key = {"from_": "from"}.get(key, key)
            if value is None or value == "" or value == []:
                items.pop(key, None)
            else:
                items[key] = value
        out: list[tuple[str, str]] = []
        for key, value in items.items():
            for v in value if isinstance(value, list | tuple) else [value]:
                out.append((key, str(v)))
        return out

    def url(self, path: str, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"{path}?{query}" if query else path

    def filters_text(self) -> str:
        """The active filters in words (for headings and CSV file names)."""
        parts = [f"{self.start} – {self.end}"] if self.start else []
        for name, values in self.values.items():
            if values:
                shown = self.bot_names(values) if name == "bot" else values
                parts.append(f"{FILTER_LABELS[name]} {', '.join(shown)}")
        return " · ".join(parts)

    def bot_names(self, values: list[str]) -> list[str]:
        names = {b["bot_id"]: b["bot_name"] for b in self.pickers.get("bots", [])}
        return [names.get(v, v) for v in values]

    def not_applied(self, widget: str, what: str) -> str | None:
        """A note for a widget that some active filters cannot narrow (queries.ROLLUP_FILTERS)."""
        if self.scope is None:
            return None
        names = [FILTER_LABELS[n] for n in self.scope.not_applied(widget)]
        if not names:
            return None
        listed = ", ".join(names)
        verb = "does" if len(names) == 1 else "do"
        plural = "" if len(names) == 1 else "s"
        return f"The {listed} filter{plural} {verb} not apply to {what}: {GRAINS[widget]}."


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}."


def _split(raw: list[str]) -> list[str]:
    out: list[str] = []
    for item in raw:
        for value in item.split(","):
            value = value.strip()
            if value and value not in out:
                out.append(value[:MAX_VALUE_LENGTH])
    return out[:MAX_VALUES]


def read_view(request: Request, con, reader: Reader, today: dt.date, pickers: bool = True) -> View:
    """Resolve the request's range and filters; errors end up in `view.error`."""
    rules = queries.rules(con)
    data_start = dt.datetime.fromisoformat(rules["data_start_at"]).date()
    bounds = queries.data_range(con, reader.tenant)
    params = request.query_params
    values = {name: _split(params.getlist(name)) for name in SESSION_FILTERS}
    given = {name: params.get(name, "").strip()[:10] for name in RANGE_PARAMS}
    view = View(reader, today, rules, data_start, bounds, values, given)
    if pickers:
        view.pickers = _pickers(con, reader, values)
    if bounds is None:
        who = f"account {reader.tenant}" if reader.tenant else "any account"
        view.error = f"No sessions are published for {who} yet."
        return view
    default_start, default_end = default_range(bounds, today)
    view.presets = _presets(bounds, default_start, default_end, data_start)
    try:
        start = dt.date.fromisoformat(given["from"]) if given["from"] else None
        end = dt.date.fromisoformat(given["to"]) if given["to"] else None
    except ValueError:
        view.error, view.status = "Dates must look like YYYY-MM-DD.", 400
        return view
    try:
        dates = resolve_range(con, start, end, reader.tenant, today)
    except ReportError as exc:
        view.error, view.status = _sentence(str(exc)), 400
        return view
    view.notes += [_sentence(note) for note in dates.notes]
    start, end = view.start, view.end = dates.start, dates.end
    # One chip is on: where presets coincide (e.g. "Last 30 days" and "This month" clamped to
    # the data's first day), the first of them.
    chosen = next((p for p in view.presets if (p.start, p.end) == (start, end)), None)
    if chosen is not None:
        chosen.active = True
    try:
        bot_ids = queries.resolve_bots(con, values["bot"], reader.tenant) if values["bot"] else ()
        scope = Scope(
            start=start,
            end=end,
            tenant=reader.tenant,
            bot=bot_ids,
            **{name: tuple(values[name]) for name in SESSION_FILTERS if name != "bot"},
        )
        queries.check_values(con, scope)
    except QueryError as exc:
        view.error, view.status = _sentence(str(exc)), 404
        return view
    view.scope = scope
    if end >= today:
        view.notes.append(f"Marked days and months are still filling: today is {today} (UTC).")
    return view


def _pickers(con, reader: Reader, values: dict[str, list[str]]) -> dict[str, Any]:
    """(value, label) options of the filter bar, of the reader's account only."""
    everything = Scope(start=dt.date.min, end=dt.date.max, tenant=reader.tenant)
    bots = queries.bots(con, reader.tenant)
    chosen = set(values["account"])
    bots = [b for b in bots if not chosen or b["account_id"] in chosen]
    label_account = reader.is_operator and len(chosen) != 1
    return {
        "bots": bots,
        "account_options": [(a, a) for a in queries.accounts(con)] if reader.is_operator else [],
        "bot_options": [
            (
                b["bot_id"],
                f"{b['bot_name']} · {b['account_id']}" if label_account else b["bot_name"],
            )
            for b in bots
        ],
        "version_options": [
            (v, v) for v in queries.distinct_values(con, "bot_version", everything)
        ],
        "channel_options": [(c, c) for c in queries.distinct_values(con, "channel", everything)],
    }


def _presets(
    bounds: tuple[dt.date, dt.date], default_start: dt.date, default_end: dt.date, data_start
) -> list[Preset]:
    def clamp(day: dt.date) -> dt.date:
        return max(day, bounds[0], data_start)

    month = default_end.replace(day=1)
    previous_end = month - dt.timedelta(days=1)
    presets = [
        Preset("Last 7 days", clamp(default_end - dt.timedelta(days=6)), default_end),
        Preset("Last 30 days", default_start, default_end),
        Preset("This month", clamp(month), default_end),
    ]
    if previous_end >= bounds[0]:
        presets.append(Preset("Previous month", clamp(previous_end.replace(day=1)), previous_end))
    presets.append(Preset("All data", clamp(bounds[0]), bounds[1]))
    return presets


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
