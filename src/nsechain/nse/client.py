"""The NSE HTTP client: cookies, request budget, retries, blocks and endpoint fallbacks.

Where it sits: between NSE (or the simulator) and the parser. The collector calls
``fetch_chain`` / ``fetch_contract_info`` / ... with a ``decode`` callable (the parser); this
module owns everything about talking HTTP to NSE (DESIGN.md §2 "Access", §5) and reports every
HTTP exchange for ``fetch_log`` through ``on_exchange``. What an answer means (status
classification, Retry-After) lives in ``nse/_responses.py``; the wire (connections, cookie
jar, deadline, caps, library errors) is a transport's (``nse/transport.py``: httpx or curl);
nothing above this module sees either library.

One request() call is: refuse if paused → bootstrap cookies if missing or old → attempts, each
taking a token from the shared bucket, classifying the response, then decoding it. Transient
failures are retried with jittered exponential backoff; a 401 re-bootstraps once; a 403 block
pauses the whole client for the cool-off.
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Self, TypeVar

import httpx

from nsechain import errors
from nsechain.config import Settings
from nsechain.nse import endpoints as ep
from nsechain.nse._httpx import HttpxTransport
from nsechain.nse._responses import Call, Error, Failed, HtmlBody, classify, retry_scope
from nsechain.nse._wire import Body, Reply, Watch
from nsechain.nse.endpoints import Endpoint, chain_type, format_expiry
from nsechain.nse.ratelimit import TokenBucket
from nsechain.nse.transport import CURL_MISSING, Transport, curl_available, make_transport
from nsechain.timeutil import now_ist

__all__ = ["Exchange", "NseClient"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Once a primary endpoint is gone for a symbol, go straight to its fallback for this long
#: before probing it again: a dead endpoint would otherwise cost a request on every fetch.
GONE_RECHECK_S = 1800.0

# The markers decide: a TransientError is retried in-line, a TerminalError never. Except the
# transient errors with their own path: Unauthorized re-bootstraps once; RateBlocked and
# ClientPaused pause the client; EmptyChain needs fresh expiries, not the same request again.
# A passed whole-request deadline is not retried in-line: a server that drips once drips again.
_OWN_PATH = (
    errors.Unauthorized,
    errors.RateBlocked,
    errors.ClientPaused,
    errors.EmptyChain,
    errors.DeadlineExceeded,
)


def _retried(error: Exception) -> bool:
    return isinstance(error, errors.TransientError) and not isinstance(error, _OWN_PATH)


#: Requests that go ahead of the waiting chains for a token: the cookie bootstrap (every other
#: request needs it, each holding its token meanwhile, then all go at once) and the holiday
#: list (it decides whether chains are fetched at all).
_AHEAD = (ep.BOOTSTRAP, ep.HOLIDAY_MASTER)
_JSON_ACCEPT = "application/json, text/javascript, */*; q=0.01"
_HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request and its result: one ``fetch_log`` row."""

    endpoint: str
    url: str
    symbol: str | None
    expiry: date | None
    fetched_at: datetime
    http_status: int | None
    latency_ms: float
    bytes: int
    attempt: int
    outcome: str
    error: str | None = None
    body: builtins.bytes | None = None  # builtins: the field `bytes` shadows the type here
    route: str = "direct"  # the route (direct, or a proxy) the request went by


def _discard(body: bytes, exchange: Exchange) -> None:
    """Decoder of the bootstrap page: only its cookies matter."""


class NseClient:
    """A synchronous NSE client, safe to share between the collector's fetch workers.

    Shared between threads: the token bucket (its own lock), the httpx client (thread-safe),
    the cookies (``_cookie_lock``: one bootstrap at a time, and a 401 seen by several workers
    re-bootstraps once), the pause after a block and the gone-endpoint memory (``_state_lock``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | Transport | None = None,
        proxy: str | None = None,
        route: str = "direct",
        on_exchange: Callable[[Exchange], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = now_ist,
    ) -> None:
        # ``clock`` times the HTTP side (budget, backoff, cookie age, pauses): wall time.
        # ``now`` stamps each exchange's ``fetched_at``: market time (collector/clock.py).
        self._settings = settings
        self._now = now
        self._base = settings.base_url.rstrip("/")
        self._on_exchange = on_exchange or (lambda _exchange: None)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._bucket = TokenBucket(settings.rate, settings.burst, clock=clock, sleep=sleep)
        self._cookie_lock = threading.RLock()
        self._state_lock = threading.Lock()
        self._cookies_at: float | None = None
        self._paused_until: float | None = None
        self._pause_reason: str | None = None  # None: a 403 block; else a host-wide Retry-After
        self._gone: dict[tuple[str, str | None], float] = {}
        self._deferred: dict[str, float] = {}  # url -> clock() time before which it waits
        self._proxy = proxy
        self.route = route
        self._switched = False  # transport=auto moved to curl after a bot-wall 403
        self._retired: list[Transport] = []  # replaced transports, closed with the client
        if isinstance(transport, httpx.BaseTransport):  # tests: an httpx mock or a custom one
            transport = HttpxTransport(settings, route=route, inner=transport)
        elif transport is None:
            kind = "httpx" if settings.transport == "auto" else settings.transport
            transport = make_transport(settings, kind, proxy=proxy, route=route)
        self._transport: Transport = transport
        self._referer = f"{self._base}{ep.BOOTSTRAP.path}"

    # --- public API --------------------------------------------------------------------------
    def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, str],
        *,
        symbol: str | None = None,
        expiry: date | None = None,
        decode: Callable[[bytes, Exchange], T],
    ) -> tuple[T, Exchange]:
        """Fetch one endpoint and decode it; the returned Exchange is NOT sent to on_exchange."""
        return self._request(self._call(endpoint, params, symbol, expiry), decode)

    def fetch_chain(
        self, symbol: str, expiry: date, decode: Callable[[bytes, Exchange], T]
    ) -> tuple[T, Exchange]:
        """One expiry's chain from v3, or from NextApi getOptionChainData when v3 is gone.

        The two answer in different shapes; ``decode`` tells them apart by ``exchange.endpoint``.
        """
        nextapi = {"symbol": symbol, "params": f"expiryDate={format_expiry(expiry)}"}
        return self._with_fallback(
            self._call(ep.OPTION_CHAIN_V3, _v3_params(symbol, expiry), symbol, expiry),
            self._call(ep.NEXTAPI_CHAIN, nextapi, symbol, expiry),
            decode,
        )

    def fetch_contract_info(
        self, symbol: str, decode: Callable[[bytes, Exchange], T]
    ) -> tuple[T, Exchange]:
        """Expiries and strikes, from contract-info or NextApi getOptionChainDropdown."""
        return self._with_fallback(
            self._call(ep.CONTRACT_INFO, {"symbol": symbol}, symbol, None),
            self._call(ep.NEXTAPI_DROPDOWN, {"symbol": symbol}, symbol, None),
            decode,
        )

    def fetch_universe(self, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        """The F&O underlyings (``/api/underlying-information``)."""
        return self.request(ep.UNDERLYING_INFO, {}, decode=decode)

    def fetch_holidays(self, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        """Trading holidays of every segment (``/api/holiday-master?type=trading``)."""
        return self.request(ep.HOLIDAY_MASTER, {}, decode=decode)

    def fetch_market_status(self, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        """Open/closed state per market (``/api/marketStatus``)."""
        return self.request(ep.MARKET_STATUS, {}, decode=decode)

    def ensure_session(self) -> None:
        """Session cookies for the API calls, bootstrapping only when there are none or they
        are old: the collector's start gets them once, before its workers ask at once."""
        self._ensure_cookies()

    def bootstrap(self) -> set[str]:
        """Start a fresh session now (``nsechain doctor``); the names of the cookies it set."""
        self._bootstrap()
        return self._transport.cookie_names()

    @property
    def paused_until(self) -> float | None:
        """``clock()`` time until which the client refuses to send, or None if not paused."""
        return None if self._pause_left() is None else self._paused_until

    @property
    def pause_reason(self) -> str | None:
        """Why the client is paused: None for a 403 block, else NSE's host-wide Retry-After."""
        return self._pause_reason

    @property
    def effective_rate(self) -> float:
        """Current request budget in requests per second."""
        return self._bucket.rate

    @property
    def limiter(self) -> TokenBucket:
        """The one token bucket every request of this client goes through."""
        return self._bucket

    @property
    def transport(self) -> str:
        """The name of the transport in use: "httpx" or "curl"."""
        return self._transport.name

    def close(self) -> None:
        for transport in (*self._retired, self._transport):
            transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one request: pause check, cookies, fallback -----------------------------------------
    def _call(
        self, endpoint: Endpoint, params: Mapping[str, str], symbol: str | None, expiry: date | None
    ) -> Call:
        return Call(endpoint, endpoint.url(self._base, **params), symbol, expiry)

    def _request(self, call: Call, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        self._raise_if_paused(call)
        if call.endpoint.needs_cookies:
            self._ensure_cookies()
        return self._send(call, decode)

    def _with_fallback(
        self, primary: Call, fallback: Call, decode: Callable[[bytes, Exchange], T]
    ) -> tuple[T, Exchange]:
        key = (primary.endpoint.name, primary.symbol)
        gone_at = self._gone.get(key)
        if gone_at is None or self._clock() - gone_at >= GONE_RECHECK_S:
            try:
                result = self._request(primary, decode)
            except errors.EndpointGone as exc:
                if exc.url != primary.url:  # the bootstrap page is gone, not this endpoint
                    raise
                self._gone[key] = self._clock()
                log.warning(
                    "fallback endpoint=%s symbol=%s to=%s reason=%r",
                    primary.endpoint.name,
                    primary.symbol,
                    fallback.endpoint.name,
                    str(exc),
                )
            else:
                self._gone.pop(key, None)
                return result
        return self._request(fallback, decode)

    def _ensure_cookies(self) -> None:
        with self._cookie_lock:
            at = self._cookies_at
            if at is None or self._clock() - at >= self._settings.cookie_max_age_s:
                self._bootstrap()

    def _bootstrap(self) -> None:
        """GET the option-chain page for fresh session cookies; its exchange is reported."""
        with self._cookie_lock:
            # A fresh session: cookies of an expired or blocked one only prolong the trouble.
            self._transport.clear_cookies()
            try:
                _, exchange = self._send(self._call(ep.BOOTSTRAP, {}, None, None), _discard)
            except errors.FingerprintBlocked as exc:
                if not self._switch_transport(exc):
                    raise
                self._transport.clear_cookies()
                _, exchange = self._send(self._call(ep.BOOTSTRAP, {}, None, None), _discard)
            self._on_exchange(exchange)
            self._cookies_at = self._clock()
            if "nseappid" not in self._transport.cookie_names():
                log.warning(
                    "bootstrap url=%s set no nseappid cookie; API calls may 401", exchange.url
                )

    def _switch_transport(self, wall: errors.FingerprintBlocked) -> bool:
        """transport=auto: the bot wall refused httpx, so move to curl (said once). False
        when that is not possible; the error then says what to do."""
        if self._settings.transport != "auto" or self._transport.name == "curl":
            return False
        if not curl_available():
            wall.add_note(f"transport=auto cannot switch: {CURL_MISSING}")
            return False
        old = self._transport
        self._transport = make_transport(
            self._settings, "curl", proxy=self._proxy, route=self.route
        )
        self._retired.append(old)  # other workers may still be inside it; closed with us
        with self._state_lock:
            if self._paused_until is not None and self._pause_reason is None:
                self._paused_until = None  # the wall was the fingerprint's, not the rate's
        if not self._switched:
            log.warning(
                "transport switch route=%s from=%s to=curl reason=%r",
                self.route,
                old.name,
                "bot-wall 403 on the bootstrap page (transport=auto)",
            )
        self._switched = True
        return True

    # --- attempts and retries ------------------------------------------------------------------
    def _send(self, call: Call, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        sent_at = self._clock()
        retries = 0
        reauthorised = False
        attempt = 0
        while True:
            attempt += 1
            result = self._attempt(call, attempt, decode)
            if not isinstance(result, Failed):
                return result
            error = result.error
            if (
                isinstance(error, errors.Unauthorized)
                and call.endpoint.needs_cookies
                and not reauthorised
            ):
                reauthorised = True
                with self._cookie_lock:
                    # Several workers may see the same expired session: one bootstrap serves all.
                    if self._cookies_at is None or self._cookies_at <= sent_at:
                        self._bootstrap()
                continue
            if isinstance(error, errors.RateBlocked):
                if isinstance(error, errors.FingerprintBlocked) and self._can_switch():
                    raise error  # _bootstrap switches transports instead of pausing
                self._pause(error.retry_after)
            if not _retried(error) or retries >= self._settings.max_retries:
                raise _final(error, call)
            delay = self._backoff(retries + 1, result.retry_after)
            if delay is None:
                raise self._defer(call, error, result.retry_after or 0.0)
            retries += 1
            self._sleep(delay)  # may raise Interrupted: the collector is stopping

    def _can_switch(self) -> bool:
        return (
            self._settings.transport == "auto"
            and self._transport.name != "curl"
            and curl_available()
        )

    def _attempt(
        self, call: Call, attempt: int, decode: Callable[[bytes, Exchange], T]
    ) -> tuple[T, Exchange] | Failed:
        self._raise_if_paused(call)
        self._raise_if_deferred(call)
        self._bucket.acquire(first=call.endpoint in _AHEAD)
        # Checked again: another thread may have been blocked while we waited for the token.
        self._raise_if_paused(call)
        started = self._clock()
        watch = Watch()
        accept = _JSON_ACCEPT if call.endpoint.json else _HTML_ACCEPT
        try:
            response, body = self._transport.get(
                call, {"Accept": accept, "Referer": self._referer}, watch
            )
        except (errors.FetchError, errors.PayloadError) as exc:
            # Failed half-way: the status and the bytes that did come are still true.
            partial = Body(b"", watch.wire_bytes)
            exchange = self._exchange(call, attempt, started, watch.reply, partial)
            return self._report(exchange, Failed(exc))
        exchange = self._exchange(call, attempt, started, response, body)
        failed = classify(call, response, self._settings.block_cooloff_s, body.content)
        if failed is not None:
            return self._report(exchange, failed)
        try:
            value = decode(body.content, exchange)
        except errors.PayloadError as exc:
            return self._report(exchange, Failed(_with_context(exc, call, response, body)))
        _log_exchange(exchange)
        return value, exchange

    def _ms(self, started: float) -> float:
        return (self._clock() - started) * 1000.0

    def _exchange(
        self,
        call: Call,
        attempt: int,
        started: float,
        response: Reply | None,
        body: Body | None,
    ) -> Exchange:
        return Exchange(
            endpoint=call.endpoint.name,
            url=call.url,
            symbol=call.symbol,
            expiry=call.expiry,
            fetched_at=self._now(),
            http_status=None if response is None else response.status_code,
            latency_ms=self._ms(started),
            bytes=0 if body is None else body.wire_bytes,  # as sent: the true byte count
            attempt=attempt,
            outcome="ok",
            route=self.route,
        )

    def _report(self, exchange: Exchange, failed: Failed) -> Failed:
        error = failed.error
        # Only bad payloads are kept for quarantine; other bodies are error pages (or empty).
        kept = isinstance(error, errors.BadPayload | errors.BodyTooLarge)
        body = error.body if kept else None
        text = str(error)
        wait = failed.retry_after
        if wait is not None and wait > self._settings.backoff_max_s:
            # fetch_log records the wait NSE asked for, beyond what a retry may wait.
            scope = retry_scope(exchange.http_status)
            text += f" [Retry-After {wait:.0f}s beyond the retry budget: {scope} deferred]"
        exchange = replace(exchange, outcome=error.outcome, error=text, body=body)
        _log_exchange(exchange)
        self._on_exchange(exchange)
        return failed

    def _defer(self, call: Call, error: Error, seconds: float) -> errors.Deferred:
        """NSE asked for longer than a retry may wait: this URL (or the host) waits that long."""
        status = error.status if isinstance(error, errors.FetchError) else None
        scope = retry_scope(status)
        until = self._clock() + seconds
        if scope == "host":
            self._pause(seconds, reason=f"Retry-After on HTTP {status}")
        else:
            self._deferred[call.url] = until
        deferred = errors.Deferred(
            f"{call.endpoint.name}: HTTP {status} with Retry-After {seconds:.0f}s, beyond the "
            f"retry budget ({self._settings.backoff_max_s:g}s); "
            f"{'every request' if scope == 'host' else 'this request'} waits that long",
            until=until,
            seconds=seconds,
            scope=scope,
            status=status,
            url=call.url,
            **call.where,
        )
        deferred.__cause__ = error
        log.warning(
            "deferred scope=%s symbol=%s expiry=%s seconds=%.0f url=%s",
            scope,
            call.symbol or "-",
            call.expiry_str or "-",
            seconds,
            call.url,
        )
        return deferred

    def _raise_if_deferred(self, call: Call) -> None:
        until = self._deferred.get(call.url)
        if until is None:
            return
        left = until - self._clock()
        if left <= 0:
            self._deferred.pop(call.url, None)
            return
        raise errors.Deferred(
            f"{call.endpoint.name}: not sent, NSE asked to wait ({left:.0f}s left)",
            until=until,
            seconds=left,
            scope="pair",
            url=call.url,
            **call.where,
        )

    def deferred_until(self, symbol: str, expiry: date) -> float | None:
        """``clock()`` time before which the chain of (symbol, expiry) is not asked, or None."""
        url = self._call(ep.OPTION_CHAIN_V3, _v3_params(symbol, expiry), symbol, expiry).url
        until = self._deferred.get(url)
        return until if until is not None and until > self._clock() else None

    def deferred_left(self, symbol: str, expiry: date) -> float | None:
        """Seconds before the chain of (symbol, expiry) may be asked again, or None."""
        until = self.deferred_until(symbol, expiry)
        return None if until is None else max(0.0, until - self._clock())

    def _backoff(self, retry: int, retry_after: float | None) -> float | None:
        """Full-jitter exponential delay, at least Retry-After; None if NSE asks for too long."""
        s = self._settings
        if retry_after is not None and retry_after > s.backoff_max_s:
            # Waiting minutes inside one fetch would stall the tick; the caller retries later.
            return None
        ceiling = min(s.backoff_max_s, s.backoff_base_s * 2.0 ** (retry - 1))
        return max(self._rng.uniform(0.0, ceiling), retry_after or 0.0)

    # --- pause after a block -------------------------------------------------------------------
    def _pause(self, seconds: float, reason: str | None = None) -> None:
        """Send nothing for ``seconds``: after a 403 block (``reason`` None) or when NSE asked
        the whole host to wait (a long Retry-After on a 503: ``reason`` says so)."""
        until = self._clock() + seconds
        with self._state_lock:
            if self._paused_until is None or until > self._paused_until:
                self._paused_until = until
                self._pause_reason = reason
            if reason is None:
                self._cookies_at = None  # start a fresh session when the cool-off ends
        log.warning("pause seconds=%.0f reason=%s", seconds, reason or "403-block")

    def _pause_left(self) -> float | None:
        with self._state_lock:
            until = self._paused_until
            if until is None:
                return None
            left = until - self._clock()
            if left <= 0:
                self._paused_until = None
                return None
            return left

    def _raise_if_paused(self, call: Call) -> None:
        left = self._pause_left()
        if left is None:
            return
        if self._pause_reason is not None:
            raise errors.Deferred(
                f"{call.endpoint.name}: not sent, NSE asked every request to wait "
                f"({self._pause_reason}; {left:.0f}s left)",
                until=self._clock() + left,
                seconds=left,
                scope="host",
                url=call.url,
                **call.where,
            )
        raise errors.ClientPaused(
            f"{call.endpoint.name}: not sent, client paused after a 403 block ({left:.0f}s left)",
            until=time.time() + left,  # epoch, as errors.ClientPaused documents
            url=call.url,
            **call.where,
        )


def _v3_params(symbol: str, expiry: date) -> dict[str, str]:
    return {"type": chain_type(symbol), "symbol": symbol, "expiry": format_expiry(expiry)}


def _with_context(
    exc: errors.PayloadError, call: Call, response: Reply, body: Body
) -> errors.PayloadError:
    """The decoder's error, made to say which request it was about and to carry the body."""
    if exc.symbol is None and call.symbol is not None:
        try:
            fresh = type(exc)(exc.reason, body=exc.body, **call.where)
        except TypeError:  # a subclass with required keywords already names what it is about
            fresh = exc
        fresh.__cause__ = exc if fresh is not exc else exc.__cause__
        exc = fresh
    if exc.body is None:
        exc.body = body.content
    exc.add_note(f"url={call.url} status={response.status_code}")
    return exc


def _final(error: Error, call: Call) -> Error:
    """The error request() raises once it gives up: persistent HTML means the endpoint is gone."""
    if not isinstance(error, HtmlBody):
        return error
    gone = errors.EndpointGone(
        f"{call.endpoint.name}: answers an HTML page instead of JSON",
        status=error.status,
        url=call.url,
        body=error.body,
        **call.where,
    )
    gone.__cause__ = error
    return gone


def _log_exchange(ex: Exchange) -> None:
    # One line per HTTP request, stable key=value fields; fetch_log has the same facts.
    log.log(
        logging.DEBUG if ex.outcome == "ok" else logging.WARNING,
        "fetch endpoint=%s symbol=%s expiry=%s status=%s outcome=%s ms=%.0f bytes=%d attempt=%d%s",
        ex.endpoint,
        ex.symbol or "-",
        ex.expiry.isoformat() if ex.expiry else "-",
        ex.http_status if ex.http_status is not None else "-",
        ex.outcome,
        ex.latency_ms,
        ex.bytes,
        ex.attempt,
        f" error={ex.error!r}" if ex.error else "",
    )
