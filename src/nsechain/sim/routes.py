"""The ``/api/...`` endpoints: parse a request, pick the snapshot, render (or reuse) the bytes.

Where it sits: called by ``server.py`` for every ``/api/`` request that passed the gate and
drew no replacing fault; it uses ``market.py`` for numbers and ``render.py`` for shapes.

Answers where NSE's behaviour is not documented (our choice, kept NSE-like):

- an expiry that is not listed, or malformed: HTTP 200 with ``records.data == []`` (the
  documented wrong-expiry answer; ``data == []`` on NextApi);
- no ``expiry`` (v3) or no ``params=expiryDate=`` (NextApi): the nearest expiry, as the
  website's first load shows;
- an unknown symbol, or a known one under the wrong ``type=`` (``type=Equity&symbol=NIFTY``):
  HTTP 200 with ``{}`` (NSE looks symbols up per segment, and ``{}`` is what it has long
  sent for lookups that find nothing); the same for contract-info and the NextApi functions;
- an unknown ``functionName``, or a ``holiday-master`` type other than ``trading``: ``{}``;
- any other ``/api/`` path: the Akamai 404 page.

Rendered bodies are cached per (endpoint, symbol, expiry, snapshot second), so repeated and
concurrent requests within one simulated second, and everything after the close, cost a
dictionary lookup.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import parse_qs

from nsechain.sim import render
from nsechain.sim.calendar import next_trading_day
from nsechain.sim.clock import SimClock, Snapshot
from nsechain.sim.market import Market
from nsechain.sim.universe import by_symbol

__all__ = ["API_PATHS", "CHAIN_PATHS", "Api", "Reply"]

JSON = "application/json; charset=utf-8"
V3 = "/api/option-chain-v3"
NEXT = "/api/NextApi/apiClient/GetQuoteApi"
CHAIN_PATHS = (V3, NEXT)
#: Every /api/ path the simulator serves; anything else (the dead legacy chain paths
#: included) is Akamai's 404, answered at the edge before any cookie check.
API_PATHS = frozenset(
    (
        V3,
        NEXT,
        "/api/option-chain-contract-info",
        "/api/underlying-information",
        "/api/holiday-master",
        "/api/marketStatus",
    )
)
_EMPTY = b"{}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A rendered answer. ``key`` identifies the bytes for caching compressed variants."""

    status: int
    body: bytes
    key: tuple[object, ...] | None = None
    symbol: str | None = None  #: set on a chain answer that holds rows
    stale: bool = False  #: True when the stale fault actually repeated an older snapshot


def _param(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0].strip() if values else ""


def _expiry(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%d-%b-%Y").date()
    except ValueError:
        return None


class Api:
    """Stateless apart from the render cache and the last snapshot served per chain."""

    def __init__(self, market: Market, clock: SimClock, cache_entries: int = 2048) -> None:
        self.market = market
        self.clock = clock
        self._cache: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._cache_entries = cache_entries
        self._last: dict[tuple[str, str, str], Snapshot] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._last.clear()

    def handle(self, path: str, query_string: str, stale: bool = False) -> Reply | None:
        """The answer to ``GET path?query``, or None for a path NSE does not serve."""
        query = parse_qs(query_string, keep_blank_values=True)
        snap = self.clock.snapshot()
        if path == V3:
            return self._v3(query, snap, stale)
        if path == NEXT:
            return self._next(query, snap, stale)
        if path == "/api/option-chain-contract-info":
            return self._contract_info(_param(query, "symbol").upper(), snap)
        if path == "/api/underlying-information":
            return self._cached(("ui",), render.underlying_information)
        if path == "/api/holiday-master":
            if _param(query, "type").lower() != "trading":
                return Reply(200, _EMPTY)
            year = self.clock.now().year
            return self._cached(("hm", year), lambda: render.holiday_master(year))
        if path == "/api/marketStatus":
            return self._market_status(snap)
        return None

    # --- chains ----------------------------------------------------------------------------
    def _v3(self, query: dict[str, list[str]], snap: Snapshot, stale: bool) -> Reply:
        symbol = _param(query, "symbol").upper()
        u = by_symbol(symbol)
        kind = _param(query, "type").lower()
        if u is None or kind != ("indices" if u.is_index else "equity"):
            return Reply(200, _EMPTY)
        return self._chain("v3", symbol, _param(query, "expiry"), snap, stale)

    def _next(self, query: dict[str, list[str]], snap: Snapshot, stale: bool) -> Reply:
        function = _param(query, "functionName")
        symbol = _param(query, "symbol").upper()
        if by_symbol(symbol) is None:
            return Reply(200, _EMPTY)
        if function == "getOptionChainDropdown":
            return self._contract_info(symbol, snap)
        if function != "getOptionChainData":
            return Reply(200, _EMPTY)
        inner = parse_qs(_param(query, "params"))
        return self._chain("next", symbol, _param(inner, "expiryDate"), snap, stale)

    def _chain(
        self, kind: str, symbol: str, expiry_text: str, snap: Snapshot, stale: bool
    ) -> Reply:
        listed = self.market.expiries(symbol, snap.day)
        expiry = _expiry(expiry_text) if expiry_text else (listed[0] if listed else None)
        which = (kind, symbol, expiry_text)
        with self._lock:
            previous = self._last.get(which)
            repeat = stale and previous is not None and previous.key != snap.key
            if repeat and previous is not None:
                snap = previous
            else:
                self._last[which] = snap
        if previous is not None and repeat:
            # The previous snapshot may belong to an earlier day's listing.
            listed = self.market.expiries(symbol, snap.day)
        found = expiry is not None and expiry in listed
        key = (kind, symbol, expiry, snap.key)
        reply = self._cached(key, lambda: self._render(kind, symbol, expiry, snap))
        return Reply(200, reply.body, key, symbol if found else None, repeat)

    def _render(self, kind: str, symbol: str, expiry: date | None, snap: Snapshot) -> bytes:
        chain = None if expiry is None else self.market.chain(symbol, expiry, snap)
        spot = chain.spot if chain is not None else self.market.spot(symbol, snap)
        if kind == "next":
            return render.nextapi_chain(chain, snap, spot)
        expiries = self.market.expiries(symbol, snap.day)
        return render.v3_chain(chain, snap, spot, expiries, self.market.strikes(symbol, snap.day))

    # --- reference data ----------------------------------------------------------------
    def _contract_info(self, symbol: str, snap: Snapshot) -> Reply:
        if by_symbol(symbol) is None:
            return Reply(200, _EMPTY)
        day = self._listing_day(snap)
        return self._cached(
            ("ci", symbol, day),
            lambda: render.contract_info(
                self.market.expiries(symbol, day), self.market.strikes(symbol, day)
            ),
        )

    def _listing_day(self, snap: Snapshot) -> date:
        """The day whose contracts are listed now. Chains before the open (or on a holiday)
        still show the last close, but contracts that expired then are gone and the next
        session's new series are listed."""
        today = self.clock.now().date()  # the simulated clock is in IST
        return snap.day if today <= snap.day else next_trading_day(snap.day)

    def _market_status(self, snap: Snapshot) -> Reply:
        nifty = self.market.spot("NIFTY", snap)
        prev = self.market.prev_close("NIFTY", snap.day)
        body = render.market_status(snap, self.clock.now(), nifty, prev)
        return Reply(200, body)

    # --- cache -------------------------------------------------------------------------
    def compressed(self, reply: Reply) -> bytes:
        """``reply.body`` gzipped (level 1: fast, and NSE's bodies compress ~10x anyway)."""
        if reply.key is None:
            return gzip.compress(reply.body, 1)
        key = ("gz", *reply.key)
        with self._lock:
            body = self._cache.get(key)
        if body is None:
            body = gzip.compress(reply.body, 1)
            with self._lock:
                self._store(key, body)
        return body

    def _cached(self, key: tuple[object, ...], make: Callable[[], bytes]) -> Reply:
        with self._lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
                return Reply(200, body, key)
        body = make()  # outside the lock: rendering is the slow part, and it is pure
        with self._lock:
            self._store(key, body)
        return Reply(200, body, key)

    def _store(self, key: tuple[object, ...], body: bytes) -> None:
        self._cache[key] = body
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
