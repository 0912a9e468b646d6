"""Where each ``QUOTES_SCHEMA`` leg column comes from, in each option-chain shape.

Where it sits: the one table the parser (``nse/parse.py``), its typed v3 fast path
(``nse/_v3types.py``) and its error diagnostics (``nse/_diagnose.py``) all read, so a key NSE
renames is changed here once. The shapes are described in DESIGN.md §2.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Literal

from nsechain.contract import QUOTES_SCHEMA

__all__ = [
    "LEG_COLUMNS",
    "LEG_GETTERS",
    "LEG_KEYS",
    "LEG_TYPES",
    "ROW_EXPIRY_KEY",
    "SIDES",
    "Shape",
]

Shape = Literal["v3", "legacy", "nextapi"]

# (column, JSON key in a v3/nextapi leg, JSON key in a legacy leg), in QUOTES_SCHEMA order.
LEG_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("open_interest", "openInterest", "openInterest"),
    ("change_in_oi", "changeinOpenInterest", "changeinOpenInterest"),
    ("pct_change_in_oi", "pchangeinOpenInterest", "pchangeinOpenInterest"),
    ("volume", "totalTradedVolume", "totalTradedVolume"),
    ("iv", "impliedVolatility", "impliedVolatility"),
    ("last_price", "lastPrice", "lastPrice"),
    ("change", "change", "change"),
    ("pct_change", "pChange", "pChange"),
    ("total_buy_qty", "totalBuyQuantity", "totalBuyQuantity"),
    ("total_sell_qty", "totalSellQuantity", "totalSellQuantity"),
    ("bid_price", "buyPrice1", "bidprice"),
    ("bid_qty", "buyQuantity1", "bidQty"),
    ("ask_price", "sellPrice1", "askPrice"),
    ("ask_qty", "sellQuantity1", "askQty"),
    ("underlying_value", "underlyingValue", "underlyingValue"),
)
LEG_TYPES = tuple(QUOTES_SCHEMA.field(c).type for c, _, _ in LEG_COLUMNS)
LEG_KEYS: dict[Shape, tuple[str, ...]] = {
    "v3": tuple(k for _, k, _ in LEG_COLUMNS),
    "nextapi": tuple(k for _, k, _ in LEG_COLUMNS),
    "legacy": tuple(k for _, _, k in LEG_COLUMNS),
}
LEG_GETTERS = {shape: itemgetter(*keys) for shape, keys in LEG_KEYS.items()}
# The row key of the expiry: plural in v3 and NextApi, singular in the retired endpoints.
ROW_EXPIRY_KEY: dict[Shape, str] = {
    "v3": "expiryDates",
    "nextapi": "expiryDates",
    "legacy": "expiryDate",
}
SIDES = ("CE", "PE")
