"""Bounding one HTTP exchange: a whole-request deadline and capped, streamed body reads.

Where it sits: inside ``nse/``, used only by the client (``nse/client.py``). httpx bounds each
network read (``timeout_s``), never a whole request: a server that drips one byte every half
second keeps a fetch open forever. And ``response.content`` decompresses everything at once: a
1 MB gzip bomb becomes a gigabyte in memory. So:

- ``DeadlineBackend`` wraps httpcore's network backend; every connect, read and write of the
  thread's request in flight waits at most until that request's deadline (``deadline()``). The
  headers are bounded too, which a check between body chunks could not do.
- ``read_body`` streams the raw (compressed) bytes, counts them against one cap and inflates
  them with zlib against another, stopping at the cap (``max_length``): memory never holds more
  than the caps, whatever the compression ratio.

Errors raised here are httpcore's timeouts (httpx maps them, ``_responses`` makes them
``FetchTimeout``) and ``WireError`` (a body that broke a cap or does not inflate).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

__all__ = [
    "DEADLINE_PASSED",
    "Body",
    "DeadlineBackend",
    "Reply",
    "Watch",
    "WireError",
    "deadline",
    "install_deadline",
    "read_body",
]

#: The message of the timeout that ends a request at its deadline (``_responses`` reads it).
DEADLINE_PASSED = "whole-request deadline passed"
_local = threading.local()  # the deadline of this thread's request in flight (monotonic s)


@dataclass(frozen=True, slots=True)
class Reply:
    """The head of an answer, whichever transport brought it: status, headers
    (case-insensitive) and the URL asked."""

    status_code: int
    headers: httpx.Headers
    url: str
    http_version: str = "HTTP/1.1"

    @classmethod
    def of(cls, response: httpx.Response, url: str | None = None) -> Reply:
        url = str(response.url) if url is None else url
        return cls(response.status_code, response.headers, url, response.http_version)


@dataclass
class Watch:
    """What is known of a request in flight, kept when it fails half-way: the answer's head
    (status) once it came, and the bytes of body read so far."""

    reply: Reply | None = None
    wire_bytes: int = 0


@contextmanager
def deadline(seconds: float, watch: Watch) -> Iterator[Watch]:
    """Every socket operation of this thread inside the block ends by ``seconds`` from now.

    A read cut short by the deadline surfaces as ``httpx.ReadTimeout(DEADLINE_PASSED)``.
    """
    until = _local.until = time.monotonic() + seconds
    try:
        yield watch
    except httpx.TimeoutException as exc:
        # The socket wait was clamped to end at the deadline: a timeout then is the deadline's.
        if time.monotonic() >= until - 0.05:
            raise httpx.ReadTimeout(DEADLINE_PASSED) from exc
        raise
    finally:
        _local.until = None


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    until: float | None = getattr(_local, "until", None)
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise error(DEADLINE_PASSED)
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every wait clamped to the thread's request deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install_deadline(transport: httpx.HTTPTransport) -> bool:
    """Put ``DeadlineBackend`` under httpx's default transport; False if it has no such seam.

    httpx 0.x takes no network backend, so this sets httpcore's pool attribute: checked, so an
    httpx that moved it leaves requests bounded per read only (and says so) instead of failing.
    """
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if not isinstance(inner, httpcore.NetworkBackend):
        return False
    pool._network_backend = DeadlineBackend(inner)  # type: ignore[union-attr]
    return True


# --- the body ---------------------------------------------------------------------------------
class WireError(Exception):
    """The body broke a cap (``too_large``) or does not inflate; ``raw`` is what was read."""

    def __init__(self, message: str, *, raw: bytes, too_large: bool) -> None:
        super().__init__(message)
        self.raw = raw
        self.too_large = too_large


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes  # decoded (inflated) body
    wire_bytes: int  # bytes as sent, before decoding: what fetch_log records


def _inflater(encoding: str) -> Any:
    """A zlib decompressor for the Content-Encoding we asked for, or None to pass bytes as-is.

    ``deflate`` is zlib-wrapped by the RFC, raw in some servers: wbits 47 auto-detects gzip and
    zlib, and a failed zlib header is retried raw (as httpx does).
    """
    coding = encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)
    return None  # identity, none, or one we never asked for: classify() names it


def _raw_deflate(encoding: str, raw: bytearray) -> bool:
    """A ``deflate`` body whose first two bytes are no zlib header (RFC 1950 §2.2)."""
    if encoding.strip().lower() != "deflate" or len(raw) < 2:
        return False
    return raw[0] & 0x0F != 8 or ((raw[0] << 8) | raw[1]) % 31 != 0


def read_body(
    response: httpx.Response, *, max_wire: int, max_body: int, watch: Watch | None = None
) -> Body:
    """Stream and decode the body of a ``client.stream()`` response within both caps.

    ``watch.wire_bytes`` follows the bytes read, for a read that fails half-way.
    """
    watch = watch if watch is not None else Watch()
    watch.reply = Reply.of(response)
    if response.is_stream_consumed:
        # An in-memory response (httpx reads those eagerly, e.g. a MockTransport's): decoded.
        content = response.content
        if len(content) > max_body:
            raise WireError(f"body over the {max_body:,}-byte cap", raw=b"", too_large=True)
        return Body(content, len(content))
    encoding = response.headers.get("Content-Encoding", "")
    inflater = _inflater(encoding)
    raw = bytearray()
    out = bytearray()
    for chunk in response.iter_raw():
        raw += chunk
        watch.wire_bytes = len(raw)
        if len(raw) > max_wire:
            del raw[max_wire:]
            raise WireError(
                f"body over the {max_wire:,}-byte cap on bytes as sent; stopped reading",
                raw=bytes(raw),
                too_large=True,
            )
        if inflater is None:
            continue
        if len(raw) == len(chunk) and _raw_deflate(encoding, raw):  # decided on the 1st chunk
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" without its zlib header
        out += _inflate(inflater, chunk, max_body, len(out), raw, encoding)
    if inflater is None:
        return Body(bytes(raw), len(raw))
    if len(raw) and not inflater.eof:
        raise WireError(
            f"{encoding} body ends before its end-of-stream marker ({len(raw):,} bytes as "
            "sent): cut off in transit. Retry",
            raw=bytes(raw),
            too_large=False,
        )
    return Body(bytes(out), len(raw))


def _inflate(
    inflater: Any, chunk: bytes, cap: int, done: int, raw: bytearray, encoding: str
) -> bytes:
    if inflater.eof:
        return b""  # bytes after the end of the stream: ignored, as browsers do
    room = cap - done
    try:
        # max_length = room + 1: one byte past the cap proves the cap was passed, and zlib
        # never builds more than that however far the bytes would inflate.
        data: bytes = inflater.decompress(chunk, room + 1)
    except zlib.error as exc:
        raise WireError(
            f"{encoding} body does not decompress ({exc}); the bytes are corrupt",
            raw=bytes(raw),
            too_large=False,
        ) from None
    if len(data) > room:
        raise WireError(
            f"{encoding} body inflates past the {cap:,}-byte cap from {len(raw):,} bytes as "
            "sent (a compression bomb?); stopped decompressing",
            raw=bytes(raw),
            too_large=True,
        )
    return data
