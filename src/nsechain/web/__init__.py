"""The dashboard: collection health and recorded option chains in the browser, offline.

``nsechain serve`` runs it against a database another process writes; ``start_dashboard``
runs it inside the collector's process. See ``web/app.py`` for the routes.
"""

from __future__ import annotations

from nsechain.web.app import create_app
from nsechain.web.server import Dashboard, start_dashboard

__all__ = ["Dashboard", "create_app", "start_dashboard"]
