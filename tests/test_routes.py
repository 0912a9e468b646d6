"""Routes: direct and proxies, each with its own cookies, budget and pause.

The simulator serves https (a trustme CA) so both transports tunnel through the local CONNECT
and SOCKS5 proxies (``tests/proxies.py``); each proxy connects onward from its own loopback
address, so the simulator's per-client counters are the per-route budgets, server-side.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nsechain.collector.tick import Collector
from nsechain.config import load_settings
from nsechain.errors import ConfigError, Interrupted, NsechainError
from nsechain.nse.routes import RoutedClient, routes_of
from nsechain.sim.server import Simulator
from proxies import connect_proxy, socks5_proxy
from test_hostile import START
from tlsserver import LocalCA, make_ca, tick_on, tls_simulator

CHAIN = "option-chain-v3"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def sim(ca: LocalCA) -> Iterator[Simulator]:
    with tls_simulator(ca, START) as s:
        yield s


def tick(sim: Simulator, tmp_path: Path, ca: LocalCA, **kw: Any) -> tuple[Collector, list[Any]]:
    kw = {"symbols": "NIFTY,RELIANCE", "expiries_per_symbol": 2, "rate": 50.0, "burst": 5, **kw}
    return tick_on(sim, tmp_path, ca, START, block_cooloff_s=60.0, **kw)


@pytest.mark.parametrize("kind", ["httpx", "curl"])
@pytest.mark.parametrize("proxy", [connect_proxy, socks5_proxy], ids=["connect", "socks5"])
def test_the_collector_fetches_through_each_proxy(
    sim: Simulator, tmp_path: Path, ca: LocalCA, kind: str, proxy: Any
) -> None:
    with proxy("127.0.0.2") as url:
        collector, log = tick(sim, tmp_path, ca, transport=kind, proxies=[url], direct=False)
        collector.close()
    chains = [r for r in log if r["endpoint"] == CHAIN]
    assert chains and {r["outcome"] for r in chains} == {"ok"}
    assert {r["route"] for r in log} == {url}
    # Server-side: every request came from the proxy's address, none directly.
    assert set(sim.counters()["clients"]) == {"127.0.0.2"}


def test_routes_share_the_work_each_with_its_own_budget_and_cookies(
    sim: Simulator, tmp_path: Path, ca: LocalCA
) -> None:
    with connect_proxy("127.0.0.2") as http, socks5_proxy("127.0.0.3") as socks:
        collector, log = tick(sim, tmp_path, ca, transport="httpx", proxies=[http, socks])
        try:
            client = collector.client
            assert isinstance(client, RoutedClient)
            assert client.effective_rate == pytest.approx(150.0)  # 3 routes x 50
            assert collector.targets.rate.current == pytest.approx(150.0)  # the plan's budget
        finally:
            collector.close()
    clients = sim.counters()["clients"]
    assert set(clients) == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}  # every route was used
    routes = {r["route"] for r in log}
    assert routes == {"direct", http, socks}
    # Each route bootstrapped its own session (its own cookie jar).
    boots = [r["route"] for r in log if r["endpoint"] == "bootstrap"]
    assert sorted(boots) == sorted(["direct", http, socks])
    assert sim.counters()["bootstraps"] == 3


def test_a_blocked_route_pauses_alone(sim: Simulator, tmp_path: Path, ca: LocalCA) -> None:
    with (
        tls_simulator(ca, START, bot_wall=True) as wall,
        connect_proxy("127.0.0.2", upstream=("127.0.0.1", wall.port)) as bad,
    ):
        collector, log = tick(sim, tmp_path, ca, transport="httpx", proxies=[bad])
        try:
            client = collector.client
            assert isinstance(client, RoutedClient)
            direct, walled = client.routes
            assert walled.paused_until is not None  # the bot wall's route cools off
            assert direct.paused_until is None and client.paused_until is None
        finally:
            collector.close()
    blocked = [r for r in log if r["outcome"] == "fingerprint_block"]
    assert blocked and {r["route"] for r in blocked} == {bad}
    chains = [r for r in log if r["endpoint"] == CHAIN and r["outcome"] == "ok"]
    assert chains and {r["route"] for r in chains} == {"direct"}


def test_no_route_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no route"):
        routes_of(load_settings(direct=False))
    named = routes_of(load_settings(proxies=["socks5://user:secret@10.0.0.1:1080"]))
    assert named == [
        ("direct", None),
        ("socks5://10.0.0.1:1080", "socks5://user:secret@10.0.0.1:1080"),
    ]


def test_fetch_logs_from_before_routes_read_with_a_null_route(tmp_path: Path) -> None:
    import duckdb

    from nsechain.contract import FETCH_LOG_SCHEMA, FETCH_LOG_V1_SCHEMA, duckdb_ddl
    from nsechain.store import files
    from nsechain.store.tables import ensure_tables, upgrade_tables

    old = FETCH_LOG_V1_SCHEMA.empty_table()
    kv = {files.META_FETCH_LOG.encode(): files._ipc_bytes(old)}
    table = files._fetch_log(kv)
    assert table is not None and table.schema.equals(FETCH_LOG_SCHEMA)
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    ensure_tables(con)
    con.execute("DROP TABLE fetch_log")  # as an older nsechain made it
    con.execute(duckdb_ddl("fetch_log", FETCH_LOG_V1_SCHEMA))
    upgrade_tables(con)
    names = [r[0] for r in con.execute("DESCRIBE fetch_log").fetchall()]
    assert names[-1] == "route"
    con.close()


class _Route:
    """A stand-in route whose bootstrap waits until every route's bootstrap has begun."""

    paused_until = None

    def __init__(self, name: str, started: threading.Barrier, fail: Exception | None) -> None:
        self.name, self._started, self._fail = name, started, fail
        self.sessions = 0

    def ensure_session(self) -> None:
        self._started.wait()  # one after another, the first would wait here for the others
        self.sessions += 1
        if self._fail is not None:
            raise self._fail

    def bootstrap(self) -> set[str]:
        self.ensure_session()
        return {f"cookie-{self.name}"}


def _routed(fails: list[Exception | None]) -> tuple[RoutedClient, list[_Route]]:
    proxies = [f"http://127.0.0.{i + 2}:9" for i in range(len(fails) - 1)]
    client = RoutedClient(load_settings(proxies=proxies))
    for route in client.routes:
        route.close()
    started = threading.Barrier(len(fails), timeout=30.0)  # a guard, not a timing
    fakes = [_Route(str(i), started, fail) for i, fail in enumerate(fails)]
    client.routes = fakes  # type: ignore[assignment]
    return client, fakes


def test_the_routes_bootstrap_at_once() -> None:
    client, fakes = _routed([None, None, None])
    client.ensure_session()  # would break the barrier if the three went one after another
    assert [f.sessions for f in fakes] == [1, 1, 1]
    client, fakes = _routed([None, None, None])
    assert client.bootstrap() == {"cookie-0", "cookie-1", "cookie-2"}


def test_a_failed_route_bootstrap_is_raised_after_every_route_tried() -> None:
    client, fakes = _routed([None, NsechainError("proxy down"), Interrupted("stop")])
    with pytest.raises(Interrupted):  # a stop wins over a route's failure
        client.ensure_session()
    assert [f.sessions for f in fakes] == [1, 1, 1]
    client, fakes = _routed([NsechainError("proxy down"), None])
    with pytest.raises(NsechainError, match="proxy down"):
        client.ensure_session()
    assert [f.sessions for f in fakes] == [1, 1]
