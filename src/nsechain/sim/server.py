"""The NSE simulator's HTTP server: ``Simulator`` runs it in a background thread on loopback.

Where it sits: the top of ``nsechain.sim``. Tests and ``make demo`` use it in-process::

    with Simulator(SimConfig(seed=1, speed=60, start="2026-11-25T09:14")) as sim:
        client = httpx.Client(base_url=sim.base_url)
        ...
        sim.counters()

``nsechain simulate`` (``cli/simulate.py``) runs the same thing in the foreground.

A request goes: admin paths (``/__admin/...``, never limited, gated or counted) → per-client
rate limit (403 page, block) → bootstrap pages (``/``, ``/option-chain``: set cookies) →
any path the simulator does not serve is the Akamai 404 page (the dead legacy chain
paths included) → cookie gate (401 page) → faults → the endpoint (``routes.py``).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nsechain.sim import pages
from nsechain.sim.admin import Counters, admin
from nsechain.sim.clock import SimClock, Snapshot
from nsechain.sim.faults import FaultPlan, FaultSpec, parse_faults
from nsechain.sim.gate import CookieGate, RateLimiter
from nsechain.sim.latency import LatencyModel, LatencySource
from nsechain.sim.market import Market
from nsechain.sim.render import mon
from nsechain.sim.routes import API_PATHS, JSON, Api, Reply
from nsechain.sim.tlshello import peek_hello
from nsechain.sim.universe import UNIVERSE

__all__ = ["SimConfig", "Simulator"]

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
_BOOTSTRAP_PATHS = ("/", "/option-chain")
_conn = threading.local()  # of the connection this thread serves: .browser (its ClientHello)


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulator can be told at start. All times except ``start`` are wall-clock."""

    seed: int = 1
    speed: float = 1.0  #: simulated seconds per wall second (0 stops the clock)
    start: datetime | str | None = None  #: simulated start, IST if naive; None: now
    host: str = "127.0.0.1"
    port: int = 0  #: 0: any free port (read ``Simulator.port``)
    rate_limit: float | None = None  #: requests per second per client IP; None: no limit
    rate_burst: float | None = None  #: bucket size; None: max(1, rate_limit)
    cool_off_s: float = 600.0  #: how long a client that exceeded the limit stays blocked
    cookie_max_age_s: float = 7200.0  #: life of the bootstrap cookies (NSE's JWT: ~2 h)
    faults: Mapping[str, FaultSpec | Mapping[str, Any] | float] = field(default_factory=dict)
    gzip: bool = True  #: compress JSON when the client accepts gzip, as NSE does
    cache_entries: int = 2048  #: rendered bodies kept (each 2-250 kB)
    prewarm: bool = False  #: build today's contracts for the whole universe in the background
    latency: LatencyModel = field(default_factory=LatencyModel)  #: answer delay; default none
    tls: tuple[str, str] | None = None  #: (certificate PEM, key PEM): serve https
    bot_wall: bool = False  #: over TLS, Akamai's 403 to every client without browser markers

    def start_time(self) -> datetime | None:
        if isinstance(self.start, str):
            return datetime.fromisoformat(self.start)
        return self.start


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined in server_close(), after their sockets are shut
    block_on_close = True
    #: socketserver's default listen backlog is 5: four collectors flooding one simulator
    #: filled it, the kernel dropped SYNs and a harness's clock poll timed out connecting
    #: (a real front end accepts far more). Capped by net.core.somaxconn.
    request_queue_size = 1024
    sim: Simulator

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None
        if sim.config.tls is not None:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(*sim.config.tls)
            self.tls.set_alpn_protocols(["http/1.1"])  # the simulator speaks HTTP/1.1 only
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's own thread: the TLS handshake never holds up accept().
        _conn.browser = True
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            hello = peek_hello(request)
        except OSError as exc:
            log.debug("no TLS ClientHello from %s: %s", client_address, exc)
            return
        _conn.browser = hello is not None and hello.browser
        tls = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        with tls:  # the wrapped socket owns the connection now; closed here
            try:
                tls.do_handshake()
            except OSError as exc:  # ssl.SSLError included
                log.debug("TLS handshake failed from %s: %s", client_address, exc)
                return
            tls.settimeout(None)
            super().finish_request(tls, client_address)


class Simulator:
    """An NSE look-alike over HTTP on loopback. Use as a context manager, or start()/stop()."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = SimClock(self.config.start_time(), self.config.speed)
        self.market = Market(self.config.seed)
        self.api = Api(self.market, self.clock, self.config.cache_entries)
        self.gate = CookieGate(self.config.cookie_max_age_s)
        rate = self.config.rate_limit
        burst = self.config.rate_burst or max(1.0, rate or 1.0)
        self.limiter = RateLimiter(rate, burst, self.config.cool_off_s)
        self.faults = FaultPlan(parse_faults(self.config.faults), seed=self.config.seed)
        self.stats = Counters()
        self.latency = LatencySource(self.config.latency, self.config.seed)
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._warmer: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server((self.config.host, self.config.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="nse-sim"
        )
        self._thread.start()
        if self.config.prewarm:
            self._warmer = threading.Thread(target=self._prewarm, name="nse-sim-warm")
            self._warmer.start()
        log.info("NSE simulator listening on %s (seed %s)", self.base_url, self.config.seed)
        return self

    def stop(self) -> None:
        """Stop serving, cut open keep-alive connections, and join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()  # wakes handlers sleeping in a "slow" fault
        server.shutdown()
        with server.conn_lock:
            for conn in list(server.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        for thread in (self._thread, self._warmer):
            if thread is not None:
                thread.join()
        self._thread = self._warmer = None
        log.info("NSE simulator stopped")

    def _prewarm(self) -> None:
        # Pricing a symbol's contracts for the day costs a few ms; do the whole universe
        # up front (about a second) instead of on each symbol's first request.
        day = self.snapshot().day
        for u in UNIVERSE:
            if self.stopping.is_set():
                return
            self.market.warm(u.symbol, day)
        log.debug("pre-built %d symbols for %s", len(UNIVERSE), day)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- in-process controls (the admin endpoints call these too) -------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.config.host}:{self.port}"

    def counters(self) -> dict[str, Any]:
        """Requests by path and status, rate-limit hits, faults by kind, bootstraps, chains."""
        return self.stats.snapshot()

    def reset(self) -> None:
        """Zero the counters, lift rate-limit blocks, and restore the configured faults."""
        self.stats.reset()
        self.limiter.reset()
        self.api.reset()
        self.faults.replace(parse_faults(self.config.faults))

    def set_faults(self, faults: Mapping[str, FaultSpec | Mapping[str, Any] | float]) -> None:
        """Replace the active faults (``{}`` turns them all off)."""
        self.faults.replace(parse_faults(faults))

    def set_clock(self, start: datetime | str | None = None, speed: float | None = None) -> None:
        """Jump the simulated clock to ``start`` and/or change its speed."""
        when = datetime.fromisoformat(start) if isinstance(start, str) else start
        self.clock.set(when, speed)

    def now(self) -> datetime:
        return self.clock.now()

    def snapshot(self) -> Snapshot:
        """The snapshot (NSE timestamp, session day, open or not) a chain would show now."""
        return self.clock.snapshot()

    def symbols(self) -> list[str]:
        return [u.symbol for u in UNIVERSE]

    def expiries(self, symbol: str) -> list[str]:
        """``DD-Mon-YYYY`` expiries listed for ``symbol`` at the current snapshot."""
        return [mon(e) for e in self.market.expiries(symbol, self.snapshot().day)]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like NSE
    server_version = "nsechain-sim"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client, or a reset fault, closed it already
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # --- entry points ----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body: bytes) -> None:
        sim = self.server.sim
        parts = urlsplit(self.path)
        path = parts.path or "/"
        if path.startswith("/__admin/"):
            status, payload = admin(sim, self.command, path, body)
            self._send(status, payload, JSON)
            return
        sim.stats.client(self.client_address[0])
        if self.command != "GET":
            self._send(405, pages.not_found(), HTML, path=path)
            return
        if sim.config.bot_wall and not getattr(_conn, "browser", True):
            # Akamai's bot manager: a TLS client without browser markers gets Access Denied.
            sim.stats.fault("bot_wall")
            page = pages.access_denied(f"https://{self._host()}{self.path}", "bot-wall")
            self._send(403, page, HTML, path=path)
            return
        verdict = sim.limiter.check(self.client_address[0])
        if verdict != "ok":
            sim.stats.rate_limited(tripped=verdict == "tripped")
            page = pages.rate_limited(sim.stats.reference(), sim.config.cool_off_s)
            self._send(403, page, HTML, path=path)
            return
        if path in _BOOTSTRAP_PATHS:
            sim.stats.bootstrap()
            cookies = sim.gate.issue()
            self._send(200, pages.bootstrap_page(path), HTML, path=path, cookies=cookies)
            return
        if path not in API_PATHS:
            self._send(404, pages.not_found(), HTML, path=path)
            return
        if not sim.gate.allows(self.headers.get("Cookie")):
            self._send(401, pages.unauthorized(), HTML, path=path)
            return
        self._api(sim, path, parts.query)

    def _api(self, sim: Simulator, path: str, query: str) -> None:
        symbol = parse_qs(query).get("symbol", [None])[0]
        fired = sim.faults.draw(path, sim.clock.now(), symbol)
        if "reset" in fired:
            sim.stats.fault("reset")
            sim.stats.request(path, "reset")
            self._reset()
            return
        if "slow" in fired:
            sim.stats.fault("slow")
            if sim.stopping.wait(fired["slow"].delay_s):
                return
        for kind in ("block", "error_5xx", "empty"):
            if kind in fired:
                sim.stats.fault(kind)
                self._replace(kind, fired[kind], path)
                return
        reply = sim.api.handle(path, query, stale="stale" in fired)
        if reply is None:
            self._send(404, pages.not_found(), HTML, path=path)
            return
        if reply.stale:
            sim.stats.fault("stale")
        if reply.symbol is not None:
            sim.stats.chain(reply.symbol)
        if "truncate" in fired:
            sim.stats.fault("truncate")
            cut = reply.body[: int(len(reply.body) * fired["truncate"].fraction)]
            self._send(200, cut, JSON, path=path)
        elif "br" in fired:
            sim.stats.fault("br")
            # Not Brotli: what NSE sent clients that offered "br" and could not decode it.
            self._send(200, gzip.compress(reply.body, 1), JSON, path=path, encoding="br")
        else:
            self._send_reply(sim, reply, path)

    # --- writing -----------------------------------------------------------------------------
    def _host(self) -> str:
        return self.headers.get("Host") or "www.nseindia.com"

    def _replace(self, kind: str, spec: FaultSpec, path: str) -> None:
        # The faults that answer instead of the endpoint.
        ref = self.server.sim.stats.reference()
        if kind == "empty":
            self._send(200, b"{}", JSON, path=path)
        elif kind == "block":
            url = f"http://{self._host()}{self.path}"
            self._send(403, pages.access_denied(url, ref), HTML, path=path)
        else:
            reason = _reason(spec.status) or "Server Error"
            self._send(spec.status, pages.server_error(spec.status, reason, ref), HTML, path=path)

    def _send_reply(self, sim: Simulator, reply: Reply, path: str) -> None:
        accepts = "gzip" in (self.headers.get("Accept-Encoding") or "").lower()
        if not (sim.config.gzip and accepts and len(reply.body) > 1024):
            self._send(reply.status, reply.body, JSON, path=path)
            return
        body = sim.api.compressed(reply)
        self._send(reply.status, body, JSON, path=path, encoding="gzip")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        path: str | None = None,
        cookies: list[str] | None = None,
        encoding: str | None = None,
    ) -> None:
        if path is not None:
            sim = self.server.sim
            sim.stats.request(path, str(status))
            # NSE's latency (sim/latency.py); a stop cuts the wait short.
            delay = sim.latency.delay(len(body))
            if delay > 0 and sim.stopping.wait(delay):
                self.close_connection = True
                return
        lines = [
            f"HTTP/1.1 {status} {_reason(status)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Server: {self.server_version}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-cache, no-store, must-revalidate",
            "Vary: Accept-Encoding",
        ]
        if encoding:
            lines.append(f"Content-Encoding: {encoding}")
        lines.extend(f"Set-Cookie: {c}" for c in cookies or ())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall
        except OSError:
            self.close_connection = True
        self.log_request(status, len(body))

    def _reset(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()
