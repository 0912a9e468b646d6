"""The trader's desk over HTTP: window ΔOI, one strike's day, term structure, surface, IV
rank, straddle with VWAP, GEX and the steady all-expiry PCR.

Where it sits: ``web/app.py`` calls ``register(app, backend)``; each route validates the
symbol with the backend, then reads through the cached ``Reader`` and the Desk methods of
``analytics/trader.py``. Answers are plain JSON (Arrow rows cleaned by ``service.clean``).
"""

# No ``from __future__ import annotations``: FastAPI must see the route parameter types,
# which are imported inside ``register`` (``web/app.py`` imports this module).
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, FastAPI, Query

from nsechain.analytics.positioning import GEX_SIGN
from nsechain.query import Desk
from nsechain.web import service

if TYPE_CHECKING:
    from nsechain.web.app import Backend

__all__ = ["GEX_CONVENTION", "merge_window", "register", "window_arg"]

GEX_CONVENTION = (
    "Dealers are assumed long the calls and short the puts the public holds: call gamma "
    "counts positive, put gamma negative (sign "
    + ", ".join(f"{k} {v:+g}" for k, v in GEX_SIGN.items())
    + "). GEX = sign x gamma x OI x lot x spot^2 x 1 %: rupees of delta dealers must trade "
    "per 1 % move. Positive total: dealers damp moves; negative: they chase them."
)
SinceParam = Annotated[
    str | None,
    Query(
        description="OI change window: 'open', minutes back (5, 15, 30, 60) or an ISO time; "
        "default: NSE's change since the previous close."
    ),
]


def window_arg(since: str) -> Any:
    """A ``since`` query value as ``Desk.oi_window`` takes it."""
    return int(since) if since.isdigit() else since


def merge_window(desk: Desk, snap: Any, rows: list[dict[str, Any]], since: str) -> Any:
    """Add ``ce_oi_window``/``pe_oi_window`` (change over the window) to chain rows; returns
    the window's start snapshot time."""
    win = desk.oi_window(snap.symbol, snap.expiry, snap.exchange_ts, window_arg(since))
    by = {r["strike"]: r for r in win.to_pylist()}
    for r in rows:
        got = by.get(r["strike"], {})
        r["ce_oi_window"], r["pe_oi_window"] = got.get("ce_oi_change"), got.get("pe_oi_change")
    return win.column("from_ts")[0].as_py() if win.num_rows else None


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = service.clean(table.to_pylist())
    return cleaned


def register(app: FastAPI, backend: "Backend") -> None:
    """Add the desk routes under ``/api/chain/{symbol}/...`` and ``/api/pcr/{symbol}``."""
    from nsechain.web.app import AtParam, DayParam, ExpiryParam, SymbolParam

    api = APIRouter(prefix="/api", tags=["desk"])
    reader = backend.reader

    def cached(key: tuple[Any, ...], compute: Any) -> Any:
        sym = backend.checked(key[1], key[2] if isinstance(key[2], date) else None)

        def run(desk: Desk) -> Any:
            try:
                return service.clean(compute(desk, sym))
            except LookupError as exc:
                raise service.NotFound(str(exc)) from None

        return reader.cached(key, run)

    @api.get("/chain/{symbol}/window")
    def window(
        symbol: SymbolParam, expiry: ExpiryParam = None, at: AtParam = None, since: str = "open"
    ) -> Any:
        """Per strike: OI and LTP now and their change since ``since`` (open, minutes, time)."""
        return cached(
            ("window", symbol, expiry, at, since),
            lambda d, s: _rows(d.oi_window(s, expiry, at, window_arg(since))),
        )

    @api.get("/chain/{symbol}/strike")
    def strike(
        symbol: SymbolParam, strike: float, expiry: ExpiryParam = None, day: DayParam = None
    ) -> Any:
        """One strike through one day: OI, LTP, IV, volume of both legs per snapshot."""

        def compute(d: Desk, s: str) -> Any:
            exp = expiry or d.snapshot(s).expiry
            return {
                "strike": strike,
                "expiry": exp,
                "points": _rows(d.strike_day(s, exp, strike, day)),
            }

        return cached(("strike", symbol, expiry, strike, day), compute)

    @api.get("/chain/{symbol}/term")
    def term(symbol: SymbolParam, at: AtParam = None) -> Any:
        """Term structure (ATM IV, straddle per expiry) and IV rank/percentile of ATM IV."""

        def compute(d: Desk, s: str) -> Any:
            rank = d.iv_rank(s, end=at)
            rank.pop("series")
            return {"expiries": _rows(d.term_structure(s, at)), "iv_rank": rank}

        return cached(("term", symbol, None, at), compute)

    @api.get("/chain/{symbol}/surface")
    def surface(symbol: SymbolParam, at: AtParam = None) -> Any:
        """IV by (expiry, log-moneyness ln(K/F)): the model's out-of-the-money IV."""
        return cached(("surface", symbol, None, at), lambda d, s: _rows(d.surface(s, at)))

    @api.get("/chain/{symbol}/straddle")
    def straddle(
        symbol: SymbolParam,
        expiry: ExpiryParam = None,
        day: DayParam = None,
        strike: float | None = None,
        width: Annotated[int, Query(ge=0, le=20)] = 0,
    ) -> Any:
        """Straddle (width 0) or strangle premium per snapshot of a day, with its VWAP."""
        return cached(
            ("straddle", symbol, expiry, day, strike, width),
            lambda d, s: _rows(d.straddle(s, expiry, day, strike, width)),
        )

    @api.get("/chain/{symbol}/gex")
    def gex(symbol: SymbolParam, expiry: ExpiryParam = None, at: AtParam = None) -> Any:
        """Gamma exposure by strike and in total; ``convention`` states the sign."""

        def compute(d: Desk, s: str) -> Any:
            g = d.gex(s, expiry, at)
            snap = g["snapshot"]
            return {
                "expiry": snap.expiry,
                "exchange_ts": snap.exchange_ts,
                "lot": g["lot"],
                "spot": g["spot"],
                "total": g["total"],
                "convention": GEX_CONVENTION,
                "rows": _rows(g["by_strike"]),
            }

        return cached(("gex", symbol, expiry, at), compute)

    @api.get("/pcr/{symbol}")
    def pcr(
        symbol: SymbolParam,
        day: DayParam = None,
        basis: Annotated[str, Query(pattern="^(constant|ffill)$")] = "constant",
    ) -> Any:
        """All-expiry PCR per minute that coverage cannot move: ``constant`` (a fixed set
        of expiries per day) or ``ffill`` (each expiry carried forward); rows say which."""
        return cached(
            ("pcr", symbol, None, day, basis),
            lambda d, s: _rows(d.pcr_steady(s, day, day, basis)),
        )

    app.include_router(api)
