"""The user-facing DuckDB views over ``option_quotes``, created by ``create_views(conn)``.

Where it sits: the loader (after it creates its tables) and the CLI call ``create_views`` on a
read-write connection; users then query the views from plain DuckDB or a notebook. The SQL
bodies live in ``analytics/sql.py`` and are the same ones ``nsechain.query`` runs with filters.

Views (README text, with examples):

``latest_chain``
    The rows of ``option_quotes`` (long: one per contract) of the latest snapshot of every
    (symbol, expiry) that is live on the symbol's latest trading day::

        SELECT strike, option_type, open_interest, last_price, iv
        FROM latest_chain WHERE symbol = 'NIFTY' ORDER BY expiry, strike;

``chain_wide``
    One row per (symbol, expiry, exchange_ts, strike), laid out like NSE's page:
    ``symbol, expiry, exchange_ts, underlying_value, ce_open_interest, ce_change_in_oi,
    ce_volume, ce_iv, ce_last_price, ce_change, ce_bid_qty, ce_bid_price, ce_ask_price,
    ce_ask_qty, strike, pe_ask_qty, ... , pe_open_interest``. A missing leg is NULL::

        SELECT * FROM chain_wide
        WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11'
          AND exchange_ts = (SELECT max(exchange_ts) FROM option_quotes
                             WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11');

``pcr``
    Put-call ratios per (symbol, expiry, exchange_ts): ``ce_oi, pe_oi, pcr_oi`` (PE OI / CE OI)
    and ``ce_volume, pe_volume, pcr_volume``; NULL when the CE side is zero::

        SELECT exchange_ts, pcr_oi, pcr_volume FROM pcr
        WHERE symbol = 'BANKNIFTY' AND expiry = DATE '2026-08-26' ORDER BY exchange_ts;

    In a database the loader keeps (``loaded_snapshots`` has the totals columns when the view is
    made) it reads the per-snapshot totals stored there, summing ``option_quotes`` only for
    snapshots listed without totals: a few ms instead of a scan of the quotes. It then sees
    the snapshots the loader loaded, which in such a database are all of them. Otherwise it
    sums ``option_quotes``.

``max_pain``
    Per (symbol, expiry, exchange_ts): ``max_pain`` (the strike where option buyers would be
    paid least at settlement: min over strikes S of sum CE_OI*max(S-K,0) + PE_OI*max(K-S,0)),
    ``total_pain`` (that minimum, OI x points) and ``strikes``. Ties go to the lower strike::

        SELECT exchange_ts, max_pain FROM max_pain
        WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11' ORDER BY exchange_ts;

``oi_buildup``
    Every contract at every snapshot against its previous snapshot (``prev_ts``):
    ``price_change``, ``oi_change`` and ``buildup``, one of ``long_buildup`` (price up, OI up),
    ``short_buildup`` (price down, OI up), ``short_covering`` (price up, OI down),
    ``long_unwinding`` (price down, OI down) or ``neutral``. For a longer window use
    ``nsechain.query.Desk.oi_buildup(symbol, expiry, window)``::

        SELECT strike, option_type, buildup, oi_change FROM oi_buildup
        WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11'
          AND exchange_ts = (SELECT max(exchange_ts) FROM option_quotes
                             WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11');

``option_greeks``
    Black-76 ``delta, gamma, theta`` (per day), ``vega`` (per vol point) of every quote row
    at NSE's own ``iv``, forward ``spot * exp(0.065 T)``. ``Desk.chain_greeks`` solves its own
    IV from mid prices and the parity forward instead (also in ``nsechain show --greeks``)::

        SELECT strike, option_type, iv, delta, gamma, theta, vega FROM option_greeks
        WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11'
          AND exchange_ts = (SELECT max(exchange_ts) FROM option_quotes
                             WHERE symbol = 'NIFTY' AND expiry = DATE '2026-08-11');

``oi_window``
    Every contract at every snapshot: ``oi_change_since_open`` (against its first snapshot
    of that IST day, ``open_ts``) and ``oi_change_15m`` (against its latest snapshot at least
    15 minutes earlier that day, ``ts_15m``). Any two times: the table macro
    ``oi_between(symbol, expiry, t0, t1)``::

        SELECT * FROM oi_between('NIFTY', DATE '2026-08-11',
                                 TIMESTAMPTZ '2026-08-11 10:00:00+05:30',
                                 TIMESTAMPTZ '2026-08-11 11:00:00+05:30');

Timestamps are TIMESTAMPTZ; ``SET TimeZone = 'Asia/Kolkata'`` makes DuckDB show them in IST.
Filter the views by ``symbol``/``expiry``/``exchange_ts``: DuckDB pushes those filters down.
"""

from __future__ import annotations

from typing import Any

from nsechain.analytics.queries import HAS_TOTALS, TOTALS_COLUMNS
from nsechain.analytics.sql import (
    BUILDUP_SQL,
    CHAIN_WIDE_SQL,
    LATEST_CHAIN_SQL,
    MAX_PAIN_SQL,
    PCR_SQL,
    PCR_VIEW_FROM_TOTALS_SQL,
    UNKNOWN_TOTALS_QUOTES,
    compose,
)
from nsechain.analytics.trader_sql import (
    GREEKS_MACROS,
    GREEKS_VIEW_SQL,
    OI_BETWEEN_MACRO,
    OI_WINDOW_VIEW_SQL,
)

__all__ = ["VIEWS", "create_views", "view_sql"]

_ALL_QUOTES = "SELECT * FROM option_quotes"

#: view name -> body; every view reads all of option_quotes.
VIEWS: dict[str, str] = {
    "latest_chain": LATEST_CHAIN_SQL,
    "chain_wide": CHAIN_WIDE_SQL,
    "pcr": PCR_SQL,
    "max_pain": MAX_PAIN_SQL,
    "oi_buildup": BUILDUP_SQL,
    "option_greeks": GREEKS_VIEW_SQL,
    "oi_window": OI_WINDOW_VIEW_SQL,
}


#: Views with another body when ``loaded_snapshots`` stores per-snapshot totals: name ->
#: (source, body).
_FROM_TOTALS: dict[str, tuple[str, str]] = {
    "pcr": (UNKNOWN_TOTALS_QUOTES, PCR_VIEW_FROM_TOTALS_SQL),
}


def view_sql(name: str, *, totals: bool = False) -> str:
    """The ``CREATE OR REPLACE VIEW`` statement of one view; ``totals``: for a database whose
    ``loaded_snapshots`` has the per-snapshot totals columns."""
    plain = (_ALL_QUOTES, VIEWS[name])
    source, body = _FROM_TOTALS.get(name, plain) if totals else plain
    return f"CREATE OR REPLACE VIEW {name} AS\n{compose(source, body)}"


def create_views(conn: Any) -> None:
    """(Re)create every view on a read-write DuckDB connection; idempotent.

    ``option_quotes`` must exist (the loader creates it from ``schema.duckdb_ddl``). Call it
    after the loader's ``upgrade_tables`` so that ``pcr`` reads the stored totals.
    """
    rows = conn.execute(HAS_TOTALS).fetchall()
    totals = bool(rows) and rows[0][0] == TOTALS_COLUMNS
    for macro in (*GREEKS_MACROS, OI_BETWEEN_MACRO):  # the greeks view calls these
        conn.execute(macro)
    for name in VIEWS:
        conn.execute(view_sql(name, totals=totals))
