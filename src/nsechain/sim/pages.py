"""The HTML bodies NSE (and Akamai in front of it) sends: the bootstrap pages and every error page.

Where it sits: used by ``server.py`` and ``gate.py``. The error pages follow the ones seen in
the wild (DESIGN.md §2; the 404 is the captured ``error_legacy_option-chain-indices`` page),
so a client's "HTML where JSON was expected" detection meets the real thing.
"""

from __future__ import annotations

import html

__all__ = [
    "access_denied",
    "bootstrap_page",
    "not_found",
    "rate_limited",
    "server_error",
    "unauthorized",
]

_BOOTSTRAP = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>{title}</title>
</head>
<body>
  <div id="root">NSE India (nsechain simulator): {title}</div>
  <script>window.nseSimulator = true;</script>
</body>
</html>
"""

# Akamai's "Resource not found", as the retired /api/option-chain-indices answers (2026).
_NOT_FOUND = (
    "<!DOCTYPE html>\n"
    '<html lang="en">\n'
    "<head>\n"
    '  <meta charset="UTF-8">\n'
    "  <title>Resource not found</title>\n"
    "</head>\n"
    '<body style="background-color: #e8e8e8;">\n'
    '  <div style="font-size: 32px; padding: 50px 25px; text-align: center;">\n'
    "    Resource not found\n"
    "  </div>\n"
    '<script type="text/javascript"  '
    'src="/dIFIth/YGie2V/cKL/82/Ey5Jbw3hX8/9VaaLXLkLz0Gcb/XCItclc/ZRsUewI/LNloB">'
    "</script></body>\n"
    "</html>\n"
)

# NSE's express-jwt error page (CRLF line ends, as captured in the wild).
_UNAUTHORIZED = "\r\n".join(
    (
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '  <meta charset="UTF-8">',
        "  <title>Oops</title>",
        "</head>",
        '<body style="background-color: #e8e8e8;">',
        '  <div style="font-size: 14px; padding: 50px 0; text-align: center;">',
        "    <h1>",
        "      No authorization token was found",
        "    </h1>",
        "    <h2>",
        "      401",
        "    </h2>",
        '    <pre style="text-align: left; font-size: 11px;">'
        "UnauthorizedError: No authorization token was found\n"
        "    at middleware (/app/node_modules/express-jwt/lib/index.js:76:21)</pre>",
        "  </div>",
        "</body>",
        "</html>",
        "",
    )
)

# NSE's rate-limit page. The literal backslash-n sequences are in the real page too.
_RATE_LIMITED = (
    "\n<center>\n"
    '   <img alt="NSE LOGO" src="https://www.nseindia.com/assets/images/NSE_Logo.svg" />'
    "\\n\\n\n"
    '   <h1 style="color: #dc3545;">Access Restricted</h1>\n'
    "   \\n\n"
    "   <p>Your number of requests per second has exceeded the permissible threshold.<br />"
    "\\nHence your IP has been restricted to access this URL/page.<br />"
    "\\nPlease try accessing this page again after {minutes} minutes.</p>\n"
    "   \\n\\n\n"
    "   <p>However, you may continue to browse other pages of our website.<br />"
    "\\nThank you for your support and understanding! <br />"
    "\\nReference:{ref}</p>\n"
    "</center>\n"
)

_ACCESS_DENIED = (
    "<HTML><HEAD>\n"
    "<TITLE>Access Denied</TITLE>\n"
    "</HEAD><BODY>\n"
    "<H1>Access Denied</H1>\n"
    " \n"
    'You don\'t have permission to access "{url}" on this server.<P>\n'
    "Reference&#32;&#35;{ref}\n"
    "</BODY>\n"
    "</HTML>\n"
)

_SERVER_ERROR = """<HTML><HEAD><TITLE>{status} {reason}</TITLE></HEAD>
<BODY><H1>{reason}</H1>
The server is temporarily unable to service your request. Please try again later.<P>
Reference&#32;&#35;{ref}
</BODY></HTML>
"""


def bootstrap_page(path: str) -> bytes:
    """The page a browser loads first (``/`` or ``/option-chain``); it only sets cookies."""
    title = "Option Chain" if path.startswith("/option-chain") else "NSE - National Stock Exchange"
    return _BOOTSTRAP.format(title=title).encode()


def not_found() -> bytes:
    return _NOT_FOUND.encode()


def unauthorized() -> bytes:
    """NSE's 401 when ``nseappid``/``nsit`` are missing or expired."""
    return _UNAUTHORIZED.encode()


def rate_limited(ref: str, cool_off_s: float = 600.0) -> bytes:
    """NSE's 403 "requests per second exceeded ... try again after 10 minutes".

    The minutes follow the simulator's cool-off (600 s: NSE's 10), so a client that reads
    the page waits as long as the block lasts; a cool-off under 30 s says "after 0 minutes".
    """
    return _RATE_LIMITED.format(ref=ref, minutes=round(cool_off_s / 60)).encode()


def _akamai_escape(url: str) -> str:
    # Akamai writes the URL with punctuation as numeric entities: "http&#58;&#47;&#47;...".
    return "".join(c if c.isalnum() else f"&#{ord(c)};" for c in url)


def access_denied(url: str, ref: str) -> bytes:
    """Akamai's 403 block page."""
    return _ACCESS_DENIED.format(url=_akamai_escape(url), ref=html.escape(ref)).encode()


def server_error(status: int, reason: str, ref: str) -> bytes:
    return _SERVER_ERROR.format(status=status, reason=html.escape(reason), ref=ref).encode()
