"""The httpx transport: the default, plain-Python TLS, HTTP/1.1 or HTTP/2 (``http2 = true``).

Where it sits: inside ``nse/``, one of the two implementations of ``nse/transport.py``'s
``Transport``. The deadline is httpcore's network backend wrapped (``_wire.DeadlineBackend``),
the caps are ``_wire.read_body``'s streamed read, and ``_translate`` is the one place where
httpx errors become ``nsechain.errors``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from nsechain import errors
from nsechain.config import Settings
from nsechain.nse._responses import (
    Call,
    cannot_connect,
    deadline_exceeded,
    proxy_failed,
    wire_error,
)
from nsechain.nse._wire import (
    DEADLINE_PASSED,
    Body,
    Reply,
    Watch,
    WireError,
    deadline,
    install_deadline,
    read_body,
)

__all__ = ["HttpxTransport"]

log = logging.getLogger(__name__)

#: Headers a browser sends on every request; the curl transport gets them from its Chrome.
_BROWSER_HEADERS = {
    "Accept-Language": "en-US,en;q=0.9",
    # Never "br": NSE's brotli bodies came back undecodable (DESIGN.md §2).
    "Accept-Encoding": "gzip, deflate",
}


class HttpxTransport:
    """httpx.Client behind the transport boundary; thread-safe as httpx.Client is.

    ``inner`` replaces the network transport (tests pass an ``httpx.MockTransport``).
    """

    name = "httpx"

    def __init__(
        self,
        settings: Settings,
        *,
        proxy: str | None = None,
        route: str = "direct",
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self.route = route
        if inner is None:
            verify: ssl.SSLContext | bool = True
            if settings.ca_bundle is not None:
                verify = ssl.create_default_context(cafile=str(settings.ca_bundle))
            inner = httpx.HTTPTransport(http2=settings.http2, proxy=proxy, verify=verify)
            if not install_deadline(inner):
                log.warning("deadline not installed: httpx changed; each read is still bounded")
        self._http = httpx.Client(
            transport=inner,
            timeout=settings.timeout_s,
            # Never: every hop would be a request outside the budget (see _responses._not_2xx).
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent, **_BROWSER_HEADERS},
        )

    def get(self, call: Call, headers: Mapping[str, str], watch: Watch) -> tuple[Reply, Body]:
        s = self._settings
        with (
            _translate(call),
            deadline(s.deadline_s, watch),
            self._http.stream("GET", call.url, headers=dict(headers)) as response,
        ):
            try:
                body = read_body(
                    response, max_wire=s.max_wire_bytes, max_body=s.max_body_bytes, watch=watch
                )
            except WireError as exc:
                raise wire_error(exc, call) from None
        return Reply.of(response), body

    def clear_cookies(self) -> None:
        self._http.cookies.clear()

    def cookie_names(self) -> set[str]:
        return {c.name for c in self._http.cookies.jar}

    def close(self) -> None:
        self._http.close()


@contextmanager
def _translate(call: Call) -> Iterator[None]:
    """The one place httpx errors become nsechain errors."""
    name, where = call.endpoint.name, call.where
    try:
        yield
    except httpx.TimeoutException as exc:
        if str(exc) == DEADLINE_PASSED:
            raise deadline_exceeded(call) from exc
        raise errors.FetchTimeout(f"{name}: {type(exc).__name__}", url=call.url, **where) from exc
    except httpx.DecodingError as exc:
        # A Content-Encoding we cannot undo: the body is unusable, like NSE's old brotli replies.
        raise errors.BadPayload(f"{name}: undecodable body: {exc}", **where) from exc
    except httpx.ProxyError as exc:
        raise proxy_failed(call, exc) from exc
    except httpx.ConnectError as exc:
        raise cannot_connect(call, exc) from exc
    except httpx.HTTPError as exc:  # read/protocol errors, redirect loops
        raise errors.NetworkError(
            f"{name}: {type(exc).__name__}: {exc}", url=call.url, **where
        ) from exc
