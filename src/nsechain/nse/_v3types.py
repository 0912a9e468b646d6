"""The parser's fast path for v3 bodies: typed decoding with msgspec straight into structs.

Where it sits: inside ``nse/``, tried first by ``parse.parse_chain``. msgspec checks every
type while it decodes (about twice as fast as ``orjson.loads`` here, because the fields we do
not store are skipped, not built), so the columns need no per-value checks afterwards. The
structs are strict on purpose: anything they refuse, or anything this module cannot turn into
columns, returns ``None`` and the parser takes its generic orjson path, which accepts the same
bodies as before and says exactly what is wrong with the others. Rules that keep the two paths
giving the same answer:

- a leg must carry every stored key (even a placeholder leg), numbers must be JSON numbers
  (never ``true``), int64 columns take only JSON integers (``3600.0`` goes the generic way,
  which keeps it as 3600), and out-of-int64 integers make ``pa.array`` raise;
- bytes that are not valid UTF-8 go the generic way: msgspec does not check the encoding of
  strings it skips, orjson does.

One difference remains: a number literal beyond the double range (``1e400``) inside a field
nsechain does not read is skipped here, while orjson would refuse the whole body.
"""

from __future__ import annotations

from datetime import date
from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa

from nsechain.nse._fields import LEG_COLUMNS, LEG_TYPES
from nsechain.nse.dates import parse_nse_date

__all__ = ["Leg", "Records", "Row", "columns", "decode"]

_Num = int | float | None  # a float64 column; msgspec refuses true/false for it
_Int = int | None  # an int64 column


class Leg(msgspec.Struct, gc=False, rename={c: k for c, k, _ in LEG_COLUMNS}):
    """One contract (a CE or PE leg); field names are the QUOTES_SCHEMA columns."""

    identifier: str | None  # null marks a placeholder for a contract that does not exist
    open_interest: _Num
    change_in_oi: _Num
    pct_change_in_oi: _Num
    volume: _Int
    iv: _Num
    last_price: _Num
    change: _Num
    pct_change: _Num
    total_buy_qty: _Int
    total_sell_qty: _Int
    bid_price: _Num
    bid_qty: _Int
    ask_price: _Num
    ask_qty: _Int
    underlying_value: _Num


class Row(msgspec.Struct, gc=False, rename={"expiry": "expiryDates", "strike": "strikePrice"}):
    """One strike of ``records.data``; a leg may be missing or null."""

    expiry: str
    strike: int | float
    CE: Leg | None = None
    PE: Leg | None = None


class Records(
    msgspec.Struct,
    gc=False,
    rename={"underlying_value": "underlyingValue", "expiry_dates": "expiryDates"},
):
    data: list[Row]
    timestamp: str
    underlying_value: int | float | None = None
    expiry_dates: list[str] | None = None


class _Body(msgspec.Struct, gc=False):
    records: Records


# A Leg field that let a float into an int64 column would be truncated by pa.array: refuse to
# import rather than store wrong numbers if the struct and the schema ever disagree.
_WANT = {
    c: _Int if t == pa.int64() else _Num
    for (c, _, _), t in zip(LEG_COLUMNS, LEG_TYPES, strict=True)
}
if {f.name: f.type for f in msgspec.structs.fields(Leg)[1:]} != _WANT:
    raise TypeError("_v3types.Leg does not match QUOTES_SCHEMA's leg columns")

_DECODER = msgspec.json.Decoder(_Body)
_LEG_VALUES = attrgetter(*_WANT)
_LEG_STRUCT = pa.struct([pa.field(c, t) for c, t in zip(_WANT, LEG_TYPES, strict=True)])


def decode(body: object) -> Records | None:
    """``records`` of a well-formed v3 body, or None when the generic path must decide."""
    if type(body) is not bytes or not (body.isascii() or _is_utf8(body)):
        return None
    try:
        return _DECODER.decode(body).records
    except Exception:  # DecodeError, ValidationError, RecursionError, UnicodeDecodeError
        return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def columns(rows: list[Row], underlying: float | None) -> tuple[list[Any], set[date]]:
    """The columns expiry .. identifier, as the generic path builds them, and the expiries.

    Raises (anything) when the rows hold something the generic path must judge.
    """
    # A contract that does not exist comes as a zeroed leg with identifier null: drop it.
    picked = [
        (row, side, leg)
        for row in rows
        for side, leg in (("CE", row.CE), ("PE", row.PE))
        if leg is not None and leg.identifier is not None
    ]
    row_of, sides, legs = zip(*picked, strict=True)  # ValueError when nothing is picked
    date_of = {text: parse_nse_date(text) for text in {row.expiry for row in row_of}}
    # One C call converts every leg value; the types were checked by the decoder.
    values = pa.array(list(map(_LEG_VALUES, legs)), type=_LEG_STRUCT).flatten()
    if underlying is not None and values[-1].null_count:
        values[-1] = values[-1].fill_null(pa.scalar(underlying, pa.float64()))
    arrays = [
        pa.array([date_of[row.expiry] for row in row_of], type=pa.date32()),
        pa.array([row.strike for row in row_of], type=pa.float64()),
        pa.array(sides, type=pa.string()),
        *values,
        pa.array([leg.identifier for leg in legs], type=pa.string()),
    ]
    return arrays, set(date_of.values())
