"""A hostile NSE look-alike on loopback: raw sockets, so faults can be byte-level.

The answers come from a never-started ``Simulator``'s router (real chain bodies for a frozen
simulated minute); a test installs ``rules`` that replace the answer for some requests with a
fault: a slow drip, a gzip bomb, corrupt gzip, a redirect, a long Retry-After, a body that
cannot be true, a connection closed mid-headers. Every request is counted server-side, by
path, so tests can check the request budget without trusting the client's own log.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from nsechain.sim.server import SimConfig, Simulator

__all__ = ["Hostile", "Request", "bomb", "hostile_server"]

Action = Callable[[socket.socket, "Request"], None]


@dataclass(frozen=True)
class Request:
    path: str
    query: str
    arrived: float = field(default_factory=time.monotonic)  # server-side, for the budget


def bomb(inflated: int) -> bytes:
    """gzip of ``inflated`` zero bytes, built in chunks (never ``inflated`` bytes in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(inflated >> 20)]
    return b"".join(parts) + packer.flush()


class Hostile:
    """The server's state: the simulator's router, the rules, and the request counts."""

    def __init__(self, start: datetime) -> None:
        self._port = 0
        self.sim = Simulator(SimConfig(seed=13, speed=0, start=start))  # never started
        self.rules: list[tuple[Callable[[Request], bool], Action]] = []
        self.requests: list[Request] = []
        self.stop = threading.Event()  # ends drips when the test is over
        self.dripping = threading.Event()  # set once a drip has started
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.path for r in self.requests)

    def on(self, match: Callable[[Request], bool], action: Action) -> None:
        self.rules.append((match, action))

    # --- the server ---------------------------------------------------------------------------
    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.1)  # so a stop is seen: close() does not wake accept()
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10.0)
            head = b""
            while b"\r\n\r\n" not in head:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                head += data
            target = head.split(b" ", 2)[1].decode()
            parts = urlsplit(target)
            request = Request(parts.path, parts.query)
            with self._lock:
                self.requests.append(request)
            action = next((a for match, a in self.rules if match(request)), self.answer)
            with suppress(OSError):  # the client went away (its deadline, a stop)
                action(conn, request)

    def answer(self, conn: socket.socket, request: Request) -> None:
        """What the simulator would answer."""
        if request.path == "/option-chain":
            send(conn, 200, b"<html>option chain</html>", {"Set-Cookie": "nseappid=x; Path=/"})
            return
        reply = self.sim.api.handle(request.path, request.query)
        if reply is None:
            send(conn, 404, b"<html>Not Found</html>")
            return
        send(conn, reply.status, gzip.compress(reply.body), {"Content-Encoding": "gzip"})

    def body_of(self, request: Request) -> bytes:
        reply = self.sim.api.handle(request.path, request.query)
        assert reply is not None
        return reply.body


def head(status: int, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Connection: close", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send(
    conn: socket.socket, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    conn.sendall(head(status, headers or {}, len(body)) + body)


@contextmanager
def hostile_server(start: datetime) -> Iterator[Hostile]:
    server = Hostile(start)
    listener = socket.create_server(("127.0.0.1", 0))  # an ephemeral port
    server._port = listener.getsockname()[1]
    thread = threading.Thread(target=server.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        listener.close()
        thread.join(5.0)
