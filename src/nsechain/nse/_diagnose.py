"""Say exactly what is wrong with an option-chain body: the parser's slow path.

Where it sits: inside ``nse/``, used by the parser (``nse/parse.py``) only once something has
already failed, so the cost of precise messages (which row, which field, what to do about it)
is paid only on bad bodies. ``BadBodyError``/``EmptyBodyError`` are the parser's internal
errors; its public wrapper turns them into ``BadPayload``/``EmptyChain`` with symbol, expiry and
body.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import pyarrow as pa

from nsechain.nse._fields import LEG_KEYS, LEG_TYPES, ROW_EXPIRY_KEY, SIDES, Shape

__all__ = ["BadBodyError", "EmptyBodyError", "find_problem", "kind", "not_chain", "undecodable"]


class BadBodyError(Exception):
    """The body is unusable; the public wrapper adds symbol/expiry/body."""


class EmptyBodyError(Exception):
    """The body is a well-formed chain without contracts."""


def kind(value: object) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def undecodable(body: bytes, exc: Exception) -> str:
    """Why ``body`` is not JSON, and what to do about it."""
    # Only reached on failure, so stripping a copy of the body costs nothing on the happy path.
    head = bytes(body[:4096]).lstrip()
    if not body:
        return "empty body (0 bytes): NSE sent nothing. Retry; if it persists, re-bootstrap cookies"
    if head.startswith(b"<"):
        title = re.search(rb"<title>\s*(.*?)\s*</title>", head, re.I | re.S)
        what = f" ({title[1].decode(errors='replace')!r})" if title else ""
        return (
            f"got an HTML page{what} instead of JSON; the endpoint may be retired or the request "
            "blocked. Check the URL and the session cookies"
        )
    return (
        f"body is not valid JSON ({exc}; {len(body)} bytes, starts {bytes(body[:60])!r}); "
        "it was probably cut off in transit. Retry"
    )


def not_chain(doc: Any) -> NoReturn:
    """Raise ``BadBodyError`` saying why a decoded document is not an option chain."""
    if doc == {}:
        raise BadBodyError(
            "empty JSON object {}: NSE sends this when the session cookies are missing or the "
            "client is throttled. Re-bootstrap cookies and slow down"
        )
    if isinstance(doc, dict):
        keys = ", ".join(sorted(map(str, doc))[:10])
        msg = f"no 'records' key (top-level keys: {keys}); not an option-chain response"
        raise BadBodyError(msg)
    msg = f"top-level JSON is a {type(doc).__name__}, expected an object with 'records'"
    raise BadBodyError(msg)


def find_problem(rows: list[Any], shape: Shape) -> str | None:
    """Walk the rows in order and describe the first thing the fast path cannot take."""
    where = "data" if shape == "nextapi" else "records.data"
    expiry_key = ROW_EXPIRY_KEY[shape]
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        if not isinstance(row, dict):
            return f"{at} is a {type(row).__name__}, expected an object"
        for key in (expiry_key, "strikePrice"):
            if key not in row:
                return f"{at} has no '{key}' (a {shape} row needs it; keys: {', '.join(row)})"
        strike, when = row["strikePrice"], row[expiry_key]
        if not isinstance(when, str):
            return f"{at}.{expiry_key} is {when!r}, expected a date string"
        if type(strike) not in (int, float) or not _fits(strike):
            return f"{at}.strikePrice is {strike!r} ({type(strike).__name__}), expected a number"
        for side in SIDES:
            problem = _leg_problem(row.get(side), shape, f"{at}.{side} (strike {strike})")
            if problem:
                return f"{problem}; NSE may have changed the response format"
    return None


def _leg_problem(leg: object, shape: Shape, at: str) -> str | None:
    if leg is None:
        return None
    if not isinstance(leg, dict):
        return f"{at} is a {type(leg).__name__}, expected an object"
    if "identifier" not in leg:
        return f"{at} has no 'identifier'"
    if leg["identifier"] is None:
        return None
    if not isinstance(leg["identifier"], str):
        return f"{at}.identifier is {leg['identifier']!r}, expected a string"
    for key, arrow_type in zip(LEG_KEYS[shape], LEG_TYPES, strict=True):
        if key not in leg:
            return f"{at} has no '{key}'"
        value = leg[key]
        if value is not None and type(value) not in (int, float):
            return f"{at}.{key} is {value!r} ({type(value).__name__}), expected a number or null"
        if arrow_type == pa.int64() and type(value) is float and not value.is_integer():
            return f"{at}.{key} is {value!r}, expected a whole number"
        if value is not None and not _fits(value, arrow_type == pa.int64()):
            return f"{at}.{key} is {value!r}, out of the 64-bit range"
    return None


def _fits(value: float, int_column: bool = False) -> bool:
    # pa.array refuses Python ints outside int64 even for a float64 column.
    return (type(value) is float and not int_column) or -(2**63) <= value < 2**63
