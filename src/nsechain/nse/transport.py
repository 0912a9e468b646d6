"""The transport boundary: one HTTP GET to NSE, whatever library sends it.

Where it sits: inside ``nse/``, under the client (``nse/client.py``), which owns everything
that must work the same for every transport: the token bucket, retries, pauses, the
classification of answers, ``fetch_log``. A transport owns only the wire: its connections, its
cookie jar, the whole-request deadline (``deadline_s``), the size caps (``max_wire_bytes``,
``max_body_bytes``) and the translation of its library's errors into ``nsechain.errors``, in
one place per transport. Two exist:

- ``httpx`` (``nse/_httpx.py``), the default: HTTP/1.1, or HTTP/2 with ``http2 = true``.
- ``curl`` (``nse/_curl.py``): curl_cffi impersonating a current Chrome, so Akamai's bot
  manager sees Chrome's TLS ClientHello (GREASE, certificate compression, ALPS) and HTTP/2
  settings. A core dependency on the platforms with curl_cffi wheels; elsewhere
  ``pip install 'nsechain[browser]'`` tries a source build.

Both are safe to share between the collector's fetch workers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Protocol

from nsechain.config import Settings
from nsechain.nse._responses import Call
from nsechain.nse._wire import Body, Reply, Watch

__all__ = [
    "CURL_MISSING",
    "Reply",
    "Transport",
    "curl_available",
    "make_transport",
]

#: What to do when the curl transport is wanted and curl_cffi is not installed.
CURL_MISSING = (
    "the browser-grade transport needs curl_cffi: pip install 'nsechain[browser]' "
    "(or pip install curl_cffi)"
)


class Transport(Protocol):
    """One GET within the deadline and the caps; errors are already ``nsechain.errors``.

    ``get`` raises ``FetchError`` subclasses for the wire (connect, timeout, deadline) and
    ``PayloadError`` subclasses for a body that broke a cap or does not decode; ``watch``
    keeps the reply and the bytes read so far for a request that fails half-way.
    """

    name: str
    route: str

    def get(self, call: Call, headers: Mapping[str, str], watch: Watch) -> tuple[Reply, Body]: ...

    def clear_cookies(self) -> None: ...

    def cookie_names(self) -> set[str]: ...

    def close(self) -> None: ...


def curl_available() -> bool:
    """True when curl_cffi can be imported (the browser-grade transport can run)."""
    return importlib.util.find_spec("curl_cffi") is not None


def make_transport(
    settings: Settings, kind: str, *, proxy: str | None = None, route: str = "direct"
) -> Transport:
    """A transport of ``kind`` ("httpx" or "curl") on one route (a proxy URL, or direct)."""
    if kind == "curl":
        if not curl_available():
            from nsechain.errors import ConfigError

            raise ConfigError(f"transport=curl: {CURL_MISSING}")
        from nsechain.nse._curl import CurlTransport

        return CurlTransport(settings, proxy=proxy, route=route)
    from nsechain.nse._httpx import HttpxTransport

    return HttpxTransport(settings, proxy=proxy, route=route)
