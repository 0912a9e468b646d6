"""The trader's desk over HTTP: window ΔOI, one strike's day, term structure, surface, IV
rank, straddle with VWAP, GEX and the steady all-expiry PCR.

Where it sits: ``web/app.py`` calls ``register(app, backend)``; each route validates the
symbol with the backend, then reads through the cached ``Reader`` and the Desk methods of
``analytics/trader.py``. Answers are plain JSON (Arrow rows cleaned by ``service.clean``).
"""

# No ``from __future__ import annotations``: FastAPI reads the route parameter types at run time.
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query

from nsechain.analytics.positioning import GEX_SIGN
from nsechain.query import Desk
from nsechain.web import service
from nsechain.web.backend import AtParam, Backend, DayParam, ExpiryParam, SymbolParam

__all__ = ["GEX_CONVENTION", "register"]

GEX_CONVENTION = (
    "Dealers are assumed long the calls and short the puts the public holds: call gamma "
    "counts positive, put gamma negative (sign "
    + ", ".join(f"{k} {v:+g}" for k, v in GEX_SIGN.items())
    + "). GEX = sign x gamma x OI x lot x spot^2 x 1 %: rupees of delta dealers must trade "
    "per 1 % move. Positive total: dealers damp moves; negative: they chase them."
)


def register(app: FastAPI, backend: Backend) -> None:
    """Add the desk routes under ``/api/chain/{symbol}/...`` and ``/api/pcr/{symbol}``."""
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
            lambda d, s: service.rows_of(d.oi_window(s, expiry, at, since)),
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
                "points": service.rows_of(d.strike_day(s, exp, strike, day)),
            }

        return cached(("strike", symbol, expiry, strike, day), compute)

    @api.get("/chain/{symbol}/term")
    def term(symbol: SymbolParam, at: AtParam = None) -> Any:
        """Term structure (ATM IV, straddle per expiry) and IV rank/percentile of ATM IV."""

        def compute(d: Desk, s: str) -> Any:
            rank = d.iv_rank(s, end=at)
            rank.pop("series")
            return {"expiries": service.rows_of(d.term_structure(s, at)), "iv_rank": rank}

        return cached(("term", symbol, None, at), compute)

    @api.get("/chain/{symbol}/surface")
    def surface(symbol: SymbolParam, at: AtParam = None) -> Any:
        """IV by (expiry, log-moneyness ln(K/F)): the model's out-of-the-money IV."""
        return cached(("surface", symbol, None, at), lambda d, s: service.rows_of(d.surface(s, at)))

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
            lambda d, s: service.rows_of(d.straddle(s, expiry, day, strike, width)),
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
                "rows": service.rows_of(g["by_strike"]),
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
            lambda d, s: service.rows_of(d.pcr_steady(s, day, day, basis)),
        )

    app.include_router(api)
