"""What every dashboard answer carries, and who may ask: the browser-facing guards.

Where it sits: ``web/app.py`` wraps its FastAPI app with ``guard(app, hosts)``. Two layers:

* Host allow-list (Starlette's ``TrustedHostMiddleware``): a request whose ``Host`` header is
  not one of ``dashboard_hosts`` (loopback names by default) gets a 400 and no data. A page on
  another site that re-points its own name at 127.0.0.1 (DNS rebinding) sends its own name as
  the Host, so it can no longer read the API from the user's browser.
* Headers on every answer: a Content-Security-Policy that allows only the dashboard's own
  scripts (no inline script, no eval, nothing from elsewhere) and no framing
  (``frame-ancestors 'none'``, with ``X-Frame-Options: DENY`` for old browsers), and
  ``X-Content-Type-Options: nosniff`` so a JSON answer is never run as a script. Styles come
  from ``static/app.css`` only (``style-src 'self'``, no ``'unsafe-inline'``): the pages carry
  no ``<style>`` block or ``style`` attribute, and the few dynamic looks (a bar's width, an
  outcome's colour) are set through the CSSOM, which the policy allows. The browser test
  listens for ``securitypolicyviolation`` on every page.

The pages themselves build the DOM with ``textContent`` (``static/common.js``: ``U.el``), so a
string from status.json or the database is shown as text, never parsed as HTML.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SECURITY_HEADERS", "SecurityHeaders", "guard"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Pure ASGI middleware: adds ``SECURITY_HEADERS`` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def guard(app: FastAPI, hosts: list[str]) -> None:
    """Answer only ``hosts`` (names without port; IPv6 in brackets), every answer with
    ``SECURITY_HEADERS``. The headers wrap outermost, so a refused Host gets them too."""
    allowed = [h.strip().lower() for h in hosts if h.strip()]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed)
    app.add_middleware(SecurityHeaders)
