"""NSE's JSON shapes, byte for byte: option-chain-v3, NextApi, contract-info and the
reference endpoints (underlying-information, holiday-master, marketStatus).

Where it sits: between ``market.py`` (numbers) and ``routes.py`` (which shape a request gets).

Fidelity rules taken from real captures (``shared/fixtures/nse``): compact separators; keys in
NSE's order (a leg's keys are sorted the way NSE sorts them, ``PChange`` first); numbers as a
JavaScript server prints them, so a whole-valued float is written without ``.0``; strikes as
strings in ``strikePrices``; ``DD-Mon-YYYY`` for expiry lists and row ``expiryDates`` in v3,
``DD-MM-YYYY`` in legs (and in NextApi rows); a contract that does not exist is a zeroed leg
with ``identifier: null``; ``filtered`` repeats the rows with totals that add up.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from nsechain.sim.calendar import fo_holidays
from nsechain.sim.clock import Snapshot
from nsechain.sim.market import Chain, Leg
from nsechain.sim.universe import INDICES, STOCKS

__all__ = [
    "contract_info",
    "holiday_master",
    "market_status",
    "mon",
    "nextapi_chain",
    "nse_timestamp",
    "underlying_information",
    "v3_chain",
]

_HOLIDAY_SEGMENTS = ("CBM", "CD", "CM", "CMOT", "COM", "EGR", "FO", "IRD", "MF", "NDM", "NTRP")

# What NSE sends for a strike that is not listed on one side.
_ZERO_LEG: dict[str, Any] = {
    "PChange": 0, "buyPrice1": 0, "buyQuantity1": 0, "change": 0, "changeinOpenInterest": 0,
    "expiryDate": None, "identifier": None, "impliedVolatility": 0, "lastPrice": 0,
    "openInterest": 0, "optionType": None, "pChange": 0, "pchangeinOpenInterest": 0,
    "sellPrice1": 0, "sellQuantity1": 0, "strikePrice": 0, "totalBuyQuantity": 0,
    "totalSellQuantity": 0, "totalTradedVolume": 0, "underlying": None, "underlyingValue": 0,
}  # fmt: skip
_ZERO_LEG_NEXT = {k: v for k, v in _ZERO_LEG.items() if k != "PChange"}


def _num(x: float) -> float | int:
    # A JavaScript server prints 2843.0 as 2843: mirror it so value types match NSE's.
    i = int(x)
    return i if i == x else x


def mon(d: date) -> str:
    """``11-Aug-2026``: NSE's expiry format in lists and v3 rows."""
    return d.strftime("%d-%b-%Y")


def _dmy(d: date) -> str:
    return d.strftime("%d-%m-%Y")


def nse_timestamp(at: datetime) -> str:
    """``11-Aug-2026 11:29:03``: IST, no zone, as NSE writes it."""
    return at.strftime("%d-%b-%Y %H:%M:%S")


def _strike_text(k: float) -> str:
    return str(_num(k))


_LEG_KEYS = tuple(_ZERO_LEG)
_LEG_KEYS_NEXT = tuple(_ZERO_LEG_NEXT)


def _leg(
    leg: Leg, ident: str, expiry: str, strike: float | int, sym: str, spot: float | int, pc: bool
) -> dict[str, Any]:
    oi, d_oi, pd_oi, vol, iv, last, chg, pchg, tbq, tsq, bid, bq, ask, aq = leg
    pchg_n = _num(pchg)
    values = (
        _num(bid), bq, _num(chg), d_oi, expiry, ident, _num(iv), _num(last), oi, None, pchg_n,
        _num(pd_oi), _num(ask), aq, strike, tbq, tsq, vol, sym, spot,
    )  # fmt: skip
    if pc:
        return dict(zip(_LEG_KEYS, (pchg_n, *values), strict=True))
    return dict(zip(_LEG_KEYS_NEXT, values, strict=True))


def _rows(chain: Chain, row_expiry: str, next_api: bool) -> tuple[list[dict[str, Any]], list[int]]:
    leg_expiry = _dmy(chain.expiry)
    spot = _num(chain.spot)
    zero = _ZERO_LEG_NEXT if next_api else _ZERO_LEG
    totals = [0, 0, 0, 0]  # CE OI, CE volume, PE OI, PE volume
    rows = []
    for row, (ce_id, pe_id) in zip(chain.rows, chain.identifiers, strict=True):
        strike = _num(row.strike)
        legs = []
        for i, (leg, ident) in enumerate(((row.ce, ce_id), (row.pe, pe_id))):
            if leg is None:
                legs.append(zero)
                continue
            legs.append(_leg(leg, ident, leg_expiry, strike, chain.symbol, spot, not next_api))
            totals[2 * i] += leg[0]
            totals[2 * i + 1] += leg[3]
        rows.append(
            {"expiryDates": row_expiry, "CE": legs[0], "PE": legs[1], "strikePrice": strike}
        )
    return rows, totals


def v3_chain(
    chain: Chain | None,
    snap: Snapshot,
    spot: float,
    expiries: tuple[date, ...],
    strikes: tuple[float, ...],
) -> bytes:
    """``/api/option-chain-v3``. ``chain`` None (an expiry NSE does not list): empty data."""
    rows, totals = ([], [0, 0, 0, 0]) if chain is None else _rows(chain, mon(chain.expiry), False)
    body = {
        "records": {
            "data": rows,
            "timestamp": nse_timestamp(snap.at),
            "underlyingValue": _num(spot),
            "expiryDates": [mon(e) for e in expiries],
            "strikePrices": [_strike_text(k) for k in strikes],
        },
        "filtered": {
            "data": rows,
            "CE": {"totOI": totals[0], "totVol": totals[1]},
            "PE": {"totOI": totals[2], "totVol": totals[3]},
        },
    }
    return orjson.dumps(body)


def nextapi_chain(chain: Chain | None, snap: Snapshot, spot: float) -> bytes:
    """``GetQuoteApi?functionName=getOptionChainData``: ``{data, timestamp, underlyingValue}``."""
    rows = [] if chain is None else _rows(chain, _dmy(chain.expiry), True)[0]
    body = {"data": rows, "timestamp": nse_timestamp(snap.at), "underlyingValue": _num(spot)}
    return orjson.dumps(body)


def contract_info(expiries: tuple[date, ...], strikes: tuple[float, ...]) -> bytes:
    """``/api/option-chain-contract-info`` and ``getOptionChainDropdown``."""
    body = {
        "expiryDates": [mon(e) for e in expiries],
        "strikePrice": [_strike_text(k) for k in strikes],
    }
    return orjson.dumps(body)


def underlying_information() -> bytes:
    """``/api/underlying-information``: indices, then stocks ordered by display name."""

    def items(rows: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [
            {"symbol": s, "underlying": n, "serialNumber": i + 1} for i, (s, n) in enumerate(rows)
        ]

    stocks = sorted(((u.symbol, u.name) for u in STOCKS), key=lambda r: r[1])
    body = {
        "data": {
            "IndexList": items([(u.symbol, u.name) for u in INDICES]),
            "UnderlyingList": items(stocks),
        }
    }
    return orjson.dumps(body)


def holiday_master(year: int) -> bytes:
    """``/api/holiday-master?type=trading`` for ``year``: the FO list under every segment."""
    entries = [
        {
            "tradingDate": mon(d),
            "weekDay": d.strftime("%A"),
            "description": name,
            "morning_session": None,
            "evening_session": None,
            "Sr_no": i + 1,
        }
        for i, (d, name) in enumerate(fo_holidays(year))
    ]
    return orjson.dumps(dict.fromkeys((*_HOLIDAY_SEGMENTS, "SLBS"), entries))


def market_status(snap: Snapshot, now: datetime, nifty: float, nifty_prev: float) -> bytes:
    """``/api/marketStatus``: ``marketState[]`` with Capital Market Open/Closed by the clock."""
    variation = round(nifty - nifty_prev, 2)
    pct = round(variation / nifty_prev * 100, 2) if nifty_prev else 0
    trade_date = snap.at.strftime("%d-%b-%Y %H:%M")
    state = "Open" if snap.is_open else "Closed"
    message = "Normal Market is Open" if snap.is_open else "Normal Market has Closed"
    others = [
        {
            "market": m,
            "marketStatus": state,
            "tradeDate": trade_date,
            "index": "",
            "last": "",
            "variation": "",
            "percentChange": "",
            "marketStatusMessage": "Market is Open" if snap.is_open else "Market is Closed",
        }
        for m in ("Currency", "Commodity", "Debt")
    ]
    body = {
        "marketState": [
            {
                "market": "Capital Market",
                "marketStatus": state,
                "tradeDate": trade_date,
                "index": "NIFTY 50",
                "last": _num(nifty),
                "variation": _num(variation),
                "percentChange": _num(pct),
                "marketStatusMessage": message,
            },
            *others,
        ],
        "marketcap": {
            "timeStamp": snap.at.strftime("%d-%b-%Y"),
            "marketCapinTRDollars": 5.41,
            "marketCapinLACCRRupees": 468.52,
            "marketCapinCRRupees": 46852000.45,
            "marketCapinCRRupeesFormatted": "4,68,52,000.45",
            "marketCapinLACCRRupeesFormatted": "468.52",
            "underlying": "Market Cap",
        },
        "indicativenifty50": {
            "dateTime": now.strftime("%d-%b-%Y %H:%M"),
            "indicativeTime": None,
            "indexName": "NIFTY 50",
            "indexLast": None,
            "indexPercChange": None,
            "indexTimeVal": None,
            "closingValue": _num(nifty),
            "finalClosingValue": _num(nifty),
            "change": _num(variation),
            "perChange": _num(pct),
            "status": "OPEN" if snap.is_open else "CLOSE",
        },
    }
    return orjson.dumps(body)
