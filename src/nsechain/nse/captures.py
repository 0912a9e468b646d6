"""Reading captured chains (files saved by other tools, or our own raw capture): whose chain a
body is, and whether its values are plausible for the day it was captured.

Where it sits: beside ``nse.parse``, pure functions, no I/O. ``store.importer`` calls
``symbol_of`` before parsing a capture and ``capture_problem`` after.

Live plausibility rules compare a body with *now* and with the expiry that was asked for
(DESIGN §5). An old capture has neither: it is checked against its own day (its exchange
timestamp) and its own expiry list (``records.expiryDates``) instead, so a capture from 2024
is not refused for being "in the past".
"""

from __future__ import annotations

import itertools
import re
from pathlib import PurePath

import pyarrow.compute as pc

from nsechain.nse.dates import format_expiry
from nsechain.nse.parse import ParsedChain

__all__ = ["capture_problem", "symbol_from_name", "symbol_in_payload", "symbol_of"]

# Legacy and v3 legs carry ``"underlying": "NIFTY"``; a regex on the bytes finds the first one
# without decoding the whole body a second time (the parser decodes it once anyway).
_UNDERLYING = re.compile(rb'"underlying"\s*:\s*"([^"]{1,40})"')
_SYMBOL = re.compile(r"^(?=.*[A-Z])[A-Z0-9&\-]{1,20}$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{8})")


def symbol_in_payload(body: bytes) -> str | None:
    """The underlying named in the first leg of the body, or None (NextApi legs may lack it)."""
    match = _UNDERLYING.search(body)
    if match is None:
        return None
    text = match.group(1).decode("utf-8", "replace").strip().upper()
    return text if _SYMBOL.match(text) else None


def symbol_from_name(name: str) -> str | None:
    """The symbol a file name gives, by the documented pattern.

    The upper-case word just before a date (``YYYY-MM-DD`` or ``YYYYMMDD``), words separated
    by ``_``: ``legacy_indices_NIFTY_2025-07-17_1530.json`` → NIFTY,
    ``M&M_20250717.json.gz`` → M&M. Failing that, a name that is only a symbol:
    ``BANKNIFTY.json`` → BANKNIFTY.
    """
    stem = PurePath(name).name.split(".")[0]
    words = stem.split("_")
    for word, following in itertools.pairwise(words):
        if _DATE.match(following) and _SYMBOL.match(word):
            return word
    return stem if _SYMBOL.match(stem) else None


def symbol_of(body: bytes, name: str, given: str | None) -> str | None:
    """Payload first, then the ``--symbol`` flag, then the file name; None if none says."""
    return symbol_in_payload(body) or given or symbol_from_name(name)


def capture_problem(parsed: ParsedChain) -> str | None:
    """Why a parsed capture is implausible for its own day and expiry list, or None.

    * every row's expiry is one the body itself lists (when it lists any);
    * no row expired before the capture's own day;
    * open interest and volume are never negative.
    """
    table = parsed.table
    day = parsed.exchange_ts.date()
    expiries = set(pc.unique(table["expiry"]).to_pylist())
    if parsed.expiry_dates:
        unlisted = sorted(expiries - set(parsed.expiry_dates))
        if unlisted:
            got = ", ".join(map(format_expiry, unlisted))
            return f"rows of expiries {got} that the capture's own expiry list does not hold"
    expired = sorted(e for e in expiries if e < day)
    if expired:
        got = ", ".join(map(format_expiry, expired))
        return f"rows of expiries {got} that had expired by the capture's day {day}"
    for column in ("open_interest", "volume"):
        low = pc.min(table[column]).as_py()
        if low is not None and low < 0:
            return f"negative {column} ({low}); not a real chain"
    return None
