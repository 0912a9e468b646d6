"""NSE's expiry rules: predict a symbol's near expiries without asking contract-info.

Where it sits: pure, under ``collector/targets.py``. On a cold start the collector has no
cached expiry list for some symbols; asking contract-info for all ~215 of them first would
spend over a minute of the budget before the first chain. Instead it predicts the lists from
the rules below, fetches chains at once, and verifies lazily: a wrong expiry answers 200 with
empty data, which flags the symbol for a contract-info refresh (``Universe.mark_empty``).

The rules (NSE, 2026; the simulator's ``sim/calendar.py`` lists the same): every F&O contract
expires on a Tuesday; NIFTY has weekly expiries, everything else monthly ones on the last
Tuesday of the month; an expiry on a holiday moves to the previous trading day. Only the near
expiries are predicted (NIFTY: 4 weeklies and the next monthly; others: 3 monthlies): far
quarterlies come with the first contract-info answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache

from nsechain.market import WEEKLY_SYMBOLS
from nsechain.market.holidays import bundled_holidays
from nsechain.market.universe import is_live

__all__ = ["WEEKLY_SYMBOLS", "predict_expiries"]

_TUESDAY = 1


#: National holidays NSE closes on every year, for years without a bundled list.
_FIXED = ((1, 26), (5, 1), (8, 15), (10, 2), (12, 25))


@lru_cache(maxsize=4096)
def _trading(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    listed = bundled_holidays(day.year)
    if listed is None:
        return (day.month, day.day) not in _FIXED
    return listed.get(day) is None


def _on_or_before_trading(day: date, trading: Callable[[date], bool]) -> date:
    while not trading(day):
        day -= timedelta(days=1)
    return day


def _last_tuesday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - _TUESDAY) % 7)


def _monthlies(now: datetime, count: int, trading: Callable[[date], bool]) -> list[date]:
    out: list[date] = []
    year, month = now.year, now.month
    while len(out) < count:
        exp = _on_or_before_trading(_last_tuesday(year, month), trading)
        if is_live(exp, now):
            out.append(exp)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def predict_expiries(
    symbol: str, now: datetime, *, trading: Callable[[date], bool] = _trading
) -> tuple[date, ...]:
    """The near expiries NSE's rules give ``symbol`` at ``now`` (aware, IST), sorted."""
    if symbol not in WEEKLY_SYMBOLS:
        return tuple(_monthlies(now, 3, trading))
    weeklies: list[date] = []
    tuesday = now.date() + timedelta(days=(_TUESDAY - now.weekday()) % 7)
    while len(weeklies) < 4:
        exp = _on_or_before_trading(tuesday, trading)
        if is_live(exp, now):
            weeklies.append(exp)
        tuesday += timedelta(days=7)
    monthly = [m for m in _monthlies(now, 2, trading) if m > weeklies[-1]][:1]
    return tuple(sorted({*weeklies, *monthly}))
