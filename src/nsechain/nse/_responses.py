"""What an NSE HTTP response means, before its body is decoded.

Where it sits: inside ``nse/``, used only by the client (``nse/client.py``). It classifies
an answer by status and body sniffing (``classify``), the same for every transport (each
transport translates its own library's errors, ``nse/_httpx.py`` and ``nse/_curl.py``), and
reads how long NSE asks us to wait (``retry_after``, a 403 page's "try again after N
minutes"). It also words the errors both transports raise for the wire (``wire_error``,
``deadline_exceeded``, ``proxy_failed``, ``cannot_connect``), so a user reads the same message
whichever transport sent the request. No I/O and no client state: pure functions of the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import TypedDict

import httpx

from nsechain import errors
from nsechain.nse._wire import Reply, WireError
from nsechain.nse.endpoints import BOOTSTRAP, Endpoint, format_expiry

__all__ = [
    "Call",
    "Error",
    "Failed",
    "HtmlBody",
    "Where",
    "cannot_connect",
    "classify",
    "deadline_exceeded",
    "proxy_failed",
    "retry_after",
    "retry_scope",
    "wire_error",
]

# 4xx answers that mean "not now" rather than "not here".
_TRANSIENT_4XX = frozenset({408, 425, 429})
#: What the client's Accept-Encoding offers; httpx decodes these.
_ASKED_ENCODINGS = frozenset({"", "gzip", "deflate", "identity"})
_BLOCK_MINUTES = re.compile(rb"after\s+(\d+)\s+minute", re.IGNORECASE)
_ACCESS_DENIED = re.compile(rb"<title>\s*access denied", re.IGNORECASE)

Error = errors.FetchError | errors.PayloadError


@dataclass(frozen=True, slots=True)
class Call:
    """What one request() is about: the error context of every attempt."""

    endpoint: Endpoint
    url: str
    symbol: str | None
    expiry: date | None

    @property
    def expiry_str(self) -> str | None:
        # NSE's own format in error messages, as the parser uses: "NIFTY 11-Aug-2026: ...".
        return format_expiry(self.expiry) if self.expiry else None

    @property
    def where(self) -> Where:
        return {"symbol": self.symbol, "expiry": self.expiry_str}


class Where(TypedDict):
    """The symbol/expiry keywords every nsechain fetch or payload error takes."""

    symbol: str | None
    expiry: str | None


class HtmlBody(errors.BadPayload):
    """A 2xx HTML page where JSON was expected: retried, and if it persists, EndpointGone."""

    def __init__(self, call: Call, status: int, body: bytes) -> None:
        self.status = status
        message = f"{call.endpoint.name}: HTML page where JSON was expected"
        super().__init__(message, body=body, **call.where)


@dataclass(frozen=True, slots=True)
class Failed:
    """A failed attempt, and how long the server asked us to wait before the next one."""

    error: Error
    retry_after: float | None = None


# --- classifying responses -------------------------------------------------------------------
def classify(
    call: Call, response: Reply | httpx.Response, cooloff: float, body: bytes | None = None
) -> Failed | None:
    """The failure an answer means, or None when its body should be decoded.

    ``body`` is the decoded body (``response.content`` of an in-memory httpx response else).
    """
    if isinstance(response, httpx.Response):
        body = response.content if body is None else body
        response = Reply.of(response, call.url)
    body = body or b""
    status, name, url, where = response.status_code, call.endpoint.name, call.url, call.where
    if status == 401:
        message = f"{name}: 401, session cookies missing or expired"
        return Failed(errors.Unauthorized(message, status=status, url=url, **where))
    if status == 403:
        # Every NSE 403 is an Akamai edge decision ("Access Denied", "requests per second
        # exceeded"); sending more only extends it, so all of them pause the client.
        wait = max(cooloff, retry_after(response) or 0.0, _block_minutes(body) * 60)
        if _bot_wall(call, body):
            message = (
                f"{name}: 403 Access Denied on the first page of a session: Akamai's bot wall "
                "refuses this client (its TLS fingerprint), not its rate"
            )
            wall = errors.FingerprintBlocked(
                message, retry_after=wait, status=status, url=url, **where
            )
            return Failed(wall)
        blocked = errors.RateBlocked(
            f"{name}: 403 blocked by NSE", retry_after=wait, status=status, url=url, **where
        )
        return Failed(blocked)
    if status == 421:
        message = (
            f"{name}: HTTP 421 Misdirected Request ({response.http_version}); NSE refuses this "
            "connection: try http2 = true, transport = curl, or another route"
        )
        return Failed(errors.Misdirected(message, status=status, url=url, **where))
    if status >= 500 or status in _TRANSIENT_4XX:
        error = errors.ServerError(f"{name}: HTTP {status}", status=status, url=url, **where)
        return Failed(error, retry_after(response))
    if status >= 400:
        return Failed(
            errors.EndpointGone(f"{name}: HTTP {status}", status=status, url=url, **where)
        )
    if status >= 300 or status < 200:
        return Failed(_not_2xx(call, response))
    if call.endpoint.json and _is_html(body):
        return Failed(HtmlBody(call, status, body))
    if call.endpoint.json and (encoding := _undecoded_encoding(response, body)):
        message = (
            f"{name}: body sent with Content-Encoding {encoding!r}, which we never ask for "
            "(Accept-Encoding: gzip, deflate) and could not decode. Retry"
        )
        return Failed(errors.BadPayload(message, body=body, **where))
    return None


def _bot_wall(call: Call, body: bytes) -> bool:
    """Akamai's "Access Denied" on the bootstrap page: the first request of a session, so no
    rate can be at fault (a rate block says "try again after N minutes")."""
    return call.endpoint is BOOTSTRAP and bool(_ACCESS_DENIED.search(body[:4096]))


def _not_2xx(call: Call, response: Reply) -> errors.FetchError:
    """A redirect (never followed: each hop would be a request outside the budget, and the
    target is not the data asked for), or a status no GET of ours should get (304, 1xx)."""
    status, name, where = response.status_code, call.endpoint.name, call.where
    location = response.headers.get("Location")
    if location is not None and 300 <= status < 400:
        target = str(httpx.URL(response.url).join(location))
        message = (
            f"{name}: HTTP {status} redirect to {target}; not followed (API calls never follow "
            "redirects). A login page means the session is refused; a new address means NSE "
            "moved the endpoint: check --base-url"
        )
        return errors.Redirected(message, location=target, status=status, url=call.url, **where)
    message = f"{name}: HTTP {status} to an unconditional GET; retrying"
    return errors.ServerError(message, status=status, url=call.url, **where)


def retry_scope(status: int | None) -> str:
    """What a Retry-After is about: 503 means the service is down ("host"); 429 and the rest
    are about this request (Akamai rate policies are per path): "pair"."""
    return "host" if status == 503 else "pair"


def _undecoded_encoding(response: Reply, body: bytes) -> str | None:
    """A Content-Encoding we did not ask for, left undecoded (the body is not JSON text).

    NSE's ``br`` replies were undecodable (DESIGN.md §2). Without this check the parser would
    blame truncation; a body httpx did decode (it starts like JSON) passes on to the parser.
    """
    encoding: str = response.headers.get("Content-Encoding", "").strip().lower()
    codings = {c.strip() for c in encoding.split(",")} - _ASKED_ENCODINGS
    if not codings or body.lstrip()[:1] in (b"{", b"["):
        return None
    return encoding


def _is_html(body: bytes) -> bool:
    # Sniff the body, not Content-Type: no JSON text starts with "<", while a mislabelled
    # JSON body must not be taken for an error page.
    return body.lstrip()[:1] == b"<"


def _block_minutes(body: bytes) -> int:
    """The N of "try again after N minutes" in a rate-block page, else 0."""
    found = _BLOCK_MINUTES.search(body)
    return int(found.group(1)) if found else 0


def retry_after(response: Reply) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None if absent/unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    # Measured against the server's own Date header when present: no clock-skew guesswork.
    now = _http_date(response.headers.get("Date", "")) or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The errors both transports raise, worded once: each transport's ``_translate`` decides which
# of its library's failures is which; what the user reads is the same whichever sent it.


def wire_error(exc: WireError, call: Call) -> errors.PayloadError:
    """A body that broke a cap or does not inflate; what was read is kept (at most the cap)
    so quarantine shows what NSE sent."""
    kind = errors.BodyTooLarge if exc.too_large else errors.BadPayload
    return kind(f"{call.endpoint.name}: {exc}", body=exc.raw, **call.where)


def deadline_exceeded(call: Call) -> errors.DeadlineExceeded:
    return errors.DeadlineExceeded(
        f"{call.endpoint.name}: no complete answer within the whole-request deadline "
        "(deadline_s); NSE answered too slowly (a slow drip?)",
        url=call.url,
        **call.where,
    )


def proxy_failed(call: Call, exc: Exception) -> errors.NetworkError:
    return errors.NetworkError(
        f"{call.endpoint.name}: the proxy refused or failed ({exc}); check the proxies setting",
        url=call.url,
        **call.where,
    )


def cannot_connect(call: Call, exc: Exception) -> errors.NetworkError:
    host = httpx.URL(call.url).host
    return errors.NetworkError(
        f"{call.endpoint.name}: cannot connect to {host} ({exc}); check the network, or --base-url",
        url=call.url,
        **call.where,
    )
