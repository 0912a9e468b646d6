"""The simulator and nsechain's own NSE layer agree: every URL the client builds is served,
and the parser reads every body the simulator sends (and rejects its faulty ones)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from nsechain.errors import BadPayload, EmptyChain
from nsechain.nse import endpoints, parse
from nsechain.sim.server import SimConfig, Simulator
from nsechain.timeutil import IST

DAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=5, speed=0, start="2026-11-25T12:34:56")) as s:
        yield s


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        assert c.get(endpoints.BOOTSTRAP.url(sim.base_url)).status_code == 200
        yield c


def served(client: httpx.Client, url: str) -> bytes:
    r = client.get(url)
    assert r.status_code == 200, url
    assert r.content[:1] == b"{", url
    return r.content


def test_every_live_endpoint_the_client_knows_is_served(
    sim: Simulator, client: httpx.Client
) -> None:
    expiry = endpoints.format_expiry(date(2026, 12, 29))
    args = {
        "option-chain-v3": {"type": "Equity", "symbol": "M&M", "expiry": expiry},
        "option-chain-contract-info": {"symbol": "M&M"},
        "nextapi-getOptionChainData": {"symbol": "GVT&D", "params": f"expiryDate={expiry}"},
        "nextapi-getOptionChainDropdown": {"symbol": "BAJAJ-AUTO"},
    }
    skip = {"bootstrap", "nextapi-getSymbolDerivativesData", "option-chain-indices"}
    skip.add("option-chain-equities")
    for ep in endpoints.ENDPOINTS:
        if ep.name not in skip:
            served(client, ep.url(sim.base_url, **args.get(ep.name, {})))
    for ep in (endpoints.LEGACY_INDICES, endpoints.LEGACY_EQUITIES):
        assert client.get(ep.url(sim.base_url, symbol="NIFTY")).status_code == 404


@pytest.mark.parametrize("symbol", ["NIFTY", "BANKNIFTY", "RELIANCE", "M&M", "NAM-INDIA"])
def test_parser_reads_simulated_chains(sim: Simulator, client: httpx.Client, symbol: str) -> None:
    info = served(client, endpoints.CONTRACT_INFO.url(sim.base_url, symbol=symbol))
    expiries = parse.parse_expiries(info, symbol=symbol)
    assert [endpoints.format_expiry(e) for e in expiries] == sim.expiries(symbol)
    for expiry in expiries[:2]:
        text = endpoints.format_expiry(expiry)
        v3 = endpoints.OPTION_CHAIN_V3.url(
            sim.base_url, type=endpoints.chain_type(symbol), symbol=symbol, expiry=text
        )
        nxt = endpoints.NEXTAPI_CHAIN.url(sim.base_url, symbol=symbol, params=f"expiryDate={text}")
        for url in (v3, nxt):
            chain = parse.parse_chain(
                served(client, url), symbol=symbol, expiry=expiry, fetched_at=sim.now()
            )
            assert chain.table.num_rows > 0
            assert chain.exchange_ts.astimezone(IST).isoformat() == "2026-11-25T12:34:56+05:30"


def test_parser_classifies_the_simulated_failures(sim: Simulator, client: httpx.Client) -> None:
    expiry = date(2026, 12, 1)
    url = endpoints.OPTION_CHAIN_V3.url(
        sim.base_url, type="Indices", symbol="NIFTY", expiry=endpoints.format_expiry(expiry)
    )
    wrong = url.replace("01-Dec-2026", "02-Dec-2026")
    with pytest.raises(EmptyChain):
        parse.parse_chain(served(client, wrong), symbol="NIFTY", expiry=date(2026, 12, 2),
                          fetched_at=sim.now())  # fmt: skip
    try:
        for fault in ("empty", "truncate"):
            sim.set_faults({fault: {"every": 1}})
            with pytest.raises(BadPayload):
                parse.parse_chain(
                    client.get(url).content, symbol="NIFTY", expiry=expiry, fetched_at=sim.now()
                )
    finally:
        sim.set_faults({})


def test_parser_reads_the_simulated_universe(sim: Simulator, client: httpx.Client) -> None:
    universe = parse.parse_universe(served(client, endpoints.UNDERLYING_INFO.url(sim.base_url)))
    assert len(universe) == len(sim.symbols()) == 213
    assert sum(u.is_index for u in universe) == 5
