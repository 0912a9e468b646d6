"""``nsechain doctor``: can this machine get through to NSE, and if not, why not?

Where it sits: in ``nse/``, above the client; the CLI (``cli/doctor.py``) prints its report.
It checks, in order and timing each step: DNS, TCP, TLS (to NSE, or to each proxy), then for
each route (direct, each proxy) and each transport (httpx, curl): the bootstrap page and its
cookies, one contract-info call and one chain. Every NSE call goes through the product's own
``NseClient`` (same headers, caps, error classes), with no retries, so one bad answer is seen
as it is. The report ends with advice: install the browser transport, use a proxy, lower the
rate. "Works" means at least one route and transport brought a chain.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from nsechain import errors
from nsechain.config import Settings
from nsechain.nse.client import NseClient
from nsechain.nse.parse import parse_expiries
from nsechain.nse.routes import routes_of
from nsechain.nse.transport import CURL_MISSING, curl_available

__all__ = ["Report", "Step", "diagnose"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """One check: what, where (route/transport), whether it passed, how long, what happened."""

    name: str
    ok: bool
    ms: float
    detail: str
    route: str = "-"
    transport: str = "-"
    outcome: str = "ok"  # fetch_log's outcome class for NSE calls; "error" for network steps


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def works(self) -> bool:
        return any(s.ok and s.name == "chain" for s in self.steps)

    def working(self) -> list[tuple[str, str]]:
        return [(s.route, s.transport) for s in self.steps if s.ok and s.name == "chain"]


def _timed(fn: Callable[[], T]) -> tuple[T | None, float, Exception | None]:
    started = time.monotonic()
    try:
        value = fn()
    except Exception as exc:  # a diagnosis reports every failure; it never raises
        return None, (time.monotonic() - started) * 1000, exc
    return value, (time.monotonic() - started) * 1000, None


def _network(settings: Settings, route: str, proxy: str | None) -> Iterator[Step]:
    """DNS, TCP and (for https to NSE itself) TLS, to NSE or to the route's proxy."""
    target = urlsplit(proxy or settings.base_url)
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    where = f"{host}:{port}" + (" (proxy)" if proxy else "")
    addrs, ms, exc = _timed(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    if exc is not None or not addrs:
        yield Step("dns", False, ms, f"{where}: {exc}", route, outcome="error")
        return
    yield Step("dns", True, ms, f"{where} -> {addrs[0][4][0]}", route)
    timeout = settings.timeout_s
    sock, ms, exc = _timed(lambda: socket.create_connection((host, port), timeout))
    if sock is None:
        yield Step("tcp", False, ms, f"{where}: {exc}", route, outcome="error")
        return
    with sock:
        yield Step("tcp", True, ms, where, route)
        if proxy or target.scheme != "https":
            return
        context = ssl.create_default_context(
            cafile=str(settings.ca_bundle) if settings.ca_bundle else None
        )
        context.set_alpn_protocols(["h2", "http/1.1"])
        tls, ms, exc = _timed(lambda: context.wrap_socket(sock, server_hostname=host))
        if tls is None:
            yield Step("tls", False, ms, f"{where}: {exc}", route, outcome="error")
            return
        with tls:
            alpn = tls.selected_alpn_protocol() or "no ALPN"
            yield Step("tls", True, ms, f"{where}: {tls.version()}, {alpn}", route)


def _nse_steps(
    settings: Settings, symbol: str, route: str, proxy: str | None, kind: str
) -> Iterator[Step]:
    """Bootstrap, contract-info and one chain through one transport on one route."""
    probe = settings.model_copy(update={"transport": kind, "max_retries": 0})
    client = NseClient(probe, proxy=proxy, route=route, sleep=lambda _s: None)
    step: Callable[..., Step] = lambda name, ok, ms, detail, outcome="ok": Step(  # noqa: E731
        name, ok, ms, detail, route, kind, outcome
    )
    with client:
        cookies, ms, exc = _timed(client.bootstrap)
        if cookies is None:
            yield step("bootstrap", False, ms, str(exc), _outcome(exc))
            return
        listed = ", ".join(sorted(cookies)) or "none"
        yield step("bootstrap", True, ms, f"cookies: {listed}")
        got, ms, exc = _timed(
            lambda: client.fetch_contract_info(
                symbol, lambda b, _e: parse_expiries(b, symbol=symbol)
            )
        )
        if got is None:
            yield step("contract-info", False, ms, str(exc), _outcome(exc))
            return
        expiries, _ = got
        yield step("contract-info", True, ms, f"{symbol}: {len(expiries)} expiries")
        if not expiries:
            return
        chain, ms, exc = _timed(lambda: client.fetch_chain(symbol, expiries[0], lambda b, _e: b))
        if chain is None:
            yield step("chain", False, ms, str(exc), _outcome(exc))
            return
        body, exchange = chain
        detail = f"{symbol} {expiries[0]}: {exchange.bytes:,} bytes as sent, {len(body):,} decoded"
        yield step("chain", True, ms, detail)


def _outcome(exc: Exception | None) -> str:
    return exc.outcome if isinstance(exc, errors.NsechainError) else "error"


def diagnose(settings: Settings, symbol: str = "NIFTY") -> Report:
    """Every check on every route and transport, then the advice."""
    report = Report()
    kinds = ["httpx", "curl"] if curl_available() else ["httpx"]
    for route, proxy in routes_of(settings):
        network = list(_network(settings, route, proxy))
        report.steps += network
        if not all(s.ok for s in network):
            continue
        for kind in kinds:
            report.steps += list(_nse_steps(settings, symbol, route, proxy, kind))
    report.advice = _advice(report, curl_installed="curl" in kinds)
    return report


def _advice(report: Report, *, curl_installed: bool) -> list[str]:
    failed = {s.outcome for s in report.steps if not s.ok}
    working = report.working()
    advice: list[str] = []
    if working:
        transports = {t for _, t in working}
        if transports == {"curl"}:
            advice.append(
                'only the browser-grade transport gets through: keep transport = "auto" '
                '(it switches by itself) or set transport = "curl"'
            )
        else:
            advice.append(f"works: {', '.join(f'{r} via {t}' for r, t in working)}")
    if "fingerprint_block" in failed and not curl_installed:
        advice.append(f"Akamai's bot wall refused the plain Python client: {CURL_MISSING}")
    if "fingerprint_block" in failed and curl_installed and not working:
        advice.append(
            "the bot wall refuses even the browser-grade transport from this IP: use a proxy "
            '(proxies = ["socks5://..."]) on another network'
        )
    if "blocked" in failed:
        advice.append(
            "NSE rate-blocked this IP (403, 'requests per second exceeded'): lower rate "
            "(e.g. rate = 1.5), wait ~10 minutes, or add proxies to spread the load"
        )
    if "misdirected" in failed:
        advice.append('NSE answered 421: set http2 = true, or transport = "curl"')
    if "error" in failed and not working:
        advice.append(
            "the network does not reach NSE (DNS/TCP/TLS failed): check the connection, "
            "a firewall, base_url, or the proxy addresses"
        )
    if not working and not advice:
        advice.append("nothing got through; see the failed steps above")
    return advice
