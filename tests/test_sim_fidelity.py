"""The simulator's responses have the exact shape of NSE's real ones (shared/fixtures/nse).

Compared field by field and type by type: key names and order at every level, value types per
key, date formats, compact separators, totals that add up, zeroed legs, and the calendar
(expiry lists) for the capture dates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import reduce
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from conftest import fixture_bytes
from nsechain.market import INDEX_SYMBOLS
from nsechain.sim.server import SimConfig, Simulator
from nsechain.sim.universe import STOCKS

MON = re.compile(r"^\d{2}-[A-Z][a-z]{2}-\d{4}$")
DMY = re.compile(r"^\d{2}-\d{2}-\d{4}$")
STAMP = re.compile(r"^\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}$")
IDENT = re.compile(
    r"^OPT(IDX|STK)(?P<sym>.+)(?P<exp>\d{2}-\d{2}-\d{4})(?P<side>CE|PE)(?P<k>[\d.]+)$"
)


def fixture(name: str) -> Any:
    return orjson.loads(fixture_bytes(name))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    # The capture instant of the NIFTY fixture, with the clock stopped: byte-stable output.
    with Simulator(SimConfig(seed=7, speed=0, start="2026-08-11T11:29:03")) as s:
        yield s


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url) as c:
        assert c.get("/option-chain").status_code == 200
        yield c


def v3(client: httpx.Client, symbol: str, expiry: str) -> httpx.Response:
    typ = "Indices" if symbol in INDEX_SYMBOLS else "Equity"
    return client.get(f"/api/option-chain-v3?type={typ}&symbol={quote(symbol)}&expiry={expiry}")


def kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def kinds_by_key(legs: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for leg in legs:
        for key, value in leg.items():
            out.setdefault(key, set()).add(kind(value))
    return out


def allowed(real: set[str]) -> set[str]:
    # NSE prints numbers the JavaScript way: a whole float comes out as an int. So wherever
    # the capture has floats, an int is the same type on the wire.
    return real | {"int"} if "float" in real else real


def legs_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [row[side] for row in body["records"]["data"] for side in ("CE", "PE")]


def assert_same_shape(got: dict[str, Any], real: dict[str, Any]) -> None:
    assert list(got) == list(real)
    assert list(got["records"]) == list(real["records"])
    assert list(got["filtered"]) == list(real["filtered"])
    for side in ("CE", "PE"):
        assert list(got["filtered"][side]) == list(real["filtered"][side])
    for key in ("timestamp", "underlyingValue", "expiryDates", "strikePrices"):
        assert allowed({kind(real["records"][key])}) >= {kind(got["records"][key])}, key
    real_row, real_leg = real["records"]["data"][0], legs_of(real)[0]
    for row in got["records"]["data"]:
        assert list(row) == list(real_row)
        assert {k: kind(v) for k, v in row.items() if k not in ("CE", "PE")} == {
            "expiryDates": "str",
            "strikePrice": "int",
        }
    for leg in legs_of(got):
        assert list(leg) == list(real_leg)


@pytest.fixture(scope="module")
def real_leg_kinds() -> dict[str, set[str]]:
    both = legs_of(fixture("v3_indices_NIFTY_2026-08-11_112903.json"))
    both += legs_of(fixture("v3_equity_RELIANCE_2026-08-11_112849.json"))
    return kinds_by_key(both)


@pytest.mark.parametrize(
    ("name", "symbol", "expiry", "lot"),
    [
        ("v3_indices_NIFTY_2026-08-11_112903.json", "NIFTY", "11-Aug-2026", 65),
        ("v3_equity_RELIANCE_2026-08-11_112849.json", "RELIANCE", "25-Aug-2026", 500),
    ],
)
def test_v3_matches_real_capture(
    client: httpx.Client,
    real_leg_kinds: dict[str, set[str]],
    name: str,
    symbol: str,
    expiry: str,
    lot: int,
) -> None:
    real = fixture(name)
    r = v3(client, symbol, expiry)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    got = orjson.loads(r.content)
    assert_same_shape(got, real)
    # Compact separators, like the capture (orjson re-serialises both to the same bytes).
    assert orjson.dumps(got) == r.content
    assert orjson.dumps(real) == fixture_bytes(name)

    for key, seen in kinds_by_key(legs_of(got)).items():
        assert seen <= allowed(real_leg_kinds[key]), (key, seen, real_leg_kinds[key])

    rec = got["records"]
    assert rec["timestamp"] == "11-Aug-2026 11:29:03" and STAMP.match(rec["timestamp"])
    # Same calendar as NSE on the capture day: the whole expiry list matches.
    assert rec["expiryDates"] == real["records"]["expiryDates"]
    assert all(MON.match(e) for e in rec["expiryDates"])
    strikes = [float(s) for s in rec["strikePrices"]]
    assert all(isinstance(s, str) for s in rec["strikePrices"])
    assert strikes == sorted(strikes) and len(set(strikes)) == len(strikes)
    assert min(strikes) < rec["underlyingValue"] < max(strikes)

    rows = rec["data"]
    assert rows and got["filtered"]["data"] == rows
    assert [r["strikePrice"] for r in rows] == sorted(r["strikePrice"] for r in rows)
    for side in ("CE", "PE"):
        live = [row[side] for row in rows if row[side]["identifier"] is not None]
        assert got["filtered"][side]["totOI"] == sum(leg["openInterest"] for leg in live)
        assert got["filtered"][side]["totVol"] == sum(leg["totalTradedVolume"] for leg in live)
    quantities = []
    for row in rows:
        assert row["expiryDates"] == expiry
        for side in ("CE", "PE"):
            leg = row[side]
            if leg["identifier"] is None:
                continue
            m = IDENT.match(leg["identifier"])
            assert m, leg["identifier"]
            assert (m["sym"], m["exp"], m["side"]) == (symbol, leg["expiryDate"], side)
            assert float(m["k"]) == row["strikePrice"] == leg["strikePrice"]
            assert DMY.match(leg["expiryDate"]) and leg["underlying"] == symbol
            assert leg["underlyingValue"] == rec["underlyingValue"]
            assert leg["PChange"] == leg["pChange"] and leg["optionType"] is None
            quantities += [leg[k] for k in ("buyQuantity1", "sellQuantity1", "totalBuyQuantity")]
    # Quantities are shares in whole lots: their GCD is the lot size, as in the capture.
    assert reduce(math.gcd, quantities) == lot


def test_some_stock_legs_are_zeroed_like_nse(client: httpx.Client) -> None:
    real = fixture("v3_equity_RELIANCE_2026-08-11_112849.json")
    zero = next(leg for leg in legs_of(real) if leg["identifier"] is None)
    zeroed = []
    for u in STOCKS[:40]:
        info = client.get(f"/api/option-chain-contract-info?symbol={quote(u.symbol)}").json()
        body = v3(client, u.symbol, info["expiryDates"][0]).json()
        zeroed += [leg for leg in legs_of(body) if leg["identifier"] is None]
    assert zeroed, "some far strikes of stocks list only one side"
    for leg in zeroed:
        assert leg == zero
        assert list(leg) == list(zero)


def test_wrong_expiry_is_200_with_empty_data(client: httpx.Client) -> None:
    real = fixture("v3_indices_NIFTY_2026-08-11_112903.json")
    r = v3(client, "NIFTY", "12-Aug-2026")
    assert r.status_code == 200
    body = r.json()
    assert body["records"]["data"] == [] and body["filtered"]["data"] == []
    assert body["filtered"]["CE"] == {"totOI": 0, "totVol": 0}
    assert list(body["records"]) == list(real["records"])
    assert body["records"]["expiryDates"] == real["records"]["expiryDates"]


def test_nextapi_matches_real_capture(client: httpx.Client) -> None:
    real = fixture("nextapi_getOptionChainData_NIFTY_2026-07-10_1530.json")
    url = "/api/NextApi/apiClient/GetQuoteApi?functionName=getOptionChainData&symbol=NIFTY"
    r = client.get(f"{url}&params=expiryDate=18-Aug-2026")
    assert r.status_code == 200
    got = orjson.loads(r.content)
    assert list(got) == list(real) and orjson.dumps(got) == r.content
    assert STAMP.match(got["timestamp"])
    real_leg = real["data"][0]["CE"]
    real_kinds = kinds_by_key([row[s] for row in real["data"] for s in ("CE", "PE")])
    for row in got["data"]:
        assert list(row) == list(real["data"][0])
        assert row["expiryDates"] == "18-08-2026" and DMY.match(row["expiryDates"])
        for side in ("CE", "PE"):
            assert list(row[side]) == list(real_leg)
            assert "PChange" not in row[side]
    for key, seen in kinds_by_key([row[s] for row in got["data"] for s in ("CE", "PE")]).items():
        assert seen <= allowed(real_kinds[key]), key
    empty = client.get(f"{url}&params=expiryDate=19-Aug-2026").json()
    assert empty["data"] == [] and list(empty) == list(real)


def test_dropdown_and_contract_info_match_real_capture() -> None:
    real = fixture("nextapi_getOptionChainDropdown_NIFTY_2026-07.json")
    with (
        Simulator(SimConfig(speed=0, start="2026-07-10T15:30:00")) as sim,
        httpx.Client(base_url=sim.base_url) as client,
    ):
        client.get("/")
        url = "/api/NextApi/apiClient/GetQuoteApi?functionName=getOptionChainDropdown&symbol=NIFTY"
        dropdown = client.get(url).json()
        info = client.get("/api/option-chain-contract-info?symbol=NIFTY").json()
    assert dropdown == info
    assert list(info) == list(real)
    assert info["expiryDates"] == real["expiryDates"]
    assert all(isinstance(s, str) for s in info["strikePrice"])


def test_underlying_information_shape(client: httpx.Client) -> None:
    real = fixture("underlying_information_2026-07-24.json")
    got = client.get("/api/underlying-information").json()
    assert list(got) == list(real) and list(got["data"]) == list(real["data"])
    item = real["data"]["UnderlyingList"][0]
    for part in ("IndexList", "UnderlyingList"):
        for entry in got["data"][part]:
            assert list(entry) == list(item)
            assert [kind(v) for v in entry.values()] == [kind(v) for v in item.values()]
    assert got["data"]["IndexList"] == real["data"]["IndexList"]
    assert [i["symbol"] for i in got["data"]["IndexList"]] == list(INDEX_SYMBOLS)
    symbols = {i["symbol"] for i in got["data"]["UnderlyingList"]}
    assert len(symbols) == 208
    assert {"M&M", "GVT&D", "BAJAJ-AUTO", "NAM-INDIA", "RELIANCE"} <= symbols
    names = [i["underlying"] for i in got["data"]["UnderlyingList"]]
    assert names == sorted(names)


def test_holiday_master_is_nse_2026_list(client: httpx.Client) -> None:
    real = fixture("holiday_master_trading_2026.json")
    got = client.get("/api/holiday-master?type=trading").json()
    assert got["FO"] == real["FO"]
    assert set(got) == set(real)
    assert list(got["CM"][0]) == list(real["CM"][0])


def test_market_status_entry_shape(client: httpx.Client) -> None:
    real = fixture("EXTRACT_marketStatus_marketState_2023-10-16_nseindiaapi_sample.json")
    got = client.get("/api/marketStatus").json()
    cm = next(m for m in got["marketState"] if m["market"] == "Capital Market")
    assert list(cm) == list(real[0])
    assert cm["marketStatus"] == "Open"
    assert [m["market"] for m in got["marketState"][:4]] == [m["market"] for m in real[:4]]


def test_legacy_paths_answer_the_akamai_404_page(sim: Simulator) -> None:
    page = fixture_bytes("error_legacy_option-chain-indices_akamai_404_2026-07.html")
    with httpx.Client(base_url=sim.base_url) as fresh:  # no cookies: 404 comes first
        for path in ("/api/option-chain-indices", "/api/option-chain-equities"):
            r = fresh.get(f"{path}?symbol=NIFTY")
            assert r.status_code == 404
            assert r.content == page
