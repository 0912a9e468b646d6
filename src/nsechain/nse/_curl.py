"""The curl transport: curl_cffi impersonating a current Chrome (TLS and HTTP/2 fingerprint).

Where it sits: inside ``nse/``, one of the two implementations of ``nse/transport.py``'s
``Transport``; imported only when ``transport`` is ``curl`` (or ``auto`` switched to it).
Chrome's own headers (User-Agent, sec-ch-ua, Accept-Encoding with br and zstd) come from the
impersonation: a User-Agent of ours would contradict the fingerprint. libcurl bounds the
request: ``TIMEOUT_MS`` is the whole-request deadline, the low-speed limit the per-read
timeout, ``MAXFILESIZE`` the cap on bytes as sent; a write callback caps the decoded body.
``_translate`` is the one place where curl errors become ``nsechain.errors``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from curl_cffi import CurlECode, CurlOpt
from curl_cffi.requests import Session
from curl_cffi.requests.exceptions import RequestException

from nsechain import errors
from nsechain.config import Settings
from nsechain.nse._responses import (
    Call,
    cannot_connect,
    deadline_exceeded,
    proxy_failed,
    wire_error,
)
from nsechain.nse._wire import Body, Reply, Watch, WireError

__all__ = ["IMPERSONATE", "CurlTransport"]

#: curl_cffi's alias for its newest Chrome fingerprint.
IMPERSONATE = "chrome"
_CURL_WRITEFUNC_ERROR = 0xFFFFFFFF  # a write callback's "stop": libcurl ends with WRITE_ERROR


class _Capped:
    """The decoded body as libcurl hands it over, stopped one chunk past ``cap``."""

    def __init__(self, cap: int, watch: Watch) -> None:
        self.cap = cap
        self.watch = watch
        self.data = bytearray()
        self.over = False

    def __call__(self, chunk: bytes) -> int:
        self.data += chunk
        self.watch.wire_bytes = len(self.data)  # decoded: curl hides the bytes as sent
        if len(self.data) > self.cap:
            self.over = True
            del self.data[self.cap :]
            return _CURL_WRITEFUNC_ERROR
        return len(chunk)


class CurlTransport:
    """A curl_cffi Session (one libcurl handle per thread, one shared cookie jar)."""

    name = "curl"

    def __init__(self, settings: Settings, *, proxy: str | None = None, route: str = "direct"):
        self._settings = settings
        self.route = route
        verify: Any = str(settings.ca_bundle) if settings.ca_bundle else True
        self._session: Session[Any] = Session(
            impersonate=IMPERSONATE,
            proxy=proxy,
            verify=verify,
            allow_redirects=False,  # as for httpx: every hop would be outside the budget
            curl_options={
                CurlOpt.CONNECTTIMEOUT_MS: int(settings.timeout_s * 1000),
                # The per-read timeout: under 1 byte/s for timeout_s seconds ends the request.
                CurlOpt.LOW_SPEED_LIMIT: 1,
                CurlOpt.LOW_SPEED_TIME: math.ceil(settings.timeout_s),
                CurlOpt.MAXFILESIZE_LARGE: settings.max_wire_bytes,
            },
        )

    def get(self, call: Call, headers: Mapping[str, str], watch: Watch) -> tuple[Reply, Body]:
        s = self._settings
        body = _Capped(s.max_body_bytes, watch)
        started = time.monotonic()
        with _translate(call, body, started, s.deadline_s, s.max_wire_bytes):
            response = self._session.get(
                call.url, headers=dict(headers), timeout=s.deadline_s, content_callback=body
            )
        reply = watch.reply = _reply(response, call.url)
        watch.wire_bytes = _wire_bytes(reply, len(body.data))
        return reply, Body(bytes(body.data), watch.wire_bytes)

    def clear_cookies(self) -> None:
        self._session.cookies.clear()

    def cookie_names(self) -> set[str]:
        return {c.name for c in self._session.cookies.jar}

    def close(self) -> None:
        self._session.close()


def _wire_bytes(reply: Reply, decoded: int) -> int:
    """The body's size as sent: libcurl counts bytes after decoding, so a complete body's
    Content-Length is the truth; without one (chunked) the decoded size is all there is."""
    length = reply.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else decoded


def _reply(response: Any, url: str) -> Reply:
    return Reply(
        response.status_code,
        httpx.Headers(list(response.headers.multi_items())),
        url,
        _HTTP_VERSIONS.get(int(response.http_version), "HTTP/1.1"),
    )


_PROXY_CODES = (CurlECode.COULDNT_RESOLVE_PROXY, CurlECode.PROXY)
_HTTP_VERSIONS = {1: "HTTP/1.0", 2: "HTTP/1.1", 3: "HTTP/2", 4: "HTTP/2", 5: "HTTP/2", 30: "HTTP/3"}


@contextmanager
def _translate(
    call: Call, body: _Capped, started: float, deadline_s: float, wire_cap: int
) -> Iterator[None]:
    """The one place curl errors become nsechain errors."""
    name, where = call.endpoint.name, call.where
    try:
        yield
    except RequestException as exc:
        code = getattr(exc, "code", None)
        head = getattr(exc, "response", None)
        if head is not None and head.status_code:  # failed after the head: its status is true
            body.watch.reply = _reply(head, call.url)
        if body.over:
            cap = f"body over the {body.cap:,}-byte cap once decoded; stopped reading"
            raise wire_error(WireError(cap, raw=bytes(body.data), too_large=True), call) from exc
        if code == CurlECode.FILESIZE_EXCEEDED:
            cap = f"body over the {wire_cap:,}-byte cap on bytes as sent; stopped reading"
            raise wire_error(WireError(cap, raw=bytes(body.data), too_large=True), call) from exc
        if code == CurlECode.OPERATION_TIMEDOUT:
            if time.monotonic() - started >= deadline_s - 0.05:
                raise deadline_exceeded(call) from exc
            raise errors.FetchTimeout(f"{name}: {exc}", url=call.url, **where) from exc
        if code in (CurlECode.BAD_CONTENT_ENCODING, CurlECode.WRITE_ERROR):
            message = f"{name}: undecodable body: {exc}"
            raise errors.BadPayload(message, body=bytes(body.data), **where) from exc
        if code in _PROXY_CODES or "proxy" in str(exc).lower():
            raise proxy_failed(call, exc) from exc
        if code in (CurlECode.COULDNT_RESOLVE_HOST, CurlECode.COULDNT_CONNECT):
            raise cannot_connect(call, exc) from exc
        raise errors.NetworkError(f"{name}: curl: {exc}", url=call.url, **where) from exc
