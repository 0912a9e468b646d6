"""Parser tests against the real NSE responses in ../shared/fixtures/nse.

Expected counts are computed here from the JSON itself, independently of the parser, so a
parser that drops or duplicates legs fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, fixture_bytes
from nsechain.contract import QUOTES_SCHEMA
from nsechain.errors import BadPayload, EmptyChain
from nsechain.nse.parse import (
    ParsedChain,
    format_expiry,
    parse_chain,
    parse_expiries,
    parse_nse_date,
    parse_nse_timestamp,
    parse_universe,
)
from nsechain.timeutil import IST

V3_NIFTY = "v3_indices_NIFTY_2026-08-11_112903.json"
V3_RELIANCE = "v3_equity_RELIANCE_2026-08-11_112849.json"
LEGACY_NIFTY = "legacy_indices_NIFTY_2025-07-17_1530.json"
NEXTAPI = "nextapi_getOptionChainData_NIFTY_2026-07-10_1530.json"
DROPDOWN = "nextapi_getOptionChainDropdown_NIFTY_2026-07.json"
AKAMAI = "error_legacy_option-chain-indices_akamai_404_2026-07.html"
UNIVERSE = "underlying_information_2026-07-24.json"
LEGACY_FILES = sorted(p.name for p in FIXTURES.glob("legacy_*.json")) or ["legacy_(missing)"]

FETCHED = datetime(2026, 8, 11, 11, 29, 30, tzinfo=IST)
AUG11 = date(2026, 8, 11)


def parse(body: bytes, symbol: str = "NIFTY", expiry: date | None = None) -> ParsedChain:
    return parse_chain(body, symbol=symbol, expiry=expiry, fetched_at=FETCHED)


def rows_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["records"]["data"] if "records" in doc else doc["data"]  # type: ignore[no-any-return]


def count_legs(body: bytes, side: str) -> int:
    """Independent count: legs present with a non-null identifier."""
    rows = rows_of(orjson.loads(body))
    return sum(1 for r in rows if r.get(side) and r[side]["identifier"] is not None)


def row_for(
    chain: ParsedChain, strike: float, side: str, expiry: date | None = None
) -> dict[str, Any]:
    mask = pc.and_(
        pc.equal(chain.table["strike"], strike), pc.equal(chain.table["option_type"], side)
    )
    if expiry is not None:
        mask = pc.and_(mask, pc.equal(chain.table["expiry"], pa.scalar(expiry, pa.date32())))
    found = chain.table.filter(mask).to_pylist()
    assert len(found) == 1, found
    return found[0]  # type: ignore[no-any-return]


# --- real option chains ---------------------------------------------------------------------


def test_v3_nifty_counts_and_metadata() -> None:
    body = fixture_bytes(V3_NIFTY)
    chain = parse(body, expiry=AUG11)
    types = chain.table["option_type"].to_pylist()
    assert types.count("CE") == count_legs(body, "CE")
    assert types.count("PE") == count_legs(body, "PE")
    assert chain.table.num_rows == len(types)
    assert chain.shape == "v3"
    assert chain.exchange_ts == datetime(2026, 8, 11, 11, 29, 3, tzinfo=IST)
    assert chain.exchange_ts.utcoffset() == IST.utcoffset(chain.exchange_ts)
    assert chain.underlying_value == pytest.approx(24445.1)
    listed = orjson.loads(body)["records"]["expiryDates"]
    assert len(chain.expiry_dates) == len(listed) == 18
    assert chain.expiry_dates[0] == AUG11
    assert list(chain.expiry_dates) == sorted(chain.expiry_dates)
    assert set(chain.table["expiry"].to_pylist()) == {AUG11}
    assert set(chain.table["symbol"].to_pylist()) == {"NIFTY"}
    assert set(chain.table["fetched_at"].to_pylist()) == {FETCHED}
    assert set(chain.table["exchange_ts"].to_pylist()) == {chain.exchange_ts}


def test_v3_nifty_spot_values() -> None:
    chain = parse(fixture_bytes(V3_NIFTY))
    ce = row_for(chain, 21600, "CE")
    assert ce["open_interest"] == 8
    assert ce["change_in_oi"] == 1
    assert ce["pct_change_in_oi"] == pytest.approx(14.285714285714286)
    assert ce["volume"] == 4
    assert ce["last_price"] == 2891.5
    assert ce["change"] == -73.65
    assert ce["pct_change"] == pytest.approx(-2.4838541051886076)
    assert ce["iv"] == 144.44
    assert (ce["bid_price"], ce["bid_qty"]) == (2843, 65)
    assert (ce["ask_price"], ce["ask_qty"]) == (2971, 780)
    assert (ce["total_buy_qty"], ce["total_sell_qty"]) == (3510, 4290)
    assert ce["underlying_value"] == 24445.1
    assert ce["identifier"] == "OPTIDXNIFTY11-08-2026CE21600.00"
    pe = row_for(chain, 21600, "PE")
    assert (pe["open_interest"], pe["volume"], pe["ask_qty"]) == (33882, 44369, 591175)


def test_v3_totals_match_filtered_block() -> None:
    body = fixture_bytes(V3_NIFTY)
    table = parse(body).table
    ce = table.filter(pc.equal(table["option_type"], "CE"))
    totals = orjson.loads(body)["filtered"]["CE"]
    assert pc.sum(ce["open_interest"]).as_py() == totals["totOI"]
    assert pc.sum(ce["volume"]).as_py() == totals["totVol"]


def test_schema_is_exactly_quotes_schema() -> None:
    for name in (V3_NIFTY, LEGACY_NIFTY, NEXTAPI):
        table = parse(fixture_bytes(name)).table
        assert table.schema.equals(QUOTES_SCHEMA, check_metadata=True)
        assert table.schema.names == QUOTES_SCHEMA.names
        for field in QUOTES_SCHEMA:
            if not field.nullable:
                assert table[field.name].null_count == 0, field.name


def test_v3_reliance_drops_zeroed_leg() -> None:
    body = fixture_bytes(V3_RELIANCE)
    chain = parse(body, symbol="RELIANCE", expiry=date(2026, 8, 25))
    assert chain.table.num_rows == count_legs(body, "CE") + count_legs(body, "PE")
    raw_1060 = next(r for r in rows_of(orjson.loads(body)) if r["strikePrice"] == 1060)
    assert raw_1060["CE"]["identifier"] is None  # the fixture really has the placeholder
    at_1060 = chain.table.filter(pc.equal(chain.table["strike"], 1060))
    assert at_1060["option_type"].to_pylist() == ["PE"]
    assert None not in chain.table["identifier"].to_pylist()
    assert len(chain.expiry_dates) == 3


def test_legacy_nifty_gives_all_expiries() -> None:
    body = fixture_bytes(LEGACY_NIFTY)
    chain = parse(body)
    listed = {parse_nse_date(t) for t in orjson.loads(body)["records"]["expiryDates"]}
    assert chain.shape == "legacy"
    assert len(listed) == 18
    assert set(chain.table["expiry"].to_pylist()) == listed
    assert set(chain.expiry_dates) == listed
    pe = row_for(chain, 12000, "PE", date(2026, 6, 25))
    assert pe["open_interest"] == pytest.approx(4.333333333333333)  # fractional OI survives
    assert (pe["bid_price"], pe["bid_qty"]) == (2.05, 3600)
    assert chain.exchange_ts == datetime(2025, 7, 17, 15, 30, tzinfo=IST)


@pytest.mark.parametrize("name", [n for n in LEGACY_FILES if not n.startswith("TRIMMED")])
def test_every_legacy_fixture_parses(name: str) -> None:
    body = fixture_bytes(name)
    doc = orjson.loads(body)
    chain = parse(body, symbol=name.split("_")[2])
    types = chain.table["option_type"].to_pylist()
    assert (types.count("CE"), types.count("PE")) == (
        count_legs(body, "CE"),
        count_legs(body, "PE"),
    )
    assert chain.underlying_value == doc["records"]["underlyingValue"]
    assert chain.table.schema.equals(QUOTES_SCHEMA)


def test_nextapi_shape_with_dd_mm_yyyy_dates() -> None:
    body = fixture_bytes(NEXTAPI)
    chain = parse(body, expiry=date(2026, 7, 14))
    assert chain.shape == "nextapi"
    assert chain.expiry_dates == ()
    assert set(chain.table["expiry"].to_pylist()) == {date(2026, 7, 14)}
    assert chain.table.num_rows == count_legs(body, "CE") + count_legs(body, "PE")
    assert chain.underlying_value == pytest.approx(24206.9)
    assert chain.exchange_ts == datetime(2026, 7, 10, 15, 30, tzinfo=IST)
    ce = row_for(chain, 21400, "CE")
    assert (ce["last_price"], ce["bid_price"], ce["ask_qty"]) == (2820, 2640.65, 65)


@pytest.mark.parametrize("name", [V3_NIFTY, NEXTAPI])
def test_asked_expiry_missing_is_bad_payload(name: str) -> None:
    with pytest.raises(BadPayload, match=r"asked for expiry 18-Aug-2026 but the rows are for \d"):
        parse(fixture_bytes(name), expiry=date(2026, 8, 18))


def test_trimmed_legacy_sample_without_timestamp_is_rejected() -> None:
    body = fixture_bytes("TRIMMED_legacy_indices_NIFTY_2023-10-16_nseindiaapi_sample.json")
    with pytest.raises(BadPayload, match=r"records\.timestamp' is missing"):
        parse(body)


# --- junk bodies -----------------------------------------------------------------------------


def test_akamai_html_is_bad_payload() -> None:
    with pytest.raises(BadPayload, match=r"HTML page.*Resource not found") as info:
        parse(fixture_bytes(AKAMAI), expiry=AUG11)
    assert info.value.body == fixture_bytes(AKAMAI)
    assert (info.value.symbol, info.value.expiry) == ("NIFTY", "11-Aug-2026")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{}", "empty JSON object"),
        (b"", "0 bytes"),
        (b"  \n\t<html><body>Access Denied</body></html>", "HTML page"),
        (b"[1, 2]", "top-level JSON is a list"),
        (b'{"status": "ok"}', "no 'records' key"),
        (b'{"records": {"data": {}}}', "'records.data' is a dict"),
        (b'{"records": []}', "'records' is a list"),
        (b'{"records": {"timestamp": "11-Aug-2026 11:29:03"}}', "'records.data' is missing"),
    ],
)
def test_junk_bodies_are_bad_payload(body: bytes, needle: str) -> None:
    with pytest.raises(BadPayload, match=needle) as info:
        parse(body, expiry=AUG11)
    assert str(info.value).startswith("NIFTY 11-Aug-2026: ")


def test_truncated_json_is_bad_payload() -> None:
    body = fixture_bytes(V3_NIFTY)
    with pytest.raises(BadPayload, match=r"not valid JSON.*cut off") as info:
        parse(body[: len(body) // 2], expiry=AUG11)
    assert "NIFTY 11-Aug-2026" in str(info.value)


@pytest.mark.parametrize("name", [V3_NIFTY, NEXTAPI])
def test_empty_rows_are_empty_chain(name: str) -> None:
    doc = orjson.loads(fixture_bytes(name))
    doc.get("records", doc)["data"] = []
    with pytest.raises(EmptyChain, match="refresh the expiry list") as info:
        parse(orjson.dumps(doc), expiry=AUG11)
    assert info.value.outcome == "empty"


def mutate(name: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = orjson.loads(fixture_bytes(name))
    change(doc)
    return orjson.dumps(doc)


def _leg(doc: dict[str, Any], i: int = 3, side: str = "CE") -> dict[str, Any]:
    return rows_of(doc)[i][side]  # type: ignore[no-any-return]


WRONG_TYPES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "strike dict": (
        lambda d: rows_of(d)[3].update(strikePrice={}),
        r"data\[3\]\.strikePrice is \{\}",
    ),
    "oi NaN": (
        lambda d: _leg(d).update(openInterest="NaN"),
        r"data\[3\]\.CE .*openInterest is 'NaN'",
    ),
    "oi dash": (
        lambda d: _leg(d, 5, "PE").update(openInterest="-"),
        r"data\[5\]\.PE .*openInterest is '-'",
    ),
    "ltp bool": (lambda d: _leg(d).update(lastPrice=True), "lastPrice is True"),
    "fractional qty": (
        lambda d: _leg(d).update(totalBuyQuantity=3510.5),
        "totalBuyQuantity is 3510.5, expected a whole",
    ),
    "missing leg key": (
        lambda d: _leg(d).pop("sellPrice1"),
        r"data\[3\]\.CE .*has no 'sellPrice1'",
    ),
    "leg is a list": (lambda d: rows_of(d)[3].update(CE=[1]), r"data\[3\]\.CE .*is a list"),
    "row is a string": (lambda d: rows_of(d).__setitem__(2, "x"), r"data\[2\] is a str"),
    "identifier int": (lambda d: _leg(d).update(identifier=7), "identifier is 7"),
    "row expiry bad": (
        lambda d: rows_of(d)[0].update(expiryDates="32-Aug-2026"),
        "'32-Aug-2026' is not a valid",
    ),
    "row expiry dict": (
        lambda d: rows_of(d)[0].update(expiryDates={}),
        r"data\[0\]\.expiryDates is \{\}",
    ),
    "row no expiry": (
        lambda d: rows_of(d)[4].pop("expiryDates"),
        r"data\[4\] has no 'expiryDates'",
    ),
    "timestamp junk": (
        lambda d: d["records"].update(timestamp="yesterday"),
        "records.timestamp'.*not an NSE timestamp",
    ),
    "timestamp int": (lambda d: d["records"].update(timestamp=5), "records.timestamp'"),
    "bad hour": (
        lambda d: d["records"].update(timestamp="11-Aug-2026 25:29:03"),
        "impossible time",
    ),
    "underlying str": (
        lambda d: d["records"].update(underlyingValue="24k"),
        "underlyingValue' is '24k'",
    ),
    "expiryDates junk": (
        lambda d: d["records"].update(expiryDates=["soon"]),
        "records.expiryDates: 'soon'",
    ),
}


@pytest.mark.parametrize("case", WRONG_TYPES)
def test_wrong_types_are_bad_payload_with_context(case: str) -> None:
    change, needle = WRONG_TYPES[case]
    with pytest.raises(BadPayload, match=needle) as info:
        parse(mutate(V3_NIFTY, change), expiry=AUG11)
    assert str(info.value).startswith("NIFTY 11-Aug-2026: ")
    assert info.value.__cause__ is None  # a clean reason, not a wrapped KeyError


def test_integral_float_quantity_is_kept_as_int() -> None:
    body = mutate(V3_NIFTY, lambda d: _leg(d, 0).update(totalBuyQuantity=3510.0, buyQuantity1=65.0))
    ce = row_for(parse(body), 21600, "CE")
    assert (ce["total_buy_qty"], ce["bid_qty"]) == (3510, 65)
    assert type(ce["total_buy_qty"]) is int


def test_null_numbers_become_null_and_underlying_falls_back() -> None:
    body = mutate(
        V3_NIFTY,
        lambda d: _leg(d, 0).update(
            impliedVolatility=None, underlyingValue=None, buyQuantity1=None
        ),
    )
    ce = row_for(parse(body), 21600, "CE")
    assert ce["iv"] is None
    assert ce["bid_qty"] is None
    assert ce["underlying_value"] == 24445.1  # records.underlyingValue


def test_legacy_leg_missing_entirely_is_fine() -> None:
    body = fixture_bytes(LEGACY_NIFTY)
    doc = orjson.loads(body)
    one_sided = sum(1 for r in rows_of(doc) if "CE" not in r or "PE" not in r)
    assert one_sided > 0  # the fixture really has one-sided rows
    assert parse(body).table.num_rows == 2 * len(rows_of(doc)) - one_sided


def test_all_placeholder_legs_is_empty_chain() -> None:
    def zero(d: dict[str, Any]) -> None:
        for row in rows_of(d):
            row["CE"]["identifier"] = row["PE"]["identifier"] = None

    with pytest.raises(EmptyChain, match="placeholder legs"):
        parse(mutate(V3_RELIANCE, zero), symbol="RELIANCE")


def test_naive_fetched_at_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_chain(b"{}", symbol="NIFTY", fetched_at=datetime(2026, 8, 11, 11, 29))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)
LEG_KEYS = (
    sorted(orjson.loads(fixture_bytes(V3_NIFTY))["records"]["data"][0]["CE"])
    if (FIXTURES / V3_NIFTY).is_file()
    else ["openInterest"]  # the test skips anyway when the fixture is absent
)


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from([*LEG_KEYS, "strikePrice", "expiryDates"]),
    value=JSON_VALUES,
    row=st.integers(0, 112),
)
def test_any_value_anywhere_gives_a_table_or_bad_payload(key: str, value: Any, row: int) -> None:
    def change(d: dict[str, Any]) -> None:
        target = rows_of(d)[row] if key in ("strikePrice", "expiryDates") else _leg(d, row)
        target[key] = value

    body = mutate(V3_NIFTY, change)
    try:
        chain = parse(body)
    except BadPayload as exc:
        assert exc.reason and "unexpected" not in exc.reason
    else:
        assert chain.table.schema.equals(QUOTES_SCHEMA)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 241_815))
def test_any_truncation_is_bad_payload(cut: int) -> None:
    body = fixture_bytes(V3_NIFTY)
    with pytest.raises(BadPayload):
        parse(body[: min(cut, len(body) - 1)])


# --- expiries, universe, dates ---------------------------------------------------------------


def test_parse_expiries_dropdown() -> None:
    body = fixture_bytes(DROPDOWN)
    got = parse_expiries(body, symbol="NIFTY")
    assert len(got) == len(orjson.loads(body)["expiryDates"]) == 18
    assert got == sorted(got)
    assert got[0] == date(2026, 7, 14)
    assert got[-1] == date(2031, 6, 24)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{}", "empty JSON object"),
        (b"<html>Access Denied</html>", "HTML page"),
        (b'{"expiryDates": "14-Jul-2026"}', "'expiryDates' is a str"),
        (b'{"expiryDates": []}', "lists no expiries"),
        (b'{"expiryDates": ["14-Jul-2026", "Jul 21"]}', "'Jul 21' is not"),
        (b'{"expiryDates": [null]}', "expected a date string"),
    ],
)
def test_parse_expiries_junk(body: bytes, needle: str) -> None:
    with pytest.raises(BadPayload, match=needle) as info:
        parse_expiries(body, symbol="M&M")
    assert str(info.value).startswith("M&M: ")


def test_parse_universe() -> None:
    found = parse_universe(fixture_bytes(UNIVERSE))
    indices = [u for u in found if u.is_index]
    stocks = [u for u in found if not u.is_index]
    assert [u.symbol for u in indices] == [
        "NIFTY",
        "BANKNIFTY",
        "FINNIFTY",
        "MIDCPNIFTY",
        "NIFTYNXT50",
    ]
    assert len(stocks) == 210
    assert len({u.symbol for u in found}) == 215
    mm = next(u for u in stocks if u.symbol == "M&M")
    assert "Mahindra" in mm.name
    assert {"GVT&D", "BAJAJ-AUTO", "NAM-INDIA"} <= {u.symbol for u in stocks}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{}", "'data' is missing"),
        (b"<!DOCTYPE html><title>x</title>", "HTML page"),
        (b'{"data": {"IndexList": []}}', "'data.UnderlyingList' is missing"),
        (b'{"data": {"IndexList": [], "UnderlyingList": []}}', "both empty"),
        (b'{"data": {"IndexList": [{"symbol": 5}], "UnderlyingList": []}}', r"IndexList\[0\]"),
    ],
)
def test_parse_universe_junk(body: bytes, needle: str) -> None:
    with pytest.raises(BadPayload, match=needle):
        parse_universe(body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11-Aug-2026", AUG11),
        ("11-08-2026", AUG11),
        ("01-JAN-2027", date(2027, 1, 1)),
        ("1-dec-2026", date(2026, 12, 1)),
    ],
)
def test_parse_nse_date(text: str, expected: date) -> None:
    assert parse_nse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2026-08-11", "11-Augu-2026", "11-13-2026", "31-Feb-2026", "11-Aug-26", "", "11-Aug-2026 x"],
)
def test_parse_nse_date_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nse_date(text)


def test_parse_nse_timestamp_is_ist_aware() -> None:
    ts = parse_nse_timestamp("11-Aug-2026 11:29:03")
    assert ts == datetime(2026, 8, 11, 11, 29, 3, tzinfo=IST)
    assert ts.tzinfo is IST
    assert ts.isoformat() == "2026-08-11T11:29:03+05:30"


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_format_expiry_round_trips(d: date) -> None:
    text = format_expiry(d)
    assert len(text) == 11
    assert parse_nse_date(text) == d


def test_format_expiry_form() -> None:
    assert format_expiry(date(2026, 8, 1)) == "01-Aug-2026"


@pytest.mark.parametrize("name", [V3_NIFTY, V3_RELIANCE, *LEGACY_FILES])
def test_a_missing_iv_is_stored_as_null_not_zero(name: str) -> None:
    """NSE's IV of 0 (no trade to imply it from) is missing: null, never 0.0 (issue 15)."""
    body = fixture_bytes(name)
    doc = orjson.loads(body)
    rows = doc["records"]["data"]
    zeros = sum(
        1
        for r in rows
        for side in ("CE", "PE")
        if (r.get(side) or {}).get("identifier") and r[side].get("impliedVolatility") == 0
    )
    iv = parse_chain(body, symbol="X", fetched_at=FETCHED, now=None).table.column("iv")
    assert pc.sum(pc.equal(iv, 0.0)).as_py() in (None, 0)
    assert iv.null_count == zeros
