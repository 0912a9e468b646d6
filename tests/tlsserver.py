"""TLS in the tests: a trustme CA, a server that records each ClientHello, the simulator over
https (optionally playing the bot wall), and one collector tick against it.

The hello server answers every request with a small JSON body over HTTP/1.1, so a
transport's whole GET succeeds, and keeps the parsed ClientHello (``nsechain.sim.tlshello``)
of every connection.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import trustme

from nsechain.collector.clock import FixedClock
from nsechain.collector.tick import Collector
from nsechain.config import load_settings
from nsechain.sim.server import SimConfig, Simulator
from nsechain.sim.tlshello import Hello, peek_hello
from nsechain.store.files import read_tick_fetch_log

__all__ = ["HelloServer", "LocalCA", "hello_server", "make_ca", "tick_on", "tls_simulator"]


@dataclass(frozen=True)
class LocalCA:
    ca_pem: Path  # what clients trust (settings.ca_bundle)
    cert_pem: Path  # the server's chain, for 127.0.0.1 and localhost
    key_pem: Path


def make_ca(folder: Path) -> LocalCA:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = LocalCA(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca_pem))
    cert.private_key_pem.write_to_path(str(paths.key_pem))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(paths.cert_pem), append=True)
    return paths


@dataclass
class HelloServer:
    port: int = 0
    hellos: list[Hello | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api/x"


def _serve(listener: socket.socket, context: ssl.SSLContext, server: HelloServer) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn, suppress(OSError, ssl.SSLError):
            server.hellos.append(peek_hello(conn))
            with context.wrap_socket(conn, server_side=True) as tls:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = tls.recv(65536)
                    if not data:
                        break
                    head += data
                body = b'{"ok": true}'
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )


@contextmanager
def hello_server(ca: LocalCA) -> Iterator[HelloServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(ca.cert_pem, ca.key_pem)
    context.set_alpn_protocols(["http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))  # an ephemeral port
    server = HelloServer(listener.getsockname()[1])
    thread = threading.Thread(target=_serve, args=(listener, context, server), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.close()
        thread.join(5.0)


def tls_simulator(ca: LocalCA, start: datetime, **kw: Any) -> Simulator:
    """A simulator on https with the CA's certificate, its clock standing at ``start``."""
    tls = (str(ca.cert_pem), str(ca.key_pem))
    return Simulator(SimConfig(seed=7, speed=0, start=start, tls=tls, **kw))


def tick_on(
    sim: Simulator, tmp_path: Path, ca: LocalCA, start: datetime, **kw: Any
) -> tuple[Collector, list[Any]]:
    """One collector tick a minute after ``start``: the collector (close it) and its fetch_log."""
    defaults: dict[str, Any] = {
        "base_url": sim.base_url,
        "data_dir": tmp_path / "data",
        "db_path": tmp_path / "chain.duckdb",
        "symbols": "NIFTY",
        "expiries_per_symbol": 1,
        "ignore_market_hours": True,
        "rate": 100.0,
        "burst": 10,
        "max_retries": 0,
        "block_cooloff_s": 30.0,
        "ca_bundle": ca.ca_pem,
    }
    settings = load_settings(**{**defaults, **kw})
    at = start + timedelta(minutes=1)
    collector = Collector(settings, clock=FixedClock(at))
    result = collector.run_tick(at)
    assert result.path is not None, result.error
    return collector, read_tick_fetch_log(result.path).to_pylist()
