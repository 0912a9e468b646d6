"""A local TLS server (a trustme test CA) that records each connection's ClientHello.

It answers every request with a small JSON body over HTTP/1.1, so a transport's whole GET
succeeds, and keeps the parsed ClientHello (``nsechain.sim.tlshello``) of every connection.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from nsechain.sim.tlshello import Hello, peek_hello

__all__ = ["HelloServer", "LocalCA", "hello_server", "make_ca"]


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
