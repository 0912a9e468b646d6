"""The NSE HTTP client, offline: endpoints, the token bucket, and NseClient on a MockTransport.

A scripted fake NSE answers every request; fake time (a clock plus a sleep that records the
delay and advances the clock) makes waits, cookie ages and cool-offs exact and instant.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from nsechain import errors
from nsechain.config import Settings
from nsechain.nse import endpoints as ep
from nsechain.nse.client import GONE_RECHECK_S, Exchange, NseClient
from nsechain.nse.ratelimit import TokenBucket

BASE = "https://nse.test"
EXPIRY = date(2026, 8, 11)
CHAIN = {"records": {"data": [{"strikePrice": 24450}], "timestamp": "11-Aug-2026 11:29:03"}}
AKAMAI_404 = b"<!DOCTYPE html><html><head><title>Resource not found</title></head></html>"
ACCESS_DENIED = b"<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>Access Denied</BODY></HTML>"
NO_TOKEN = b"<html><body>No authorization token was found</body></html>"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class FakeNse:
    """Scripted NSE: the bootstrap page always sets a fresh cookie; API calls pop the script."""

    def __init__(self, *script: Reply) -> None:
        self.script: list[Reply] = list(script)
        self.requests: list[httpx.Request] = []
        self.bootstraps = 0
        self.bootstrap_script: list[Reply] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/option-chain":
            if self.bootstrap_script:
                return self._play(self.bootstrap_script.pop(0), request)
            self.bootstraps += 1
            cookie = f"nseappid=tok{self.bootstraps}; Path=/"
            return httpx.Response(200, html="<html>chain</html>", headers={"Set-Cookie": cookie})
        reply: Reply = self.script.pop(0) if self.script else ok()
        return self._play(reply, request)

    @staticmethod
    def _play(reply: Reply, request: httpx.Request) -> httpx.Response:
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    @property
    def api(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/option-chain"]


def ok(payload: object = CHAIN) -> httpx.Response:
    return httpx.Response(200, json=payload)


def status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(code, content=body, headers=headers)


def decode_json(body: bytes, exchange: Exchange) -> Any:
    """A stand-in for the parser: classifies {} and empty chains like the real one."""
    data = json.loads(body)
    if not data:
        raise errors.BadPayload("empty {} body", symbol=exchange.symbol)
    if data.get("records", {}).get("data") == []:
        raise errors.EmptyChain("records.data is empty", symbol=exchange.symbol)
    return data


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "base_url": BASE,
        "rate": 3.0,
        "burst": 3,
        "max_retries": 2,
        "backoff_base_s": 0.5,
        "backoff_max_s": 30.0,
        "cookie_max_age_s": 1800.0,
        "block_cooloff_s": 600.0,
    }
    return Settings(**(values | overrides))


class Harness:
    def __init__(self, nse: FakeNse, **overrides: Any) -> None:
        self.nse = nse
        self.time = FakeTime()
        self.exchanges: list[Exchange] = []
        self.settings = make_settings(**overrides)
        self.client = NseClient(
            self.settings,
            transport=httpx.MockTransport(nse),
            on_exchange=self.exchanges.append,
            clock=self.time.clock,
            sleep=self.time.sleep,
            rng=random.Random(7),
        )

    def chain(self, symbol: str = "NIFTY") -> tuple[Any, Exchange]:
        return self.client.fetch_chain(symbol, EXPIRY, decode_json)

    def outcomes(self) -> list[tuple[str, str]]:
        return [(e.endpoint, e.outcome) for e in self.exchanges]


# --- endpoints ---------------------------------------------------------------------------------
def test_endpoint_urls_encode_symbols_and_keep_nse_order() -> None:
    url = ep.OPTION_CHAIN_V3.url(BASE, symbol="M&M", type="Equity", expiry="11-Aug-2026")
    assert url == f"{BASE}/api/option-chain-v3?type=Equity&symbol=M%26M&expiry=11-Aug-2026"
    assert ep.NEXTAPI_CHAIN.url(BASE, symbol="GVT&D", params="expiryDate=11-Aug-2026") == (
        f"{BASE}/api/NextApi/apiClient/GetQuoteApi"
        "?functionName=getOptionChainData&symbol=GVT%26D&params=expiryDate=11-Aug-2026"
    )
    assert ep.HOLIDAY_MASTER.url(BASE + "/") == f"{BASE}/api/holiday-master?type=trading"
    assert ep.BOOTSTRAP.url(BASE) == f"{BASE}/option-chain"
    with pytest.raises(ValueError, match="missing"):
        ep.OPTION_CHAIN_V3.url(BASE, symbol="NIFTY")
    with pytest.raises(ValueError, match="unknown"):
        ep.CONTRACT_INFO.url(BASE, symbol="NIFTY", expiry="x")


def test_expiry_format_is_english_and_chain_type_follows_the_index_list() -> None:
    months = [ep.format_expiry(date(2026, m, 5))[3:6] for m in range(1, 13)]
    assert months == [
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    ]
    assert ep.format_expiry(EXPIRY) == "11-Aug-2026"
    assert ep.chain_type("NIFTY") == ep.chain_type("niftynxt50") == "Indices"
    assert ep.chain_type("RELIANCE") == ep.chain_type("M&M") == "Equity"


def test_match_endpoint_routes_the_nextapi_family_by_function_name() -> None:
    path = "/api/NextApi/apiClient/GetQuoteApi"
    assert ep.match_endpoint(path, {"functionName": "getOptionChainDropdown"}) is (
        ep.NEXTAPI_DROPDOWN
    )
    assert ep.match_endpoint("/api/option-chain-indices", {}) is ep.LEGACY_INDICES
    assert ep.match_endpoint("/api/holiday-master", {"type": "trading"}) is ep.HOLIDAY_MASTER
    assert ep.match_endpoint("/api/nope", {}) is None


# --- token bucket ------------------------------------------------------------------------------
def test_bucket_never_grants_more_than_burst_plus_rate_times_elapsed() -> None:
    t = FakeTime()
    bucket = TokenBucket(3.0, 3, clock=t.clock, sleep=t.sleep)
    start = t.now
    for _ in range(60):
        bucket.acquire()
        assert bucket.granted <= 3 + 3.0 * (t.now - start) + 1e-6
    assert bucket.granted == 60
    # ...and it is not slower than it must be: the first 3 are free, then one per 1/3 s.
    assert t.now - start == pytest.approx(57 / 3.0)


def test_bucket_rate_changes_live_and_try_acquire_never_waits() -> None:
    t = FakeTime()
    bucket = TokenBucket(2.0, 1, clock=t.clock, sleep=t.sleep)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    bucket.set_rate(0.5)
    assert bucket.rate == 0.5
    bucket.acquire()
    assert t.sleeps == [pytest.approx(2.0)]
    with pytest.raises(ValueError):
        bucket.set_rate(0)


def test_bucket_is_shared_safely_between_threads() -> None:
    t = FakeTime()
    bucket = TokenBucket(5.0, 2, clock=t.clock, sleep=t.sleep)
    start = t.now

    def take_25() -> None:
        for _ in range(25):
            bucket.acquire()

    workers = [threading.Thread(target=take_25) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert bucket.granted == 50
    assert bucket.granted <= 2 + 5.0 * (t.now - start) + 1e-6


def test_bucket_sleep_interruption_propagates() -> None:
    def stop(_seconds: float) -> None:
        raise errors.Interrupted("stop requested")

    bucket = TokenBucket(1.0, 1, clock=lambda: 0.0, sleep=stop)
    bucket.acquire()
    with pytest.raises(errors.Interrupted):
        bucket.acquire()
    assert bucket.granted == 1


def _line_up(bucket: TokenBucket, take: Callable[[int], None], n: int) -> list[threading.Thread]:
    """Start ``n`` threads calling ``take(i)`` one by one, each after the last is in line."""
    threads = []
    for i in range(n):
        th = threading.Thread(target=take, args=(i,))
        th.start()
        threads.append(th)
        while bucket.waiting < i + 1:  # a hand-off, not a timing: wait until it queued
            time.sleep(0.001)
    return threads


def test_bucket_waiters_are_served_in_order_and_one_wakes_per_token() -> None:
    t = FakeTime()
    gate = threading.Event()

    sleepers: list[threading.Thread] = []

    def sleep(seconds: float) -> None:
        # Only the head of the line sleeps, once per token: who sleeps is who is served next
        # (an append after acquire returns could land out of order between two threads).
        sleepers.append(threading.current_thread())
        gate.wait()  # hold the first waiter until all are in line
        t.sleep(seconds)

    bucket = TokenBucket(2.0, 1, clock=t.clock, sleep=sleep)
    bucket.acquire()  # the bucket is empty now
    start = t.now

    def take(_i: int) -> None:
        bucket.acquire()

    threads = _line_up(bucket, take, 6)
    gate.set()
    for th in threads:
        th.join()
    assert [threads.index(th) for th in sleepers] == list(range(6))
    # One sleep per token: only the head of the line sleeps (all six slept in the old
    # sleep-and-retry loop, again after every token).
    assert len(t.sleeps) == 6
    assert t.now - start == pytest.approx(6 / 2.0)
    assert bucket.waiting == 0


def test_a_waiter_that_wakes_late_loses_no_token() -> None:
    # Every sleep overruns by half a token's time (a busy machine: the OS, the GIL). The
    # tokens that accrued meanwhile are kept (one over the burst at most), so the rate holds.
    t = FakeTime()
    bucket = TokenBucket(2.0, 1, clock=t.clock, sleep=lambda s: t.sleep(s + 0.25))
    bucket.acquire()
    start = t.now
    for _ in range(20):
        bucket.acquire()
        assert bucket.granted <= 1 + 1 + 2.0 * (t.now - start) + 1e-6
    # 20 tokens at 2/s: 10 s, plus one overrun (it was 20 x 0.75 = 15 s when a late waker
    # lost the token that accrued while it overslept).
    assert t.now - start == pytest.approx(10.25)


def test_a_bootstrap_goes_ahead_of_the_waiting_requests() -> None:
    t = FakeTime()
    gate = threading.Event()

    sleepers: list[threading.Thread] = []

    def sleep(seconds: float) -> None:
        sleepers.append(threading.current_thread())  # the head of the line: served next
        gate.wait()
        t.sleep(seconds)

    bucket = TokenBucket(2.0, 1, clock=t.clock, sleep=sleep)
    bucket.acquire()

    def take(i: int) -> None:
        bucket.acquire(first=i == 3)  # the last to come: the cookie bootstrap

    threads = _line_up(bucket, take, 4)
    gate.set()
    for th in threads:
        th.join()
    served = [threads.index(th) for th in sleepers]
    assert served == [0, 3, 1, 2]  # the one already sleeping for its token keeps it


def test_a_try_never_takes_the_token_a_waiter_is_owed() -> None:
    # try_acquire and try_prepay (a pool of routes takes its tokens with it) come after the
    # line: the token the head sleeps for is the head's; only one over it is spare.
    t = FakeTime()
    asleep, gate = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        if asleep.is_set():  # a second sleep (a try took its token): time moves on
            t.sleep(seconds)
            return
        asleep.set()
        gate.wait()  # the test moves the clock meanwhile

    bucket = TokenBucket(2.0, 1, clock=t.clock, sleep=sleep)
    bucket.acquire()  # the bucket is empty now
    [head] = _line_up(bucket, lambda _i: bucket.acquire(), 1)
    try:
        asleep.wait()
        t.now += 0.5  # one token: the head's
        assert not bucket.try_acquire()
        assert bucket.try_prepay() > 0.0
        t.now += 0.5  # a second (one over the burst while a thread waits): spare
        assert bucket.try_acquire()
        assert not bucket.try_acquire()
    finally:
        gate.set()  # a failed assert must not leave the head asleep
        head.join()
    assert bucket.granted == 3 and bucket.waiting == 0


def test_a_stop_reaches_every_waiter_in_line() -> None:
    stop, gate = threading.Event(), threading.Event()

    def sleep(_seconds: float) -> None:
        gate.wait()
        if stop.is_set():
            raise errors.Interrupted("stop requested")

    bucket = TokenBucket(1.0, 1, clock=lambda: 0.0, sleep=sleep)
    bucket.acquire()
    outcomes: list[str] = []

    def take(_i: int) -> None:
        try:
            bucket.acquire()
            outcomes.append("token")
        except errors.Interrupted:
            outcomes.append("stopped")

    threads = _line_up(bucket, take, 4)
    stop.set()
    gate.set()
    for th in threads:
        th.join()
    assert outcomes == ["stopped"] * 4
    assert bucket.waiting == 0 and bucket.granted == 1


# --- cookies -----------------------------------------------------------------------------------
def test_bootstrap_comes_first_and_the_api_call_carries_its_cookie() -> None:
    h = Harness(FakeNse(ok()))
    data, exchange = h.chain()
    assert data == CHAIN
    first, second = h.nse.requests
    assert first.url == f"{BASE}/option-chain"
    assert "text/html" in first.headers["Accept"]
    assert "nseappid=tok1" in second.headers["Cookie"]
    assert exchange.endpoint == "option-chain-v3"
    assert exchange.url.endswith("?type=Indices&symbol=NIFTY&expiry=11-Aug-2026")
    assert (exchange.symbol, exchange.expiry, exchange.attempt) == ("NIFTY", EXPIRY, 1)
    assert (exchange.http_status, exchange.outcome) == (200, "ok")
    assert exchange.bytes == len(ok().content)
    assert exchange.fetched_at.utcoffset() is not None
    # The returned exchange is the caller's to log; on_exchange saw only the bootstrap.
    assert h.outcomes() == [("bootstrap", "ok")]


def test_browser_headers_and_never_brotli() -> None:
    h = Harness(FakeNse(ok(), ok()))
    h.chain()
    h.client.fetch_contract_info("NIFTY", decode_json)
    for request in h.nse.requests:
        encodings = [e.strip() for e in request.headers["Accept-Encoding"].split(",")]
        assert encodings == ["gzip", "deflate"]
        assert request.headers["User-Agent"] == h.settings.user_agent
        assert request.headers["Referer"] == f"{BASE}/option-chain"
        assert "Accept-Language" in request.headers


def test_401_rebootstraps_exactly_once_then_succeeds() -> None:
    h = Harness(FakeNse(status(401, NO_TOKEN), ok()))
    _, exchange = h.chain()
    assert h.nse.bootstraps == 2
    assert "nseappid=tok2" in h.nse.api[-1].headers["Cookie"]
    assert exchange.attempt == 2
    assert h.outcomes() == [
        ("bootstrap", "ok"),
        ("option-chain-v3", "unauthorized"),
        ("bootstrap", "ok"),
    ]


def test_a_second_401_raises_unauthorized_with_context() -> None:
    h = Harness(FakeNse(status(401, NO_TOKEN), status(401, NO_TOKEN)))
    with pytest.raises(errors.Unauthorized) as caught:
        h.chain()
    assert h.nse.bootstraps == 2
    assert (caught.value.status, caught.value.symbol, caught.value.expiry) == (
        401,
        "NIFTY",
        "11-Aug-2026",
    )
    assert caught.value.url is not None and "option-chain-v3" in caught.value.url


def test_cookies_are_refreshed_once_they_reach_max_age() -> None:
    h = Harness(FakeNse(), cookie_max_age_s=100.0)
    h.chain()
    h.time.now += 99.0
    h.chain()
    assert h.nse.bootstraps == 1
    h.time.now += 1.0
    h.chain()
    assert h.nse.bootstraps == 2
    assert "nseappid=tok2" in h.nse.api[-1].headers["Cookie"]


# --- blocks ------------------------------------------------------------------------------------
def test_403_pauses_the_whole_client_until_the_cooloff_passes() -> None:
    h = Harness(FakeNse(status(403, ACCESS_DENIED)))
    with pytest.raises(errors.RateBlocked) as caught:
        h.chain()
    assert caught.value.retry_after == 600.0
    assert h.client.paused_until == h.time.now + 600.0
    sent, granted = len(h.nse.requests), h.client.limiter.granted
    with pytest.raises(errors.ClientPaused) as paused:
        h.chain()
    assert paused.value.symbol == "NIFTY"
    with pytest.raises(errors.ClientPaused):
        h.client.fetch_universe(decode_json)
    assert (len(h.nse.requests), h.client.limiter.granted) == (sent, granted)
    assert h.outcomes()[-1] == ("option-chain-v3", "blocked")
    h.time.now += 600.0
    assert h.client.paused_until is None
    assert h.chain()[0] == CHAIN
    assert h.nse.bootstraps == 2  # a fresh session after the block


@pytest.mark.parametrize(
    ("body", "headers", "pause"),
    [
        (b"Access Denied", {"Retry-After": "900"}, 900.0),
        (b"Too many requests per second exceeded. Try again after 15 minutes", {}, 900.0),
        (b"requests per second exceeded", {}, 60.0),
    ],
)
def test_403_pause_is_the_longest_of_cooloff_retry_after_and_the_page_text(
    body: bytes, headers: dict[str, str], pause: float
) -> None:
    h = Harness(FakeNse(status(403, body, headers)), block_cooloff_s=60.0)
    with pytest.raises(errors.RateBlocked):
        h.chain()
    assert h.client.paused_until == h.time.now + pause
    assert len(h.nse.api) == 1  # never retried


# --- retries -----------------------------------------------------------------------------------
def test_5xx_and_timeouts_are_retried_with_capped_jittered_backoff() -> None:
    h = Harness(FakeNse(status(502), httpx.ReadTimeout("slow"), ok()))
    _, exchange = h.chain()
    assert exchange.attempt == 3
    assert h.outcomes()[1:] == [("option-chain-v3", "http_error"), ("option-chain-v3", "timeout")]
    backoffs = h.time.sleeps[-2:]
    assert 0 <= backoffs[0] <= 0.5 and 0 <= backoffs[1] <= 1.0


@pytest.mark.parametrize(
    ("reply", "error", "outcome"),
    [
        (status(503), errors.ServerError, "http_error"),
        (httpx.ConnectTimeout("slow"), errors.FetchTimeout, "timeout"),
        (httpx.ConnectError("refused"), errors.NetworkError, "http_error"),
        (httpx.RemoteProtocolError("reset"), errors.NetworkError, "http_error"),
    ],
)
def test_gives_up_after_max_retries_with_the_right_error(
    reply: Reply, error: type[errors.FetchError], outcome: str
) -> None:
    h = Harness(FakeNse(*[reply] * 10), max_retries=3)
    with pytest.raises(error) as caught:
        h.chain()
    assert len(h.nse.api) == 4
    assert h.outcomes()[1:] == [("option-chain-v3", outcome)] * 4
    assert [e.attempt for e in h.exchanges[1:]] == [1, 2, 3, 4]
    assert (caught.value.symbol, caught.value.expiry) == ("NIFTY", "11-Aug-2026")
    assert caught.value.url is not None and "symbol=NIFTY" in caught.value.url
    assert isinstance(caught.value.__cause__, httpx.HTTPError) == isinstance(reply, Exception)


@pytest.mark.parametrize(
    "retry_after", ["7", "Tue, 11 Aug 2026 06:00:07 GMT"], ids=["seconds", "http-date"]
)
def test_retry_after_is_honoured(retry_after: str) -> None:
    headers = {"Retry-After": retry_after, "Date": "Tue, 11 Aug 2026 06:00:00 GMT"}
    h = Harness(FakeNse(status(429, headers=headers), ok()), backoff_base_s=0.01)
    h.chain()
    assert h.time.sleeps[-1] >= 7.0


def test_long_retry_after_on_429_defers_the_pair_until_then() -> None:
    h = Harness(FakeNse(status(429, headers={"Retry-After": "120"}), ok(), ok()))
    with pytest.raises(errors.Deferred) as caught:
        h.chain()
    assert caught.value.scope == "pair" and caught.value.seconds == 120.0
    assert caught.value.until == h.time.now + 120.0
    assert len(h.nse.api) == 1
    # fetch_log records the wait: the 429's row names it.
    assert h.exchanges[-1].http_status == 429
    assert "[Retry-After 120s beyond the retry budget: pair deferred]" in str(h.exchanges[-1].error)
    assert h.client.deferred_until("NIFTY", EXPIRY) == h.time.now + 120.0
    with pytest.raises(errors.Deferred, match="not sent"):
        h.chain()  # refused without a request
    assert len(h.nse.api) == 1
    h.chain("BANKNIFTY")  # another pair is not deferred
    h.time.now += 120.0
    assert h.client.deferred_until("NIFTY", EXPIRY) is None
    h.chain()
    assert len(h.nse.api) == 3


def test_long_retry_after_on_503_defers_the_host() -> None:
    h = Harness(FakeNse(status(503, headers={"Retry-After": "120"}), ok()))
    with pytest.raises(errors.Deferred) as caught:
        h.chain()
    assert caught.value.scope == "host"
    with pytest.raises(errors.Deferred, match="every request"):
        h.chain("BANKNIFTY")
    assert len(h.nse.api) == 1 and h.client.paused_until == h.time.now + 120.0
    h.time.now += 120.0
    h.chain("BANKNIFTY")
    assert len(h.nse.api) == 2


def test_interrupted_sleep_stops_the_retry_loop_at_once() -> None:
    h = Harness(FakeNse(status(500), ok()))

    def stop(_seconds: float) -> None:
        raise errors.Interrupted("stop")

    h.client._sleep = stop  # the injected sleep, swapped after the client was built
    with pytest.raises(errors.Interrupted):
        h.chain()
    assert len(h.nse.api) == 1


def test_bad_payload_is_retried_and_its_body_kept_for_quarantine() -> None:
    h = Harness(FakeNse(status(200, b"{}"), ok()))
    _, exchange = h.chain()
    assert exchange.attempt == 2
    failed = h.exchanges[-1]
    assert (failed.outcome, failed.body, failed.http_status) == ("bad_payload", b"{}", 200)
    assert failed.error is not None and "empty {} body" in failed.error


def test_empty_chain_is_not_retried() -> None:
    h = Harness(FakeNse(ok({"records": {"data": []}}), ok()))
    with pytest.raises(errors.EmptyChain) as caught:
        h.chain()
    assert len(h.nse.api) == 1
    assert h.outcomes()[-1] == ("option-chain-v3", "empty")
    assert h.exchanges[-1].body is None
    assert caught.value.symbol == "NIFTY"


def test_decoder_errors_without_context_get_the_requests_context() -> None:
    def bare(_body: bytes, _exchange: Exchange) -> None:
        raise errors.BadPayload("truncated")

    h = Harness(FakeNse(*[ok()] * 3), max_retries=0)
    with pytest.raises(errors.BadPayload) as caught:
        h.client.fetch_chain("NIFTY", EXPIRY, bare)
    assert (caught.value.symbol, caught.value.expiry) == ("NIFTY", "11-Aug-2026")
    assert caught.value.body == ok().content


# --- fallbacks ---------------------------------------------------------------------------------
NEXTAPI_URL = (
    f"{BASE}/api/NextApi/apiClient/GetQuoteApi"
    "?functionName=getOptionChainData&symbol=NIFTY&params=expiryDate=11-Aug-2026"
)


def test_v3_404_falls_back_to_nextapi_and_sticks_for_a_while() -> None:
    h = Harness(FakeNse(status(404, AKAMAI_404), ok(), ok(), status(404, AKAMAI_404), ok()))
    _, exchange = h.chain()
    assert str(h.nse.api[1].url) == NEXTAPI_URL
    assert exchange.endpoint == "nextapi-getOptionChainData"
    assert h.outcomes()[-1] == ("option-chain-v3", "http_error")
    h.chain()  # straight to NextApi: no request wasted on a dead endpoint
    assert [r.url.params.get("functionName") for r in h.nse.api] == [
        None,
        *["getOptionChainData"] * 2,
    ]
    h.time.now += GONE_RECHECK_S
    h.client._cookies_at = h.time.now  # keep this test about endpoints, not cookie age
    h.chain()  # probes v3 again, which is still gone
    assert [r.url.path for r in h.nse.api[-2:]] == [
        "/api/option-chain-v3",
        "/api/NextApi/apiClient/GetQuoteApi",
    ]


def test_persistent_html_on_v3_is_retried_then_falls_back() -> None:
    html = httpx.Response(200, html="<html>maintenance</html>")
    h = Harness(FakeNse(html, html, html, ok()))
    _, exchange = h.chain()
    assert exchange.endpoint == "nextapi-getOptionChainData"
    failures = [e for e in h.exchanges if e.endpoint == "option-chain-v3"]
    assert [e.outcome for e in failures] == ["bad_payload"] * 3
    assert all(e.body == b"<html>maintenance</html>" for e in failures)


def test_html_on_a_non_chain_endpoint_ends_as_endpoint_gone() -> None:
    h = Harness(FakeNse(*[httpx.Response(200, html="<html/>")] * 3))
    with pytest.raises(errors.EndpointGone) as caught:
        h.client.fetch_universe(decode_json)
    assert caught.value.status == 200
    assert caught.value.url == f"{BASE}/api/underlying-information"


def test_contract_info_falls_back_to_the_dropdown_and_equities_are_encoded() -> None:
    h = Harness(FakeNse(status(404, AKAMAI_404), ok({"expiryDates": ["25-Aug-2026"]})))
    data, exchange = h.client.fetch_contract_info("M&M", decode_json)
    assert data == {"expiryDates": ["25-Aug-2026"]}
    assert exchange.endpoint == "nextapi-getOptionChainDropdown"
    assert [r.url.query for r in h.nse.api] == [
        b"symbol=M%26M",
        b"functionName=getOptionChainDropdown&symbol=M%26M",
    ]
    h.chain("M&M")
    assert h.nse.api[-1].url.query == b"type=Equity&symbol=M%26M&expiry=11-Aug-2026"
    assert h.nse.api[-1].url.params["symbol"] == "M&M"


def test_other_endpoints_and_the_shared_bucket() -> None:
    h = Harness(FakeNse(), rate=2.0, burst=2)
    start = h.time.now
    with h.client as client:
        client.fetch_holidays(decode_json)
        client.fetch_market_status(decode_json)
        for _ in range(10):
            client.fetch_universe(decode_json)
    paths = [r.url.path for r in h.nse.requests]
    assert paths[:3] == ["/option-chain", "/api/holiday-master", "/api/marketStatus"]
    # Every request, bootstrap included, took a token from the one bucket.
    assert client.limiter.granted == len(h.nse.requests) == 13
    assert len(h.nse.requests) <= 2 + 2.0 * (h.time.now - start) + 1e-6
    assert client.effective_rate == 2.0
