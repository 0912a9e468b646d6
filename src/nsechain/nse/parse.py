"""Parse NSE response bodies into Arrow tables and plain values.

Where it sits: the client hands raw bytes here, the collector gets back a ``ParsedChain`` whose
``table`` is exactly ``QUOTES_SCHEMA`` and writes it to Parquet. Pure functions, no I/O.

Three chain shapes are read (DESIGN.md §2): ``v3`` (``/api/option-chain-v3``, one expiry),
``legacy`` (the retired endpoints, all expiries in one body, used to import old captures) and
``nextapi`` (``getOptionChainData``: no ``records`` wrapper, row dates ``DD-MM-YYYY``).

Two paths give the same table. A v3 body is first decoded by msgspec straight into typed
structs (``_v3types``), which checks every type as it decodes; one struct-array conversion then
builds every leg column. Whatever that path refuses, and every legacy or NextApi body, takes the
generic path: one ``orjson.loads``, a few itemgetter/zip passes that build one Python tuple per
column, a type-set check per column, then ``pa.array`` with explicit types. Only when something
is wrong do we walk the rows one by one (``_diagnose.find_problem``) to say exactly which row
and field broke, so the cost of good error messages is paid only on bad bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any, cast

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from nsechain.contract import QUOTES_SCHEMA
from nsechain.errors import BadPayload, EmptyChain, Implausible
from nsechain.nse import _plausible, _v3types
from nsechain.nse._diagnose import (
    BadBodyError,
    EmptyBodyError,
    find_problem,
    kind,
    not_chain,
    undecodable,
)
from nsechain.nse._fields import LEG_GETTERS, LEG_TYPES, ROW_EXPIRY_KEY, SIDES, Shape
from nsechain.nse.dates import format_expiry, parse_nse_date, parse_nse_timestamp

__all__ = [
    "ParsedChain",
    "Underlying",
    "format_expiry",
    "parse_chain",
    "parse_expiries",
    "parse_nse_date",
    "parse_nse_timestamp",
    "parse_universe",
]

log = logging.getLogger(__name__)

_TS_TYPE = QUOTES_SCHEMA.field("exchange_ts").type
#: Where ``iv`` sits in the parsed columns (they start at ``expiry``, after 3 head columns).
_IV = QUOTES_SCHEMA.get_field_index("iv") - QUOTES_SCHEMA.get_field_index("expiry")
_NUM = frozenset({int, float, type(None)})
_REAL = frozenset({int, float})

_Meta = tuple[datetime, float | None, tuple[date, ...]]  # exchange_ts, underlying, expiries
_Columns = tuple[list[Any], set[date]]  # expiry .. identifier, and the expiries they hold


@dataclass(frozen=True, slots=True)
class ParsedChain:
    """One parsed option-chain response."""

    table: pa.Table  # exactly QUOTES_SCHEMA; CE before PE per strike, in NSE's row order
    exchange_ts: datetime  # NSE's timestamp, aware, Asia/Kolkata
    underlying_value: float | None
    expiry_dates: tuple[date, ...]  # records.expiryDates sorted, () when the body has none
    shape: Shape


@dataclass(frozen=True, slots=True)
class Underlying:
    """One F&O underlying from ``/api/underlying-information``."""

    symbol: str  # as NSE spells it, e.g. "M&M" (URL-encode it yourself)
    name: str  # display name, e.g. "Mahindra & Mahindra Limited"
    is_index: bool


def _dates(texts: Sequence[object], what: str) -> dict[str, date]:
    """Parse each distinct string once (a chain has thousands of rows but a few expiries)."""
    if not set(map(type, texts)) <= {str}:
        odd = next(t for t in texts if type(t) is not str)
        raise BadBodyError(f"{what}: {odd!r} ({type(odd).__name__}), expected a date string")
    out: dict[str, date] = {}
    for text in set(cast("Sequence[str]", texts)):
        try:
            out[text] = parse_nse_date(text)
        except ValueError as exc:
            raise BadBodyError(f"{what}: {exc}") from None
    return out


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _plausible.non_finite(body) or BadBodyError(undecodable(body, exc)) from None
    except TypeError:
        raise BadBodyError(f"body is a {type(body).__name__}, expected bytes") from None


def _split(doc: Any) -> tuple[Shape, dict[str, Any], list[Any]]:
    """Find the shape, the object holding timestamp/underlyingValue, and the row list."""
    if isinstance(doc, dict) and "records" in doc:
        meta, where = doc["records"], "records.data"
        if not isinstance(meta, dict):
            raise BadBodyError(f"'records' is a {type(meta).__name__}, expected an object")
        shape: Shape = "v3"
    elif isinstance(doc, dict) and "timestamp" in doc and isinstance(doc.get("data"), list):
        meta, where, shape = doc, "data", "nextapi"
    else:
        not_chain(doc)
    rows = meta.get("data")
    if not isinstance(rows, list):
        raise BadBodyError(f"'{where}' is {kind(rows)}, expected a list of rows")
    if not rows:
        raise EmptyBodyError(f"'{where}' is empty: NSE's answer to an expiry it does not list")
    if shape == "v3" and isinstance(rows[0], dict) and "expiryDates" not in rows[0]:
        shape = "legacy"  # the retired endpoints named the row key expiryDate (singular)
    return shape, meta, rows


# --- the chain --------------------------------------------------------------------------------


def parse_chain(
    body: bytes,
    *,
    symbol: str,
    expiry: date | None = None,
    fetched_at: datetime,
    now: datetime | None = None,
) -> ParsedChain:
    """Turn one option-chain response body into a ``QUOTES_SCHEMA`` table.

    ``expiry`` is the expiry that was asked for: for v3/nextapi bodies, a response without a
    row of it is a BadPayload (NSE answered for something else). Rows are never filtered by
    it, so a legacy body yields every expiry. Raises ``BadPayload`` for anything unusable and
    ``EmptyChain`` for an empty row list; ``fetched_at`` must be timezone-aware.

    Impossible values raise ``Implausible`` (``_plausible``). ``now`` is the instant NSE's
    timestamp is judged against: a live fetch passes its clock's now (never the real clock in
    tests), an import of an old capture the capture's own time; None skips that one rule.
    """
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (use timeutil.now_ist())")
    exp = format_expiry(expiry) if expiry else None
    try:
        return _parse_chain(body, symbol, expiry, fetched_at, now)
    except EmptyBodyError as exc:
        msg = f"{exc}; refresh the expiry list"
        raise EmptyChain(msg, symbol=symbol, expiry=exp, body=body) from None
    except _plausible.ValueRule as exc:
        raise Implausible(str(exc), field=exc.field, symbol=symbol, expiry=exp, body=body) from None
    except BadBodyError as exc:
        raise BadPayload(str(exc), symbol=symbol, expiry=exp, body=body) from None
    except Exception as exc:
        # The contract is "BadPayload or EmptyChain, nothing else": a gap in the checks
        # must still reach quarantine with a reason, not crash the collector.
        log.exception("unexpected error parsing %s %s", symbol, exp)
        msg = f"unexpected {type(exc).__name__} while reading the chain: {exc}"
        raise BadPayload(msg, symbol=symbol, expiry=exp, body=body) from exc


def _parse_chain(
    body: bytes, symbol: str, expiry: date | None, fetched_at: datetime, now: datetime | None
) -> ParsedChain:
    fast = _fast_v3(body)
    if fast is not None:
        shape: Shape = "v3"
        (exchange_ts, underlying, expiry_dates), (arrays, present) = fast
    else:
        shape, meta, rows = _split(_decode(body))
        exchange_ts, underlying, expiry_dates = _meta(meta, shape)
        try:
            arrays, present = _columns(rows, shape, underlying)
        except (BadBodyError, EmptyBodyError):
            raise
        except Exception as exc:
            # _columns does not check as it goes; find the exact row and field now.
            problem = find_problem(rows, shape) or f"{type(exc).__name__}: {exc}"
            raise BadBodyError(problem) from None
    arrays = _iv_missing_as_null(_unique_contracts(arrays))
    _check(arrays, present, shape, expiry, expiry_dates, exchange_ts, now)
    n = len(arrays[0])
    head = [
        pa.repeat(pa.scalar(exchange_ts, type=_TS_TYPE), n),
        pa.repeat(pa.scalar(fetched_at, type=_TS_TYPE), n),
        pa.repeat(pa.scalar(symbol, type=pa.string()), n),
    ]
    table = pa.Table.from_arrays(head + arrays, schema=QUOTES_SCHEMA)
    log.debug("parsed %s %s: %d rows at %s", symbol, shape, n, exchange_ts)
    return ParsedChain(table, exchange_ts, underlying, expiry_dates, shape)


def _check(
    arrays: list[Any],
    present: set[date],
    shape: Shape,
    expiry: date | None,
    listed: tuple[date, ...],
    exchange_ts: datetime,
    now: datetime | None,
) -> None:
    """The plausibility rules (``_plausible``), vectorised: impossible data is never stored."""
    prefix = "" if shape == "nextapi" else "records."
    expiry_key = ROW_EXPIRY_KEY[shape]
    asked = None if shape == "legacy" else expiry
    _plausible.check_expiries(present, asked, () if asked else listed, f"{prefix}data.{expiry_key}")
    if now is not None:
        _plausible.check_ts(exchange_ts, now, f"{prefix}timestamp")
    _plausible.check_columns(arrays, expiry_key)


def _iv_missing_as_null(arrays: list[Any]) -> list[Any]:
    """NSE writes an IV of 0 where it has none (no trade to imply it from): stored as null,
    so storage, the CLI, the web page and the API all say "missing", never "0 %"."""
    iv = arrays[_IV]
    arrays[_IV] = pc.if_else(pc.equal(iv, 0.0), pa.scalar(None, iv.type), iv)
    return arrays


def _unique_contracts(arrays: list[Any]) -> list[Any]:
    """Each (expiry, strike, option_type) at most once: a snapshot has one quote per contract.

    Duplicated strikes (the table's key would repeat): rows that repeat a contract with exactly
    the same values are dropped, the first kept; a contract that appears twice with different
    values is a BadPayload (there is no telling which one NSE meant) and the body goes to
    quarantine. The check is one set of keys (~0.1 µs a row); rows are compared only when a
    key repeats.
    """
    expiry, strike, side = arrays[0], arrays[1], arrays[2]
    days = expiry.cast(pa.int32()).to_pylist()  # ints: much cheaper than date objects
    if len(set(zip(days, strike.to_pylist(), side.to_pylist(), strict=True))) == len(days):
        return arrays
    keys = list(zip(*(a.to_pylist() for a in arrays[:3]), strict=True))
    first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    keep: list[int] = []
    for i, values in enumerate(zip(*(a.to_pylist() for a in arrays), strict=True)):
        seen = first.setdefault(keys[i], values)
        if seen is values:
            keep.append(i)
        elif seen != values:
            e, k, t = keys[i]
            raise BadBodyError(
                f"strike {k:g} {t} of {format_expiry(e)} appears twice with different values; "
                "NSE sent an inconsistent chain. Retry"
            )
    log.debug("dropped %d repeated identical contract rows", len(keys) - len(keep))
    indices = pa.array(keep, type=pa.int64())
    return [a.take(indices) for a in arrays]


def _fast_v3(body: bytes) -> tuple[_Meta, _Columns] | None:
    """The typed path (``_v3types``), or None: the generic path then gives the same table or
    the precise error."""
    records = _v3types.decode(body)
    if records is None or not records.data:
        return None
    try:
        meta = _values(records.timestamp, records.underlying_value, records.expiry_dates, "v3")
        return meta, _v3types.columns(records.data, meta[1])
    except Exception as exc:
        log.debug("typed v3 path declined (%s: %s); taking the generic path", type(exc), exc)
        return None


def _meta(meta: dict[str, Any], shape: Shape) -> _Meta:
    """The snapshot-level values: timestamp, underlying value, listed expiries."""
    listed = meta.get("expiryDates")
    return _values(meta.get("timestamp"), meta.get("underlyingValue"), listed, shape)


def _values(text: Any, value: Any, listed: Any, shape: Shape) -> _Meta:
    prefix = "" if shape == "nextapi" else "records."
    if text is None:
        raise BadBodyError(
            f"'{prefix}timestamp' is missing; cannot tell when NSE took this snapshot"
        )
    try:
        exchange_ts = parse_nse_timestamp(text)
    except ValueError as exc:
        raise BadBodyError(f"'{prefix}timestamp': {exc}") from None
    if value is not None and type(value) not in (int, float):
        raise BadBodyError(f"'{prefix}underlyingValue' is {value!r}, expected a number")
    if listed is not None and not isinstance(listed, list):
        raise BadBodyError(f"'{prefix}expiryDates' is {kind(listed)}, expected a list")
    dates = _dates(listed or (), f"{prefix}expiryDates").values()
    return exchange_ts, None if value is None else float(value), tuple(sorted(dates))


def _columns(rows: list[Any], shape: Shape, underlying: float | None) -> _Columns:
    """Generic path: the columns expiry .. identifier as typed Arrow arrays, and the expiries."""
    # A contract that does not exist comes as a zeroed leg with identifier null: drop it.
    picked = [
        (row, side, leg)
        for row in rows
        for side in SIDES
        if (leg := row.get(side)) is not None and leg["identifier"] is not None
    ]
    if not picked:
        raise EmptyBodyError(f"all {len(rows)} rows hold only placeholder legs (identifier null)")
    row_of, sides, legs = zip(*picked, strict=True)
    expiry_key = ROW_EXPIRY_KEY[shape]
    expiry_text, strikes = zip(*map(itemgetter(expiry_key, "strikePrice"), row_of), strict=True)
    if not set(map(type, expiry_text)) <= {str}:
        raise TypeError("a row expiry is not a string")
    date_of = _dates(expiry_text, f"row '{expiry_key}'")
    values = list(zip(*map(LEG_GETTERS[shape], legs), strict=True))
    if underlying is not None and None in values[-1]:
        values[-1] = tuple(underlying if v is None else v for v in values[-1])
    identifiers = [leg["identifier"] for leg in legs]
    if not set(map(type, strikes)) <= _REAL:
        picked_rows = {id(r) for r in row_of}
        i, odd = next(
            (i, r["strikePrice"])
            for i, r in enumerate(rows)
            if id(r) in picked_rows and type(r["strikePrice"]) not in _REAL
        )
        where = "data" if shape == "nextapi" else "records.data"
        raise _plausible.ValueRule(
            f"{where}[{i}].strikePrice is {odd!r} ({type(odd).__name__}), not a number; "
            "NSE may have changed the response format",
            "strikePrice",
        )
    if not set(map(type, identifiers)) <= {str}:
        raise TypeError("an identifier has the wrong type")
    arrays = [
        pa.array([date_of[t] for t in expiry_text], type=pa.date32()),
        pa.array(strikes, type=pa.float64()),
        pa.array(sides, type=pa.string()),
    ]
    arrays += [_typed(col, t) for col, t in zip(values, LEG_TYPES, strict=True)]
    arrays.append(pa.array(identifiers, type=pa.string()))
    return arrays, set(date_of.values())


def _typed(values: Sequence[Any], arrow_type: Any) -> Any:
    """One numeric column. The type-set check comes first because pa.array would take bools
    as numbers and silently truncate 3600.5 into an int64."""
    kinds = set(map(type, values))
    if not kinds <= _NUM:
        raise TypeError("a leg field is not a number")
    if arrow_type == pa.int64() and float in kinds:
        # Legacy captures may carry quantities as 3600.0: keep them if integral.
        if not all(type(v) is not float or v.is_integer() for v in values):
            raise TypeError("a quantity is fractional")
        values = [int(v) if type(v) is float else v for v in values]
    return pa.array(values, type=arrow_type)


# --- expiries and universe --------------------------------------------------------------------


def parse_expiries(body: bytes, *, symbol: str) -> list[date]:
    """``/api/option-chain-contract-info`` or NextApi ``getOptionChainDropdown`` → sorted dates."""
    try:
        doc = _decode(body)
        texts = doc.get("expiryDates") if isinstance(doc, dict) else None
        if not isinstance(texts, list):
            if doc == {}:
                not_chain(doc)
            raise BadBodyError(
                f"'expiryDates' is {kind(texts)}, expected a list of DD-Mon-YYYY dates"
            )
        if not texts:
            raise BadBodyError(
                "'expiryDates' is empty; NSE lists no expiries for this symbol. Retry later"
            )
        return sorted(set(_dates(texts, "expiryDates").values()))
    except BadBodyError as exc:
        raise BadPayload(str(exc), symbol=symbol, body=body) from None


def parse_universe(body: bytes) -> list[Underlying]:
    """``/api/underlying-information`` → indices (NSE order) then stocks (NSE order)."""
    try:
        doc = _decode(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict):
            raise BadBodyError(f"'data' is {kind(data)}, expected an object with IndexList")
        found = _universe_list(data, "IndexList", True) + _universe_list(
            data, "UnderlyingList", False
        )
        if not found:
            raise BadBodyError(
                "IndexList and UnderlyingList are both empty; keep the previous universe"
            )
        return found
    except BadBodyError as exc:
        raise BadPayload(str(exc), body=body) from None


def _universe_list(data: dict[str, Any], key: str, is_index: bool) -> list[Underlying]:
    items = data.get(key)
    if not isinstance(items, list):
        raise BadBodyError(f"'data.{key}' is {kind(items)}, expected a list")
    out = []
    for i, item in enumerate(items):
        sym = item.get("symbol") if isinstance(item, dict) else None
        name = item.get("underlying") if isinstance(item, dict) else None
        if not (isinstance(sym, str) and sym.strip()) or not isinstance(name, (str, type(None))):
            raise BadBodyError(
                f"'data.{key}[{i}]' is {item!r}, expected {{symbol, underlying}} strings"
            )
        out.append(Underlying(sym.strip(), (name or sym).strip(), is_index))
    return out
