"""nsechain.cli: every command, at the edge. ``nsechain = "nsechain.cli:app"`` runs ``app``.

Where it sits: the top floor; nothing in the product imports it. One module per command group:
``main`` (the ``app``, ``collect``, ``status``, ``ingest``), ``market`` (``plan``,
``calendar``), ``desk`` (``show``, ``pcr``, ``export``), ``serve`` (the dashboard),
``simulate`` (the NSE simulator) and ``demo``. Each builds the one ``Settings`` object from its
flags and hands it down; heavy modules are imported lazily so ``--help`` stays fast.
"""

from __future__ import annotations

from nsechain.cli.main import app

__all__ = ["app"]
