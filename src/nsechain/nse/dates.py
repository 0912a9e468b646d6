"""NSE's date and time formats, read and written without the process locale.

Where it sits: the one place that knows NSE writes ``11-Aug-2026`` (requests, v3 rows, expiry
lists), ``11-08-2026`` (NextApi rows, v3 legs) and ``11-Aug-2026 11:29:03`` (IST, no zone).
The endpoint builder (``nse/endpoints.py``) formats expiries with it, the parser
(``nse/parse.py``, which re-exports these names) reads them. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

from nsechain.timeutil import IST

__all__ = ["format_expiry", "parse_nse_date", "parse_nse_timestamp"]

# fmt: off
_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun",
               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# fmt: on
# Our own table, not strptime's %b / strftime's %b: those follow the process locale.
_MONTHS = {name.lower(): i for i, name in enumerate(_MONTH_ABBR) if name}


@lru_cache(maxsize=4096)
def _parse_date_cached(text: str) -> date:
    parts = text.strip().split("-")
    if len(parts) != 3 or not all(p.isascii() and p for p in parts):
        raise ValueError(f"{text!r} is not a DD-Mon-YYYY or DD-MM-YYYY date")
    day, month, year = parts
    num = int(month) if month.isdigit() else _MONTHS.get(month.lower(), 0)
    if not (day.isdigit() and year.isdigit() and len(year) == 4 and num):
        raise ValueError(f"{text!r} is not a DD-Mon-YYYY or DD-MM-YYYY date")
    try:
        return date(int(year), num, int(day))
    except ValueError:
        raise ValueError(f"{text!r} is not a valid calendar date") from None


def parse_nse_date(text: str) -> date:
    """``"11-Aug-2026"`` or ``"11-08-2026"`` → ``date``; ValueError otherwise. Locale-free."""
    if not isinstance(text, str):
        raise ValueError(f"expected a date string, got {type(text).__name__} {text!r}")
    return _parse_date_cached(text)


_TS_RE = re.compile(r"\s*(\S+)\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")


def parse_nse_timestamp(text: str) -> datetime:
    """``"11-Aug-2026 11:29:03"`` (IST, no zone on the wire) → aware IST datetime."""
    match = _TS_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an NSE timestamp like '11-Aug-2026 11:29:03'")
    day = parse_nse_date(match[1])
    hour, minute, second = int(match[2]), int(match[3]), int(match[4] or 0)
    try:
        return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=IST)
    except ValueError:
        raise ValueError(f"{text!r} has an impossible time of day") from None


def format_expiry(d: date) -> str:
    """``date(2026, 8, 11)`` → ``"11-Aug-2026"``, the form NSE's URL parameters take."""
    return f"{d.day:02d}-{_MONTH_ABBR[d.month]}-{d.year:04d}"
