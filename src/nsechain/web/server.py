"""Running the dashboard: in the collector's process (a background thread) or in the foreground.

Where it sits: ``start_dashboard(manager)`` is what ``nsechain collect --dashboard`` calls after
building its manager; ``serve_forever(settings)`` is ``nsechain serve``. Both run uvicorn on a
socket bound here first, so a busy port fails at once with a clear message and port 0 works
(the handle says which port was taken). uvicorn is told to leave logging alone (the CLI has
configured it) and not to log every request (the pages poll).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from nsechain.collector.clock import Clock
from nsechain.config import Settings
from nsechain.errors import ConfigError
from nsechain.web.app import create_app

if TYPE_CHECKING:
    from nsechain.collector.manager import OptionsThreadedManager

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Dashboard", "bind", "serve_forever", "start_dashboard"]

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); ConfigError naming the address if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"dashboard cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def _config(app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,  # keep the CLI's logging configuration
        access_log=False,  # the pages poll every few seconds
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=3,
    )


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass
class Dashboard:
    """A dashboard running on a background thread; ``stop()`` ends it."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask uvicorn to finish (open polls end within a few seconds); True if it did."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        return not self.thread.is_alive()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_dashboard(
    manager: OptionsThreadedManager | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    settings: Settings | None = None,
    refresh_s: float = 5.0,
    lock_timeout_s: float = 10.0,
    ready_timeout_s: float = 10.0,
    clock: Clock | None = None,
) -> Dashboard:
    """Serve the dashboard on a background thread and return once it accepts connections.

    With ``manager`` the app reads the manager's status and shares its database instance
    (``collect --dashboard``); with ``settings`` alone it reads like ``nsechain serve``
    (``lock_timeout_s``: how long a request waits while another process holds the file).
    ``clock``: the dashboard's market time (default: the manager's, else IST wall time).
    Raises ConfigError if the port is taken."""
    if settings is None:
        if manager is None:
            raise ValueError("give a manager or settings")
        settings = manager.settings
    app = create_app(
        settings, manager=manager, refresh_s=refresh_s, lock_timeout_s=lock_timeout_s, clock=clock
    )
    sock = bind(host, port)
    server = uvicorn.Server(_config(app))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dashboard", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + ready_timeout_s
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    dashboard = Dashboard(_url(sock), app, server, thread, sock)
    if not server.started:
        dashboard.stop()
        raise RuntimeError(f"the dashboard did not start on {host}:{port}")
    log.info("dashboard url=%s", dashboard.url)
    return dashboard


def serve_forever(
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    lock_timeout_s: float = 10.0,
    refresh_s: float = 5.0,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """``nsechain serve``: run in the foreground until Ctrl+C / SIGTERM."""
    app = create_app(settings, lock_timeout_s=lock_timeout_s, refresh_s=refresh_s)
    sock = bind(host, port)
    log.info("dashboard url=%s db=%s", _url(sock), settings.db_path)
    if on_ready is not None:
        on_ready(_url(sock))
    with contextlib.closing(sock):
        uvicorn.Server(_config(app)).run(sockets=[sock])
