"""What to fetch: the symbols, their live expiries, and this tick's (symbol, expiry) pairs.

Where it sits: the collector asks ``Targets`` each tick which universe/expiry refreshes are due
(it does the HTTP itself and hands the parsed results back) and which pairs to fetch. State only,
no I/O. The plan here is the simple one: the nearest N live expiries of every symbol, every tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from nsechain.config import INDEX_SYMBOLS, Settings
from nsechain.nse.parse import Underlying
from nsechain.timeutil import IST

__all__ = ["Targets"]

#: An expiry is tradeable until the close on its date.
EXPIRY_CUTOFF = time(15, 30)
#: After a failed refresh, wait this long before asking again (the tick keeps running).
REFRESH_RETRY = timedelta(minutes=2)


def is_live(expiry: date, now: datetime) -> bool:
    return datetime.combine(expiry, EXPIRY_CUTOFF, tzinfo=IST) >= now


class Targets:
    def __init__(self, settings: Settings) -> None:
        self._per_symbol = settings.expiries_per_symbol
        self._all = settings.all_symbols
        self.symbols: list[str] = [] if self._all else list(settings.symbols)
        self.expiries: dict[str, list[date]] = {}
        self._universe_day: date | None = None
        self._universe_retry_at: datetime | None = None
        self._refreshed_day: dict[str, date] = {}
        self._retry_at: dict[str, datetime] = {}

    # --- universe ---------------------------------------------------------------------------
    def universe_due(self, now: datetime) -> bool:
        if not self._all or self._universe_day == now.date():
            return False
        return self._universe_retry_at is None or now >= self._universe_retry_at

    def set_universe(self, universe: Sequence[Underlying], now: datetime) -> None:
        self.symbols = [u.symbol for u in universe]
        self._universe_day = now.date()
        self._universe_retry_at = None

    def universe_failed(self, now: datetime) -> None:
        if not self.symbols:
            # Never had a universe: start with the indices rather than nothing.
            self.symbols = list(INDEX_SYMBOLS)
        self._universe_retry_at = now + REFRESH_RETRY

    # --- expiries ---------------------------------------------------------------------------
    def expiries_due(self, now: datetime) -> list[str]:
        """Symbols whose expiry list is missing, from another day, or has run out."""
        due = []
        for symbol in self.symbols:
            retry_at = self._retry_at.get(symbol)
            if retry_at is not None and now < retry_at:
                continue
            stored = self.expiries.get(symbol)
            if (
                not stored
                or self._refreshed_day.get(symbol) != now.date()
                or not is_live(stored[0], now)  # the nearest expiry has just passed
            ):
                due.append(symbol)
        return due

    def set_expiries(self, symbol: str, dates: Sequence[date], now: datetime) -> None:
        self.expiries[symbol] = sorted(e for e in dates if is_live(e, now))
        self._refreshed_day[symbol] = now.date()
        self._retry_at.pop(symbol, None)

    def expiries_failed(self, symbol: str, now: datetime) -> None:
        self._retry_at[symbol] = now + REFRESH_RETRY

    def mark_stale_expiries(self, symbol: str) -> None:
        """A fetch came back empty (NSE's answer to a wrong expiry): refresh before next use."""
        self._refreshed_day.pop(symbol, None)
        self._retry_at.pop(symbol, None)

    # --- the plan ---------------------------------------------------------------------------
    def plan(self, now: datetime) -> list[tuple[str, date]]:
        pairs: list[tuple[str, date]] = []
        for symbol in self.symbols:
            live = [e for e in self.expiries.get(symbol, []) if is_live(e, now)]
            pairs.extend((symbol, e) for e in live[: self._per_symbol])
        return pairs
