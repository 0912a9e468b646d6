"""A hostile NSE (issue 13): each failure found against an adversarial server, over loopback.

The server (``tests/hostile.py``) speaks raw HTTP/1.1 on an ephemeral port, answers from the
simulator's router, and lets each test replace the answer to some requests with a fault. The
collector runs real ticks on a frozen clock (the simulator's minute, never the real clock).
Every request is counted server-side. Nothing here asserts on timing; the waits have generous
guards only so that a regression shows as a failure, not a hang.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import socket
import threading
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from hostile import Hostile, Request, bomb, head, hostile_server, send
from nsechain.collector.clock import FixedClock
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.collector.tick import Collector, TickResult
from nsechain.config import Settings, load_settings
from nsechain.store.files import read_tick_fetch_log
from nsechain.store.loader import Loader
from nsechain.timeutil import IST

V3 = "/api/option-chain-v3"
CHAIN = "option-chain-v3"
START = datetime(2026, 11, 25, 10, 0, tzinfo=IST)  # a Wednesday session


def chain_of(symbol: str) -> Callable[[Request], bool]:
    return lambda r: r.path == V3 and f"symbol={symbol}&" in r.query


class Desk:
    """A collector on a frozen clock against the hostile server, one tick per simulated minute."""

    def __init__(self, server: Hostile, tmp_path: Path, **kw: Any) -> None:
        self.server = server
        self.settings = settings_for(tmp_path, server, **kw)
        self.clock = FixedClock(START)
        self.collector = Collector(self.settings, clock=self.clock)
        self.at = START

    def tick(self) -> tuple[TickResult, list[dict[str, Any]]]:
        self.at += timedelta(minutes=1)
        self.server.sim.set_clock(start=self.at)
        self.clock.set(self.at)
        result = self.collector.run_tick(self.at)
        assert result.path is not None, result.error
        return result, read_tick_fetch_log(result.path).to_pylist()

    def quarantined(self) -> list[tuple[bytes, dict[str, Any]]]:
        out = []
        for body in sorted(self.settings.quarantine_dir.rglob("body_*.bin")):
            sidecar = json.loads(body.with_name(body.name + ".reason.json").read_text())
            out.append((body.read_bytes(), sidecar))
        return out

    def load(self) -> duckdb.DuckDBPyConnection:
        s = self.settings
        Loader(s.db_path, s.pending_dir, s.processed_dir, s.quarantine_dir).load_pending()
        return duckdb.connect(str(s.db_path), read_only=True)


def settings_for(tmp_path: Path, server: Hostile, **kw: Any) -> Settings:
    defaults: dict[str, Any] = {
        "base_url": server.base_url,
        "data_dir": tmp_path / "data",
        "db_path": tmp_path / "chain.duckdb",
        "symbols": "NIFTY,RELIANCE",
        "expiries_per_symbol": 1,
        "interval_s": 60.0,
        "ignore_market_hours": True,
        "rate": 200.0,
        "burst": 20,
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 5.0,
        "deadline_s": 5.0,
        "block_cooloff_s": 0.2,
    }
    return load_settings(**{**defaults, **kw})


@pytest.fixture
def server() -> Iterator[Hostile]:
    with hostile_server(START) as s:
        yield s


def rows_of(log: list[dict[str, Any]], symbol: str) -> list[dict[str, Any]]:
    return [r for r in log if r["endpoint"] == CHAIN and r["symbol"] == symbol]


# --- 1. slow drip --------------------------------------------------------------------------------
def drip(server: Hostile, every_s: float, *, headers_too: bool) -> Callable[..., None]:
    def act(conn: socket.socket, request: Request) -> None:
        body = server.body_of(request)
        data = head(200, {}, len(body)) + body
        if not headers_too:  # the headers at once, then the body a byte at a time
            conn.sendall(data[: len(data) - len(body)])
            data = body
        server.dripping.set()
        for i in range(len(data)):
            if server.stop.wait(every_s):
                return
            conn.sendall(data[i : i + 1])  # OSError once the client gave up: the drip ends

    return act


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_slow_drip_ends_at_the_whole_request_deadline(
    server: Hostile, tmp_path: Path, headers_too: bool
) -> None:
    # Each byte arrives well within the 5 s read timeout: only the deadline can end this.
    server.on(chain_of("RELIANCE"), drip(server, 0.05, headers_too=headers_too))
    desk = Desk(server, tmp_path, deadline_s=1.0)
    result, log = desk.tick()
    reliance = rows_of(log, "RELIANCE")
    assert [(r["outcome"], r["attempt"]) for r in reliance] == [("timeout", 1)]  # not retried
    assert "whole-request deadline" in reliance[0]["error"]
    # A body cut by the deadline keeps its true status and the bytes that did come.
    status, sent = reliance[0]["http_status"], reliance[0]["bytes"]
    assert (status, sent > 0) == ((None, False) if headers_too else (200, True))
    assert [r["outcome"] for r in rows_of(log, "NIFTY")] == ["ok"]  # the other pair is kept
    assert result.quote_rows > 0
    assert server.counts()[V3] == 2


# --- 2. gzip bomb ---------------------------------------------------------------------------------
BOMB_INFLATED = 256 << 20  # 256 MiB of zeros, about 256 KB as sent
CAP = 1 << 20


def test_gzip_bomb_stops_at_the_cap_and_holds_memory(server: Hostile, tmp_path: Path) -> None:
    payload = bomb(BOMB_INFLATED)
    server.on(
        chain_of("RELIANCE"),
        lambda conn, _r: send(conn, 200, payload, {"Content-Encoding": "gzip"}),
    )
    desk = Desk(server, tmp_path, max_body_bytes=CAP)
    tracemalloc.start()
    try:
        result, log = desk.tick()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The decompressed bytes stop at the cap: memory stays a few caps, not 256 MiB.
    assert peak < 16 * CAP, f"peak traced memory {peak:,} bytes"
    reliance = rows_of(log, "RELIANCE")
    assert [(r["http_status"], r["outcome"]) for r in reliance] == [(200, "bad_payload")]
    assert "inflates past the 1,048,576-byte cap" in reliance[0]["error"]
    assert result.outcomes["ok"] == 1  # NIFTY
    kept = desk.quarantined()
    assert len(kept) == 1  # one attempt: a bomb is not retried
    body, reason = kept[0]
    assert len(body) <= len(payload) and payload.startswith(body)  # what was read, as sent
    assert reliance[0]["bytes"] == len(body) and reason["symbol"] == "RELIANCE"
    assert server.counts()[V3] == 2


def test_body_over_the_wire_cap_is_cut_there(server: Hostile, tmp_path: Path) -> None:
    junk = random.Random(3).randbytes(3 << 20)
    server.on(chain_of("RELIANCE"), lambda conn, _r: send(conn, 200, junk))
    desk = Desk(server, tmp_path, max_wire_bytes=CAP)
    _, log = desk.tick()
    reliance = rows_of(log, "RELIANCE")
    assert [(r["http_status"], r["outcome"]) for r in reliance] == [(200, "bad_payload")]
    assert "over the 1,048,576-byte cap" in reliance[0]["error"]
    [(body, _)] = desk.quarantined()
    assert body == junk[:CAP]


# --- 3. corrupt gzip ------------------------------------------------------------------------------
def test_corrupt_gzip_keeps_status_bytes_and_body(server: Hostile, tmp_path: Path) -> None:
    good = gzip.compress(b'{"records": {"data": []}}' * 2000)
    corrupt = good[:10] + random.Random(1).randbytes(29_187 - 10)
    server.on(
        chain_of("RELIANCE"),
        lambda conn, _r: send(conn, 200, corrupt, {"Content-Encoding": "gzip"}),
    )
    desk = Desk(server, tmp_path)
    _, log = desk.tick()
    reliance = rows_of(log, "RELIANCE")
    assert [(r["http_status"], r["bytes"], r["outcome"]) for r in reliance] == [
        (200, 29_187, "bad_payload")
    ] * 2  # retried once, like any bad payload
    assert all("does not decompress" in r["error"] for r in reliance)
    kept = desk.quarantined()
    assert [body for body, _ in kept] == [corrupt, corrupt]
    assert all(reason["expiry"] is not None for _, reason in kept)


# --- 4. redirects ---------------------------------------------------------------------------------
def test_redirects_are_not_followed_and_every_request_is_budgeted(
    server: Hostile, tmp_path: Path
) -> None:
    def loop(conn: socket.socket, r: Request) -> None:
        send(conn, 302, b"", {"Location": f"{r.path}?{r.query}"})

    server.on(chain_of("RELIANCE"), loop)
    server.on(chain_of("NIFTY"), lambda conn, _r: send(conn, 302, b"", {"Location": "/login"}))
    desk = Desk(server, tmp_path, rate=2.0, burst=2)
    logs = []
    for _ in range(3):
        _, log = desk.tick()
        logs += log
    chain = [r for r in logs if r["endpoint"] == CHAIN]
    assert {(r["http_status"], r["outcome"], r["attempt"]) for r in chain} == {
        (302, "http_error", 1)
    }
    nifty = next(r for r in chain if r["symbol"] == "NIFTY")
    assert f"redirect to {server.base_url}/login; not followed" in nifty["error"]
    counts = server.counts()
    assert counts["/login"] == 0 and counts[V3] == 6  # one request per pair per tick
    # Every request the server saw is a fetch_log row, and each took a token.
    assert sum(counts.values()) == len(logs)
    arrived = [r.arrived for r in server.requests]
    assert len(arrived) <= 2 + 2.0 * (arrived[-1] - arrived[0]) + 1


# --- 5. long Retry-After --------------------------------------------------------------------------
def test_long_retry_after_defers_the_pair_and_logs_the_wait(
    server: Hostile, tmp_path: Path
) -> None:
    server.on(
        chain_of("RELIANCE"),
        lambda conn, _r: send(conn, 429, b"{}", {"Retry-After": "120"}),
    )
    desk = Desk(server, tmp_path, max_retries=3)
    first, log = desk.tick()
    [row] = rows_of(log, "RELIANCE")
    assert row["http_status"] == 429 and "Retry-After 120s" in row["error"]
    assert first.outcomes["deferred"] == 1 and first.outcomes["ok"] == 1
    for _ in range(4):
        result, log = desk.tick()
        assert rows_of(log, "RELIANCE") == []  # not asked again: nothing to log
        assert result.outcomes == Counter(ok=1, deferred=1)
    assert server.counts()[V3] == 1 + 5  # RELIANCE once, NIFTY every tick


def test_long_retry_after_on_503_defers_the_host(server: Hostile, tmp_path: Path) -> None:
    server.on(
        chain_of("NIFTY"),
        lambda conn, _r: send(conn, 503, b"<html>down</html>", {"Retry-After": "120"}),
    )
    desk = Desk(server, tmp_path)
    result, _ = desk.tick()
    assert result.outcomes["deferred"] == 1
    before = sum(server.counts().values())
    for _ in range(3):
        result, log = desk.tick()
        assert [r for r in log if r["endpoint"] == CHAIN] == []
        assert result.outcomes == Counter(deferred=1)
    assert sum(server.counts().values()) == before  # nothing sent while the host waits
    assert desk.collector.client.paused_until is not None
    assert desk.collector.client.limiter.rate == desk.settings.rate  # not a block: no AIMD


# --- 6. impossible data, and 7. NaN ---------------------------------------------------------------
def _rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["records"]["data"]  # type: ignore[no-any-return]


def _leg(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r["CE"] for r in _rows(doc) if r.get("CE") and r["CE"]["identifier"])


IMPOSSIBLE: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "negative OI": (lambda d: _leg(d).update(openInterest=-150), "openInterest is -150"),
    "timestamp 3 days old": (
        lambda d: d["records"].update(timestamp="22-Nov-2026 10:01:00"),
        "'records.timestamp' 22-Nov-2026 10:01:00 is too old",
    ),
    "timestamp a day ahead": (
        lambda d: d["records"].update(timestamp="26-Nov-2026 10:01:00"),
        "is in the future",
    ),
    "rows of another expiry": (
        lambda d: _rows(d)[0].update(expiryDates="31-Dec-2026"),
        "but the rows are for 31-Dec-2026",
    ),
}


@pytest.mark.parametrize("case", IMPOSSIBLE)
def test_impossible_data_is_refused_and_quarantined(
    server: Hostile, tmp_path: Path, case: str
) -> None:
    change, needle = IMPOSSIBLE[case]

    def act(conn: socket.socket, request: Request) -> None:
        doc = orjson.loads(server.body_of(request))
        change(doc)
        send(conn, 200, orjson.dumps(doc))

    server.on(chain_of("RELIANCE"), act)
    desk = Desk(server, tmp_path, max_retries=0)
    _, log = desk.tick()
    [row] = rows_of(log, "RELIANCE")
    assert row["outcome"] == "bad_payload" and needle in row["error"], row["error"]
    expiry = row["expiry"].strftime("%d-%b-%Y")
    assert row["error"].startswith(f"RELIANCE {expiry}: ")
    [(_, reason)] = desk.quarantined()
    assert reason["symbol"] == "RELIANCE" and needle in reason["reason"]
    server.rules.clear()
    desk.tick()  # a good tick: nothing of the impossible snapshot was stored
    with desk.load() as con:
        stored = con.execute(
            "SELECT count(*), max(exchange_ts) FROM option_quotes WHERE symbol = 'RELIANCE'"
        ).fetchone()
    assert stored is not None and stored[0] > 0
    assert stored[1] == desk.at  # the latest snapshot is the good one, never a phantom


def test_nan_names_its_true_cause(server: Hostile, tmp_path: Path) -> None:
    def act(conn: socket.socket, request: Request) -> None:
        body = server.body_of(request).replace(b'"openInterest":', b'"openInterest":NaN,"x":', 1)
        send(conn, 200, body)

    server.on(chain_of("RELIANCE"), act)
    desk = Desk(server, tmp_path, max_retries=0)
    _, log = desk.tick()
    [row] = rows_of(log, "RELIANCE")
    assert row["outcome"] == "bad_payload"
    assert "'openInterest' is NaN" in row["error"] and "probably cut off" not in row["error"]


# --- what else a hostile server does --------------------------------------------------------------
def _mid_headers(conn: socket.socket, _r: Request) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty")


def _json_as_html(server: Hostile) -> Callable[..., None]:
    def act(conn: socket.socket, request: Request) -> None:
        body = server.body_of(request)
        conn.sendall(head(200, {"Content-Type": "text/html"}, len(body)) + body)

    return act


ODD: dict[str, tuple[Callable[[Hostile], Callable[..., None]], str, str]] = {
    "200 with an empty body": (
        lambda _s: lambda conn, _r: send(conn, 200, b""),
        "bad_payload",
        "empty body (0 bytes)",
    ),
    "closed mid-headers": (lambda _s: _mid_headers, "http_error", "RemoteProtocolError"),
    "304 to an unconditional GET": (
        lambda _s: lambda conn, _r: send(conn, 304, b""),
        "http_error",
        "HTTP 304 to an unconditional GET",
    ),
    "valid JSON, a list": (
        lambda _s: lambda conn, _r: send(conn, 200, b"[1, 2, 3]"),
        "bad_payload",
        "top-level JSON is a list",
    ),
    "HTML labelled JSON": (
        lambda _s: lambda conn, _r: send(conn, 200, b"<html><title>Oops</title></html>"),
        "bad_payload",
        "HTML page where JSON was expected",
    ),
    "JSON labelled HTML": (_json_as_html, "ok", ""),  # the body is sniffed, not the label
}


@pytest.mark.parametrize("case", ODD)
def test_odd_answers_are_classified_never_a_hang(
    server: Hostile, tmp_path: Path, case: str
) -> None:
    make, outcome, needle = ODD[case]
    server.on(chain_of("RELIANCE"), make(server))
    desk = Desk(server, tmp_path, max_retries=0)
    _, log = desk.tick()
    reliance = rows_of(log, "RELIANCE")
    assert reliance[0]["outcome"] == outcome, reliance
    assert needle in (reliance[0]["error"] or ""), reliance[0]["error"]


# --- SIGTERM during a dripping fetch --------------------------------------------------------------
class _AlwaysOpen:
    def is_open(self, now: datetime) -> bool:
        return True

    def next_open(self, now: datetime) -> datetime:
        return now


def test_sigterm_during_a_drip_stops_within_the_deadline_and_keeps_the_tick(
    server: Hostile, tmp_path: Path
) -> None:
    chains = Counter[str]()
    lock = threading.Lock()
    dripper = drip(server, 0.1, headers_too=False)

    def second_chain_drips(conn: socket.socket, request: Request) -> None:
        with lock:
            chains["n"] += 1
            n = chains["n"]
        (dripper if n == 2 else server.answer)(conn, request)

    server.on(lambda r: r.path == V3, second_chain_drips)
    settings = settings_for(tmp_path, server, deadline_s=2.0, batch_interval_s=3600.0)
    manager = OptionsThreadedManager(settings, market=_AlwaysOpen(), clock=FixedClock(START))
    server.sim.set_clock(start=START)

    def terminate() -> None:
        if server.dripping.wait(60.0):
            os.kill(os.getpid(), signal.SIGTERM)  # a real signal, to the real handler

    killer = threading.Thread(target=terminate, daemon=True)
    killer.start()
    manager.run_until_stopped()  # returns once stopped: the drip ends at the deadline
    killer.join(1.0)
    assert server.dripping.is_set()
    assert not any(w.alive for w in manager.workers.values()), "a thread outlived the stop"
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        quotes = con.execute("SELECT DISTINCT symbol FROM option_quotes").fetchall()
        flog = con.execute(
            "SELECT symbol, outcome FROM fetch_log WHERE endpoint = ? ORDER BY fetched_at",
            [CHAIN],
        ).fetchall()
    # The first pair's rows and every fetch_log row of the tick were kept, loaded at the stop.
    assert len(quotes) == 1 and len(flog) == 2
    assert flog[1][1] == "timeout" and flog[0][1] == "ok" and flog[0][0] == quotes[0][0]
