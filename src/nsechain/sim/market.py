"""The simulated market: spot paths, listed contracts and every quote of an option chain.

Where it sits: between the static inputs (``universe.py``, ``calendar.py``, ``pricing.py``) and
``render.py``, which turns a computed ``Chain`` into NSE's JSON. ``server.py`` owns one
``Market`` per simulator.

Everything is a pure function of (seed, symbol, snapshot instant): the day's spot path is a
Brownian bridge from the previous close to the next day's previous close, open interest moves
from the previous close's OI towards the next day's, volume accumulates along a U-shaped
intraday curve, and prices are Black-Scholes with a volatility smile. So requests may arrive
in any order, from any thread, and a snapshot is always the same bytes.
"""

from __future__ import annotations

import math
import random
import threading
import zlib
from dataclasses import dataclass
from datetime import date

from nsechain.sim.calendar import (
    SESSION_SECONDS,
    index_expiries,
    next_trading_day,
    nifty_expiries,
    previous_trading_day,
    session_bounds,
    stock_expiries,
)
from nsechain.sim.clock import Snapshot
from nsechain.sim.pricing import bs_pair, bs_price, gauss, mix, smile, unit
from nsechain.sim.quotes import TICK, Contract, Leg, Now, leg, tick
from nsechain.sim.universe import Underlying, by_symbol

__all__ = ["Chain", "Contract", "Leg", "Market", "Row"]

_YEAR_S = 365.0 * 86400.0
_MINUTES = SESSION_SECONDS // 60


@dataclass(frozen=True, slots=True)
class Row:
    strike: float
    ce: Leg | None  #: None: the contract does not exist (zeroed leg)
    pe: Leg | None


@dataclass(frozen=True, slots=True)
class Chain:
    """One (symbol, expiry) chain at one snapshot."""

    symbol: str
    expiry: date
    spot: float
    rows: tuple[Row, ...]
    identifiers: tuple[tuple[str, str], ...]  #: (CE id, PE id) per row, "" where absent


@dataclass(slots=True)
class _Expiry:
    expiry: date
    close_ts: float  #: epoch seconds of the expiry's 15:30
    lot: int
    strikes: tuple[float, ...]
    contracts: tuple[tuple[Contract, Contract], ...]


@dataclass(slots=True)
class _Day:
    underlying: Underlying
    day: date
    open_ts: float
    prev_close: float
    path: tuple[float, ...]  #: spot at each minute 0..375 of the session
    atm: float  #: the day's at-the-money volatility level
    expiries: tuple[date, ...]
    by_expiry: dict[date, _Expiry]
    strikes: tuple[float, ...] | None = None  #: union over expiries, built on first use


def _curve(tau: float) -> float:
    # Cumulative share of the day's trading by session fraction tau: busy open and close.
    return 0.5 * tau + 0.25 * (1.0 - (1.0 - tau) ** 6) + 0.25 * tau**6


class Market:
    """The whole simulated F&O market for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._days: dict[tuple[str, date], _Day] = {}
        self._lock = threading.Lock()

    # --- public queries ------------------------------------------------------------------
    def expiries(self, symbol: str, day: date) -> tuple[date, ...]:
        """Expiries listed on ``day``, nearest first (empty for an unknown symbol)."""
        u = by_symbol(symbol)
        return () if u is None else self._day(u, day).expiries

    def strikes(self, symbol: str, day: date) -> tuple[float, ...]:
        """Every strike listed on ``day`` over all expiries, ascending."""
        u = by_symbol(symbol)
        if u is None:
            return ()
        d = self._day(u, day)
        if d.strikes is None:
            # Grids only: listing every strike must not price every contract of the symbol.
            d.strikes = tuple(sorted({k for e in d.expiries for k in self._strikes(d, e)}))
        return d.strikes

    def warm(self, symbol: str, day: date) -> None:
        """Build ``day``'s contracts of every expiry now, so the first chains render fast."""
        u = by_symbol(symbol)
        if u is not None:
            d = self._day(u, day)
            for expiry in d.expiries:
                self._expiry(d, expiry)

    def spot(self, symbol: str, snap: Snapshot) -> float:
        """The underlying's value at ``snap`` (0.0 for an unknown symbol)."""
        u = by_symbol(symbol)
        return 0.0 if u is None else self._spot(self._day(u, snap.day), snap)

    def prev_close(self, symbol: str, day: date) -> float:
        u = by_symbol(symbol)
        return 0.0 if u is None else self._day(u, day).prev_close

    def chain(self, symbol: str, expiry: date, snap: Snapshot) -> Chain | None:
        """Every quote of one expiry at ``snap``; None if the symbol or expiry is not listed."""
        u = by_symbol(symbol)
        if u is None:
            return None
        d = self._day(u, snap.day)
        if expiry not in d.expiries:
            return None
        e = self._expiry(d, expiry)
        spot = self._spot(d, snap)
        tau = snap.elapsed / SESSION_SECONDS
        t = max(e.close_ts - snap.at.timestamp(), 60.0) / _YEAR_S
        now = Now(spot, t, _curve(tau), math.sin(math.pi * tau), 9 * tau, snap.key, e.lot)
        rows = []
        for strike, (ce, pe) in zip(e.strikes, e.contracts, strict=True):
            sigma = smile(d.atm, spot, strike, t)
            call, put, vega = bs_pair(spot, strike, t, sigma)
            rows.append(
                Row(
                    strike,
                    leg(ce, now, call, sigma, vega) if ce.exists else None,
                    leg(pe, now, put, sigma, vega) if pe.exists else None,
                )
            )
        ids = tuple(
            (ce.identifier if ce.exists else "", pe.identifier if pe.exists else "")
            for ce, pe in e.contracts
        )
        return Chain(u.symbol, expiry, spot, tuple(rows), ids)

    # --- per-day state -------------------------------------------------------------------
    def _day(self, u: Underlying, day: date) -> _Day:
        found = self._days.get((u.symbol, day))
        if found is None:
            found = self._build_day(u, day)
            with self._lock:
                # Racing threads build identical days; keep the first, stay bounded.
                if len(self._days) > 4096:
                    self._days.clear()
                found = self._days.setdefault((u.symbol, day), found)
        return found

    def _sym(self, u: Underlying) -> int:
        return mix(self.seed, zlib.crc32(u.symbol.encode()))

    def _level(self, u: Underlying, day: date) -> float:
        # Each day's closing level is an independent draw around the typical price; one
        # day's close is the next day's previous close, so the path stays continuous.
        sd = u.vol / 16.0
        return u.price * math.exp(sd * gauss(mix(self._sym(u), day.toordinal())))

    def _build_day(self, u: Underlying, day: date) -> _Day:
        prev = previous_trading_day(day)
        start, end = self._level(u, prev), self._level(u, day)
        rng = random.Random(mix(self._sym(u), day.toordinal() * 7 + 1))
        step = u.vol / math.sqrt(252.0 * _MINUTES)
        walk = [0.0]
        for _ in range(_MINUTES):
            walk.append(walk[-1] + rng.gauss(0.0, step))
        # Brownian bridge in log space from the previous close to today's close.
        drift = math.log(end / start) - walk[-1]
        path = tuple(start * math.exp(w + drift * i / _MINUTES) for i, w in enumerate(walk))
        atm = u.vol * (0.9 + 0.2 * unit(mix(self._sym(u), day.toordinal() * 7 + 2)))
        if u.symbol == "NIFTY":
            expiries = nifty_expiries(day)
        else:
            expiries = index_expiries(day) if u.is_index else stock_expiries(day)
        open_ts = session_bounds(day)[0].timestamp()
        return _Day(u, day, open_ts, start, path, atm, expiries, {})

    def _spot(self, d: _Day, snap: Snapshot) -> float:
        # Linear between minute marks, plus a little per-second noise that vanishes on them.
        m, s = divmod(snap.elapsed, 60)
        lo = d.path[m]
        hi = d.path[min(m + 1, _MINUTES)]
        noise = 0.0
        if s:
            h = mix(self._sym(d.underlying), snap.key)
            noise = gauss(h) * lo * d.underlying.vol / math.sqrt(252.0 * _MINUTES * 60) * 3
        value = lo + (hi - lo) * s / 60.0 + noise
        return round(value, 2) if d.underlying.is_index else tick(value)

    # --- per-expiry contracts ------------------------------------------------------------
    def _expiry(self, d: _Day, expiry: date) -> _Expiry:
        found = d.by_expiry.get(expiry)
        if found is None:
            found = d.by_expiry.setdefault(expiry, self._build_expiry(d, expiry))
        return found

    def _lot(self, u: Underlying, rank: int) -> int:
        # Stock lots are revised twice a year; a few names already list the far month with
        # the revised lot, so two expiries of one symbol can differ.
        if u.is_index or rank < 2 or unit(mix(self._sym(u), 99)) > 0.06:
            return u.lot
        unit_size = 25 if u.lot >= 250 else 5 if u.lot >= 25 else 1
        return max(unit_size, round(u.lot * 1.25 / unit_size) * unit_size)

    def _grid(self, u: Underlying, rank: int, center: float, days: float) -> tuple[float, ...]:
        if u.is_index:
            inner, outer = (0.11 + 0.002 * days, 0.11 + 0.002 * days)
            mult = 1 if days <= 100 else 2 if days <= 400 else 10
            half = full = u.step * mult
            if days > 45:
                inner, outer = min(0.2 + days / 2000, 0.6), min(0.2 + days / 2000, 0.6)
        else:
            inner, outer = ((0.12, 0.19), (0.2, 0.3), (0.28, 0.48))[min(rank, 2)]
            full = u.step
            half = full / 2 if full / 2 in (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0) else full
        base = round(center / full) * full
        out = {base}
        k = base
        while k - half >= center * (1 - outer):
            k -= half if k - half >= center * (1 - inner) else full
            if k > 0:
                out.add(round(k, 2))
        k = base
        while k + half <= center * (1 + outer):
            k += half if k + half <= center * (1 + inner) else full
            out.add(round(k, 2))
        return tuple(sorted(out))

    def _strikes(self, d: _Day, expiry: date) -> tuple[float, ...]:
        # Centred on the previous close, so the grid is fixed for the whole day like NSE's.
        days = (session_bounds(expiry)[1].timestamp() - d.open_ts) / 86400.0
        return self._grid(d.underlying, d.expiries.index(expiry), d.prev_close, days)

    def _build_expiry(self, d: _Day, expiry: date) -> _Expiry:
        u = d.underlying
        rank = d.expiries.index(expiry)
        close_ts = session_bounds(expiry)[1].timestamp()
        days = (close_ts - d.open_ts) / 86400.0
        strikes = self._strikes(d, expiry)
        tomorrow = next_trading_day(d.day).toordinal()
        prev_close_ts = session_bounds(previous_trading_day(d.day))[1].timestamp()
        t_prev = max(close_ts - prev_close_ts, 60.0) / _YEAR_S
        weight = (1.0, 0.55, 0.35, 0.25, 0.15)[rank] if rank < 5 else 0.1 * 0.7 ** (rank - 5)
        turnover = 8.0 if days < 1 else 4.0 if rank == 0 else 1.5 if rank == 1 else 0.3
        scale = u.liquidity * weight
        prefix = ("OPTIDX" if u.is_index else "OPTSTK") + u.symbol + expiry.strftime("%d-%m-%Y")
        ekey = mix(self._sym(u), expiry.toordinal())
        contracts = []
        for strike in strikes:
            pair = []
            for is_call in (True, False):
                pair.append(
                    self._contract(
                        d, ekey, prefix, strike, is_call, t_prev, (scale, turnover), rank, tomorrow
                    )
                )
            contracts.append((pair[0], pair[1]))
        return _Expiry(expiry, close_ts, self._lot(u, rank), strikes, tuple(contracts))

    def _contract(
        self,
        d: _Day,
        ekey: int,
        prefix: str,
        strike: float,
        is_call: bool,
        t_prev: float,
        size: tuple[float, float],
        rank: int,
        tomorrow: int,
    ) -> Contract:
        u = d.underlying
        scale, turnover = size
        key = mix(ekey, round(strike * 100) * 2 + is_call)
        spot0 = d.prev_close
        moneyness = math.log(strike / spot0)
        dist = abs(moneyness) / (d.atm * math.sqrt(max(t_prev, 2 / 365)))
        otm = (moneyness >= 0) == is_call
        roundness = 1.8 if round(strike / u.step) % 10 == 0 else 1.0
        base = scale * math.exp(-0.5 * (dist / 1.4) ** 2) * (1.0 if otm else 0.3) * roundness
        base *= 0.5 + unit(mix(key, 1))
        if unit(mix(key, 2)) < min(0.9, dist / 8):
            base *= 0.01  # far strikes: a handful of contracts, often none
        today = unit(mix(key, d.day.toordinal()))
        oi_prev = int(base * (0.7 + 0.6 * today))
        oi_close = int(base * (0.7 + 0.6 * unit(mix(key, tomorrow))))
        # Stocks list some deep in-the-money contracts on one side only.
        exists = u.is_index or otm or abs(moneyness) < 0.15 or unit(mix(key, 3)) < 0.5
        sigma0 = smile(d.atm, spot0, strike, t_prev)
        prev_price = tick(max(bs_price(spot0, strike, t_prev, sigma0, is_call), TICK))
        return Contract(
            key=key,
            strike=strike,
            is_call=is_call,
            exists=exists,
            identifier=f"{prefix}{'CE' if is_call else 'PE'}{strike:.2f}",
            oi_prev=oi_prev,
            oi_move=oi_close - oi_prev,
            oi_wiggle=base * 0.03,
            volume_day=base * turnover * (0.5 + unit(mix(key, 4))),
            volume_shape=0.8 + 0.45 * unit(mix(key, 5)),
            spread=0.002 + 0.06 / (1.0 + base / 50.0) + 0.01 * rank,
            prev_price=prev_price if oi_prev else 0.0,
        )
