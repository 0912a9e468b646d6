"""The transport boundary: httpx and curl behind one interface, the same rules for both.

- A local TLS server (trustme CA) records each ClientHello: curl shows Chrome's markers
  (GREASE, certificate compression, ALPS), httpx none of them, with or without HTTP/2.
- The hostile server's drip, bomb, wire cap, corrupt gzip and redirect, through curl: the
  same outcome classes, no in-line retry where httpx does none, the budget counted server-side.
- The simulator plays Akamai's bot wall over TLS: ``transport=auto`` switches to curl once and
  records; ``transport=httpx`` records a ``fingerprint_block`` and says what to do.
"""

from __future__ import annotations

import gzip
import logging
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostile import Hostile, Request, bomb, head, hostile_server, send
from nsechain import errors
from nsechain.config import load_settings
from nsechain.nse import endpoints as ep
from nsechain.nse._responses import Call
from nsechain.nse._wire import Watch
from nsechain.nse.transport import make_transport
from nsechain.sim.server import Simulator
from test_hostile import CHAIN, START, V3, Desk, chain_of
from tlsserver import LocalCA, hello_server, make_ca, tick_on, tls_simulator


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


# --- fingerprints ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "http2", "browser"),
    [("httpx", False, False), ("httpx", True, False), ("curl", False, True)],
    ids=["httpx", "httpx-h2", "curl"],
)
def test_only_curl_presents_browser_tls_markers(
    ca: LocalCA, kind: str, http2: bool, browser: bool
) -> None:
    settings = load_settings(ca_bundle=ca.ca_pem, http2=http2)
    transport = make_transport(settings, kind)
    with hello_server(ca) as server:
        try:
            reply, body = transport.get(
                Call(ep.CONTRACT_INFO, server.url, "NIFTY", None), {"Accept": "*/*"}, Watch()
            )
        finally:
            transport.close()
        [hello] = server.hellos
    assert (reply.status_code, body.content) == (200, b'{"ok": true}')  # the whole GET worked
    assert hello is not None
    assert (hello.grease, hello.cert_compression, hello.alps) == (browser,) * 3


# --- the hostile server through curl ----------------------------------------------------------
@pytest.fixture
def server() -> Iterator[Hostile]:
    with hostile_server(START) as s:
        yield s


def rows(log: list[dict[str, Any]], symbol: str) -> list[tuple[Any, ...]]:
    return [
        (r["http_status"], r["outcome"], r["attempt"])
        for r in log
        if r["endpoint"] == CHAIN and r["symbol"] == symbol
    ]


@pytest.mark.parametrize("kind", ["httpx", "curl"])
def test_both_transports_record_the_same_tick(server: Hostile, tmp_path: Path, kind: str) -> None:
    desk = Desk(server, tmp_path, transport=kind)
    result, log = desk.tick()
    assert desk.collector.client.transport == kind
    assert rows(log, "NIFTY") == [(200, "ok", 1)]
    assert rows(log, "RELIANCE") == [(200, "ok", 1)]
    assert result.quote_rows > 0
    assert server.counts()[V3] == 2


def test_curl_ends_a_drip_at_the_whole_request_deadline(server: Hostile, tmp_path: Path) -> None:
    def drip(conn: socket.socket, request: Request) -> None:
        body = server.body_of(request)
        conn.sendall(head(200, {}, len(body)))
        for i in range(len(body)):
            if server.stop.wait(0.05):
                return
            conn.sendall(body[i : i + 1])

    server.on(chain_of("RELIANCE"), drip)
    _, log = Desk(server, tmp_path, transport="curl", deadline_s=1.0).tick()
    [(status, outcome, attempt)] = rows(log, "RELIANCE")
    assert (status, outcome, attempt) == (200, "timeout", 1)  # not retried in-line
    [error] = [r["error"] for r in log if r["symbol"] == "RELIANCE" and r["endpoint"] == CHAIN]
    assert "whole-request deadline" in error
    assert rows(log, "NIFTY") == [(200, "ok", 1)]


def test_curl_stops_a_gzip_bomb_at_the_body_cap(server: Hostile, tmp_path: Path) -> None:
    payload = bomb(64 << 20)
    server.on(
        chain_of("RELIANCE"),
        lambda conn, _r: send(conn, 200, payload, {"Content-Encoding": "gzip"}),
    )
    desk = Desk(server, tmp_path, transport="curl", max_body_bytes=1 << 20)
    _, log = desk.tick()
    assert rows(log, "RELIANCE") == [(200, "bad_payload", 1)]  # a bomb is not retried
    [(body, reason)] = desk.quarantined()
    assert len(body) == 1 << 20 and reason["symbol"] == "RELIANCE"  # at most the cap is kept
    assert server.counts()[V3] == 2


def test_curl_cuts_a_body_at_the_wire_cap(server: Hostile, tmp_path: Path) -> None:
    junk = random.Random(3).randbytes(3 << 20)
    server.on(chain_of("RELIANCE"), lambda conn, _r: send(conn, 200, junk))
    _, log = Desk(server, tmp_path, transport="curl", max_wire_bytes=1 << 20).tick()
    assert rows(log, "RELIANCE") == [(200, "bad_payload", 1)]
    assert server.counts()[V3] == 2


def test_curl_names_a_corrupt_gzip_body(server: Hostile, tmp_path: Path) -> None:
    good = gzip.compress(b'{"records": {"data": []}}' * 2000)
    corrupt = good[:10] + random.Random(1).randbytes(20_000)
    server.on(
        chain_of("RELIANCE"),
        lambda conn, _r: send(conn, 200, corrupt, {"Content-Encoding": "gzip"}),
    )
    _, log = Desk(server, tmp_path, transport="curl").tick()
    outcomes = {outcome for _, outcome, _ in rows(log, "RELIANCE")}
    assert outcomes == {"bad_payload"}


def test_curl_never_follows_a_redirect(server: Hostile, tmp_path: Path) -> None:
    server.on(
        chain_of("RELIANCE"),
        lambda conn, _r: send(conn, 302, b"", {"Location": "/login"}),
    )
    _, log = Desk(server, tmp_path, transport="curl").tick()
    assert rows(log, "RELIANCE") == [(302, "http_error", 1)]
    assert server.counts()["/login"] == 0


def test_curl_translates_a_dead_port_into_a_network_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = make_transport(load_settings(timeout_s=2.0), "curl")
    url = f"http://127.0.0.1:{port}/api/x"
    with pytest.raises(errors.NetworkError, match="cannot connect"):
        transport.get(Call(ep.CONTRACT_INFO, url, "NIFTY", None), {}, Watch())
    transport.close()


# --- the bot wall -----------------------------------------------------------------------------
@pytest.fixture
def wall(ca: LocalCA) -> Iterator[Simulator]:
    with tls_simulator(ca, START, bot_wall=True) as sim:
        yield sim


def test_auto_switches_to_curl_on_the_bot_wall_and_records(
    wall: Simulator, tmp_path: Path, ca: LocalCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nsechain.nse.client")
    collector, log = tick_on(wall, tmp_path, ca, START, transport="auto")
    try:
        assert collector.client.transport == "curl"
        boots = [r["outcome"] for r in log if r["endpoint"] == "bootstrap"]
        assert boots == ["fingerprint_block", "ok"]
        chains = [r["outcome"] for r in log if r["endpoint"] == CHAIN]
        assert chains == ["ok"]
        switches = [r for r in caplog.records if "transport switch" in r.getMessage()]
        assert len(switches) == 1  # said once
        assert wall.counters()["faults"]["bot_wall"] == 1  # one request refused, server-side
    finally:
        collector.close()


def test_httpx_on_the_bot_wall_records_a_fingerprint_block(
    wall: Simulator, tmp_path: Path, ca: LocalCA
) -> None:
    collector, log = tick_on(wall, tmp_path, ca, START, transport="httpx")
    try:
        assert collector.client.transport == "httpx"
        outcomes = {r["outcome"] for r in log}
        assert "fingerprint_block" in outcomes and "ok" not in outcomes
        wall_rows = [r for r in log if r["outcome"] == "fingerprint_block"]
        assert "bot wall" in wall_rows[0]["error"]
    finally:
        collector.close()


def test_a_421_is_misdirected_and_says_what_helps() -> None:
    import httpx

    from nsechain.nse._responses import classify

    call = Call(ep.CONTRACT_INFO, "https://nse.example/api/x", "NIFTY", None)
    failed = classify(call, httpx.Response(421, content=b""), 1.0)
    assert failed is not None and isinstance(failed.error, errors.Misdirected)
    assert failed.error.outcome == "misdirected" and "http2 = true" in str(failed.error)
