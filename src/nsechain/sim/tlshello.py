"""Reading a TLS ClientHello: does this client look like a browser?

Where it sits: in the simulator (``sim/server.py`` peeks at each TLS connection's first bytes
to play Akamai's bot wall) and in the tests that check the transports' fingerprints. Pure:
bytes in, facts out. Browsers (Chrome, and curl_cffi impersonating it) show three markers
that Python's ssl module never sends: GREASE values (RFC 8701), certificate compression
(RFC 8879, extension 27) and ALPS (extension 17513, or 17613 since Chrome 133).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = ["Hello", "parse_hello", "peek_hello"]

_COMPRESS_CERTIFICATE = 27
_ALPS = frozenset({17513, 17613})
_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01


def _grease(value: int) -> bool:
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


@dataclass(frozen=True, slots=True)
class Hello:
    """The parts of a ClientHello a bot manager fingerprints."""

    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]

    @property
    def grease(self) -> bool:
        return any(_grease(v) for v in (*self.ciphers, *self.extensions))

    @property
    def cert_compression(self) -> bool:
        return _COMPRESS_CERTIFICATE in self.extensions

    @property
    def alps(self) -> bool:
        return bool(_ALPS.intersection(self.extensions))

    @property
    def browser(self) -> bool:
        """All three browser markers: what the simulator's bot wall lets through."""
        return self.grease and self.cert_compression and self.alps


def parse_hello(data: bytes) -> Hello | None:
    """The ClientHello in the first TLS record of ``data``, or None if it is not one."""
    try:
        if data[0] != _HANDSHAKE or data[5] != _CLIENT_HELLO:
            return None
        at = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        at += 1 + data[at]  # session id
        (n,) = struct.unpack_from("!H", data, at)
        ciphers = struct.unpack_from(f"!{n // 2}H", data, at + 2)
        at += 2 + n
        at += 1 + data[at]  # compression methods
        (total,) = struct.unpack_from("!H", data, at)
        at, end = at + 2, at + 2 + total
        extensions = []
        while at + 4 <= end:
            kind, length = struct.unpack_from("!HH", data, at)
            extensions.append(kind)
            at += 4 + length
    except (IndexError, struct.error):
        return None
    return Hello(tuple(ciphers), tuple(extensions))


def peek_hello(sock: socket.socket, timeout: float = 5.0) -> Hello | None:
    """Wait for a connection's first TLS record and read its ClientHello without consuming it
    (the TLS handshake that follows still sees every byte)."""
    sock.settimeout(timeout)
    data = b""
    for _ in range(50):
        data = sock.recv(16384 + 5, socket.MSG_PEEK)
        if not data or data[0] != _HANDSHAKE:
            return None
        if len(data) >= 5 and len(data) >= 5 + struct.unpack_from("!H", data, 3)[0]:
            break
    return parse_hello(data)
