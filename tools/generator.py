"""Deterministic, vectorized synthetic chatbot event generator.

Writes JSON Lines files shaped like a real chatbot platform's raw event export:
``<out_dir>/events/<arrival YYYY-MM-DD>/part-<NNN>.jsonl[.gz]``.

The data deliberately contains the messiness the pipeline must handle: late arrivals,
exact duplicates, malformed lines, explicit UTC offsets, conversations that cross
midnight, conversations spanning several sessions and sessions spanning channels.

Pipeline per day (no Python loop per event anywhere):

1. *Simulate* the day's conversations and page loads as numpy columns, one row per event
   (an "event table"). Every random choice, including how a row will be rendered (which
   optional keys, which UTC offset), is a column, so rendering is a pure function of a row.
2. *Route* rows to an arrival day and a file; late rows and next-day duplicates wait as
   numpy rows (not text) until their arrival day.
3. *Order* the rows arriving today by (file, random) -- files are not time-sorted -- and
   *render* them in that order, in bounded chunks: fixed-width parts (ids, timestamps,
   customer ids) are ASCII written into a ``uint8`` matrix, variable parts come from small
   pre-rendered vocabularies via Arrow ``take``, and ``binary_join_element_wise`` glues the
   pieces, skipping null pieces so absent keys are omitted rather than written as null.
4. *Write*: the joined Arrow array's data buffer is the file content; a writer thread
   compresses it (zlib, gzip level 1, which releases the GIL) while the main thread
   renders the next chunk. Malformed lines are
   spliced in at random row boundaries without copying.

Throughput is roughly 0.8 us/event of simulation + rendering and ~1.8 us/event of gzip,
i.e. ~0.4M events per CPU-second; ``python -m
tools.generator OUT --days 30 --events-per-day 350000`` measures it.

Determinism: random draws come from ``SeedSequence`` streams keyed by (seed, calendar
date); ids are a bijective hash of (date, counter), unique by construction; gzip headers
carry no mtime. Same arguments give byte-identical files, and because everything is keyed
by calendar date, generating a date range in several calls (same seed and events_per_day)
reproduces the same events with no id collisions -- handy for incremental-load demos.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import zlib
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["EVENT_TYPES", "REQUIRED_FIELDS", "GenerationSummary", "generate"]

# --------------------------------------------------------------------------------------
# Catalogue: the fixed vocabulary the simulation draws from
# --------------------------------------------------------------------------------------

EVENT_TYPES = (
    "impression",
    "conversation_started",
    "message",
    "intent_matched",
    "api_call",
    "ticket_created",
    "kpi_event",
    "conversation_closed",
)
REQUIRED_FIELDS = (
    "event_id",
    "event_type",
    "occurred_at",
    "account_id",
    "bot_id",
    "channel",
    "customer_id",
)

# (slug, display name, site, page paths); 3-5 of these are picked per seed.
ACCOUNTS = (
    ("acme", "Acme Retail", "https://shop.example.com", ("/", "/help", "/orders", "/returns")),
    ("medica", "Medica Clinics", "https://care.example.org", ("/", "/appointments", "/faq")),
    ("finora", "Finora Bank", "https://bank.example.net", ("/", "/cards", "/help/faq", "/contact")),
    ("voyago", "Voyago Travel", "https://travel.example.io", ("/", "/bookings", "/help")),
    ("telco", "Telco One", "https://telco.example.com", ("/", "/plans", "/billing", "/support")),
)
BOT_ROLES = (
    "Order Helper",
    "FAQ Assistant",
    "Booking Bot",
    "Billing Buddy",
    "Support Concierge",
    "Returns Desk",
)
CHANNELS = ("web", "whatsapp", "messenger", "sms", "slack", "teams")
CHANNEL_P = np.array([0.45, 0.20, 0.12, 0.08, 0.08, 0.07])
ACTORS = (None, "user", "bot", "agent", "system")  # code 0 = key omitted
A_NONE, A_USER, A_BOT, A_AGENT, A_SYSTEM = range(5)
INTENTS = (
    "track_order",
    "opening_hours",
    "book_appointment",
    "reset_password",
    "billing_question",
    "talk_to_human",
    "returns_policy",
    "pricing",
    "cancel_subscription",
    "greeting",
    "goodbye",
    "fallback",  # last: used exactly when is_fallback would be true
)
APIS = ("order_status", "crm_lookup", "calendar_slots", "payment_gateway", "kb_search")
OK_CODES, OK_P = (200, 201, 204), (0.90, 0.06, 0.04)
ERROR_CODES = (400, 401, 404, 409, 429, 500, 502, 503, 504)
KPIS = ("order_tracked", "appointment_booked", "faq_resolved", "lead_captured", "payment_completed")
ENTRY_POINTS = ("launcher", "deeplink", "qr_code", "proactive")  # last: bot-initiated
CLOSE_REASONS = ("user_closed", "resolved", "inactivity_timeout")  # by user / bot / system
REFERRERS = ("google", "direct", "email", "facebook")
# Explicit offsets (minutes) for ~5% of occurred_at values; index 0 means "Z".
TZ_OFFSETS_MIN = (0, 120, -300, 330, 540, -180, 60, 0, -480)
MALFORMED_KINDS = ("truncated_json", "json_array", "missing_field", "unknown_type", "bad_timestamp")

# --------------------------------------------------------------------------------------
# Simulation knobs (shares of events unless stated otherwise)
# --------------------------------------------------------------------------------------

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000
WEEKDAY_FACTOR, WEEKEND_FACTOR = 1.1, 0.75  # 5 * 1.1 + 2 * 0.75 == 7: weekly mean stays 1
# UTC diurnal curve: quiet at night, peak mid-afternoon UTC (EU + US overlap).
HOUR_P = 0.15 + np.exp(-0.5 * ((np.arange(24) - 14.5) / 4.0) ** 2)
HOUR_P = HOUR_P / HOUR_P.sum()

IMPRESSION_SHARE = 0.22  # of daily events
MEAN_EXTRA_TURNS, MAX_EXTRA_TURNS = 2.5, 14  # user turns per conversation = 1 + Poisson
P_INTENT = 0.95  # intent_matched after a user message
P_API = 0.30  # api_call during a turn
P_LONG_GAP = 0.20  # user think time >= 10 min: a new session inside the same conversation
P_TICKET, P_AGENT_MSG = 0.08, 0.70
P_KPI = 0.30
P_CLOSE = 0.92  # the rest are abandoned without a close event
P_FOLLOW_UP = 0.10  # same customer opens another conversation on another channel
P_SECOND_BOT = 0.35  # customers that use a second bot of their account
P_LINKED_IMPRESSION = 0.60  # web conversations preceded by a page load
P_REPEAT_VISIT = 0.15  # impressions followed by a revisit within 24h
P_IMPRESSION_ACTOR = 0.35  # impressions carrying actor "user" (downstream must ignore it)
P_TZ_OFFSET = 0.05  # occurred_at written with an explicit offset instead of Z
P_BOT_NAME, P_BOT_VERSION = 0.60, 0.90
P_STATUS_ERROR, P_STATUS_MISSING = 0.03, 0.005
LATE_MAX_DAYS = 3
P_DUP_NEXT_DAY, P_DUP_OTHER_FILE = 0.30, 0.20  # the rest land in the same file

EVENTS_PER_CONVERSATION = (
    1  # started
    + (1 + MEAN_EXTRA_TURNS) * (1 + P_INTENT + P_API + 1)  # user msg, intent, api, bot msg
    + P_TICKET * (1 + P_AGENT_MSG)
    + P_KPI
    + P_CLOSE
)

# Optional type-specific keys share four "slots": keys in one slot never occur on the same
# event type, so each slot is one nullable piece when rendering.
SLOTS = (
    ("page_url", "intent", "api_name", "kpi_name"),
    ("confidence", "status_code", "value"),
    ("is_fallback", "latency_ms"),
    ("text_props", "entry_props", "close_props", "referrer_props"),
)
CLOCK_TEMPLATE = "0000-00-00T00:00:00.000"  # occurred_at before its offset suffix
# Fixed-width start of every line: (literal, width of the field that follows it); the
# customer number width (None) depends on the pool size. The UTC offset comes next.
HEAD_LAYOUT = (
    ('{"event_id":"evt_', 16),
    ('","customer_id":"cus_', None),
    ('","occurred_at":"', len(CLOCK_TEMPLATE)),
)


RENDER_CHUNK = 65_536  # rows rendered at once: bounds memory whatever the day size
MAX_INFLIGHT = 4  # rendered chunks queued for the writer thread
WRITE_SLICE = 16 << 20


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate`` wrote; counts are exact and match the files."""

    start: dt.date
    days: int
    files: list[Path]
    events: int  # distinct event ids
    lines: int  # all lines written, including duplicates and malformed ones
    duplicates: int  # extra copies of already written events
    malformed: int
    late: int  # distinct events whose arrival folder is after their occurred_at date
    conversations: int = 0


# --------------------------------------------------------------------------------------
# Vectorized string helpers
# --------------------------------------------------------------------------------------

_STR = pa.large_string()  # 64-bit offsets: a day's text may exceed 2 GiB
# Lookup tables turn numbers into ASCII with one 1-D ``np.take`` per field (much faster
# than per-digit arithmetic or 2-D fancy indexing); tables hold fixed-size byte strings.
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX4 = np.ascontiguousarray(_HEX[(np.arange(65536)[:, None] >> np.array([12, 8, 4, 0])) & 15])
_HEX4 = _HEX4.view(np.uint32).ravel()  # uint16 -> its 4 hex chars as one uint32
_BIG_ENDIAN_QUARTERS = slice(None, None, -1) if np.little_endian else slice(None)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a bijection on uint64, so distinct keys give distinct ids."""
    z = x.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _hex16(values: np.ndarray) -> np.ndarray:
    """uint64 -> (n, 16) ASCII lowercase hex."""
    quarters = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint16).reshape(-1, 4)
    return np.take(_HEX4, quarters[:, _BIG_ENDIAN_QUARTERS]).view(np.uint8).reshape(-1, 16)


def _table(rows: np.ndarray) -> np.ndarray:
    """(k, w) uint8 rows -> 1-D array of w-byte items, for fast ``_gather``."""
    return np.ascontiguousarray(rows, dtype=np.uint8).view(f"V{rows.shape[1]}").ravel()


def _gather(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows of a ``_table`` -> (n, w) uint8."""
    return np.take(table, idx).view(np.uint8).reshape(len(idx), table.itemsize)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative ints -> (n, width) zero-padded ASCII digits (used to build tables)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values.astype(np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)


_MILLIS = _table(_digits(np.arange(1000), 3))
_HMS = np.arange(86400)
_HMS = _table(
    np.concatenate(  # "HH:MM:SS" for every second of the day
        [
            _digits(_HMS // 3600, 2),
            np.full((86400, 1), ord(":"), np.uint8),
            _digits(_HMS // 60 % 60, 2),
            np.full((86400, 1), ord(":"), np.uint8),
            _digits(_HMS % 60, 2),
        ],
        axis=1,
    )
)


def _clock_into(out: np.ndarray, local_ms: np.ndarray) -> None:
    """Write ``YYYY-MM-DDTHH:MM:SS.mmm`` for epoch ms into the (n, 23) view ``out``, which
    already holds CLOCK_TEMPLATE (the "T" and "." are not rewritten).

    Dates come from a table of the few distinct days present, times from per-second and
    per-millisecond tables.
    """
    if len(local_ms) == 0:
        return
    days, ms_of_day = np.divmod(local_ms, DAY_MS)
    seconds, ms = np.divmod(ms_of_day, 1000)
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    dates = np.array([s.encode() for s in np.datetime_as_string(span)], dtype="S10")
    out[:, :10] = _gather(dates.view("V10"), days - first)
    out[:, 11:19] = _gather(_HMS, seconds)
    out[:, 20:23] = _gather(_MILLIS, ms)


def _utc_stamp(t_ms: int) -> str:
    out = np.frombuffer(CLOCK_TEMPLATE.encode(), dtype=np.uint8).copy().reshape(1, -1)
    _clock_into(out, np.array([t_ms], dtype=np.int64))
    return out.tobytes().decode() + "Z"


# Arrow arrays are built from raw buffers: cheaper than pa.array(), and never imports pandas.


def _bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    return None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _matrix_strings(mat: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """(n, w) uint8 matrix -> Arrow strings of width w (null where not valid), zero-copy."""
    n, width = mat.shape
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat)), _bitmap(valid)
    )


def _vocab(strings) -> pa.Array:
    """Python strings -> Arrow strings (small vocabularies only)."""
    encoded = [s.encode() for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))
    )


def _literal(text: str) -> pa.Scalar:
    return _vocab([text])[0]


def _indices(idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """numpy ints -> Arrow int64 indices, null where not valid (``take`` then yields null)."""
    idx = np.ascontiguousarray(idx if valid is None else np.where(valid, idx, 0), dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(idx), [_bitmap(valid), pa.py_buffer(idx)])


def _decimal_vocab(prefix: str, count: int, scale: int = 100) -> pa.Array:
    """``prefix + str(i / scale)`` with two decimals (scale 100) for i < count, via Arrow."""
    values = np.arange(count)
    whole = pc.cast(_indices(values // scale), _STR)
    if scale == 1:
        return pc.binary_join_element_wise(_literal(prefix), whole, _literal(""))
    cents = pc.utf8_lpad(pc.cast(_indices(values % scale), _STR), width=2, padding="0")
    return pc.binary_join_element_wise(_literal(prefix), whole, _literal("."), cents, _literal(""))


def _lookup(vocab: pa.Array, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return vocab.take(_indices(idx, valid))


def _line_buffer(lines: pa.Array) -> tuple[memoryview, np.ndarray]:
    """Data buffer and offsets of a string array: its lines, back to back, zero-copy."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    return (memoryview(data) if data is not None else memoryview(b"")), offsets


# --------------------------------------------------------------------------------------
# The world: accounts, bots, customers and pre-rendered vocabularies (built once)
# --------------------------------------------------------------------------------------


@dataclass
class _World:
    seed: int
    start: dt.date
    start_ms: int
    first_ordinal: int  # date.toordinal() of start: days are keyed by calendar date
    days: int
    events_per_day: int
    accounts: list[tuple[str, str, str, tuple[str, ...]]]
    bot_account: np.ndarray
    bot_ids: list[str]
    page_start: np.ndarray  # per account: first index into the page_url vocabulary
    page_count: np.ndarray
    cust_p: np.ndarray  # customer popularity
    cust_account: np.ndarray
    cust_bot1: np.ndarray
    cust_bot2: np.ndarray  # == bot1 for single-bot customers
    cust_channel: np.ndarray  # preferred channel
    cust_digits: np.ndarray  # _table of the zero-padded customer numbers
    heavy: np.ndarray  # (k, 5): customer, page, weekly phase, active days, minute of hour
    salts: dict[str, np.uint64]
    # Rendering tables.
    head_template: np.ndarray
    tz_offset_ms: np.ndarray
    tz_type_vocab: pa.Array  # index tz * len(EVENT_TYPES) + etype
    context_vocab: pa.Array  # index ((bot * channels + channel) * 2 + has_name) * 5 + actor
    version_vocab: pa.Array
    version_idx: np.ndarray  # (bots, days) -> version_vocab index
    slot_vocab: list[pa.Array]
    slot_of: dict[str, tuple[int, int]]  # piece name -> (slot, offset in slot vocabulary)
    scratch: dict[str, np.ndarray] = field(default_factory=dict)

    def matrix(self, name: str, rows: int, template: bytes) -> np.ndarray:
        """A (rows, len(template)) byte matrix pre-filled with ``template``.

        Reused across chunks (only variable fields get overwritten), which is safe because
        rendering copies it into the joined output before the next chunk starts.
        """
        buf = self.scratch.get(name)
        if buf is None or len(buf) < rows:
            buf = np.empty((max(rows, RENDER_CHUNK), len(template)), dtype=np.uint8)
            buf[:] = np.frombuffer(template, dtype=np.uint8)
            self.scratch[name] = buf
        return buf[:rows]


def _bot_version(major: int, minor0: int, interval: int, phase: int, day: int) -> str:
    """Minor bump every ``interval`` days (2-5 weeks), two patch bumps in between."""
    cycle, pos = divmod(day + phase, interval)
    return f"{major}.{minor0 + cycle}.{pos * 3 // interval}"


def _build_world(seed: int, start: dt.date, days: int, events_per_day: int) -> _World:
    rng = np.random.default_rng(np.random.SeedSequence(seed % 2**64, spawn_key=(0,)))
    n_acc = int(rng.integers(3, 6))
    accounts = [ACCOUNTS[i] for i in np.sort(rng.choice(len(ACCOUNTS), n_acc, replace=False))]
    acc_weight = rng.uniform(0.5, 1.5, n_acc)

    bot_account, bot_ids, bot_names = [], [], []
    for a, (slug, name, _site, _paths) in enumerate(accounts):
        roles = rng.choice(len(BOT_ROLES), int(rng.integers(1, 5)), replace=False)
        for n, role in enumerate(roles, start=1):
            bot_account.append(a)
            bot_ids.append(f"bot_{slug}_{n}")
            bot_names.append(f"{name} {BOT_ROLES[role]}")
    n_bots = len(bot_ids)
    bot_account = np.array(bot_account)
    acc_bot_start = np.searchsorted(bot_account, np.arange(n_acc))
    acc_bot_count = np.bincount(bot_account, minlength=n_acc)

    intervals = rng.integers(14, 36, n_bots)
    version_params = zip(
        rng.integers(1, 3, n_bots).tolist(),
        rng.integers(0, 7, n_bots).tolist(),
        intervals.tolist(),
        (rng.random(n_bots) * intervals).astype(int).tolist(),
        strict=True,
    )
    versions: dict[str, int] = {}
    ordinals = range(start.toordinal(), start.toordinal() + days)
    version_idx = np.array(
        [
            [versions.setdefault(_bot_version(*params, day), len(versions)) for day in ordinals]
            for params in version_params
        ],
        dtype=np.int32,
    )

    pages = [site + path for _s, _n, site, paths in accounts for path in paths]
    page_count = np.array([len(paths) for *_x, paths in accounts])
    page_start = np.concatenate([[0], np.cumsum(page_count)[:-1]])

    # Customer pool ~3 days' worth of conversations, so customers return across days;
    # lognormal popularity makes regulars without any single customer dominating.
    convs_per_day = events_per_day * (1 - IMPRESSION_SHARE) / EVENTS_PER_CONVERSATION
    n_cust = max(100, int(convs_per_day * 3))
    cust_p = rng.lognormal(0.0, 0.9, n_cust)
    cust_p /= cust_p.sum()
    cust_account = rng.choice(n_acc, n_cust, p=acc_weight / acc_weight.sum())
    n_own = acc_bot_count[cust_account]
    local1 = (rng.random(n_cust) * n_own).astype(np.int64)
    local2 = (local1 + 1 + (rng.random(n_cust) * (n_own - 1)).astype(np.int64)) % n_own
    two = (rng.random(n_cust) < P_SECOND_BOT) & (n_own > 1)
    cust_bot1 = acc_bot_start[cust_account] + local1
    cust_bot2 = np.where(two, acc_bot_start[cust_account] + local2, cust_bot1)
    cust_channel = rng.choice(len(CHANNELS), n_cust, p=CHANNEL_P)
    cust_width = max(6, len(str(n_cust - 1)))

    # A few "heavy" visitors reload the same page every hour, 3-4 days every week.
    n_heavy = 0 if events_per_day < 300 else int(min(5, max(1, events_per_day // 1500)))
    heavy_cust = rng.choice(n_cust, n_heavy, replace=False)
    heavy_acc = cust_account[heavy_cust]
    heavy = np.stack(
        [
            heavy_cust,
            page_start[heavy_acc] + (rng.random(n_heavy) * page_count[heavy_acc]).astype(np.int64),
            rng.integers(0, 7, n_heavy),
            rng.integers(3, 5, n_heavy),
            rng.integers(0, 60, n_heavy),
        ],
        axis=1,
    ).reshape(-1, 5)
    salts = dict(
        zip(("event", "conv", "ticket"), rng.integers(0, 2**63, 3, dtype=np.uint64), strict=True)
    )

    # --- rendering tables -------------------------------------------------------------
    head = "".join(text + "0" * (width or cust_width) for text, width in HEAD_LAYOUT[:-1])
    head += HEAD_LAYOUT[-1][0] + CLOCK_TEMPLATE
    tz_suffix = [
        "Z" if i == 0 else f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
        for i, m in enumerate(TZ_OFFSETS_MIN)
    ]
    context = []
    for b, bot_id in enumerate(bot_ids):
        for channel in CHANNELS:
            base = (
                f',"account_id":"acc_{accounts[bot_account[b]][0]}","bot_id":"{bot_id}",'
                f'"channel":"{channel}"'
            )
            for text in (base, f'{base},"bot_name":"{bot_names[b]}"'):
                context += [text if a is None else f'{text},"actor":"{a}"' for a in ACTORS]
    pieces = {
        "page_url": [f',"page_url":"{p}"' for p in pages],
        "intent": [f',"intent":"{i}"' for i in INTENTS],
        "api_name": [f',"api_name":"{a}"' for a in APIS],
        "kpi_name": [f',"kpi_name":"{k}"' for k in KPIS],
        "confidence": [f',"confidence":{i / 1000:.3f}' for i in range(1001)],
        "status_code": [f',"status_code":{c}' for c in (*OK_CODES, *ERROR_CODES)],
        "value": _decimal_vocab(',"value":', 100_000),  # cents -> "12.34"
        "is_fallback": [',"is_fallback":false', ',"is_fallback":true'],
        "latency_ms": _decimal_vocab(',"latency_ms":', 30_001, scale=1),
        "text_props": [
            f',"properties":{{"text_length":{n}{lang}}}'
            for lang in ("", ',"lang":"en"', ',"lang":"de"')
            for n in range(400)
        ],
        "entry_props": [f',"properties":{{"entry_point":"{e}"}}' for e in ENTRY_POINTS],
        "close_props": [f',"properties":{{"reason":"{r}"}}' for r in CLOSE_REASONS],
        "referrer_props": [f',"properties":{{"referrer":"{r}"}}' for r in REFERRERS],
    }
    slot_vocab, slot_of = [], {}
    for s, names in enumerate(SLOTS):
        parts = [
            pieces[name] if isinstance(pieces[name], pa.Array) else _vocab(pieces[name])
            for name in names
        ]
        for name, first in zip(names, np.cumsum([0] + [len(p) for p in parts]), strict=False):
            slot_of[name] = (s, int(first))
        slot_vocab.append(pa.concat_arrays(parts))

    return _World(
        seed=seed,
        start=start,
        days=days,
        events_per_day=events_per_day,
        start_ms=(start - dt.date(1970, 1, 1)).days * DAY_MS,
        first_ordinal=start.toordinal(),
        accounts=accounts,
        bot_account=bot_account,
        bot_ids=bot_ids,
        page_start=page_start,
        page_count=page_count,
        cust_p=cust_p,
        cust_account=cust_account,
        cust_bot1=cust_bot1,
        cust_bot2=cust_bot2,
        cust_channel=cust_channel,
        cust_digits=_table(_digits(np.arange(n_cust), cust_width)),
        heavy=heavy,
        salts=salts,
        head_template=np.frombuffer(head.encode(), dtype=np.uint8),
        tz_offset_ms=np.array(TZ_OFFSETS_MIN, dtype=np.int64) * MIN_MS,
        tz_type_vocab=_vocab(f'{z}","event_type":"{e}"' for z in tz_suffix for e in EVENT_TYPES),
        context_vocab=_vocab(context),
        version_vocab=_vocab(f',"bot_version":"{v}"' for v in versions),
        version_idx=version_idx,
        slot_vocab=slot_vocab,
        slot_of=slot_of,
    )


# --------------------------------------------------------------------------------------
# Event table: one numpy column per attribute, one row per event
# --------------------------------------------------------------------------------------

_COLUMNS = {
    "t": np.int64,  # occurred_at, epoch ms UTC
    "conv": np.uint64,  # conversation key, 0 = none; also keys the ticket_id
    "cust": np.int32,
    "bot": np.int16,
    "etype": np.int8,
    "chan": np.int8,
    "actor": np.int8,  # ACTORS code; 0 = key omitted
    **{f"slot{s}": np.int32 for s in range(len(SLOTS))},  # slot vocabulary index, -1 = none
}
# Added once a day's rows are final: "key" (date << 34 | counter, the event id source) and
# "style" (how to render: bit 0 bot_name, bit 1 bot_version present, bits 2+ TZ_OFFSETS_MIN).


class _Table:
    """Aligned numpy columns; ``take``/``slice``/``concat`` apply to all of them."""

    def __init__(self, cols: dict[str, np.ndarray]):
        self.cols = cols

    def __len__(self) -> int:
        return len(self.cols["t"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def take(self, rows: np.ndarray) -> _Table:
        return _Table({k: v[rows] for k, v in self.cols.items()})

    def slice(self, lo: int, hi: int) -> _Table:
        return _Table({k: v[lo:hi] for k, v in self.cols.items()})

    @staticmethod
    def concat(tables: list[_Table]) -> _Table:
        return _Table({k: np.concatenate([t.cols[k] for t in tables]) for k in tables[0].cols})


class _Collector:
    """Accumulates per-event-type column blocks during simulation."""

    def __init__(self, w: _World):
        self.w = w
        self.parts: list[dict[str, np.ndarray]] = [
            {k: np.zeros(0, dtype=d) for k, d in _COLUMNS.items()}
        ]

    def add(self, etype: str, t, cust, bot, chan, actor, conv=None, **pieces):
        """Add events; ``pieces`` maps a slot piece name to (index, valid mask or None)."""
        n = len(t)
        cols = {
            "t": t,
            "conv": np.zeros(n) if conv is None else conv,
            "cust": cust,
            "bot": bot,
            "etype": np.full(n, EVENT_TYPES.index(etype)),
            "chan": chan,
            "actor": np.broadcast_to(actor, (n,)),
        }
        for s in range(len(SLOTS)):
            cols[f"slot{s}"] = np.full(n, -1)
        for name, (idx, valid) in pieces.items():
            s, offset = self.w.slot_of[name]
            cols[f"slot{s}"] = offset + idx if valid is None else np.where(valid, offset + idx, -1)
        self.parts.append(
            {k: np.asarray(cols[k]).astype(d, copy=False) for k, d in _COLUMNS.items()}
        )

    def table(self) -> _Table:
        return _Table({k: np.concatenate([p[k] for p in self.parts]) for k in _COLUMNS})


# --------------------------------------------------------------------------------------
# Simulation of one day
# --------------------------------------------------------------------------------------


def _diurnal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds into the UTC day following the diurnal curve."""
    return rng.choice(24, n, p=HOUR_P) * HOUR_MS + rng.integers(0, HOUR_MS, n)


def _pick(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return rng.random(n) < p


def _simulate_day(w: _World, day: int, rng: np.random.Generator) -> tuple[_Table, int]:
    """Events of conversations and visits starting on ``day``; returns (table, #convs).

    Conversations may run past midnight; rows after the last day are dropped (the dataset
    is a snapshot), so every occurred_at lies within [start, start + days).
    """
    day_start = w.start_ms + day * DAY_MS
    weekend = (w.start + dt.timedelta(days=day)).weekday() >= 5
    factor = (WEEKEND_FACTOR if weekend else WEEKDAY_FACTOR) * np.clip(
        rng.normal(1.0, 0.04), 0.85, 1.15
    )
    target = int(round(w.events_per_day * factor))
    out = _Collector(w)
    n_convs = 0
    if target > 0:
        convs = _conversations(out, w, day, day_start, target, rng)
        n_convs = len(convs["start"])
        _impressions(
            out, w, day, day_start, target - sum(len(p["t"]) for p in out.parts), convs, rng
        )
    table = out.table()
    inside = table["t"] < w.start_ms + w.days * DAY_MS
    if not inside.all():
        table = table.take(np.flatnonzero(inside))
    n = len(table)
    ordinal = np.uint64(w.first_ordinal + day)
    table.cols["key"] = (ordinal << np.uint64(34)) + np.arange(n, dtype=np.uint64)
    tz = np.where(_pick(rng, P_TZ_OFFSET, n), rng.integers(1, len(TZ_OFFSETS_MIN), n), 0)
    table.cols["style"] = (
        _pick(rng, P_BOT_NAME, n) + 2 * _pick(rng, P_BOT_VERSION, n) + 4 * tz
    ).astype(np.int8)
    return table, n_convs


def _conversations(
    out: _Collector, w: _World, day: int, day_start: int, target: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Conversations as turn arrays; segmented cumsums give each conversation its clock."""
    n_base = int(
        round(target * (1 - IMPRESSION_SHARE) / (EVENTS_PER_CONVERSATION * (1 + P_FOLLOW_UP)))
    )
    cust = rng.choice(len(w.cust_p), n_base, p=w.cust_p)
    start = day_start + _diurnal(rng, n_base)
    bot = np.where(_pick(rng, 0.5, n_base), w.cust_bot2[cust], w.cust_bot1[cust])
    chan = np.where(
        _pick(rng, 0.75, n_base),
        w.cust_channel[cust],
        rng.choice(len(CHANNELS), n_base, p=CHANNEL_P),
    )
    # Follow-ups: same customer and bot, another channel, a few minutes later.
    fu = np.flatnonzero(_pick(rng, P_FOLLOW_UP, n_base))
    cust = np.concatenate([cust, cust[fu]])
    bot = np.concatenate([bot, bot[fu]])
    chan = np.concatenate(
        [chan, (chan[fu] + rng.integers(1, len(CHANNELS), len(fu))) % len(CHANNELS)]
    )
    start = np.concatenate([start, start[fu] + rng.integers(45_000, 300_000, len(fu))])
    n = len(start)
    ordinal = np.uint64(w.first_ordinal + day)
    conv = (ordinal << np.uint64(32)) + np.arange(n, dtype=np.uint64)

    def add(etype, rows, t, actor, **kw):
        out.add(etype, t, cust[rows], bot[rows], chan[rows], actor, conv=conv[rows], **kw)

    # conversation_started: mostly the user opens it, sometimes the bot proactively.
    rows = np.arange(n)
    actor = np.where(_pick(rng, 0.15, n), A_BOT, A_USER)
    entry = np.where(
        actor == A_BOT, len(ENTRY_POINTS) - 1, rng.integers(0, len(ENTRY_POINTS) - 1, n)
    )
    add("conversation_started", rows, start, actor, entry_props=(entry, _pick(rng, 0.6, n)))

    # Turns: user message -> intent -> (api call) -> bot reply; then the user thinks.
    turns = 1 + np.minimum(rng.poisson(MEAN_EXTRA_TURNS, n), MAX_EXTRA_TURNS)
    tc = np.repeat(rows, turns)  # conversation of each turn
    m = len(tc)
    first = np.cumsum(turns) - turns
    last = first + turns - 1
    intent_delay = rng.integers(80, 900, m)
    has_api = _pick(rng, P_API, m)
    latency = np.clip(rng.lognormal(np.log(180), 0.8, m), 1, 30_000).astype(np.int64)
    reply_delay = (
        700 + intent_delay + np.where(has_api, latency + 150, 0) + rng.integers(0, 2500, m)
    )
    think = np.where(
        _pick(rng, P_LONG_GAP, m),
        np.clip(rng.lognormal(np.log(40 * MIN_MS), 0.7, m), 10.5 * MIN_MS, 4 * HOUR_MS),
        np.clip(rng.lognormal(np.log(35_000), 0.9, m), 2_000, 8 * MIN_MS),
    ).astype(np.int64)
    gap = np.empty(m, dtype=np.int64)
    gap[1:] = reply_delay[:-1] + think[1:]  # next user message comes after the bot reply
    gap[first] = rng.integers(1_500, 20_000, n)
    clock = np.cumsum(gap)
    user_t = start[tc] + clock - np.repeat(clock[first] - gap[first], turns)
    reply_t = user_t + reply_delay

    text_len = np.minimum(rng.geometric(1 / 35, m), 399)
    lang = rng.integers(0, 3, m) * 400
    add("message", tc, user_t, A_USER, text_props=(lang + text_len, _pick(rng, 0.6, m)))

    ri = np.flatnonzero(_pick(rng, P_INTENT, m))
    k = len(ri)
    confidence = np.clip(rng.beta(5, 2, k), 0, 1)
    fallback = confidence < 0.3
    add(
        "intent_matched",
        tc[ri],
        user_t[ri] + intent_delay[ri],
        A_BOT,
        intent=(np.where(fallback, len(INTENTS) - 1, rng.integers(0, len(INTENTS) - 1, k)), None),
        confidence=(np.round(confidence * 1000), None),
        is_fallback=(fallback, _pick(rng, 0.6, k)),
    )

    ra = np.flatnonzero(has_api)
    k = len(ra)
    roll = rng.random(k)
    status = np.where(
        roll < P_STATUS_ERROR,
        len(OK_CODES) + rng.integers(0, len(ERROR_CODES), k),
        rng.choice(len(OK_CODES), k, p=OK_P),
    )
    add(
        "api_call",
        tc[ra],
        user_t[ra] + intent_delay[ra] + rng.integers(10, 150, k),
        A_SYSTEM,
        api_name=(rng.integers(0, len(APIS), k), None),
        status_code=(status, roll < 1 - P_STATUS_MISSING),
        latency_ms=(latency[ra], None),
    )

    add(
        "message",
        tc,
        reply_t,
        A_BOT,
        text_props=(lang + rng.integers(20, 300, m), _pick(rng, 0.6, m)),
    )

    # Hand-off to a human, KPI and close come after the last bot reply.
    end = reply_t[last].copy()
    rt = np.flatnonzero(_pick(rng, P_TICKET, n))
    k = len(rt)
    ticket_t = end[rt] + rng.integers(2_000, 90_000, k)
    add("ticket_created", rt, ticket_t, np.where(_pick(rng, 0.6, k), A_AGENT, A_SYSTEM))
    end[rt] = ticket_t
    rg = rt[_pick(rng, P_AGENT_MSG, k)]
    agent_t = end[rg] + rng.integers(30_000, 10 * MIN_MS, len(rg))
    add("message", rg, agent_t, A_AGENT, text_props=(rng.integers(30, 400, len(rg)), None))
    end[rg] = agent_t

    rk = np.flatnonzero(_pick(rng, P_KPI, n))
    k = len(rk)
    kpi = rng.integers(0, len(KPIS), k)
    cents = np.where(
        kpi == KPIS.index("payment_completed"),
        np.minimum(rng.lognormal(np.log(3500), 0.8, k), 99_999),
        100,
    )
    kpi_t = end[rk] + rng.integers(200, 20_000, k)
    add(
        "kpi_event",
        rk,
        kpi_t,
        np.where(_pick(rng, 0.5, k), A_SYSTEM, A_NONE),
        kpi_name=(kpi, None),
        value=(cents.astype(np.int64), _pick(rng, 0.7, k)),
    )
    end[rk] = np.maximum(end[rk], kpi_t)

    rc = np.flatnonzero(_pick(rng, P_CLOSE, n))
    k = len(rc)
    closer = rng.choice(3, k, p=(0.25, 0.15, 0.60))  # user / bot / inactivity timeout
    delay = np.where(
        closer == 2, 30 * MIN_MS + rng.integers(0, 90_000, k), rng.integers(2_000, 60_000, k)
    )
    add(
        "conversation_closed",
        rc,
        end[rc] + delay,
        np.array([A_USER, A_BOT, A_SYSTEM])[closer],
        close_props=(closer, _pick(rng, 0.5, k)),
    )
    return {"start": start, "cust": cust, "bot": bot, "chan": chan}


def _impressions(
    out: _Collector,
    w: _World,
    day: int,
    day_start: int,
    budget: int,
    convs: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> None:
    """Page loads: before web conversations, standalone visits + revisits, heavy reloaders."""
    start, cust, bot, chan = convs["start"], convs["cust"], convs["bot"], convs["chan"]
    linked = np.flatnonzero((chan == 0) & _pick(rng, P_LINKED_IMPRESSION, len(start)))
    parts = [
        (
            np.maximum(start[linked] - rng.integers(5_000, 180_000, len(linked)), day_start),
            cust[linked],
            bot[linked],
            np.full(len(linked), -1),
        )
    ]

    hv = w.heavy[(w.first_ordinal + day + w.heavy[:, 2]) % 7 < w.heavy[:, 3]]
    reps = np.repeat(np.arange(len(hv)), 24)
    heavy_cust = hv[reps, 0]
    parts.append(
        (
            day_start
            + np.tile(np.arange(24), len(hv)) * HOUR_MS
            + hv[reps, 4] * MIN_MS
            + rng.integers(0, 30_000, len(reps)),
            heavy_cust,
            w.cust_bot1[heavy_cust],
            hv[reps, 1],
        )
    )

    n_solo = max(0, int(round((budget - len(linked) - len(reps)) / (1 + P_REPEAT_VISIT))))
    solo_cust = rng.choice(len(w.cust_p), n_solo, p=w.cust_p)
    solo_t = day_start + _diurnal(rng, n_solo)
    acc = w.cust_account[solo_cust]
    solo_page = w.page_start[acc] + (rng.random(n_solo) * w.page_count[acc]).astype(np.int64)
    parts.append((solo_t, solo_cust, w.cust_bot1[solo_cust], solo_page))
    again = np.flatnonzero(_pick(rng, P_REPEAT_VISIT, n_solo))  # revisit within 24h
    parts.append(
        (
            solo_t[again] + rng.integers(5 * MIN_MS, 20 * HOUR_MS, len(again)),
            solo_cust[again],
            w.cust_bot1[solo_cust[again]],
            solo_page[again],
        )
    )

    t, icust, ibot, page = (np.concatenate(col) for col in zip(*parts, strict=True))
    n = len(t)
    acc = w.cust_account[icust]
    random_page = w.page_start[acc] + (rng.random(n) * w.page_count[acc]).astype(np.int64)
    out.add(
        "impression",
        t,
        icust,
        ibot,
        np.zeros(n),
        np.where(_pick(rng, P_IMPRESSION_ACTOR, n), A_USER, A_NONE),
        page_url=(np.where(page >= 0, page, random_page), None),
        referrer_props=(rng.integers(0, len(REFERRERS), n), _pick(rng, 0.3, n)),
    )


# --------------------------------------------------------------------------------------
# Routing: arrival day and file of every row
# --------------------------------------------------------------------------------------


def _route(
    table: _Table,
    w: _World,
    day: int,
    late_fraction: float,
    duplicate_fraction: float,
    files_per_day: int,
    rng: np.random.Generator,
):
    """Pick arrival day and file per event, and add duplicate copies.

    Returns (row indices -- duplicates repeat a row --, arrival day, file, #late, #dups).
    Arrival never precedes the occurred_at date; late arrivals past the last day are
    clamped to the last folder.
    """
    n, last = len(table), w.days - 1
    occurred_day = (table["t"] - w.start_ms) // DAY_MS
    late = _pick(rng, late_fraction, n)
    arrival = np.minimum(occurred_day + late * rng.integers(1, LATE_MAX_DAYS + 1, n), last)
    file_no = rng.integers(0, files_per_day, n)
    dup = np.flatnonzero(_pick(rng, duplicate_fraction, n))
    mode = rng.random(len(dup))
    dup_arrival = np.where(mode < P_DUP_NEXT_DAY, np.minimum(arrival[dup] + 1, last), arrival[dup])
    other_file = (file_no[dup] + rng.integers(1, max(2, files_per_day), len(dup))) % files_per_day
    to_other = (mode >= P_DUP_NEXT_DAY) & (mode < P_DUP_NEXT_DAY + P_DUP_OTHER_FILE)
    n_late = int((arrival > occurred_day).sum())
    return (
        np.concatenate([np.arange(n), dup]),
        np.concatenate([arrival, dup_arrival]),
        np.concatenate([file_no, np.where(to_other, other_file, file_no[dup])]),
        n_late,
        len(dup),
    )


# --------------------------------------------------------------------------------------
# Rendering rows to JSON lines
# --------------------------------------------------------------------------------------


def _field_positions(cust_width: int) -> list[tuple[int, int]]:
    """(start, width) of each field in the fixed-width head."""
    out, pos = [], 0
    for text, width in HEAD_LAYOUT:
        out.append((pos + len(text), width or cust_width))
        pos += len(text) + (width or cust_width)
    return out


def _render(w: _World, tb: _Table) -> pa.Array:
    """Rows -> Arrow strings ``{...}\\n``, one per row, same order. Pure function of rows."""
    n = len(tb)
    cw = w.cust_digits.itemsize
    style = tb["style"]
    tz = style >> 2
    head = w.matrix("head", n, w.head_template.tobytes())
    (id_at, _), (cust_at, _), _ = _field_positions(cw)
    head[:, id_at : id_at + 16] = _hex16(_mix64(tb["key"] ^ w.salts["event"]))
    head[:, cust_at : cust_at + cw] = _gather(w.cust_digits, tb["cust"])
    _clock_into(head[:, -23:], tb["t"] + w.tz_offset_ms[tz])
    pieces = [
        _matrix_strings(head),
        _lookup(w.tz_type_vocab, tz.astype(np.int64) * len(EVENT_TYPES) + tb["etype"]),
    ]
    conv_key = tb["conv"]
    has_conv = conv_key != 0
    if has_conv.any():
        conv = w.matrix("conv", n, b',"conversation_id":"conv_' + b"0" * 16 + b'"')
        conv[:, 25:41] = _hex16(_mix64(conv_key ^ w.salts["conv"]))
        pieces.append(_matrix_strings(conv, None if has_conv.all() else has_conv))
    has_ticket = tb["etype"] == EVENT_TYPES.index("ticket_created")
    if has_ticket.any():  # rare: render only ticket rows, then scatter with null indices
        rows = np.flatnonzero(has_ticket)
        ticket = np.empty((len(rows), 35), dtype=np.uint8)
        ticket[:] = np.frombuffer(b',"ticket_id":"tkt_' + b"0" * 16 + b'"', np.uint8)
        ticket[:, 18:34] = _hex16(_mix64(conv_key[rows] ^ w.salts["ticket"]))
        pieces.append(_lookup(_matrix_strings(ticket), np.cumsum(has_ticket) - 1, has_ticket))
    bot = tb["bot"].astype(np.int64)
    pieces.append(
        _lookup(
            w.context_vocab,
            ((bot * len(CHANNELS) + tb["chan"]) * 2 + (style & 1)) * len(ACTORS) + tb["actor"],
        )
    )
    day = (tb["key"] >> np.uint64(34)).astype(np.int64) - w.first_ordinal
    pieces.append(_lookup(w.version_vocab, w.version_idx[bot, day], (style & 2) > 0))
    for s, vocab in enumerate(w.slot_vocab):
        idx = tb[f"slot{s}"]
        valid = idx >= 0
        if valid.any():
            pieces.append(_lookup(vocab, idx, valid))
    pieces += [_literal("}\n"), _literal("")]
    return pc.binary_join_element_wise(*pieces, null_handling="skip")


def _malformed_lines(w: _World, day: int, count: int, rng: np.random.Generator) -> list[bytes]:
    """Bad lines for one arrival day, cycling through MALFORMED_KINDS across days."""
    if count == 0:
        return []
    first_kind = (w.first_ordinal + day) * count
    # Keys with the top bit set never collide with real event keys (date << 34 | counter).
    keys = (
        (np.uint64(1) << np.uint64(63)) + np.uint64(first_kind) + np.arange(count, dtype=np.uint64)
    )
    ids = [f"evt_{h.tobytes().decode()}" for h in _hex16(_mix64(keys ^ w.salts["event"]))]
    times = (w.start_ms + day * DAY_MS + rng.integers(0, DAY_MS, count)).tolist()
    bot = int(rng.integers(0, len(w.bot_ids)))
    account = f"acc_{w.accounts[w.bot_account[bot]][0]}"
    cus = "cus_" + w.cust_digits[0].tobytes().decode()
    lines = []
    for i in range(count):
        kind = MALFORMED_KINDS[(first_kind + i) % len(MALFORMED_KINDS)]
        stamp = _utc_stamp(times[i])
        if kind == "bad_timestamp":
            stamp = stamp[:10] + "T25:61:00Z"
        etype = "typing_indicator" if kind == "unknown_type" else "message"
        body = (
            f'"event_id":"{ids[i]}","event_type":"{etype}","occurred_at":"{stamp}",'
            f'"account_id":"{account}","bot_id":"{w.bot_ids[bot]}","channel":"web"'
        )
        if kind == "truncated_json":
            line = "{" + body[: 60 + i % 20]
        elif kind == "json_array":
            line = f'["{ids[i]}","message","{stamp}"]'
        elif kind == "missing_field":
            line = "{" + body + ',"actor":"user"}'
        else:
            line = "{" + body + f',"customer_id":"{cus}"}}'
        lines.append((line + "\n").encode())
    return lines


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


class _ZlibGzip:
    """Streaming gzip (one member per file) with the standard library's zlib, level 1."""

    def __init__(self):
        # wbits=31: gzip container with zero mtime and no name, hence reproducible.
        self.comp = zlib.compressobj(1, zlib.DEFLATED, 31)

    def compress(self, data) -> bytes:
        return self.comp.compress(data)

    def flush(self) -> bytes:
        return self.comp.flush()


class _Codec:
    """Creates a compressor per file (used by the writer thread only)."""

    def __init__(self, gzip_files: bool):
        self.gzip_files = gzip_files

    def open(self):
        return _ZlibGzip() if self.gzip_files else None

    def close(self) -> None:
        pass


class _FileSink:
    """One output file, fed by the writer thread in order; atomically renamed on close."""

    def __init__(self, path: Path, codec: _Codec):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.codec = codec
        self.fh = None
        self.comp = None

    def write(self, segments: list) -> None:
        if self.fh is None:
            self.fh = open(self.tmp, "wb")  # noqa: SIM115 -- closed in close()
            self.comp = self.codec.open()
        for seg in segments:
            for pos in range(0, len(seg), WRITE_SLICE):
                piece = seg[pos : pos + WRITE_SLICE]
                self.fh.write(self.comp.compress(piece) if self.comp else piece)

    def close(self) -> None:
        self.write([])
        if self.comp:
            self.fh.write(self.comp.flush())
        self.fh.close()
        os.replace(self.tmp, self.path)


def _splice(lines: pa.Array, positions: np.ndarray, bad: list[bytes]) -> list:
    """The chunk's bytes with ``bad[j]`` inserted before row ``positions[j]``, no copying."""
    data, offsets = _line_buffer(lines)
    segments, prev = [], int(offsets[0])
    for pos, line in zip(positions.tolist(), bad, strict=True):
        cut = int(offsets[pos])
        segments += [data[prev:cut], line]
        prev = cut
    segments.append(data[prev : int(offsets[-1])])
    return segments


class _DayWriter:
    """Orders, renders and streams one arrival day's rows; compression runs in a thread."""

    def __init__(self, w: _World, gzip_files: bool):
        self.w = w
        self.codec = _Codec(gzip_files)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botmeter-writer")
        self.inflight: deque = deque()

    def _submit(self, fn, *args) -> None:
        self.inflight.append(self.pool.submit(fn, *args))
        while len(self.inflight) > MAX_INFLIGHT:
            self.inflight.popleft().result()

    def write_day(
        self,
        source: _Table,
        rows: np.ndarray,
        files: np.ndarray,
        bad: list[bytes],
        paths: list[Path],
        rng: np.random.Generator,
    ) -> int:
        """Write ``source`` rows ``rows`` to files ``files`` plus ``bad`` lines; returns #lines.

        Rows are grouped by file and shuffled within it (files are not time-sorted) with a
        single gather, then rendered in that order.
        """
        n_files = len(paths)
        perm = rng.permutation(len(rows))
        order = perm[np.argsort(files[perm], kind="stable")]
        table = source.take(rows[order])
        bounds = np.concatenate([[0], np.cumsum(np.bincount(files, minlength=n_files))])
        bad_file = rng.integers(0, n_files, len(bad))
        for f, path in enumerate(paths):
            lo, hi = int(bounds[f]), int(bounds[f + 1])
            mine = [bad[i] for i in np.flatnonzero(bad_file == f)]
            where = np.sort(rng.integers(0, hi - lo + 1, len(mine)))  # insert before row
            sink = _FileSink(path, self.codec)
            for c0 in range(lo, hi, RENDER_CHUNK):
                c1 = min(hi, c0 + RENDER_CHUNK)
                sel = np.flatnonzero((where >= c0 - lo) & (where < c1 - lo))
                lines = _render(self.w, table.slice(c0, c1))
                self._submit(
                    sink.write, _splice(lines, where[sel] - (c0 - lo), [mine[i] for i in sel])
                )
            self._submit(sink.write, [mine[i] for i in np.flatnonzero(where == hi - lo)])
            self._submit(sink.close)
        return len(table) + len(bad)

    def close(self) -> None:
        try:
            while self.inflight:
                self.inflight.popleft().result()
        finally:
            self.pool.shutdown(wait=True)
            self.codec.close()


def _remove_stale_parts(folder: Path, keep: set[Path]) -> None:
    """Old part files (e.g. from a run with other options) would pollute the dataset."""
    for old in folder.glob("part-*.jsonl*"):
        if old not in keep:
            old.unlink()


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate(
    out_dir: str | Path,
    start: dt.date,
    days: int,
    seed: int = 42,
    events_per_day: int = 2000,
    late_fraction: float = 0.02,
    duplicate_fraction: float = 0.005,
    malformed_lines_per_day: int = 3,
    gzip_files: bool = True,
    files_per_day: int = 2,
) -> GenerationSummary:
    """Generate ``days`` arrival folders of synthetic chatbot events under ``out_dir/events``.

    ``events_per_day`` is the average over a week (weekdays busier than weekends). Late
    events and duplicates are routed to later arrival folders, clamped to the last one.
    Deterministic for given arguments. Memory is bounded by one day's event table (numpy,
    ~60 bytes/event), the late/duplicate rows waiting for later days and a few rendered
    chunks; existing ``part-*`` files in the written folders are replaced.
    """
    if days < 1 or files_per_day < 1 or events_per_day < 0 or malformed_lines_per_day < 0:
        raise ValueError("days and files_per_day must be >= 1, counts must be >= 0")
    if not (0 <= late_fraction <= 1 and 0 <= duplicate_fraction <= 1):
        raise ValueError("late_fraction and duplicate_fraction must be within [0, 1]")
    if isinstance(start, dt.datetime):
        start = start.date()
    w = _build_world(seed, start, days, events_per_day)
    root = Path(out_dir) / "events"
    suffix = ".jsonl.gz" if gzip_files else ".jsonl"
    pending: dict[int, list[_Table]] = defaultdict(list)  # arrival day -> rows waiting
    files: list[Path] = []
    totals = dict(events=0, lines=0, duplicates=0, malformed=0, late=0, conversations=0)

    writer = _DayWriter(w, gzip_files)
    try:
        for day in range(days):
            rng = np.random.default_rng(
                np.random.SeedSequence(seed % 2**64, spawn_key=(1, w.first_ordinal + day))
            )
            table, n_convs = _simulate_day(w, day, rng)
            rows, arrival, file_no, n_late, n_dup = _route(
                table, w, day, late_fraction, duplicate_fraction, files_per_day, rng
            )
            for when in np.unique(arrival[arrival > day]).tolist():
                sel = arrival == when
                part = table.take(rows[sel])
                part.cols["file"] = file_no[sel].astype(np.int16)
                pending[when].append(part)
            # Today's rows: fresh ones plus rows that waited for today, read from one table.
            sel = arrival == day
            waiting = pending.pop(day, [])
            source = _Table.concat([table, *waiting]) if waiting else table
            first = len(table) + np.cumsum([0] + [len(p) for p in waiting])
            today_rows = np.concatenate(
                [rows[sel]] + [first[i] + np.arange(len(p)) for i, p in enumerate(waiting)]
            )
            today_files = np.concatenate([file_no[sel]] + [p["file"] for p in waiting])
            bad = _malformed_lines(w, day, malformed_lines_per_day, rng)

            folder = root / (start + dt.timedelta(days=day)).isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            paths = [folder / f"part-{f:03d}{suffix}" for f in range(files_per_day)]
            _remove_stale_parts(folder, set(paths))
            totals["lines"] += writer.write_day(source, today_rows, today_files, bad, paths, rng)
            files += paths
            totals["events"] += len(table)
            totals["conversations"] += n_convs
            totals["late"] += n_late
            totals["duplicates"] += n_dup
            totals["malformed"] += len(bad)
    finally:
        writer.close()
    return GenerationSummary(start=start, days=days, files=files, **totals)


def main(argv: list[str] | None = None) -> None:
    """``python -m tools.generator OUT_DIR`` -- doubles as a throughput benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2022, 3, 1))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events-per-day", type=int, default=2000)
    parser.add_argument("--files-per-day", type=int, default=2)
    parser.add_argument("--no-gzip", action="store_true")
    args = parser.parse_args(argv)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = generate(
        args.out_dir,
        args.start,
        args.days,
        seed=args.seed,
        events_per_day=args.events_per_day,
        files_per_day=args.files_per_day,
        gzip_files=not args.no_gzip,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{summary.events:,} events, {summary.lines:,} lines in {len(summary.files)} files "
        f"({summary.duplicates} duplicates, {summary.malformed} malformed, {summary.late} late)"
        f"\nwall {wall:.2f}s = {summary.events / wall:,.0f} events/s; "
        f"cpu {cpu:.2f}s = {summary.events / cpu:,.0f} events per cpu-second"
    )


if __name__ == "__main__":
    main()
