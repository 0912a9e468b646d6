"""Local proxies for the route tests: an HTTP CONNECT proxy and a SOCKS5 proxy (no auth).

Each connects onward from its own loopback source address (``source``, e.g. 127.0.0.2), so
the simulator, which counts and limits per client IP, sees each route as its own client: the
per-route budgets are counted server-side.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["connect_proxy", "socks5_proxy"]


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def one_way(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=one_way, args=(b, a), daemon=True)
    other.start()
    one_way(a, b)
    other.join(30)


def _dial(host: str, port: int, source: str) -> socket.socket:
    return socket.create_connection((host, port), timeout=10, source_address=(source, 0))


def _connect(conn: socket.socket, source: str, upstream: tuple[str, int] | None) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            return
        head += data
    method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
    if method != "CONNECT":
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        return
    host, port = target.rsplit(":", 1)
    host, port_ = upstream or (host, int(port))  # a misrouting proxy goes elsewhere
    with _dial(host, port_, source) as onward:
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _pipe(conn, onward)


def _recv(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _socks5(conn: socket.socket, source: str, upstream: tuple[str, int] | None) -> None:
    _, methods = _recv(conn, 2)
    _recv(conn, methods)
    conn.sendall(b"\x05\x00")  # no authentication
    _, cmd, _, atyp = _recv(conn, 4)
    if atyp == 1:
        host = socket.inet_ntoa(_recv(conn, 4))
    elif atyp == 3:
        host = _recv(conn, _recv(conn, 1)[0]).decode()
    else:
        conn.sendall(b"\x05\x08\x00\x01" + bytes(6))  # address type not supported
        return
    (port,) = struct.unpack("!H", _recv(conn, 2))
    if cmd != 1:
        conn.sendall(b"\x05\x07\x00\x01" + bytes(6))
        return
    host, port = upstream or (host, port)
    with _dial(host, port, source) as onward:
        conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
        _pipe(conn, onward)


@contextmanager
def _proxy(
    handle: Callable[[socket.socket, str, tuple[str, int] | None], None],
    source: str,
    upstream: tuple[str, int] | None,
) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))  # an ephemeral port

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return

            def one(c: socket.socket = conn) -> None:
                with c, suppress(OSError):
                    handle(c, source, upstream)

            threading.Thread(target=one, daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(5)


@contextmanager
def connect_proxy(source: str, upstream: tuple[str, int] | None = None) -> Iterator[str]:
    """An HTTP CONNECT proxy; with ``upstream`` every tunnel goes there, whatever was asked."""
    with _proxy(_connect, source, upstream) as where:
        yield f"http://{where}"


@contextmanager
def socks5_proxy(source: str, upstream: tuple[str, int] | None = None) -> Iterator[str]:
    with _proxy(_socks5, source, upstream) as where:
        yield f"socks5://{where}"
