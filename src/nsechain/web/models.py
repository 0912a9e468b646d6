"""Response models of the dashboard's JSON API: they are what ``/openapi.json`` documents.

Where it sits: ``web/app.py`` declares them as ``response_model`` of its routes; the values
come from ``web/service.py`` as plain dicts. Times are ISO 8601 in IST (``+05:30``); OI and
volume are in contracts, IVs in percent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "ChainResponse",
    "ChainRow",
    "HealthResponse",
    "SeriesResponse",
    "SmileResponse",
    "SymbolInfo",
    "TimesResponse",
]

Num = int | float | None


class ExpiryInfo(BaseModel):
    expiry: date
    snapshots: int = Field(description="Snapshots recorded of this expiry.")
    first_ts: datetime = Field(description="NSE time of the first snapshot.")
    last_ts: datetime = Field(description="NSE time of the latest snapshot.")


class SymbolInfo(BaseModel):
    symbol: str
    snapshots: int
    last_ts: datetime = Field(description="NSE time of the symbol's latest snapshot.")
    expiries: list[ExpiryInfo]


class DayInfo(BaseModel):
    day: date
    snapshots: int


class TimesResponse(BaseModel):
    """What the chain page's time picker offers."""

    symbol: str
    expiry: date
    day: date = Field(description="The IST day whose snapshot times are listed.")
    days: list[DayInfo] = Field(description="Every IST day with snapshots of this expiry.")
    times: list[datetime] = Field(description="NSE times of the day's snapshots, ascending.")


class ChainRow(BaseModel):
    """One strike of the wide chain: the CE leg | strike | the PE leg, as on NSE's page."""

    ce_open_interest: Num = None
    ce_change_in_oi: Num = None
    ce_volume: Num = None
    ce_iv: Num = None
    ce_last_price: Num = None
    ce_change: Num = None
    ce_bid_qty: Num = None
    ce_bid_price: Num = None
    ce_ask_price: Num = None
    ce_ask_qty: Num = None
    strike: float
    pe_ask_qty: Num = None
    pe_ask_price: Num = None
    pe_bid_price: Num = None
    pe_bid_qty: Num = None
    pe_change: Num = None
    pe_last_price: Num = None
    pe_iv: Num = None
    pe_volume: Num = None
    pe_change_in_oi: Num = None
    pe_open_interest: Num = None
    # With greeks=true: the model's IV (percent) and Black-76 greeks (theta per day, vega
    # per vol point); with since=...: the OI change over that window.
    ce_model_iv: Num = None
    ce_delta: Num = None
    ce_gamma: Num = None
    ce_theta: Num = None
    ce_vega: Num = None
    pe_model_iv: Num = None
    pe_delta: Num = None
    pe_gamma: Num = None
    pe_theta: Num = None
    pe_vega: Num = None
    ce_oi_window: Num = None
    pe_oi_window: Num = None


class ChainResponse(BaseModel):
    """One snapshot of one expiry: levels and the strikes around ATM."""

    symbol: str
    expiry: date
    exchange_ts: datetime = Field(description="NSE's timestamp of the snapshot shown.")
    spot: Num = None
    atm_strike: Num = Field(None, description="Strike nearest the spot quoting both legs.")
    atm_iv: Num = Field(None, description="Mean of NSE's CE and PE IV at the ATM strike.")
    straddle: Num = Field(None, description="CE + PE last price at the ATM strike.")
    max_pain: Num = None
    pcr_oi: Num = Field(None, description="PE OI / CE OI of the whole chain.")
    pcr_volume: Num = None
    ce_oi: Num = None
    pe_oi: Num = None
    resistance: Num = Field(None, description="Strike with the highest CE OI.")
    support: Num = Field(None, description="Strike with the highest PE OI.")
    strikes_total: int = Field(description="Strikes in the whole chain.")
    window_from: datetime | None = Field(
        None, description="With since=...: the snapshot the OI window starts at."
    )
    rows: list[ChainRow] = Field(description="The strikes around ATM, ascending.")


class SeriesPoint(BaseModel):
    exchange_ts: datetime
    spot: Num = None
    pcr_oi: Num = None
    pcr_volume: Num = None
    ce_oi: Num = None
    pe_oi: Num = None
    max_pain: Num = None
    atm_strike: Num = None
    atm_iv: Num = None
    straddle: Num = None


class SeriesResponse(BaseModel):
    """Every snapshot of one expiry on one IST day."""

    symbol: str
    expiry: date
    day: date
    points: list[SeriesPoint]


class SmileRow(BaseModel):
    strike: float
    log_moneyness: Num = Field(None, description="ln(strike / forward).")
    smile_iv: Num = Field(None, description="Model IV of the out-of-the-money side.")
    ce_nse_iv: Num = None
    pe_nse_iv: Num = None
    ce_model_iv: Num = None
    pe_model_iv: Num = None


class SmileResponse(BaseModel):
    symbol: str
    expiry: date
    exchange_ts: datetime
    forward: Num = Field(None, description="Put-call-parity implied forward.")
    rows: list[SmileRow]


class HealthResponse(BaseModel):
    """Collection health, from the collector's status and the database's fetch log."""

    generated_at: datetime
    verdict: dict[str, Any] = Field(
        description="recording / degraded / not recording, with reason, since and exit_code: "
        "the same verdict as `nsechain status`."
    )
    mode: str = Field(description="'in-process' (collect --dashboard) or 'read-only' (serve).")
    db_path: str
    data_dir: str
    status: dict[str, Any] | None = Field(
        None, description="The collector's status (status.json keys), None if none was found."
    )
    status_age_s: float | None = Field(None, description="Age of the status; old = no collector.")
    collector_running: bool | None = None
    market: dict[str, Any] | None = Field(None, description="phase, reason, next_open/close.")
    rate: dict[str, Any] = Field(
        description="budget (configured), effective (current, after block back-offs), "
        "achieved (requests/s in the fetch log's last five minutes)."
    )
    pending_files: int
    quarantine: dict[str, Any]
    fetches: dict[str, Any] | None = Field(
        None, description="Requests per minute by outcome over the last hour, and by symbol."
    )
    freshness: list[dict[str, Any]] = Field(
        description="Per symbol: last good snapshot, its age, last outcome; worst first."
    )
    errors: list[dict[str, Any]] = Field(description="What went wrong, newest first.")
    notes: list[str] = Field(description="Why a part could not be shown.")
