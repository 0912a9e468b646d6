"""NSE's HTTP endpoints, described as data.

Where it sits: the first layer of ``nse/``. The client (``nse/client.py``) builds every URL
from these constants, so a path or query parameter NSE renames is changed here once.
``match_endpoint`` maps a request back to its endpoint, for tests and tools; the simulator
(``sim/``) imports nothing of the product and routes with its own table (``sim/routes.py``),
which ``tests/test_sim_compat.py`` checks against these constants. Nothing here does I/O.

See DESIGN.md §2 for what each endpoint returns and which ones are dead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from nsechain.market import INDEX_SYMBOLS
from nsechain.nse.dates import format_expiry  # re-exported: URLs take NSE's date form

__all__ = [
    "BOOTSTRAP",
    "CONTRACT_INFO",
    "ENDPOINTS",
    "HOLIDAY_MASTER",
    "LEGACY_EQUITIES",
    "LEGACY_INDICES",
    "MARKET_STATUS",
    "NEXTAPI_CHAIN",
    "NEXTAPI_DERIVATIVES",
    "NEXTAPI_DROPDOWN",
    "OPTION_CHAIN_V3",
    "UNDERLYING_INFO",
    "ChainType",
    "Endpoint",
    "chain_type",
    "format_expiry",
    "match_endpoint",
]

ChainType = Literal["Indices", "Equity"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One NSE URL family.

    ``params`` are the caller-supplied query parameters, in the order NSE's own site sends them;
    ``fixed`` are constant ones that come first (``functionName=...``, ``type=trading``).
    ``json`` says whether the body must be JSON (an HTML page there is a failure);
    ``needs_cookies`` is False only for the bootstrap page that hands the cookies out.
    """

    name: str
    path: str
    params: tuple[str, ...] = ()
    json: bool = True
    fixed: tuple[tuple[str, str], ...] = ()
    needs_cookies: bool = True

    def url(self, base_url: str, /, **params: str) -> str:
        """Absolute URL with every parameter percent-encoded (``M&M`` → ``M%26M``).

        Raises ``ValueError`` for a missing or unknown parameter: a typo here would otherwise
        reach NSE as a request that silently returns the wrong thing.
        """
        missing = [p for p in self.params if p not in params]
        unknown = sorted(set(params) - set(self.params))
        if missing or unknown:
            raise ValueError(f"{self.name}: missing params {missing}, unknown params {unknown}")
        pairs = [*self.fixed, *((p, params[p]) for p in self.params)]
        url = base_url.rstrip("/") + self.path
        if not pairs:
            return url
        return url + "?" + "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs)

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        """True when a request for ``path`` with ``query`` is one of this endpoint's."""
        return path == self.path and all(query.get(k) == v for k, v in self.fixed)


def _enc(value: str) -> str:
    # "=" stays literal: NextApi's `params=expiryDate=11-Aug-2026` is sent that way by NSE's
    # own site, and query parsers split a pair on its first "=" only.
    return quote(value, safe="=")


def chain_type(symbol: str) -> ChainType:
    """The v3 ``type=`` value: ``Indices`` for NSE's index underlyings, ``Equity`` otherwise."""
    return "Indices" if symbol.upper() in INDEX_SYMBOLS else "Equity"


_NEXTAPI_PATH = "/api/NextApi/apiClient/GetQuoteApi"

#: The HTML page whose response sets the session cookies (``nseappid``) the API needs.
BOOTSTRAP = Endpoint("bootstrap", "/option-chain", json=False, needs_cookies=False)

#: Current chain: one expiry per call.
OPTION_CHAIN_V3 = Endpoint("option-chain-v3", "/api/option-chain-v3", ("type", "symbol", "expiry"))

#: ``{"expiryDates": [...], "strikePrice": [...]}``.
CONTRACT_INFO = Endpoint(
    "option-chain-contract-info", "/api/option-chain-contract-info", ("symbol",)
)

#: Fallback chain; ``params`` is the literal ``expiryDate=DD-Mon-YYYY``.
NEXTAPI_CHAIN = Endpoint(
    "nextapi-getOptionChainData",
    _NEXTAPI_PATH,
    ("symbol", "params"),
    fixed=(("functionName", "getOptionChainData"),),
)

#: Fallback expiry list, same shape as ``CONTRACT_INFO``.
NEXTAPI_DROPDOWN = Endpoint(
    "nextapi-getOptionChainDropdown",
    _NEXTAPI_PATH,
    ("symbol",),
    fixed=(("functionName", "getOptionChainDropdown"),),
)

#: Every F&O contract of a symbol in one call, without IV or bid/ask (not used by the client).
NEXTAPI_DERIVATIVES = Endpoint(
    "nextapi-getSymbolDerivativesData",
    _NEXTAPI_PATH,
    ("symbol",),
    fixed=(("functionName", "getSymbolDerivativesData"),),
)

#: F&O universe: ``data.IndexList`` and ``data.UnderlyingList``.
UNDERLYING_INFO = Endpoint("underlying-information", "/api/underlying-information")

#: Trading holidays per segment (``FO`` is ours).
HOLIDAY_MASTER = Endpoint("holiday-master", "/api/holiday-master", fixed=(("type", "trading"),))

#: Open/closed state per market (``"Capital Market"`` is ours).
MARKET_STATUS = Endpoint("marketStatus", "/api/marketStatus")

#: Dead since 2025-12-08 (Akamai 404 HTML); kept so the simulator can serve that 404.
LEGACY_INDICES = Endpoint("option-chain-indices", "/api/option-chain-indices", ("symbol",))
LEGACY_EQUITIES = Endpoint("option-chain-equities", "/api/option-chain-equities", ("symbol",))

ENDPOINTS: tuple[Endpoint, ...] = (
    BOOTSTRAP,
    OPTION_CHAIN_V3,
    CONTRACT_INFO,
    NEXTAPI_CHAIN,
    NEXTAPI_DROPDOWN,
    NEXTAPI_DERIVATIVES,
    UNDERLYING_INFO,
    HOLIDAY_MASTER,
    MARKET_STATUS,
    LEGACY_INDICES,
    LEGACY_EQUITIES,
)


def match_endpoint(path: str, query: Mapping[str, str]) -> Endpoint | None:
    """The endpoint a request belongs to, or None if unknown.

    The NextApi family shares one path, so the most specific match (most fixed params) wins.
    """
    found = [e for e in ENDPOINTS if e.matches(path, query)]
    return max(found, key=lambda e: len(e.fixed), default=None)
