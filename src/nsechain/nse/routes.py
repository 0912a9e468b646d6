"""Routes: the direct line and each proxy, every one with its own cookies and budget.

Where it sits: in ``nse/``, above the client. A route is one ``NseClient`` (its transport, so
its own connections and cookie jar; its own token bucket at ``rate``; its own pause after a
block). ``RoutedClient`` puts several behind the client's interface, so the collector and its
workers do not know how many there are: N routes give N x ``rate``, the plan is sized from
the sum (``budget``), and a blocked route pauses alone while the others go on.

Work is spread by tokens: ``PoolBucket.prepay`` (the workers take a token before choosing a
pair) takes it from whichever open route has one first, and the request then goes by that
route; a call without a prepaid token goes round-robin over the open routes. The routes'
cookie bootstraps at the start go out at once, one thread per route (``_each``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlsplit

from nsechain.config import Settings
from nsechain.errors import ConfigError, Interrupted
from nsechain.nse.client import Exchange, NseClient
from nsechain.nse.endpoints import Endpoint
from nsechain.nse.ratelimit import Line

__all__ = ["PoolBucket", "RoutedClient", "make_client", "route_name", "routes_of"]

T = TypeVar("T")


def route_name(proxy: str) -> str:
    """A proxy's name in logs and fetch_log: scheme, host and port, never its credentials."""
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def routes_of(settings: Settings) -> list[tuple[str, str | None]]:
    """(name, proxy URL or None) of every route: direct unless turned off, then each proxy."""
    routes: list[tuple[str, str | None]] = [("direct", None)] if settings.direct else []
    routes += [(route_name(p), p) for p in settings.proxies]
    if not routes:
        raise ConfigError("direct = false and no proxies: no route to NSE; add proxies")
    return routes


def _open(clients: list[NseClient]) -> list[NseClient]:
    return [c for c in clients if c.paused_until is None]


def _each(routes: list[NseClient], call: Callable[[NseClient], T]) -> list[T]:
    """``call(route)`` on every route at once, for the routes' cookie bootstraps: one after
    another, N routes kept every worker idle for N latencies at the start (each route has its
    own cookie jar and token bucket, so nothing is shared). Waits for all of them, then raises
    the first error (a stop first), as the serial loop did."""
    if len(routes) == 1:
        return [call(routes[0])]
    with ThreadPoolExecutor(len(routes), thread_name_prefix="nsechain-route") as pool:
        futures = [pool.submit(call, route) for route in routes]
        wait(futures)
    failed = [exc for f in futures if (exc := f.exception()) is not None]
    if failed:
        raise next((e for e in failed if isinstance(e, Interrupted)), failed[0])
    return [f.result() for f in futures]


class PoolBucket:
    """The routes' token buckets seen as one (``TokenBucket``'s interface, as the workers
    use it): the rate is their sum, a prepaid token is taken from the first open route."""

    def __init__(self, routes: list[NseClient], sleep: Callable[[float], None]) -> None:
        self._routes = routes
        self._sleep = sleep
        self._local = threading.local()  # .route: the route of this thread's prepaid token
        self._next = itertools.count()
        self._line = Line()

    @property
    def rate(self) -> float:
        return sum(r.limiter.rate for r in self._routes)

    @property
    def burst(self) -> int:
        return sum(r.limiter.burst for r in self._routes)

    @property
    def granted(self) -> int:
        return sum(r.limiter.granted for r in self._routes)

    def set_rate(self, rate: float) -> None:
        """A new total (the collector's AIMD): shared out evenly."""
        for route in self._routes:
            route.limiter.set_rate(rate / len(self._routes))

    def held(self) -> NseClient | None:
        return getattr(self._local, "route", None)

    def prepay(self) -> None:
        # Waiters queue (first come, first served): one wakes per token, not all of them.
        if self._line.empty and self._try_prepay() == 0.0:
            return
        with self._line.turn():
            while (wait := self._try_prepay()) > 0.0:
                self._sleep(wait)  # may raise Interrupted: the collector is stopping

    def _try_prepay(self) -> float:
        """0 with a token of some open route held, else the seconds until one has one."""
        routes = _open(self._routes) or self._routes
        start = next(self._next)
        waits = []
        for i in range(len(routes)):
            route = routes[(start + i) % len(routes)]
            wait = route.limiter.try_prepay()
            if wait == 0.0:
                self._local.route = route
                return 0.0
            waits.append(wait)
        return min(waits)

    def refund(self) -> None:
        route = self.held()
        self._local.route = None
        if route is not None:
            route.limiter.refund()

    def acquire(self) -> None:
        self.prepay()  # the route's own acquire then uses it


class RoutedClient:
    """Several routes behind ``NseClient``'s interface; safe to share between workers."""

    route = "pool"

    def __init__(self, settings: Settings, **client_kw: Any) -> None:
        self.routes = [
            NseClient(settings, proxy=proxy, route=name, **client_kw)
            for name, proxy in routes_of(settings)
        ]
        sleep = client_kw.get("sleep", time.sleep)
        self._bucket = PoolBucket(self.routes, sleep)
        self._next = itertools.count()

    def _pick(self) -> NseClient:
        held = self._bucket.held()
        if held is not None:
            return held
        routes = _open(self.routes) or self.routes
        return routes[next(self._next) % len(routes)]

    # --- NseClient's interface -----------------------------------------------------------------
    def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, str],
        *,
        symbol: str | None = None,
        expiry: date | None = None,
        decode: Callable[[bytes, Exchange], T],
    ) -> tuple[T, Exchange]:
        return self._pick().request(endpoint, params, symbol=symbol, expiry=expiry, decode=decode)

    def fetch_chain(
        self, symbol: str, expiry: date, decode: Callable[[bytes, Exchange], T]
    ) -> tuple[T, Exchange]:
        return self._pick().fetch_chain(symbol, expiry, decode)

    def fetch_contract_info(
        self, symbol: str, decode: Callable[[bytes, Exchange], T]
    ) -> tuple[T, Exchange]:
        return self._pick().fetch_contract_info(symbol, decode)

    def fetch_universe(self, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        return self._pick().fetch_universe(decode)

    def fetch_holidays(self, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        return self._pick().fetch_holidays(decode)

    def fetch_market_status(self, decode: Callable[[bytes, Exchange], T]) -> tuple[T, Exchange]:
        return self._pick().fetch_market_status(decode)

    @property
    def paused_until(self) -> float | None:
        """Paused only when every route is: until the first of them opens again."""
        pauses = [r.paused_until for r in self.routes]
        if any(p is None for p in pauses):
            return None
        return min(p for p in pauses if p is not None)

    @property
    def pause_reason(self) -> str | None:
        paused = [r for r in self.routes if r.paused_until is not None]
        return paused[0].pause_reason if paused else None

    def deferred_until(self, symbol: str, expiry: date) -> float | None:
        untils = [r.deferred_until(symbol, expiry) for r in self.routes]
        return None if any(u is None for u in untils) else min(u for u in untils if u is not None)

    def deferred_left(self, symbol: str, expiry: date) -> float | None:
        lefts = [r.deferred_left(symbol, expiry) for r in self.routes]
        return None if any(x is None for x in lefts) else min(x for x in lefts if x is not None)

    @property
    def effective_rate(self) -> float:
        return self._bucket.rate

    @property
    def limiter(self) -> PoolBucket:
        return self._bucket

    @property
    def transport(self) -> str:
        return "/".join(sorted({r.transport for r in self.routes}))

    def ensure_session(self) -> None:
        _each(_open(self.routes) or self.routes, lambda route: route.ensure_session())

    def bootstrap(self) -> set[str]:
        return set().union(*_each(self.routes, lambda route: route.bootstrap()))

    def close(self) -> None:
        for route in self.routes:
            route.close()


def make_client(
    settings: Settings, *, transport: Any = None, **client_kw: Any
) -> NseClient | RoutedClient:
    """One ``NseClient`` for a single route (direct, as before routes), else a pool."""
    if transport is not None:
        return NseClient(settings, transport=transport, **client_kw)  # a test's: one route
    routes = routes_of(settings)
    if len(routes) == 1:
        [(name, proxy)] = routes
        return NseClient(settings, proxy=proxy, route=name, **client_kw)
    return RoutedClient(settings, **client_kw)
