"""Deterministic, vectorized synthetic chatbot event generator.

Writes JSON Lines files shaped like a real chatbot platform's raw event export:
``<out_dir>/events/<arrival YYYY-MM-DD>/part-<NNN>.jsonl[.gz]``.

The data deliberately contains the messiness the pipeline must handle: late arrivals,
exact duplicates, malformed lines, explicit UTC offsets, conversations that cross
midnight, multi-session conversations and sessions that span channels.

How it stays fast (>= 500k events/s on one core, dominated by gzip):

* Simulation happens per day in numpy arrays (one array per column, one block per
  event type); there is no Python loop per event.
* JSON rendering never formats values one by one: fixed-width parts (ids, timestamps,
  customer ids) are written as ASCII digits into a ``uint8`` matrix, and variable parts
  come from small pre-rendered vocabularies via Arrow ``take``. Arrow's
  ``binary_join_element_wise`` then glues pieces together; optional keys are null pieces
  that the join skips, so absent keys are omitted rather than written as ``null``.
* The joined Arrow string array's data buffer *is* the file content, so it is handed
  to zlib without building Python strings.

Determinism: every random draw comes from a ``SeedSequence`` keyed by ``(seed, day)``,
ids come from a bijective integer hash of counters (globally unique by construction),
and gzip headers carry no timestamp, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["GenerationSummary", "generate", "EVENT_TYPES", "REQUIRED_FIELDS"]

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
)
FALLBACK_INTENT = "fallback"
APIS = ("order_status", "crm_lookup", "calendar_slots", "payment_gateway", "kb_search")
OK_CODES, OK_P = (200, 201, 204), (0.90, 0.06, 0.04)
ERROR_CODES = (400, 401, 404, 409, 429, 500, 502, 503, 504)
KPIS = ("order_tracked", "appointment_booked", "faq_resolved", "lead_captured", "payment_completed")
ENTRY_POINTS = ("launcher", "deeplink", "qr_code")
CLOSE_REASONS = {A_USER: "user_closed", A_BOT: "resolved", A_SYSTEM: "inactivity_timeout"}
REFERRERS = ("google", "direct", "email", "facebook")
TZ_OFFSETS_MIN = (120, -300, 330, 540, -180, 60, 0, -480)

# --------------------------------------------------------------------------------------
# Simulation knobs (shares are of events unless stated otherwise)
# --------------------------------------------------------------------------------------

DAY_MS = 86_400_000
MIN_MS = 60_000
WEEKDAY_FACTOR, WEEKEND_FACTOR = 1.1, 0.75  # 5 * 1.1 + 2 * 0.75 == 7: mean stays 1
# UTC diurnal curve: quiet at night, peak mid-afternoon UTC (EU + US overlap).
_HOURS = np.arange(24)
HOUR_P = 0.15 + np.exp(-0.5 * ((_HOURS - 14.5) / 4.0) ** 2)
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
P_TZ_OFFSET = 0.05  # occurred_at written with an explicit non-Z offset
P_BOT_NAME, P_BOT_VERSION = 0.80, 0.90
P_STATUS_ERROR, P_STATUS_MISSING = 0.03, 0.005
LATE_MAX_DAYS = 3
P_DUP_NEXT_DAY, P_DUP_OTHER_FILE = 0.30, 0.20  # the rest land in the same file
MALFORMED_KINDS = ("truncated_json", "json_array", "missing_field", "unknown_type", "bad_timestamp")

EVENTS_PER_CONVERSATION = (
    1  # started
    + (1 + MEAN_EXTRA_TURNS) * (1 + P_INTENT + P_API + 1)  # user msg, intent, api, bot msg
    + P_TICKET * (1 + P_AGENT_MSG)
    + P_KPI
    + P_CLOSE
)


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

    @property
    def events_dir(self) -> Path | None:
        return self.files[0].parent.parent if self.files else None


# --------------------------------------------------------------------------------------
# Vectorized string helpers
# --------------------------------------------------------------------------------------

_STR = pa.large_string()  # 64-bit offsets: a day's lines may exceed 2 GiB
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX2 = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1)


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
    """uint64 -> (n, 16) ASCII lowercase hex, via a byte lookup table."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return _HEX2[raw].reshape(-1, 16)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative ints -> (n, width) zero-padded ASCII digits."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values.astype(np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)


def _ascii(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8)


def _timestamps(t_ms: np.ndarray, offset_min: int | None) -> np.ndarray:
    """Render epoch ms as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (or ``...+HH:MM``) into a matrix.

    The date part is looked up per distinct day (a block spans a few days at most),
    the time of day is pure digit arithmetic.
    """
    local = t_ms if not offset_min else t_ms + offset_min * MIN_MS
    days, ms_of_day = np.divmod(local, DAY_MS)
    if offset_min is None:
        suffix = "Z"
    else:
        sign = "+" if offset_min >= 0 else "-"
        suffix = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    out = np.empty((len(t_ms), 23 + len(suffix)), dtype=np.uint8)
    out[:] = _ascii("0000-00-00T00:00:00.000" + suffix)
    if len(t_ms) == 0:
        return out
    first = int(days.min())
    table_days = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    table = np.array([s.encode() for s in np.datetime_as_string(table_days)], dtype="S10")
    out[:, :10] = table.view(np.uint8).reshape(-1, 10)[days - first]
    hh, rest = np.divmod(ms_of_day, 3_600_000)
    mm, rest = np.divmod(rest, MIN_MS)
    clock = _digits(hh * 10_000_000 + mm * 100_000 + rest, 9)  # HHMMSSmmm
    out[:, [11, 12, 14, 15, 17, 18, 20, 21, 22]] = clock
    return out


def _matrix_strings(mat: np.ndarray) -> pa.Array:
    """(n, w) uint8 matrix -> Arrow strings of width w, zero-copy."""
    n, width = mat.shape
    offsets = np.arange(n + 1, dtype=np.int64) * width
    mat = np.ascontiguousarray(mat)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat))


def _vocab(strings) -> pa.Array:
    return pa.array(list(strings), type=_STR)


def _nullable_indices(idx: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    if valid is None:
        return pa.array(idx)
    return pa.array(np.where(valid, idx, 0), mask=~valid)


@dataclass(frozen=True)
class _Vocab:
    """A variable-width piece: ``vocab[idx]``, or key omitted where ``valid`` is False."""

    vocab: pa.Array
    idx: np.ndarray
    valid: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> _Vocab:
        valid = None if self.valid is None else self.valid[rows]
        return _Vocab(self.vocab, self.idx[rows], valid)

    def render(self) -> pa.Array:
        return self.vocab.take(_nullable_indices(self.idx, self.valid))


@dataclass(frozen=True)
class _Number:
    """A numeric JSON value (``prefix`` + shortest float repr), omitted where not valid."""

    prefix: str
    values: np.ndarray
    valid: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> _Number:
        valid = None if self.valid is None else self.valid[rows]
        return _Number(self.prefix, self.values[rows], valid)

    def render(self) -> pa.Array:
        mask = None if self.valid is None else ~self.valid
        text = pc.cast(pa.array(self.values, mask=mask), _STR)
        return pc.binary_join_element_wise(
            pa.scalar(self.prefix, _STR), text, pa.scalar("", _STR), null_handling="emit_null"
        )


# --------------------------------------------------------------------------------------
# The world: accounts, bots, customers and pre-rendered vocabularies (built once)
# --------------------------------------------------------------------------------------


@dataclass
class _World:
    seed: int
    start: dt.date
    start_ms: int
    days: int
    events_per_day: int
    accounts: list[tuple[str, str, str, tuple[str, ...]]]
    bot_account: np.ndarray
    bot_ids: list[str]
    bot_names: list[str]
    bot_version_params: np.ndarray  # (bots, 4): major, minor0, interval_days, phase
    page_start: np.ndarray  # per account: first index in page_vocab
    page_count: np.ndarray
    page_vocab: pa.Array
    cust_p: np.ndarray
    cust_account: np.ndarray
    cust_bot1: np.ndarray
    cust_bot2: np.ndarray
    cust_channel: np.ndarray
    cust_width: int
    heavy: np.ndarray  # (k, 5): customer, page, first_day, n_days, minute
    salts: dict[str, np.uint64]
    vocabs: dict[str, pa.Array] = field(default_factory=dict)

    def bot_versions(self, day: int) -> list[str]:
        """Minor bump every interval (2-5 weeks), patch bumps in between."""
        out = []
        for major, minor0, interval, phase in self.bot_version_params.tolist():
            cycle, pos = divmod(day + phase, interval)
            out.append(f"{major}.{minor0 + cycle}.{pos * 3 // interval}")
        return out

    def context_vocab(self, day: int) -> pa.Array:
        """Account/bot/channel/name/version/actor combos: one ``take`` renders them all.

        Index = ((bot * channels + channel) * 4 + meta) * actors + actor, where meta bit 0
        = bot_name present and bit 1 = bot_version present.
        """
        versions = self.bot_versions(day)
        out = []
        for b, bot_id in enumerate(self.bot_ids):
            account = self.accounts[self.bot_account[b]][0]
            for channel in CHANNELS:
                base = f',"account_id":"acc_{account}","bot_id":"{bot_id}","channel":"{channel}"'
                for meta in range(4):
                    text = base
                    if meta & 1:
                        text += f',"bot_name":"{self.bot_names[b]}"'
                    if meta & 2:
                        text += f',"bot_version":"{versions[b]}"'
                    for actor in ACTORS:
                        out.append(text if actor is None else f'{text},"actor":"{actor}"')
        return _vocab(out)


def _build_world(seed: int, start: dt.date, days: int, events_per_day: int) -> _World:
    rng = np.random.default_rng(np.random.SeedSequence(seed % 2**64, spawn_key=(0,)))
    n_acc = int(rng.integers(3, 6))
    picked = np.sort(rng.choice(len(ACCOUNTS), n_acc, replace=False))
    accounts = [ACCOUNTS[i] for i in picked]
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
    intervals = rng.integers(14, 36, n_bots)
    version_params = np.stack(
        [rng.integers(1, 3, n_bots), rng.integers(0, 7, n_bots), intervals,
         (rng.random(n_bots) * intervals).astype(np.int64)], axis=1,
    )
    acc_bot_start = np.searchsorted(bot_account, np.arange(n_acc))
    acc_bot_count = np.bincount(bot_account, minlength=n_acc)

    pages = [site + path for _s, _n, site, paths in accounts for path in paths]
    page_count = np.array([len(paths) for *_x, paths in accounts])
    page_start = np.concatenate([[0], np.cumsum(page_count)[:-1]])

    # Customer pool ~3 days' worth of conversations, so customers return across days;
    # lognormal weights make some customers regulars without any single one dominating.
    convs_per_day = events_per_day * (1 - IMPRESSION_SHARE) / EVENTS_PER_CONVERSATION
    n_cust = max(100, int(convs_per_day * 3))
    cust_p = rng.lognormal(0.0, 0.9, n_cust)
    cust_p /= cust_p.sum()
    cust_account = rng.choice(n_acc, n_cust, p=acc_weight / acc_weight.sum())
    local1 = (rng.random(n_cust) * acc_bot_count[cust_account]).astype(np.int64)
    cust_bot1 = acc_bot_start[cust_account] + local1
    other = (local1 + 1 + (rng.random(n_cust) * (acc_bot_count[cust_account] - 1)).astype(
        np.int64)) % acc_bot_count[cust_account]
    two = (rng.random(n_cust) < P_SECOND_BOT) & (acc_bot_count[cust_account] > 1)
    cust_bot2 = np.where(two, acc_bot_start[cust_account] + other, cust_bot1)
    cust_channel = rng.choice(len(CHANNELS), n_cust, p=CHANNEL_P)

    # A few "heavy" visitors reload the same page every hour for a few days.
    n_heavy = 0 if events_per_day < 300 else int(min(5, max(1, events_per_day // 1500)))
    heavy_cust = rng.choice(n_cust, n_heavy, replace=False)
    heavy_acc = cust_account[heavy_cust]
    heavy = np.stack(
        [heavy_cust,
         page_start[heavy_acc] + (rng.random(n_heavy) * page_count[heavy_acc]).astype(np.int64),
         rng.integers(0, max(1, days - 2), n_heavy), rng.integers(3, 5, n_heavy),
         rng.integers(0, 60, n_heavy)], axis=1,
    ).reshape(-1, 5)

    salts = dict(zip(("event", "conv", "ticket"),
                     rng.integers(0, 2**63, 3, dtype=np.uint64), strict=True))
    world = _World(
        seed=seed, start=start, days=days, events_per_day=events_per_day,
        start_ms=(start - dt.date(1970, 1, 1)).days * DAY_MS,
        accounts=accounts, bot_account=bot_account, bot_ids=bot_ids, bot_names=bot_names,
        bot_version_params=version_params, page_start=page_start, page_count=page_count,
        page_vocab=_vocab(f',"page_url":"{p}"' for p in pages),
        cust_p=cust_p, cust_account=cust_account, cust_bot1=cust_bot1, cust_bot2=cust_bot2,
        cust_channel=cust_channel, cust_width=max(6, len(str(n_cust - 1))),
        heavy=heavy, salts=salts,
    )
    world.vocabs = {
        "intent": _vocab(f',"intent":"{i}"' for i in (*INTENTS, FALLBACK_INTENT)),
        "confidence": _vocab(f',"confidence":{i / 1000:.3f}' for i in range(1001)),
        "fallback": _vocab((',"is_fallback":false', ',"is_fallback":true')),
        "api": _vocab(f',"api_name":"{a}"' for a in APIS),
        "status": _vocab(f',"status_code":{c}' for c in (*OK_CODES, *ERROR_CODES)),
        "latency": _vocab(f',"latency_ms":{i}' for i in range(30_001)),
        "kpi": _vocab(f',"kpi_name":"{k}"' for k in KPIS),
        "text": _vocab(
            f',"properties":{{"text_length":{n}{lang}}}'
            for lang in ("", ',"lang":"en"', ',"lang":"de"') for n in range(1, 401)
        ),
        "entry": _vocab(f',"properties":{{"entry_point":"{e}"}}' for e in (*ENTRY_POINTS, "proactive")),
        "close": _vocab(f',"properties":{{"reason":"{r}"}}' for r in CLOSE_REASONS.values()),
        "referrer": _vocab(f',"properties":{{"referrer":"{r}"}}' for r in REFERRERS),
    }
    return world


# --------------------------------------------------------------------------------------
# Simulation of one day: numpy columns grouped into per-event-type blocks
# --------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Events of one type; columns are aligned numpy arrays."""

    etype: str
    t: np.ndarray  # occurred_at, epoch ms UTC
    cust: np.ndarray
    bot: np.ndarray
    chan: np.ndarray
    actor: np.ndarray  # ACTORS code, 0 = omitted
    conv: np.ndarray | None = None  # conversation keys; None = no conversation_id
    ticket: np.ndarray | None = None  # ticket keys (ticket_created only)
    extras: list[_Vocab | _Number] = field(default_factory=list)

    def subset(self, rows: np.ndarray) -> _Block:
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        return _Block(
            self.etype, self.t[rows], self.cust[rows], self.bot[rows], self.chan[rows],
            self.actor[rows], pick(self.conv), pick(self.ticket),
            [e.subset(rows) for e in self.extras],
        )


def _diurnal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds into the UTC day following the diurnal curve."""
    return rng.choice(24, n, p=HOUR_P) * 3_600_000 + rng.integers(0, 3_600_000, n)


def _pick(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return rng.random(n) < p


def _choice_actor(rng: np.random.Generator, actors: tuple[int, ...], p, n: int) -> np.ndarray:
    return np.asarray(actors, dtype=np.int8)[rng.choice(len(actors), n, p=p)]


def _simulate_day(w: _World, day: int, rng: np.random.Generator) -> tuple[list[_Block], int]:
    """All events whose conversation/visit starts on ``day``; returns (blocks, #convs)."""
    day_start = w.start_ms + day * DAY_MS
    weekend = (w.start + dt.timedelta(days=day)).weekday() >= 5
    factor = (WEEKEND_FACTOR if weekend else WEEKDAY_FACTOR) * np.clip(
        rng.normal(1.0, 0.04), 0.85, 1.15)
    target = int(round(w.events_per_day * factor))
    if target == 0:
        return [], 0
    blocks, convs = _conversations(w, day, day_start, target, rng)
    n_conv_events = sum(len(b.t) for b in blocks)
    blocks += _impressions(w, day, day_start, target - n_conv_events, convs, rng)
    return blocks, len(convs["start"])


def _conversations(w: _World, day: int, day_start: int, target: int, rng: np.random.Generator):
    """Conversations as turn arrays; segmented cumsums give per-conversation clocks."""
    n_base = int(round(target * (1 - IMPRESSION_SHARE)
                       / (EVENTS_PER_CONVERSATION * (1 + P_FOLLOW_UP))))
    cust = rng.choice(len(w.cust_p), n_base, p=w.cust_p)
    start = day_start + _diurnal(rng, n_base)
    bot = np.where(_pick(rng, 0.5, n_base), w.cust_bot2[cust], w.cust_bot1[cust])
    chan = np.where(_pick(rng, 0.75, n_base), w.cust_channel[cust],
                    rng.choice(len(CHANNELS), n_base, p=CHANNEL_P))
    # Follow-ups: same customer and bot, another channel, a few minutes later.
    fu = np.flatnonzero(_pick(rng, P_FOLLOW_UP, n_base))
    cust = np.concatenate([cust, cust[fu]])
    bot = np.concatenate([bot, bot[fu]])
    chan = np.concatenate([chan, (chan[fu] + rng.integers(1, len(CHANNELS), len(fu)))
                           % len(CHANNELS)])
    start = np.concatenate([start, start[fu] + rng.integers(45_000, 300_000, len(fu))])
    n = len(start)
    conv = (np.uint64(day) << np.uint64(32)) + np.arange(n, dtype=np.uint64)
    blocks: list[_Block] = []

    def block(etype, rows, t, actor, extras=(), ticket=None):
        blocks.append(_Block(etype, t, cust[rows], bot[rows], chan[rows],
                             np.asarray(actor, dtype=np.int8), conv[rows], ticket, list(extras)))

    # conversation_started: mostly the user opens it, sometimes the bot proactively.
    rows = np.arange(n)
    actor = np.where(_pick(rng, 0.15, n), A_BOT, A_USER).astype(np.int8)
    entry = np.where(actor == A_BOT, len(ENTRY_POINTS), rng.integers(0, len(ENTRY_POINTS), n))
    block("conversation_started", rows, start, actor,
          [_Vocab(w.vocabs["entry"], entry, _pick(rng, 0.6, n))])

    # Turns: user message -> intent -> (api call) -> bot reply; then the user thinks.
    turns = 1 + np.minimum(rng.poisson(MEAN_EXTRA_TURNS, n), MAX_EXTRA_TURNS)
    tc = np.repeat(rows, turns)  # conversation of each turn
    m = len(tc)
    first = np.cumsum(turns) - turns
    last = first + turns - 1
    intent_delay = rng.integers(80, 900, m)
    has_api = _pick(rng, P_API, m)
    latency = np.clip(rng.lognormal(np.log(180), 0.8, m), 1, 30_000).astype(np.int64)
    reply_delay = 700 + intent_delay + np.where(has_api, latency + 150, 0) + rng.integers(
        0, 2500, m)
    long_gap = _pick(rng, P_LONG_GAP, m)
    think = np.where(
        long_gap,
        np.clip(rng.lognormal(np.log(40 * MIN_MS), 0.7, m), 10.5 * MIN_MS, 4 * 60 * MIN_MS),
        np.clip(rng.lognormal(np.log(35_000), 0.9, m), 2_000, 8 * MIN_MS),
    ).astype(np.int64)
    gap = np.empty(m, dtype=np.int64)
    gap[1:] = reply_delay[:-1] + think[1:]
    gap[first] = rng.integers(1_500, 20_000, n)
    clock = np.cumsum(gap)
    user_t = start[tc] + clock - np.repeat(clock[first] - gap[first], turns)
    reply_t = user_t + reply_delay

    text_len = np.minimum(rng.geometric(1 / 35, m), 400) - 1
    lang = rng.integers(0, 3, m)
    block("message", tc, user_t, np.full(m, A_USER),
          [_Vocab(w.vocabs["text"], lang * 400 + text_len, _pick(rng, 0.6, m))])

    ri = np.flatnonzero(_pick(rng, P_INTENT, m))
    k = len(ri)
    confidence = np.clip(rng.beta(5, 2, k), 0, 1)
    fallback = confidence < 0.3
    intent = np.where(fallback, len(INTENTS), rng.integers(0, len(INTENTS), k))
    block("intent_matched", tc[ri], user_t[ri] + intent_delay[ri], np.full(k, A_BOT), [
        _Vocab(w.vocabs["intent"], intent),
        _Vocab(w.vocabs["confidence"], np.round(confidence * 1000).astype(np.int64)),
        _Vocab(w.vocabs["fallback"], fallback.astype(np.int64), _pick(rng, 0.6, k)),
    ])

    ra = np.flatnonzero(has_api)
    k = len(ra)
    roll = rng.random(k)
    status = np.where(roll < P_STATUS_ERROR,
                      len(OK_CODES) + rng.integers(0, len(ERROR_CODES), k),
                      rng.choice(len(OK_CODES), k, p=OK_P))
    block("api_call", tc[ra], user_t[ra] + intent_delay[ra] + rng.integers(10, 150, k),
          np.full(k, A_SYSTEM), [
              _Vocab(w.vocabs["api"], rng.integers(0, len(APIS), k)),
              _Vocab(w.vocabs["status"], status, roll < 1 - P_STATUS_MISSING),
              _Vocab(w.vocabs["latency"], latency[ra]),
          ])

    block("message", tc, reply_t, np.full(m, A_BOT),
          [_Vocab(w.vocabs["text"], lang * 400 + rng.integers(20, 300, m), _pick(rng, 0.6, m))])

    # Hand-off to a human, KPI and close happen after the last bot reply.
    end = reply_t[last].copy()
    rt = np.flatnonzero(_pick(rng, P_TICKET, n))
    k = len(rt)
    ticket_t = end[rt] + rng.integers(2_000, 90_000, k)
    block("ticket_created", rt, ticket_t,
          np.where(_pick(rng, 0.6, k), A_AGENT, A_SYSTEM),
          ticket=(np.uint64(day) << np.uint64(32)) + rt.astype(np.uint64))
    end[rt] = ticket_t
    rg = rt[_pick(rng, P_AGENT_MSG, k)]
    agent_t = end[rg] + rng.integers(30_000, 10 * MIN_MS, len(rg))
    block("message", rg, agent_t, np.full(len(rg), A_AGENT),
          [_Vocab(w.vocabs["text"], rng.integers(30, 400, len(rg)))])
    end[rg] = agent_t

    rk = np.flatnonzero(_pick(rng, P_KPI, n))
    k = len(rk)
    kpi = rng.integers(0, len(KPIS), k)
    amount = np.round(rng.lognormal(3.5, 0.8, k), 2)
    value = np.where(kpi == KPIS.index("payment_completed"), amount, 1.0)
    kpi_t = end[rk] + rng.integers(200, 20_000, k)
    block("kpi_event", rk, kpi_t,
          np.where(_pick(rng, 0.5, k), A_SYSTEM, A_NONE), [
              _Vocab(w.vocabs["kpi"], kpi),
              _Number(',"value":', value, _pick(rng, 0.7, k)),
          ])
    end[rk] = np.maximum(end[rk], kpi_t)

    rc = np.flatnonzero(_pick(rng, P_CLOSE, n))
    k = len(rc)
    actor = _choice_actor(rng, (A_USER, A_BOT, A_SYSTEM), (0.25, 0.15, 0.60), k)
    delay = np.where(actor == A_SYSTEM, 30 * MIN_MS + rng.integers(0, 90_000, k),
                     rng.integers(2_000, 60_000, k))
    reason = np.select([actor == A_USER, actor == A_BOT], [0, 1], 2)
    block("conversation_closed", rc, end[rc] + delay, actor,
          [_Vocab(w.vocabs["close"], reason, _pick(rng, 0.5, k))])
    return blocks, {"start": start, "cust": cust, "bot": bot, "chan": chan}


def _impressions(w: _World, day: int, day_start: int, budget: int, convs: dict,
                 rng: np.random.Generator) -> list[_Block]:
    """Page loads: before web conversations, standalone visits + revisits, heavy reloaders."""
    start, cust, bot, chan = convs["start"], convs["cust"], convs["bot"], convs["chan"]
    linked = np.flatnonzero((chan == 0) & _pick(rng, P_LINKED_IMPRESSION, len(start)))
    parts = [(np.maximum(start[linked] - rng.integers(5_000, 180_000, len(linked)), day_start),
              cust[linked], bot[linked], None)]

    hv = w.heavy[(w.heavy[:, 2] <= day) & (day < w.heavy[:, 2] + w.heavy[:, 3])]
    reps = np.repeat(np.arange(len(hv)), 24)
    heavy_t = (day_start + np.tile(np.arange(24), len(hv)) * 3_600_000
               + hv[reps, 4] * MIN_MS + rng.integers(0, 30_000, len(reps)))
    heavy_cust = hv[reps, 0]
    parts.append((heavy_t, heavy_cust, w.cust_bot1[heavy_cust], hv[reps, 1]))

    n_solo = max(0, int(round((budget - len(linked) - len(reps)) / (1 + P_REPEAT_VISIT))))
    solo_cust = rng.choice(len(w.cust_p), n_solo, p=w.cust_p)
    solo_t = day_start + _diurnal(rng, n_solo)
    acc = w.cust_account[solo_cust]
    solo_page = w.page_start[acc] + (rng.random(n_solo) * w.page_count[acc]).astype(np.int64)
    parts.append((solo_t, solo_cust, w.cust_bot1[solo_cust], solo_page))
    again = np.flatnonzero(_pick(rng, P_REPEAT_VISIT, n_solo))
    parts.append((solo_t[again] + rng.integers(5 * MIN_MS, 20 * 60 * MIN_MS, len(again)),
                  solo_cust[again], w.cust_bot1[solo_cust[again]], solo_page[again]))

    t = np.concatenate([p[0] for p in parts]).astype(np.int64)
    icust = np.concatenate([p[1] for p in parts])
    ibot = np.concatenate([p[2] for p in parts])
    n = len(t)
    acc = w.cust_account[icust]
    random_page = w.page_start[acc] + (rng.random(n) * w.page_count[acc]).astype(np.int64)
    fixed_page = np.concatenate(
        [np.full(len(p[0]), -1) if p[3] is None else p[3] for p in parts])
    page = np.where(fixed_page >= 0, fixed_page, random_page)
    actor = np.where(_pick(rng, P_IMPRESSION_ACTOR, n), A_USER, A_NONE).astype(np.int8)
    return [_Block("impression", t, icust, ibot, np.zeros(n, dtype=np.int64), actor, extras=[
        _Vocab(w.page_vocab, page),
        _Vocab(w.vocabs["referrer"], rng.integers(0, len(REFERRERS), n), _pick(rng, 0.3, n)),
    ])]


# --------------------------------------------------------------------------------------
# Rendering blocks to JSON lines
# --------------------------------------------------------------------------------------


class _Renderer:
    """Turns blocks into Arrow arrays of ``{...}\\n`` lines; owns the event-id counter."""

    def __init__(self, w: _World, day: int):
        self.w = w
        self.day = day
        self.context = w.context_vocab(day)
        self.counter = 0

    def render(self, block: _Block, rng: np.random.Generator) -> list[tuple[pa.Array, np.ndarray]]:
        """Render a block; rows with an explicit UTC offset form their own sub-blocks
        because their timestamp has a different width."""
        n = len(block.t)
        meta = (_pick(rng, P_BOT_NAME, n).astype(np.int64)
                + 2 * _pick(rng, P_BOT_VERSION, n).astype(np.int64))
        ctx_idx = ((block.bot * len(CHANNELS) + block.chan) * 4 + meta) * len(ACTORS) + block.actor
        tz = np.where(_pick(rng, P_TZ_OFFSET, n), rng.integers(0, len(TZ_OFFSETS_MIN), n), -1)
        out = []
        for code in range(-1, len(TZ_OFFSETS_MIN)):
            rows = np.flatnonzero(tz == code)
            if len(rows) == 0:
                continue
            offset = None if code < 0 else TZ_OFFSETS_MIN[code]
            sub = block.subset(rows) if len(rows) < n else block
            out.append((self._render_rows(sub, ctx_idx[rows], offset), sub.t))
        return out

    def _render_rows(self, b: _Block, ctx_idx: np.ndarray, offset: int | None) -> pa.Array:
        n = len(b.t)
        keys = (np.uint64(self.day) << np.uint64(34)) + np.arange(
            self.counter, self.counter + n, dtype=np.uint64)
        self.counter += n
        salts = self.w.salts
        # Fixed-width head: written straight into a byte matrix.
        segments: list[bytes | np.ndarray] = [
            b'{"event_id":"evt_', _hex16(_mix64(keys ^ salts["event"])),
            f'","event_type":"{b.etype}","occurred_at":"'.encode(), _timestamps(b.t, offset),
            b'","customer_id":"cus_', _digits(b.cust, self.w.cust_width), b'"',
        ]
        if b.conv is not None:
            segments += [b',"conversation_id":"conv_', _hex16(_mix64(b.conv ^ salts["conv"])),
                         b'"']
        if b.ticket is not None:
            segments += [b',"ticket_id":"tkt_', _hex16(_mix64(b.ticket ^ salts["ticket"])), b'"']
        widths = [len(s) if isinstance(s, bytes) else s.shape[1] for s in segments]
        head = np.empty((n, sum(widths)), dtype=np.uint8)
        pos = 0
        for seg, width in zip(segments, widths, strict=True):
            head[:, pos:pos + width] = np.frombuffer(seg, np.uint8) if isinstance(seg, bytes) else seg
            pos += width
        pieces = [_matrix_strings(head), self.context.take(pa.array(ctx_idx))]
        pieces += [e.render() for e in b.extras]
        pieces += [pa.scalar("}\n", _STR), pa.scalar("", _STR)]
        return pc.binary_join_element_wise(*pieces, null_handling="skip")


def _malformed_lines(w: _World, day: int, first_kind: int, count: int,
                     rng: np.random.Generator) -> list[str]:
    """Bad lines for one arrival day, cycling through MALFORMED_KINDS globally."""
    if count == 0:
        return []
    # Keys with the top bit set never collide with real event keys (day << 34 | counter).
    keys = (np.uint64(1) << np.uint64(63)) + np.arange(first_kind, first_kind + count,
                                                        dtype=np.uint64)
    ids = [f"evt_{h.tobytes().decode()}" for h in _hex16(_mix64(keys ^ w.salts["event"]))]
    t = w.start_ms + day * DAY_MS + rng.integers(0, DAY_MS, count)
    stamps = [s.tobytes().decode() for s in _timestamps(t, None)]
    date = (w.start + dt.timedelta(days=day)).isoformat()
    bot = int(rng.integers(0, len(w.bot_ids)))
    account = f"acc_{w.accounts[w.bot_account[bot]][0]}"
    cus = f"cus_{0:0{w.cust_width}d}"
    lines = []
    for i in range(count):
        kind = MALFORMED_KINDS[(first_kind + i) % len(MALFORMED_KINDS)]
        base = (f'"event_id":"{ids[i]}","event_type":"message","occurred_at":"{stamps[i]}",'
                f'"account_id":"{account}","bot_id":"{w.bot_ids[bot]}","channel":"web"')
        if kind == "truncated_json":
            lines.append("{" + base[: 60 + i % 20])
        elif kind == "json_array":
            lines.append(f'["{ids[i]}","message","{stamps[i]}"]')
        elif kind == "missing_field":
            lines.append("{" + base + ',"actor":"user"}')
        elif kind == "unknown_type":
            lines.append("{" + base.replace('"message"', '"typing_indicator"')
                         + f',"customer_id":"{cus}"}}')
        else:
            lines.append("{" + base.replace(stamps[i], f"{date}T25:61:00Z")
                         + f',"customer_id":"{cus}"}}')
    return [line + "\n" for line in lines]


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

_WRITE_CHUNK = 16 << 20


def _write_lines(path: Path, lines: pa.Array, gzip_files: bool) -> None:
    """Write the array's data buffer as-is (lines already end in newline), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    view = memoryview(b"")
    if len(lines):
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
        lo, hi = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
        view = memoryview(lines.buffers()[2])[lo:hi]
    with open(tmp, "wb") as fh:
        # wbits=31: gzip container with zero mtime and no name, hence reproducible.
        comp = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip_files else None
        for pos in range(0, len(view), _WRITE_CHUNK):
            chunk = view[pos:pos + _WRITE_CHUNK]
            fh.write(comp.compress(chunk) if comp else chunk)
        if comp:
            fh.write(comp.flush())
    os.replace(tmp, path)


@dataclass
class _Pending:
    """Lines routed to a later arrival day, with their file number."""

    lines: pa.Array
    files: np.ndarray


def _remove_stale_parts(folder: Path, keep: set[Path]) -> None:
    """Old part files (e.g. from a run with other options) would corrupt the dataset."""
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

    Deterministic for given arguments. Memory is bounded by one day's events plus the
    small late/duplicate tail waiting for later arrival days.
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
    end_ms = w.start_ms + days * DAY_MS
    pending: dict[int, list[_Pending]] = defaultdict(list)
    files: list[Path] = []
    totals = dict(events=0, lines=0, duplicates=0, malformed=0, late=0, conversations=0)

    for day in range(days):
        rng = np.random.default_rng(np.random.SeedSequence(seed % 2**64, spawn_key=(1, day)))
        blocks, n_convs = _simulate_day(w, day, rng)
        totals["conversations"] += n_convs
        renderer = _Renderer(w, day)
        chunks, stamps = [], []
        for block in blocks:
            keep = np.flatnonzero(block.t < end_ms)  # the snapshot ends with the last day
            block = block.subset(keep) if len(keep) < len(block.t) else block
            for lines, t in renderer.render(block, rng):
                chunks.append(lines)
                stamps.append(t)
        t = np.concatenate(stamps) if stamps else np.zeros(0, dtype=np.int64)
        n = len(t)
        totals["events"] += n

        # Arrival routing: late tail, duplicates, file numbers.
        occurred_day = (t - w.start_ms) // DAY_MS
        late = _pick(rng, late_fraction, n)
        arrival = np.minimum(occurred_day + late * rng.integers(1, LATE_MAX_DAYS + 1, n), days - 1)
        totals["late"] += int((arrival > occurred_day).sum())
        file_no = rng.integers(0, files_per_day, n)
        dup = np.flatnonzero(_pick(rng, duplicate_fraction, n))
        mode = rng.random(len(dup))
        dup_arrival = np.where(mode < P_DUP_NEXT_DAY, np.minimum(arrival[dup] + 1, days - 1),
                               arrival[dup])
        other = (file_no[dup] + 1 + rng.integers(0, max(1, files_per_day - 1), len(dup))) \
            % files_per_day
        dup_file = np.where((mode >= P_DUP_NEXT_DAY)
                            & (mode < P_DUP_NEXT_DAY + P_DUP_OTHER_FILE), other, file_no[dup])
        totals["duplicates"] += len(dup)
        rows = np.concatenate([np.arange(n), dup])
        arrival = np.concatenate([arrival, dup_arrival])
        file_no = np.concatenate([file_no, dup_file])

        # Everything arriving today, in one array: fresh rows, earlier days' tail, bad lines.
        bad = _malformed_lines(w, day, totals["malformed"], malformed_lines_per_day, rng)
        totals["malformed"] += len(bad)
        waiting = pending.pop(day, [])
        today = pa.concat_arrays([*chunks, *(p.lines for p in waiting), pa.array(bad, _STR)])
        del chunks

        for later in np.unique(arrival[arrival > day]).tolist():
            sel = arrival == later
            pending[later].append(_Pending(today.take(pa.array(rows[sel])), file_no[sel]))

        sel = arrival == day
        today_rows = [rows[sel]]
        today_files = [file_no[sel]]
        offset = n
        for p in waiting:
            today_rows.append(offset + np.arange(len(p.lines)))
            today_files.append(p.files)
            offset += len(p.lines)
        today_rows.append(offset + np.arange(len(bad)))
        today_files.append(rng.integers(0, files_per_day, len(bad)))
        today_rows = np.concatenate(today_rows)
        today_files = np.concatenate(today_files)

        folder = root / (start + dt.timedelta(days=day)).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        day_files = [folder / f"part-{f:03d}{suffix}" for f in range(files_per_day)]
        _remove_stale_parts(folder, set(day_files))
        for f, path in enumerate(day_files):
            part = today_rows[today_files == f]
            part = part[rng.permutation(len(part))]  # files are not sorted by time
            _write_lines(path, today.take(pa.array(part)), gzip_files)
            totals["lines"] += len(part)
            files.append(path)
        del today

    return GenerationSummary(start=start, days=days, files=files, **totals)


def main(argv: list[str] | None = None) -> None:
    """``python -m orchestration.generator OUT_DIR`` -- also a quick throughput benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2022, 3, 1))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--events-per-day", type=int, default=2000)
    parser.add_argument("--files-per-day", type=int, default=2)
    parser.add_argument("--no-gzip", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    summary = generate(args.out_dir, args.start, args.days, seed=args.seed,
                       events_per_day=args.events_per_day, files_per_day=args.files_per_day,
                       gzip_files=not args.no_gzip)
    elapsed = time.perf_counter() - began
    print(f"{summary.events:,} events, {summary.lines:,} lines, {len(summary.files)} files, "
          f"{summary.duplicates} duplicates, {summary.malformed} malformed, {summary.late} late "
          f"in {elapsed:.2f}s ({summary.events / elapsed:,.0f} events/s)")


if __name__ == "__main__":
    main()
