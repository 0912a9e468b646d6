"""Plausibility rules: a well-formed chain whose values cannot be true is refused, not stored.

Where it sits: inside ``nse/``, run by the parser (``nse/parse.py``) on the finished Arrow
columns, so every rule is one vectorised pass per column (numpy ``fmin.reduce``); only once a
rule fails is the first offending row looked up to name it. Each failure is a
``ValueRule`` error naming the field; the parser turns it into ``errors.Implausible`` with the
symbol, the expiry and the body (which goes to quarantine).

The rules:

- no negative open interest, volume, quantity, price, IV or underlying value (changes may be
  negative);
- NSE's timestamp inside ``[earliest, latest]`` of ``ts_window``: no older than the previous
  weekday's close (before the first trade of the day NSE still shows it), no later than now
  plus a clock-skew allowance. "Now" is the fetch's ``fetched_at``, which the collector stamps
  from its injected clock; an import of an old capture passes the capture's own time, so the
  rule compares against the capture's own day;
- rows only of the expiry asked for (a v3 or NextApi answer is one expiry), or, in a legacy
  body that holds every expiry, only of the expiries it lists itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np

from nsechain.nse._diagnose import BadBodyError
from nsechain.nse._fields import LEG_COLUMNS
from nsechain.nse.dates import format_expiry
from nsechain.timeutil import IST

__all__ = [
    "CLOCK_SKEW",
    "ValueRule",
    "check_columns",
    "check_expiries",
    "check_ts",
    "non_finite",
    "ts_window",
]

#: How far ahead of our clock NSE's timestamp may be (its clock and ours are not the same).
CLOCK_SKEW = timedelta(minutes=5)
#: The chain before a session's first update still carries the previous session's close.
_PREVIOUS_CLOSE = time(15, 0)

#: Leg columns that can never be negative, by index in the parser's column list (expiry,
#: strike, option_type, then the leg columns in LEG_COLUMNS order).
_NON_NEGATIVE: tuple[str, ...] = (
    *("open_interest", "volume", "iv", "last_price", "total_buy_qty", "total_sell_qty"),
    *("bid_price", "bid_qty", "ask_price", "ask_qty", "underlying_value"),
)
_INDEX = {c: 3 + i for i, (c, _, _) in enumerate(LEG_COLUMNS)}
_JSON_KEY = {c: k for c, k, _ in LEG_COLUMNS}

_NON_FINITE = re.compile(
    rb'"([^"\\]{1,64})"\s*:\s*(-?(?:NaN|Infinity)|-?\d+(?:\.\d*)?[eE]\+?\d{3,})'
)


class ValueRule(BadBodyError):
    """A plausibility rule failed; ``field`` names the JSON field (or ``records.timestamp``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def ts_window(now: datetime, skew: timedelta = CLOCK_SKEW) -> tuple[datetime, datetime]:
    """``[earliest, latest]`` for NSE's timestamp of a snapshot fetched at ``now``.

    The session day is ``now``'s weekday (a weekend falls back to Friday); earliest is the
    previous weekday's close, less a margin. Holidays are not known here, so the day after one
    may briefly refuse the pre-open snapshot of the session before the holiday (logged,
    quarantined; the next fetch has the new timestamp).
    """
    today = now.astimezone(IST)
    session = _weekday_on_or_before(today.date())
    previous = _weekday_on_or_before(session - timedelta(days=1))
    earliest = datetime.combine(previous, _PREVIOUS_CLOSE, IST)
    return earliest, today + skew


def check_ts(exchange_ts: datetime, now: datetime, field: str) -> None:
    earliest, latest = ts_window(now)
    if earliest <= exchange_ts <= latest:
        return
    when = "in the future" if exchange_ts > latest else "too old"
    raise ValueRule(
        f"'{field}' {exchange_ts:%d-%b-%Y %H:%M:%S} is {when} for a snapshot fetched at "
        f"{now.astimezone(IST):%d-%b-%Y %H:%M:%S} IST (plausible: {earliest:%d-%b %H:%M} to "
        f"{latest:%d-%b %H:%M}); NSE served a snapshot that cannot be current. Retry; if it "
        "persists, check the machine's clock",
        field,
    )


def check_expiries(
    present: set[date], asked: date | None, listed: Sequence[date], field: str
) -> None:
    """Rows only of the expiry asked for; with none asked, only of the listed ones."""
    allowed = {asked} if asked is not None else set(listed)
    stray = present - allowed if allowed else set()
    if not stray:
        return
    got = ", ".join(map(format_expiry, sorted(stray)))
    what = f"asked for expiry {format_expiry(asked)}" if asked else "the body lists its expiries"
    raise ValueRule(
        f"{what} but the rows are for {got}; NSE answered for something else, nothing is stored. "
        "Refresh the expiry list",
        field,
    )


def check_columns(arrays: list[Any], expiry_key: str) -> None:
    """No negative values where none can be; ``arrays`` as the parser builds them."""
    for column in ("strike", *_NON_NEGATIVE):
        array = arrays[1] if column == "strike" else arrays[_INDEX[column]]
        values = array.to_numpy(zero_copy_only=False)  # nulls become NaN, which fmin skips
        if not np.fmin.reduce(values) < 0:
            continue
        i = int(np.flatnonzero(values < 0)[0])
        key = "strikePrice" if column == "strike" else _JSON_KEY[column]
        strike, side = arrays[1][i].as_py(), arrays[2][i].as_py()
        raise ValueRule(
            f"{key} is {values[i]:g} at strike {strike:g} {side} "
            f"({expiry_key} {format_expiry(arrays[0][i].as_py())}); it can never be negative. "
            "NSE sent an impossible value; nothing of this snapshot is stored",
            key,
        )


def non_finite(body: bytes) -> ValueRule | None:
    """NaN, Infinity or a number beyond the double range in a body JSON refused, named."""
    found = next((m for m in _NON_FINITE.finditer(body) if _is_non_finite(m[2])), None)
    if found is None:
        return None
    key, literal = found[1].decode(errors="replace"), found[2].decode(errors="replace")
    return ValueRule(
        f"'{key}' is {literal}, which is not a JSON number (NaN, Infinity or beyond the double "
        "range): NSE sent a value that cannot be stored. The body is complete, not cut off",
        key,
    )


def _is_non_finite(literal: bytes) -> bool:
    return literal.lstrip(b"-")[:1] in (b"N", b"I") or math.isinf(float(literal))
