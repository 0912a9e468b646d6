"""Bad input: a corpus of malformed option-chain bodies, parser fuzzing, and quarantine.

The parser's contract (``nse/parse.py``): for any bytes, ``parse_chain`` either returns a table
of exactly ``QUOTES_SCHEMA`` with one row per contract, or raises ``BadPayload`` /
``EmptyChain`` with a reason. Nothing else escapes, and no reason comes from the parser's
"unexpected error" safety net (that would mean a gap in its checks).

Duplicated strikes (decided here, implemented in ``parse._unique_contracts``): a row that
repeats a contract with exactly the same values is dropped (the first kept); a contract that
appears twice with different values makes the body a BadPayload (there is no telling which
one NSE meant), so it is quarantined and the fetch retried, and DuckDB never holds two rows for
one (symbol, expiry, strike, option_type, exchange_ts).

The base body is rendered by the simulator (no fixture needed): RELIANCE's nearest expiry at
a frozen simulated instant. A few bodies are also served to a real collector over loopback to
show they land in quarantine with a reason while the collector carries on.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsechain.collector.clock import FixedClock
from nsechain.collector.tick import Collector
from nsechain.config import load_settings
from nsechain.contract import QUOTES_SCHEMA
from nsechain.errors import BadPayload, EmptyChain, Implausible
from nsechain.nse.parse import ParsedChain, format_expiry, parse_chain
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.files import read_tick_fetch_log
from nsechain.timeutil import IST

SYMBOL = "RELIANCE"
FETCHED = datetime(2026, 11, 25, 10, 30, 5, tzinfo=IST)
_SIM = Simulator(SimConfig(seed=5, speed=0, start="2026-11-25T10:30:00"))  # never started
EXPIRY_TEXT = _SIM.expiries(SYMBOL)[0]
EXPIRY = datetime.strptime(EXPIRY_TEXT, "%d-%b-%Y").date()


def _render(symbol: str, expiry: str) -> bytes:
    reply = _SIM.api.handle("/api/option-chain-v3", f"type=Equity&symbol={symbol}&expiry={expiry}")
    assert reply is not None and reply.status == 200
    return reply.body


BASE = _render(SYMBOL, EXPIRY_TEXT)
BASE_DOC: dict[str, Any] = orjson.loads(BASE)
BASE_ROWS = len(BASE_DOC["records"]["data"])


def parse(body: bytes, expiry: date | None = EXPIRY) -> ParsedChain:
    return parse_chain(body, symbol=SYMBOL, expiry=expiry, fetched_at=FETCHED, now=FETCHED)


def doc() -> dict[str, Any]:
    return copy.deepcopy(BASE_DOC)


def rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    return d["records"]["data"]  # type: ignore[no-any-return]


def with_doc(change: Callable[[dict[str, Any]], object]) -> Callable[[], bytes]:
    def build() -> bytes:
        d = doc()
        change(d)
        return orjson.dumps(d)

    return build


#: A row whose two legs are real contracts (a placeholder leg's values are never read).
REAL = next(
    i
    for i, r in enumerate(BASE_DOC["records"]["data"])
    if i >= 2 and r["CE"]["identifier"] is not None and r["PE"]["identifier"] is not None
)


def leg(d: dict[str, Any], i: int = REAL, side: str = "CE") -> dict[str, Any]:
    return rows(d)[i][side]  # type: ignore[no-any-return]


def with_ts(text: object) -> Callable[[], bytes]:
    """The base body with ``records.timestamp`` set to ``text``."""
    return with_doc(lambda d: d["records"].update(timestamp=text))


def with_raw(field: str, literal: bytes) -> Callable[[], bytes]:
    """A real leg's ``field`` set to a JSON literal orjson cannot write (e.g. 10**30)."""
    marker = b'"__RAW__"'

    def build() -> bytes:
        d = doc()
        leg(d)[field] = "__RAW__"
        return orjson.dumps(d).replace(marker, literal)

    return build


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def duplicate_row(d: dict[str, Any], conflicting: bool) -> None:
    copy_of = copy.deepcopy(rows(d)[4])
    if conflicting:
        copy_of["CE"]["lastPrice"] += 1.0
    rows(d).insert(9, copy_of)


FIFTY_MB_ROWS = 55_000_000 // len(orjson.dumps(BASE_DOC["records"]["data"][0]))


def fifty_mb_chain() -> bytes:
    """A well-formed chain of over 50 MB: the same row repeated with distinct strikes."""
    d = doc()
    template = rows(d)[0]
    n = FIFTY_MB_ROWS
    out = []
    for i in range(n):
        row = copy.deepcopy(template)
        strike = 100 + i * 0.5
        row["strikePrice"] = row["CE"]["strikePrice"] = row["PE"]["strikePrice"] = strike
        row["CE"]["identifier"] = f"CE{i}"
        row["PE"]["identifier"] = f"PE{i}"
        out.append(row)
    d["records"]["data"] = out
    body = orjson.dumps(d)
    assert len(body) >= 50_000_000
    return body


@dataclass(frozen=True)
class Case:
    build: Callable[[], bytes]
    expect: str  # "bad" | "implausible" | "empty" | "ok"
    needle: str = ""  # a piece of the reason (bad/empty), or nothing
    check: Callable[[ParsedChain], bool] | None = None  # extra check of an ok table
    expiry: date | None = EXPIRY


def _same(value: bytes) -> Callable[[], bytes]:
    return lambda: value


AKAMAI = (
    b"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n"
    b"You don't have permission to access this server.<P>\n</BODY>\n</HTML>\n"
)

CORPUS: dict[str, Case] = {
    # --- not JSON at all ---
    "0-byte body": Case(_same(b""), "bad", "empty body (0 bytes)"),
    "whitespace only": Case(_same(b" \r\n\t "), "bad", "not valid JSON"),
    "akamai html": Case(_same(AKAMAI), "bad", "HTML page ('Access Denied')"),
    "truncated json": Case(lambda: BASE[: len(BASE) // 2], "bad", "not valid JSON"),
    "truncated by one byte": Case(lambda: BASE[:-1], "bad", "not valid JSON"),
    "invalid utf-8": Case(_same(b'{"records": "\xff\xfe"}'), "bad", "not valid JSON"),
    "utf-16 json": Case(lambda: BASE.decode().encode("utf-16"), "bad", "not valid JSON"),
    "nul bytes inside": Case(lambda: BASE[:100] + b"\x00" * 8 + BASE[100:], "bad", "not valid"),
    # 1e400 in a key nsechain never reads: the typed path skips it unparsed (_v3types notes it).
    "number beyond double, unread key": Case(
        lambda: BASE.replace(b'"timestamp"', b'"x":1e400,"timestamp"'), "ok"
    ),
    "50 MB of junk": Case(lambda: b"x" * 50_000_000, "bad", "not valid JSON"),
    "deeply nested arrays": Case(lambda: b"[" * 100_000 + b"]" * 100_000, "bad", "not valid JSON"),
    # --- JSON, but not a chain ---
    "empty object {}": Case(_same(b"{}"), "bad", "empty JSON object {}"),
    "top-level list": Case(_same(b"[]"), "bad", "top-level JSON is a list"),
    "top-level null": Case(_same(b"null"), "bad", "top-level JSON is a NoneType"),
    "top-level string": Case(_same(b'"records"'), "bad", "top-level JSON is a str"),
    "top-level number": Case(_same(b"12345"), "bad", "top-level JSON is a int"),
    "records is a list": Case(
        with_doc(lambda d: d.update(records=[])), "bad", "'records' is a list"
    ),
    "records.data missing": Case(
        with_doc(lambda d: d["records"].pop("data")), "bad", "'records.data' is missing"
    ),
    "records.data is an object": Case(
        with_doc(lambda d: d["records"].update(data={})), "bad", "'records.data' is a dict"
    ),
    "records.data empty": Case(
        with_doc(lambda d: d["records"].update(data=[])), "empty", "refresh the expiry list"
    ),
    "deeply nested junk in a leg": Case(
        with_doc(lambda d: leg(d).update(openInterest=nested(150))), "bad", "openInterest is"
    ),
    "deeply nested junk rows": Case(
        with_doc(lambda d: d["records"].update(data=[nested(150)])),
        "bad",
        "records.data[0] is a list",
    ),
    # --- missing keys, nulls, wrong types ---
    "timestamp missing": Case(
        with_doc(lambda d: d["records"].pop("timestamp")), "bad", "'records.timestamp' is missing"
    ),
    "timestamp null": Case(
        with_doc(lambda d: d["records"].update(timestamp=None)),
        "bad",
        "'records.timestamp' is missing",
    ),
    "timestamp a number": Case(
        with_doc(lambda d: d["records"].update(timestamp=1764046800)), "bad", "not an NSE timestamp"
    ),
    "leg without identifier": Case(
        with_doc(lambda d: leg(d).pop("identifier")), "bad", "has no 'identifier'"
    ),
    "leg missing a price": Case(
        with_doc(lambda d: leg(d).pop("lastPrice")), "bad", "has no 'lastPrice'"
    ),
    "row without strike": Case(
        with_doc(lambda d: rows(d)[2].pop("strikePrice")), "bad", "has no 'strikePrice'"
    ),
    "strike as string": Case(
        with_doc(lambda d: rows(d)[2].update(strikePrice="1100")),
        "implausible",
        "strikePrice is '1100'",
    ),
    "strike null": Case(
        with_doc(lambda d: rows(d)[2].update(strikePrice=None)),
        "implausible",
        "strikePrice is None",
    ),
    "leg is a list": Case(with_doc(lambda d: rows(d)[3].update(CE=[1, 2])), "bad", "is a list"),
    "row is a string": Case(
        with_doc(lambda d: rows(d).__setitem__(1, "row")), "bad", "records.data[1] is a str"
    ),
    "identifier a number": Case(
        with_doc(lambda d: leg(d).update(identifier=42)), "bad", "identifier is 42"
    ),
    "quantity a bool": Case(
        with_doc(lambda d: leg(d).update(totalTradedVolume=True)),
        "bad",
        "totalTradedVolume is True",
    ),
    "fractional quantity": Case(
        with_doc(lambda d: leg(d).update(buyQuantity1=12.5)), "bad", "expected a whole number"
    ),
    "underlying a string": Case(
        with_doc(lambda d: d["records"].update(underlyingValue="1300")),
        "bad",
        "underlyingValue' is '1300'",
    ),
    "nulls in every number": Case(
        with_doc(
            lambda d: leg(d).update(
                dict.fromkeys(
                    (
                        "openInterest",
                        "lastPrice",
                        "impliedVolatility",
                        "totalTradedVolume",
                        "buyPrice1",
                        "buyQuantity1",
                        "underlyingValue",
                    )
                )
            )
        ),
        "ok",
        check=lambda c: (
            c.table["last_price"].null_count == 1
            and c.table["volume"].null_count == 1
            and c.table["underlying_value"].null_count == 0
        ),  # falls back to records' value
    ),
    "placeholder legs only": Case(
        with_doc(lambda d: [r[s].update(identifier=None) for r in rows(d) for s in ("CE", "PE")]),
        "empty",
        "placeholder legs",
    ),
    # --- huge numbers, NaN and dash strings ---
    # OI is a float64 column: 10**30 is kept as 1e30, as a double holds it.
    "OI huge integer": Case(
        with_raw("openInterest", b"1" + b"0" * 30),
        "ok",
        check=lambda c: pc.max(c.table["open_interest"]).as_py() == 1e30,
    ),
    "volume 2**63": Case(
        with_raw("totalTradedVolume", str(2**63).encode()), "bad", "out of the 64-bit range"
    ),
    "volume 1e400": Case(
        with_raw("totalTradedVolume", b"1e400"), "implausible", "beyond the double range"
    ),
    "price 1e308": Case(
        with_doc(lambda d: leg(d, 0).update(lastPrice=1e308)),
        "ok",
        check=lambda c: pc.max(c.table["last_price"]).as_py() == 1e308,
    ),
    "OI 'NaN' string": Case(
        with_doc(lambda d: leg(d).update(openInterest="NaN")), "bad", "openInterest is 'NaN'"
    ),
    "price '-' string": Case(
        with_doc(lambda d: leg(d, 5, "PE").update(lastPrice="-")), "bad", "lastPrice is '-'"
    ),
    "iv 'Infinity' string": Case(
        with_doc(lambda d: leg(d).update(impliedVolatility="Infinity")),
        "bad",
        "impliedVolatility is 'Infinity'",
    ),
    # --- dates in the wrong formats ---
    "row expiry ISO": Case(
        with_doc(lambda d: [r.update(expiryDates=EXPIRY.isoformat()) for r in rows(d)]),
        "bad",
        "is not a DD-Mon-YYYY",
    ),
    "row expiry US": Case(
        with_doc(lambda d: rows(d)[0].update(expiryDates=f"{EXPIRY:%m/%d/%Y}")),
        "bad",
        "is not a DD-Mon-YYYY",
    ),
    "row expiry impossible day": Case(
        with_doc(lambda d: rows(d)[0].update(expiryDates="31-Feb-2027")),
        "bad",
        "not a valid calendar date",
    ),
    "timestamp ISO": Case(with_ts("2026-11-25T10:30:00"), "bad", "not an NSE timestamp"),
    "timestamp with zone": Case(with_ts("25-Nov-2026 10:30:00 IST"), "bad", "not an NSE timestamp"),
    "expiryDates not dates": Case(
        with_doc(lambda d: d["records"].update(expiryDates=["next week"])),
        "bad",
        "records.expiryDates: 'next week'",
    ),
    "rows of another expiry": Case(
        with_doc(lambda d: [r.update(expiryDates="30-Dec-2026") for r in rows(d)]),
        "implausible",
        "asked for expiry",
    ),
    # --- well-formed, but impossible (nse/_plausible.py) ---
    "negative open interest": Case(
        with_doc(lambda d: leg(d).update(openInterest=-75)), "implausible", "openInterest is -75"
    ),
    "negative volume": Case(
        with_doc(lambda d: leg(d, 1).update(totalTradedVolume=-1)),
        "implausible",
        "totalTradedVolume is -1",
    ),
    "negative ask price": Case(
        with_doc(lambda d: leg(d).update(sellPrice1=-0.05)), "implausible", "sellPrice1 is -0.05"
    ),
    "timestamp 3 days old": Case(with_ts("22-Nov-2026 10:30:00"), "implausible", "is too old"),
    "timestamp a day ahead": Case(with_ts("26-Nov-2026 10:30:00"), "implausible", "in the future"),
    "previous session's close": Case(with_ts("24-Nov-2026 15:30:00"), "ok"),
    "NaN literal": Case(with_raw("openInterest", b"NaN"), "implausible", "'openInterest' is NaN"),
    "-Infinity literal": Case(
        with_raw("lastPrice", b"-Infinity"), "implausible", "'lastPrice' is -Infinity"
    ),
    "one row of another expiry": Case(
        with_doc(lambda d: rows(d)[-1].update(expiryDates="30-Dec-2026")),
        "implausible",
        "but the rows are for 30-Dec-2026",
    ),
    # --- duplicated strikes ---
    "duplicated strike, same values": Case(
        with_doc(lambda d: duplicate_row(d, conflicting=False)),
        "ok",
        check=lambda c: c.table.num_rows == PARSED_BASE_ROWS,
    ),
    "duplicated strike, different values": Case(
        with_doc(lambda d: duplicate_row(d, conflicting=True)),
        "bad",
        "appears twice with different values",
    ),
    # --- unicode ---
    "unicode identifier": Case(
        with_doc(lambda d: leg(d, 0).update(identifier="OPTSTK₹ऱिलायंस🚀")),
        "ok",
        check=lambda c: "OPTSTK₹ऱिलायंस🚀" in c.table["identifier"].to_pylist(),
    ),
    "unicode junk keys everywhere": Case(
        with_doc(
            lambda d: (
                d.update({"ключ": "値"}),
                d["records"].update({"😀": [None]}),
                leg(d).update({"ñ": {}}),
            )
        ),
        "ok",
        check=lambda c: c.table.num_rows == PARSED_BASE_ROWS,
    ),
    "unicode month name": Case(
        with_doc(lambda d: rows(d)[0].update(expiryDates="29-Déc-2026")),
        "bad",
        "is not a DD-Mon-YYYY",
    ),
    "escaped control characters": Case(
        with_doc(lambda d: leg(d).update(identifier="a\u0000b\u001fc")), "ok"
    ),
    # --- size ---
    "50 MB chain": Case(
        fifty_mb_chain,
        "ok",
        check=lambda c: c.table.num_rows == 2 * FIFTY_MB_ROWS,
    ),
}
PARSED_BASE_ROWS = parse(BASE).table.num_rows


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert PARSED_BASE_ROWS > 50  # the base body is a real chain


def assert_valid(chain: ParsedChain) -> None:
    t = chain.table
    assert t.schema.equals(QUOTES_SCHEMA)
    assert t.num_rows > 0
    assert set(t["option_type"].to_pylist()) <= {"CE", "PE"}
    assert set(t["symbol"].to_pylist()) == {SYMBOL}
    keys = list(zip(*(t[c].to_pylist() for c in ("expiry", "strike", "option_type")), strict=True))
    assert len(set(keys)) == len(keys), "one row per contract"


@pytest.mark.parametrize("name", CORPUS)
def test_malformed_payload(name: str) -> None:
    case = CORPUS[name]
    body = case.build()
    if case.expect == "ok":
        chain = parse(body, case.expiry)
        assert_valid(chain)
        assert case.check is None or case.check(chain)
        return
    error = {"bad": BadPayload, "implausible": Implausible}.get(case.expect, EmptyChain)
    with pytest.raises(error) as info:
        parse(body, case.expiry)
    exc = info.value
    assert type(exc) is error
    assert case.needle in exc.reason, exc.reason
    assert exc.__cause__ is None  # a real check caught it, not the parser's safety net
    assert exc.body is body  # kept for quarantine
    assert str(exc).startswith(f"{SYMBOL} {format_expiry(EXPIRY)}: ")


# --- fuzzing -----------------------------------------------------------------------------------


def parse_or_typed_error(body: bytes, expiry: date | None = EXPIRY) -> ParsedChain | None:
    """The contract: a valid table, or BadPayload/EmptyChain from a real check."""
    try:
        chain = parse(body, expiry)
    except (BadPayload, EmptyChain) as exc:
        assert exc.reason
        assert exc.__cause__ is None, exc.reason  # not the parser's safety net
        return None
    assert_valid(chain)
    return chain


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "-", "", "29-Dec-2026", "25-Nov-2026 10:30:00", "29-12-2026"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
LEG_KEYS = sorted(BASE_DOC["records"]["data"][0]["CE"])
ROW_KEYS = ["expiryDates", "strikePrice", "CE", "PE"]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_any_bytes(body: bytes) -> None:
    parse_or_typed_error(body)


@FUZZ
@given(JSON)
def test_fuzz_any_json_document(value: Any) -> None:
    def dumps(v: Any) -> bytes:
        return json.dumps(v).encode()  # stdlib: writes integers of any size, escapes surrogates

    parse_or_typed_error(dumps(value))
    parse_or_typed_error(dumps({"records": value}))
    parse_or_typed_error(dumps({"records": {"timestamp": "25-Nov-2026 10:30:00", "data": value}}))


@st.composite
def mutated_chain(draw: st.DrawFn) -> bytes:
    """The base chain with a few rows, keys and values replaced by anything."""
    d = doc()
    data = rows(d)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        what = draw(
            st.sampled_from(
                ["leg value", "drop leg key", "row value", "drop row key", "copy row", "strike"]
            )
        )
        if what == "leg value":
            side = draw(st.sampled_from(["CE", "PE"]))
            if isinstance(data[i].get(side), dict):
                data[i][side][draw(st.sampled_from(LEG_KEYS))] = draw(JSON)
        elif what == "drop leg key":
            side = draw(st.sampled_from(["CE", "PE"]))
            if isinstance(data[i].get(side), dict):
                data[i][side].pop(draw(st.sampled_from(LEG_KEYS)), None)
        elif what == "row value":
            data[i][draw(st.sampled_from(ROW_KEYS))] = draw(JSON)
        elif what == "drop row key":
            data[i].pop(draw(st.sampled_from(ROW_KEYS)), None)
        elif what == "copy row":
            data.insert(draw(st.integers(0, len(data))), copy.deepcopy(data[i]))
        else:  # a strike another row already has: duplicated strikes with different values
            data[i]["strikePrice"] = data[draw(st.integers(0, len(data) - 1))].get("strikePrice")
    return json.dumps(d).encode()


@FUZZ
@given(mutated_chain())
def test_fuzz_mutated_chain(body: bytes) -> None:
    parse_or_typed_error(body)
    parse_or_typed_error(body, expiry=None)


@FUZZ
@given(st.data())
def test_fuzz_byte_flips_and_cuts(data: st.DataObject) -> None:
    body = bytearray(BASE)
    for _ in range(data.draw(st.integers(1, 6))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(body)))
    parse_or_typed_error(bytes(body[:cut]))


# --- through a collector: bad bodies land in quarantine, the collector carries on ---------------


class _Nse(BaseHTTPRequestHandler):
    """NSE on loopback: the simulator's answers, except chains, which are ``server.body``."""

    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        headers = {"Content-Type": "application/json"}
        if parts.path in ("/", "/option-chain"):
            status, body = 200, b"<html><title>NSE</title></html>"
            headers = {"Content-Type": "text/html", "Set-Cookie": "nsit=a; Path=/"}
            self.send_response(status)
            self.send_header("Set-Cookie", "nseappid=b; Path=/")
        elif parts.path == "/api/option-chain-v3":
            status, body = 200, self.server.body
            self.send_response(status)
        else:
            reply = _SIM.api.handle(parts.path, parts.query)
            status, body = (404, b"<html>404</html>") if reply is None else (200, reply.body)
            self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    body: bytes = b""


@pytest.fixture
def nse() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Nse)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


THROUGH_THE_COLLECTOR = [
    "0-byte body",
    "empty object {}",
    "truncated json",
    "OI 'NaN' string",
    "duplicated strike, different values",
    "deeply nested arrays",
    "row expiry ISO",
]


def test_bad_bodies_from_the_network_land_in_quarantine_with_a_reason(
    nse: _Server, tmp_path: Path
) -> None:
    settings = load_settings(
        base_url=f"http://127.0.0.1:{nse.server_address[1]}",
        data_dir=tmp_path / "data",
        db_path=tmp_path / "chain.duckdb",
        symbols=SYMBOL,
        expiries_per_symbol=1,
        max_retries=0,
        rate=1000.0,
        burst=10,
        backoff_base_s=0.0,
    )
    collector = Collector(settings, clock=FixedClock(FETCHED))  # the bodies' day, not today
    try:
        for name in THROUGH_THE_COLLECTOR:
            nse.body = CORPUS[name].build()
            result = collector.run_tick(FETCHED)
            assert result.planned == 1 and result.outcomes["bad_payload"] == 1, (name, result)
            assert result.quote_rows == 0 and result.path is not None
            flog = read_tick_fetch_log(result.path).to_pylist()
            chain_rows = [r for r in flog if r["endpoint"] == "option-chain-v3"]
            assert [r["outcome"] for r in chain_rows] == ["bad_payload"], name
            assert CORPUS[name].needle in chain_rows[0]["error"]
        # A good body after all that: the collector is fine and writes rows.
        nse.body = BASE
        good = collector.run_tick(FETCHED)
        assert good.outcomes["ok"] == 1 and good.quote_rows == PARSED_BASE_ROWS
        # Last, an HTML page with HTTP 200: quarantined too, then v3 counts as gone for this symbol
        # and the NextApi fallback (the simulator's, here) answers: the same frozen snapshot
        # as the good tick's, so it is logged as stale.
        nse.body = AKAMAI
        html = collector.run_tick(FETCHED)
        assert html.outcomes["stale"] == 1 and html.path is not None, html
        flog = read_tick_fetch_log(html.path).to_pylist()
        assert [(r["endpoint"], r["outcome"]) for r in flog if r["symbol"]] == [
            ("option-chain-v3", "bad_payload"),
            ("nextapi-getOptionChainData", "stale"),
        ]
    finally:
        collector.close()

    bins = sorted((tmp_path / "data" / "quarantine").rglob("*.bin"))
    assert len(bins) == len(THROUGH_THE_COLLECTOR) + 1
    bodies = {b.read_bytes() for b in bins}
    assert bodies == {CORPUS[n].build() for n in THROUGH_THE_COLLECTOR} | {AKAMAI}  # as sent
    for path in bins:
        reason = json.loads(path.with_name(path.name + ".reason.json").read_text())
        assert reason["symbol"] == SYMBOL and reason["expiry"] == EXPIRY.isoformat()
        assert reason["reason"] and reason["bytes"] == path.stat().st_size
