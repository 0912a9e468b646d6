"""Every error nsechain raises, in one tree.

Where it sits: everywhere. The NSE client translates httpx errors into these at one boundary
(``nse/_responses.py``), the parser raises ``PayloadError`` subclasses, the store raises
``StorageError``. The two marker classes decide retries: the NSE client retries a
``TransientError`` in-line, unless it has its own path (401 re-bootstraps once, a block pauses
the client, an empty chain refreshes expiries), and never a ``TerminalError``; the collector
writes ``outcome`` into ``fetch_log``.

    NsechainError
    ├── ConfigError                      terminal: a bad setting; raised before anything runs
    ├── Interrupted                      a stop was requested while waiting (not a failure)
    ├── FetchError                       one HTTP exchange with NSE went wrong
    │   ├── NetworkError        transient  connect/read failure, reset         outcome=http_error
    │   │   └── FetchTimeout    transient  no answer in time                   outcome=timeout
    │   │       └── DeadlineExceeded  not retried in-line: the whole request   outcome=timeout
    │   ├── ServerError         transient  5xx                                 outcome=http_error
    │   │   └── Misdirected     transient  421 (cloud IPs; try HTTP/2)  outcome=misdirected
    │   ├── Unauthorized        transient  401 (cookies missing or expired)    outcome=unauthorized
    │   ├── RateBlocked         transient  403 Akamai block / req-per-second   outcome=blocked
    │   │   └── FingerprintBlocked  bot wall: 403 on bootstrap outcome=fingerprint_block
    │   ├── ClientPaused        transient  the client is cooling off a block   outcome=blocked
    │   ├── Deferred            transient  a long Retry-After: not before until outcome=deferred
    │   ├── Redirected          terminal   3xx: API calls never follow them     outcome=http_error
    │   └── EndpointGone        terminal   404 / HTML where JSON was expected   outcome=http_error
    ├── PayloadError                     the body came but is not a usable chain
    │   ├── BadPayload          transient  {} / HTML / truncated / wrong types outcome=bad_payload
    │   │   └── Implausible     transient  well-formed but cannot be true       outcome=bad_payload
    │   ├── BodyTooLarge        terminal   over the size cap (a gzip bomb)      outcome=bad_payload
    │   └── EmptyChain          transient  records.data == [] (wrong expiry)   outcome=empty
    └── StorageError                     disk or database trouble (full, read-only, I/O)
        ├── DatabaseLocked      transient  another process holds the DuckDB file
        └── CorruptFile         terminal   a pending Parquet file cannot be read

"Transient" means: the same request may succeed later (retry, refresh expiries, back off).
"Terminal" means: retrying the same thing is pointless; report it and move on.

Every error carries enough context (symbol, expiry, path) to say *what* failed and the message
says what the user can do about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = [
    "BadPayload",
    "BodyTooLarge",
    "ClientPaused",
    "ConfigError",
    "CorruptFile",
    "DatabaseLocked",
    "DeadlineExceeded",
    "Deferred",
    "EmptyChain",
    "EndpointGone",
    "FetchError",
    "FetchTimeout",
    "FingerprintBlocked",
    "Implausible",
    "Interrupted",
    "Misdirected",
    "NetworkError",
    "NsechainError",
    "PayloadError",
    "RateBlocked",
    "Redirected",
    "ServerError",
    "StorageError",
    "TerminalError",
    "TransientError",
    "Unauthorized",
]


class TransientError(Exception):
    """Marker: the same operation may succeed if tried again later."""


class TerminalError(Exception):
    """Marker: trying the same operation again will not help."""


class NsechainError(Exception):
    """Base of every nsechain error."""

    #: fetch_log outcome class for errors that end a fetch.
    outcome: ClassVar[str] = "http_error"


class ConfigError(NsechainError, TerminalError):
    """A setting is invalid. The message names the setting and the fix."""


def _where(symbol: str | None, expiry: str | None) -> str:
    if symbol is None:
        return ""
    return f"{symbol} {expiry}: " if expiry else f"{symbol}: "


class Interrupted(NsechainError):
    """A stop was requested while a component was sleeping or waiting; unwind quietly."""


class FetchError(NsechainError):
    """An HTTP exchange with NSE failed."""

    def __init__(
        self,
        message: str,
        *,
        symbol: str | None = None,
        expiry: str | None = None,
        status: int | None = None,
        url: str | None = None,
        body: bytes | None = None,
    ) -> None:
        self.symbol = symbol
        self.expiry = expiry
        self.status = status
        self.url = url
        self.body = body
        super().__init__(_where(symbol, expiry) + message)


class NetworkError(FetchError, TransientError):
    """Connecting, sending or reading failed (DNS, refused, reset, protocol error)."""


class FetchTimeout(NetworkError):
    """NSE did not answer within the configured timeout."""

    outcome = "timeout"


class DeadlineExceeded(FetchTimeout):
    """No complete answer within the whole-request deadline (``deadline_s``): a slow drip.

    Not retried within the same fetch (a server that drips once drips again); the next
    fetch of the pair tries again.
    """


class ServerError(FetchError, TransientError):
    """NSE answered 5xx."""


class Misdirected(ServerError):
    """421 Misdirected Request: Akamai refuses this connection (seen from cloud IPs over
    HTTP/1.1); HTTP/2 (``http2 = true``), the curl transport or another route may help."""

    outcome = "misdirected"


class Unauthorized(FetchError, TransientError):
    """401: the bootstrap cookies are missing or expired. Re-bootstrap, then retry once."""

    outcome = "unauthorized"


class RateBlocked(FetchError, TransientError):
    """403 from Akamai ("Access Denied") or "requests per second exceeded".

    The block lasts minutes; the whole client pauses for ``retry_after`` seconds.
    """

    outcome = "blocked"

    def __init__(self, message: str, *, retry_after: float, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class FingerprintBlocked(RateBlocked):
    """Akamai's "Access Denied" 403 on the bootstrap page, the first request of a session:
    the bot wall refuses this TLS/HTTP client, not its rate. Waiting does not help; the
    browser-grade transport (``transport = "curl"``, or ``auto``) or another route may."""

    outcome = "fingerprint_block"


class ClientPaused(FetchError, TransientError):
    """The client is cooling off after a block and refuses to send until ``until`` (epoch s)."""

    outcome = "blocked"

    def __init__(self, message: str, *, until: float, **kw: object) -> None:
        self.until = until
        super().__init__(message, **kw)  # type: ignore[arg-type]


class Deferred(FetchError, TransientError):
    """NSE asked for a wait (Retry-After) longer than the retry budget: not before ``until``.

    ``until`` is on the client's clock (``time.monotonic`` unless injected), ``seconds`` the
    wait asked for. ``scope`` is ``"pair"`` (only this URL waits) or ``"host"`` (every request
    waits: the client pauses). The client refuses a deferred request without sending it.
    """

    outcome = "deferred"

    def __init__(self, message: str, *, until: float, seconds: float, scope: str, **kw: object):
        self.until = until
        self.seconds = seconds
        self.scope = scope
        super().__init__(message, **kw)  # type: ignore[arg-type]


class Redirected(FetchError, TerminalError):
    """A 3xx answer. API calls never follow redirects: each hop would be a request outside
    the budget, and a redirect to a login page is not the data asked for. ``location`` is the
    target NSE named."""

    def __init__(self, message: str, *, location: str | None, **kw: object) -> None:
        self.location = location
        super().__init__(message, **kw)  # type: ignore[arg-type]


class EndpointGone(FetchError, TerminalError):
    """404, or an HTML page where JSON was expected: the endpoint is dead or moved for this symbol.

    The client falls back to the NextApi family when v3 raises this.
    """


class PayloadError(NsechainError):
    """A response body that is not a usable option chain."""

    outcome = "bad_payload"

    def __init__(
        self,
        reason: str,
        *,
        symbol: str | None = None,
        expiry: str | None = None,
        body: bytes | None = None,
    ) -> None:
        self.reason = reason
        self.symbol = symbol
        self.expiry = expiry
        self.body = body
        super().__init__(_where(symbol, expiry) + reason)


class BadPayload(PayloadError, TransientError):
    """Undecodable or structurally wrong: ``{}``, HTML, truncated JSON, wrong types.

    The raw body goes to quarantine with this message as the reason.
    """


class Implausible(BadPayload):
    """A well-formed chain holding values that cannot be true: negative OI, volume or price, a
    timestamp outside the session window, rows of an expiry not asked for, NaN or Infinity.

    ``field`` names the offending field; the body goes to quarantine like any bad payload.
    """

    def __init__(self, reason: str, *, field: str, **kw: object) -> None:
        self.field = field
        super().__init__(reason, **kw)  # type: ignore[arg-type]


class BodyTooLarge(PayloadError, TerminalError):
    """The body passed the size cap (compressed or decompressed): reading stopped there.

    A gzip bomb repeats itself, so it is not retried in-line; the capped bytes are quarantined.
    """


class EmptyChain(PayloadError, TransientError):
    """``records.data == []``: NSE's answer to an expiry it does not list (HTTP 200).

    Never an empty market: refresh the symbol's expiries.
    """

    outcome = "empty"


class StorageError(NsechainError):
    """Writing or loading data failed (disk full, read-only, I/O error).

    Neither marker: a full disk is retried every tick and clears when space returns.
    """

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class DatabaseLocked(StorageError, TransientError):
    """Another process holds the DuckDB file; try again later, nothing is lost."""


class CorruptFile(StorageError, TerminalError):
    """A pending Parquet file cannot be read; it is moved to quarantine, never deleted."""
