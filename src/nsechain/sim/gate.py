"""NSE's gatekeeping: bootstrap cookies that expire, and a per-client requests-per-second limit.

Where it sits: ``server.py`` asks ``CookieGate`` whether an ``/api/`` call carries valid
cookies (401 if not) and ``RateLimiter`` whether a client may be served at all (403 and a
block if not).

Both run on **wall-clock** time, whatever the simulated clock's speed: they model the
client's HTTP behaviour (how fast it sends, how long its session lives), which a collector
runs in real seconds even when the market is accelerated.

- Cookies: ``/`` and ``/option-chain`` set ``nsit``, ``nseappid`` (a JWT whose ``exp`` is the
  issue time + ``cookie_max_age_s``), ``bm_sv`` and ``ak_bmsc``. An API call needs ``nsit``
  and a valid, unexpired ``nseappid`` signed by this simulator.
- Rate limit: a token bucket per client IP (Akamai blocks by IP; over loopback every client
  is 127.0.0.1, so one simulator limits all its clients together). A request with no token
  blocks the client for ``cool_off_s``: every request until then gets the 403 page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.cookies import SimpleCookie

import orjson

__all__ = ["CookieGate", "RateLimiter"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieGate:
    """Issues and checks the bootstrap cookies."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self.clock = clock  #: wall-clock epoch seconds; tests may swap it to age cookies
        self._key = secrets.token_bytes(32)

    def issue(self) -> list[str]:
        """``Set-Cookie`` header values for a bootstrap page."""
        now = self.clock()
        exp = int(now + self.max_age_s)
        header = _b64(b'{"alg":"HS256","typ":"JWT"}')
        payload = _b64(
            orjson.dumps(
                {"aud": "api.nseindia.com", "data": "SkhKdmVgKJ", "iss": "nseindia.com",
                 "iat": int(now), "exp": exp}
            )
        )  # fmt: skip
        sig = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        max_age = int(self.max_age_s)
        expires = formatdate(exp, usegmt=True)
        life = f"Path=/; Max-Age={max_age}; Expires={expires}"
        return [
            f"nsit={secrets.token_urlsafe(18)}; {life}; HttpOnly; SameSite=Lax",
            f"nseappid={header}.{payload}.{sig}; {life}; HttpOnly; SameSite=Lax",
            f"bm_sv={secrets.token_hex(32)}~YAAQ; Path=/; Max-Age=7200; HttpOnly",
            f"ak_bmsc={secrets.token_hex(24)}~000000000000000000000000000000~YAAQ; Path=/; "
            "Max-Age=7200; HttpOnly",
        ]

    def allows(self, cookie_header: str | None) -> bool:
        """True if the request's ``Cookie`` header holds ``nsit`` and a live ``nseappid``."""
        if not cookie_header:
            return False
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie_header)
        except Exception:  # a malformed Cookie header is simply "no cookies"
            return False
        if "nsit" not in jar or "nseappid" not in jar:
            return False
        return self._valid(jar["nseappid"].value)

    def _valid(self, token: str) -> bool:
        parts = token.split(".")
        if len(parts) != 3:
            return False
        header, payload, sig = parts
        good = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(good, sig):
            return False
        try:
            exp = float(orjson.loads(_unb64(payload))["exp"])
        except (ValueError, KeyError, TypeError):
            return False
        return self.clock() < exp


@dataclass
class _Client:
    tokens: float
    stamp: float
    blocked_until: float = 0.0


@dataclass
class RateLimiter:
    """Token bucket per client; running dry blocks the client for ``cool_off_s``."""

    rate: float | None  #: requests per second; None disables the limit
    burst: float
    cool_off_s: float
    _clients: dict[str, _Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, client: str) -> str:
        """``"ok"``, ``"tripped"`` (this request starts a block) or ``"blocked"``."""
        if self.rate is None:
            return "ok"
        now = time.monotonic()
        with self._lock:
            c = self._clients.get(client)
            if c is None:
                c = self._clients[client] = _Client(self.burst, now)
            if now < c.blocked_until:
                return "blocked"
            c.tokens = min(self.burst, c.tokens + (now - c.stamp) * self.rate)
            c.stamp = now
            if c.tokens >= 1.0:
                c.tokens -= 1.0
                return "ok"
            c.blocked_until = now + self.cool_off_s
            c.tokens = self.burst  # the bucket is full again when the block ends
            return "tripped"

    def reset(self) -> None:
        with self._lock:
            self._clients.clear()
