"""The dashboard web app: two pages (health, chain), their JSON API, an offline API reference.

Where it sits: ``create_app(settings, manager=...)`` is called by ``nsechain serve``
(``cli/serve.py``, no manager: a collector in another process writes the database) and by
``start_dashboard`` (``web/server.py``, in the collector's own process). Pages are static
files shipped in ``web/static`` (no CDN): they fetch ``/api/...`` and draw SVG charts with
``static/charts.js``. Reads go through ``web/reader.py``, which never blocks the collector.

Routes (``/openapi.json`` documents the API; ``/docs`` renders it offline):

    GET /                    → redirect to /health
    GET /health, /chain      the pages
    GET /api/health          threads, market, freshness, fetch outcomes, rate, errors
    GET /api/symbols         recorded symbols and expiries
    GET /api/symbols/{symbol}
    GET /api/chain/{symbol}          wide chain around ATM at a snapshot, with its levels
    GET /api/chain/{symbol}/times    the days and snapshot times (the time picker)
    GET /api/chain/{symbol}/series   PCR, max pain, spot, ATM IV through a day
    GET /api/chain/{symbol}/smile    IV smile of a snapshot
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from nsechain.collector.clock import Clock, clock_of
from nsechain.collector.health import reader_verdict
from nsechain.collector.session import market_report
from nsechain.config import Settings
from nsechain.errors import DatabaseLocked, StorageError
from nsechain.timeutil import now_ist
from nsechain.web import collector_health, desk_api, service
from nsechain.web.backend import (
    AtParam,
    Backend,
    DayParam,
    ExpiryParam,
    SinceParam,
    StrikesParam,
    SymbolParam,
)
from nsechain.web.guard import guard
from nsechain.web.models import (
    ChainResponse,
    HealthResponse,
    SeriesResponse,
    SmileResponse,
    SymbolInfo,
    TimesResponse,
)
from nsechain.web.reader import NoDatabase, Reader, ReadOnlyReader, SharedReader

if TYPE_CHECKING:
    from nsechain.collector.manager import OptionsThreadedManager

__all__ = ["STATIC_DIR", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: A status.json older than this many status intervals (and 30 s) means no collector writes it.
_STALE_INTERVALS = 10


def create_app(
    settings: Settings,
    *,
    manager: OptionsThreadedManager | None = None,
    lock_timeout_s: float = 10.0,
    refresh_s: float = 5.0,
    clock: Clock | None = None,
) -> FastAPI:
    """The dashboard app. With ``manager`` it runs inside the collector's process and shares
    its database instance; without, it reads the file read-only per request (retrying while
    a load holds the lock) and the status from ``status.json``. ``clock``: market time
    (default: the manager's, else the settings' clock, ``clock_of``)."""
    reader: Reader
    if manager is not None:
        settings = manager.settings
        reader = SharedReader(manager.loader.db_path)
    else:
        reader = ReadOnlyReader(settings.db_path, timeout_s=lock_timeout_s)
    if clock is None:
        clock = manager.clock if manager is not None else clock_of(settings)
    backend = Backend(settings, reader, manager, refresh_s, clock)
    app = FastAPI(
        title="nsechain dashboard",
        summary="Collection health and recorded NSE option chains, as JSON.",
        description=(
            "Read-only API behind the dashboard pages. Times are IST (+05:30); OI and volume "
            "in contracts; IV in percent. Unknown symbols, expiries or snapshots answer 404 "
            "with a message; malformed parameters 422; a database that is absent or held by "
            "a load for longer than the lock timeout 503."
        ),
        version="1",
        docs_url=None,  # FastAPI's Swagger UI loads from a CDN; /docs below is offline
        redoc_url=None,
    )
    app.state.backend = backend
    guard(app, settings.dashboard_hosts)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _errors(app)
    _pages(app, backend)
    _api(app, backend)
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(service.NotFound)
    async def not_found(_request: Request, exc: service.NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(StorageError)
    async def storage(_request: Request, exc: StorageError) -> JSONResponse:
        headers = {"Retry-After": "5"} if isinstance(exc, DatabaseLocked) else None
        kind = "no data yet" if isinstance(exc, NoDatabase) else "database unavailable"
        return JSONResponse({"detail": f"{kind}: {exc}"}, status_code=503, headers=headers)


def _page(name: str, backend: Backend) -> HTMLResponse:
    html = (STATIC_DIR / name).read_text(encoding="utf-8")
    html = html.replace("__REFRESH_S__", f"{backend.refresh_s:g}")
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


def _pages(app: FastAPI, backend: Backend) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/health")

    @app.get("/health", include_in_schema=False)
    def health_page() -> HTMLResponse:
        return _page("health.html", backend)

    @app.get("/chain", include_in_schema=False)
    def chain_page() -> HTMLResponse:
        return _page("chain.html", backend)

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return _page("docs.html", backend)


class Problem(BaseModel):
    detail: str = Field(description="What is missing or wrong, and what is recorded instead.")


_MISSING: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown symbol, expiry or snapshot."},
    503: {"model": Problem, "description": "No database yet, or a load held it too long."},
}


def _api(app: FastAPI, backend: Backend) -> None:
    reader = backend.reader
    api = APIRouter(prefix="/api", tags=["chain"], responses=_MISSING)

    @app.get("/api/health", response_model=HealthResponse, tags=["health"])
    def health() -> dict[str, Any]:
        """Threads, market state and next session, last tick and batch, per-symbol freshness,
        fetch outcomes by class over the last hour, request rate against the budget, pending
        files, errors with their messages. Auto-refreshed by the health page."""
        return _health(backend)

    @app.get(
        "/api/symbols",
        response_model=list[SymbolInfo],
        tags=["chain"],
        responses={503: _MISSING[503]},
    )
    def symbols() -> list[dict[str, Any]]:
        """Every recorded symbol, with its expiries and snapshot spans."""
        return backend.listing()

    @api.get(
        "/symbols/{symbol}",
        response_model=SymbolInfo,
    )
    def symbol_info(symbol: SymbolParam) -> dict[str, Any]:
        """One recorded symbol; 404 if the database holds none of it."""
        sym = backend.checked(symbol)
        return next(e for e in backend.listing() if e["symbol"] == sym)

    @api.get(
        "/chain/{symbol}",
        response_model=ChainResponse,
    )
    def chain(
        symbol: SymbolParam,
        expiry: ExpiryParam = None,
        at: AtParam = None,
        strikes: StrikesParam = 12,
        greeks: bool = False,
        since: SinceParam = None,
    ) -> dict[str, Any]:
        """The wide chain (CE | strike | PE, as on NSE's page) of one snapshot, ``strikes``
        each side of ATM, with spot, ATM IV, straddle, PCR, max pain, support/resistance;
        ``greeks``: model IV, delta, gamma, theta, vega; ``since``: OI change window."""
        sym = backend.checked(symbol, expiry)
        key = ("chain", sym, expiry, at, strikes, greeks, since)
        result: dict[str, Any] = reader.cached(
            key, lambda d: service.chain(d, sym, expiry, at, strikes, greeks, since)
        )
        return result

    @api.get(
        "/chain/{symbol}/times",
        response_model=TimesResponse,
    )
    def times(symbol: SymbolParam, expiry: ExpiryParam = None, day: DayParam = None) -> Any:
        """The IST days with snapshots of one expiry and the snapshot times of ``day``."""
        sym = backend.checked(symbol, expiry)

        def compute(desk: Any) -> dict[str, Any]:
            chosen = expiry or desk.snapshot(sym).expiry
            return service.snapshot_times(desk, sym, chosen, day)

        return reader.cached(("times", sym, expiry, day), compute)

    @api.get(
        "/chain/{symbol}/series",
        response_model=SeriesResponse,
    )
    def series(symbol: SymbolParam, expiry: ExpiryParam = None, day: DayParam = None) -> Any:
        """Spot, PCR (OI and volume), max pain, ATM strike, straddle and ATM IV of every
        snapshot of one expiry on one IST day."""
        sym = backend.checked(symbol, expiry)
        return reader.cached(
            ("series", sym, expiry, day), lambda d: service.series(d, sym, expiry, day)
        )

    @api.get(
        "/chain/{symbol}/smile",
        response_model=SmileResponse,
    )
    def smile(
        symbol: SymbolParam,
        expiry: ExpiryParam = None,
        at: AtParam = None,
        strikes: StrikesParam = 20,
    ) -> Any:
        """NSE's CE and PE IV and the model's out-of-the-money smile (Black-76, implied
        forward) of one snapshot, ``strikes`` each side of the forward."""
        sym = backend.checked(symbol, expiry)
        return reader.cached(
            ("smile", sym, expiry, at, strikes),
            lambda d: service.smile(d, sym, expiry, at, strikes),
        )

    app.include_router(api)
    desk_api.register(app, backend)


def _health(backend: Backend) -> dict[str, Any]:
    now = backend.clock.now()
    s = backend.settings
    notes: list[str] = []
    status, problem = backend.status()
    status_age = running = None
    if problem is not None:
        notes.append(f"collector status ignored: {problem}; a running collector replaces it")
    elif status is None:
        notes.append(
            f"no collector status at {s.status_path}: no collector has run with this data dir"
        )
    if status is not None:
        updated = datetime.fromisoformat(status["updated_at"])
        status_age = round((now_ist() - updated).total_seconds(), 1)  # a wall-time heartbeat
        stale_after = max(30.0, _STALE_INTERVALS * s.status_interval_s)
        running = status.get("state") != "stopped" and status_age < stale_after
        if backend.manager is None and not running:
            notes.append(
                f"the collector's status is {status_age:.0f} s old (state "
                f"{status.get('state')!r}): no collector seems to be running"
            )
    listing: list[dict[str, Any]] = []
    report: dict[str, Any] | None = None
    try:
        listing = backend.listing()
        # Cached per minute (and per database state): the window moves by whole minutes.
        minute = now.replace(second=0, microsecond=0)
        report = backend.reader.cached(
            ("fetches", minute), lambda d: collector_health.fetch_report(d, now)
        )
    except NoDatabase as exc:
        notes.append(f"database: {exc}")
    except StorageError as exc:
        notes.append(f"database not readable right now: {exc}")
    market = (status or {}).get("market")
    if market is None:
        market = market_report(lambda: backend.calendar.calendar(now).state(now))
    errors = _errors_of(status, report)
    return {
        "verdict": _verdict(backend, status),
        "generated_at": now,
        "mode": backend.reader.mode,
        "db_path": str(backend.reader.db_path),
        "data_dir": str(s.data_dir),
        "status": status,
        "status_age_s": status_age,
        "collector_running": running,
        "market": market,
        "rate": _rate(status, report, s),
        "pending_files": collector_health.pending_files(s.pending_dir),
        "quarantine": collector_health.quarantine(s.quarantine_dir),
        "fetches": report,
        "freshness": collector_health.freshness(
            status, report, collector_health.latest_by_symbol(listing), now
        ),
        "errors": errors,
        "notes": notes,
    }


def _verdict(backend: Backend, status: dict[str, Any] | None) -> dict[str, Any]:
    """The collector's verdict: its own when in its process, else as ``nsechain status`` says."""
    if backend.manager is not None and status is not None and "verdict" in status:
        return dict(status["verdict"])
    return reader_verdict(status, backend.settings)


def _rate(
    status: dict[str, Any] | None, report: dict[str, Any] | None, s: Settings
) -> dict[str, Any]:
    budget = ((status or {}).get("settings") or {}).get("rate", s.rate)
    effective = ((status or {}).get("collection_thread") or {}).get("effective_rate")
    achieved = None
    minutes = (report or {}).get("minutes") or []
    if minutes and report is not None:
        last = report["last"] or report["end"]
        recent = [m for m in minutes if (last - m["minute"]).total_seconds() < 300]
        achieved = round(sum(m["requests"] for m in recent) / 300.0, 3)
    return {"budget": budget, "effective": effective, "achieved": achieved}


def _errors_of(status: dict[str, Any] | None, report: dict[str, Any] | None) -> list[Any]:
    out: list[dict[str, Any]] = []
    for name in ("collection_thread", "batch_thread"):
        thread = (status or {}).get(name) or {}
        if thread.get("last_error"):
            out.append({"source": name.replace("_", " "), "message": thread["last_error"]})
    for e in (report or {}).get("errors") or []:
        code = f" HTTP {e['http_status']}" if e.get("http_status") else ""
        out.append(
            {
                "source": f"fetch {e['outcome']}{code}",
                "outcome": e["outcome"],
                "http_status": e["http_status"],
                "message": e["error"] or e["outcome"],
                "count": e["n"],
                "last_at": e["last_at"],
                "symbols": e["symbols"],
            }
        )
    return out
