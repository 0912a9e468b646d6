"""Per-snapshot ATM rows the loader keeps beside the quotes: the table ``snapshot_atm``.

Where it sits: in the store, under ``store.tables`` (``upgrade_tables`` creates the table and
fills it for what is already loaded), ``store.batch`` and ``store.history`` (which fill it in
the same transaction that loads or replaces the quotes). ``analytics`` reads it for IV rank
and the term structure, and shares its ATM rule (``ATM_PAIRS`` + ``ATM_PICK``).

Why: IV rank wants the ATM IV of every snapshot over days of history. Read from the quotes,
that is every quote row of the symbol (≈0.4 s for five days of NIFTY); here it is one row per
snapshot. Every loaded snapshot gets a row, NULLs where no strike lies within 5 % of the
spot, so a reader can check that the table covers a range by counting.
"""

from __future__ import annotations

import logging
import time

from nsechain.store.db import Connection, transaction

__all__ = ["ATM_DDL", "ATM_PAIRS", "ATM_PICK", "SNAPSHOT_ATM", "fill_atm", "rebuild_atm"]

log = logging.getLogger(__name__)

SNAPSHOT_ATM = "snapshot_atm"
ATM_DDL = f"""CREATE TABLE IF NOT EXISTS {SNAPSHOT_ATM} (
    symbol VARCHAR NOT NULL,
    expiry DATE NOT NULL,
    exchange_ts TIMESTAMPTZ NOT NULL,
    spot DOUBLE,
    atm_strike DOUBLE,
    straddle DOUBLE,
    atm_iv DOUBLE
)"""

#: Over ``q`` = quote rows of several snapshots: each strike within 5 % of the spot, both legs.
ATM_PAIRS = """
pairs AS (
  SELECT symbol, expiry, exchange_ts, strike, max(underlying_value) AS spot,
         any_value(last_price) FILTER (WHERE option_type = 'CE') AS ce_last_price,
         any_value(last_price) FILTER (WHERE option_type = 'PE') AS pe_last_price,
         nullif(any_value(iv) FILTER (WHERE option_type = 'CE'), 0) AS ce_iv,
         nullif(any_value(iv) FILTER (WHERE option_type = 'PE'), 0) AS pe_iv
  FROM q
  WHERE abs(strike - underlying_value) <= 0.05 * underlying_value
  GROUP BY symbol, expiry, exchange_ts, strike
)"""
#: Over ``pairs``: per snapshot, the ATM strike (nearest the spot, those quoting both legs'
#: prices first), its straddle (CE + PE last price) and ATM IV (mean of NSE's CE and PE IV).
ATM_PICK = """
SELECT symbol, expiry, exchange_ts, spot, strike AS atm_strike,
       ce_last_price + pe_last_price AS straddle,
       (coalesce(ce_iv, pe_iv) + coalesce(pe_iv, ce_iv)) / 2 AS atm_iv
FROM pairs
QUALIFY row_number() OVER (
  PARTITION BY symbol, expiry, exchange_ts
  ORDER BY (ce_last_price IS NULL OR pe_last_price IS NULL), abs(strike - spot), strike) = 1"""

# The time bounds let DuckDB skip old row groups of option_quotes by their zone maps.
_FILL = f"""
INSERT INTO {SNAPSHOT_ATM} BY NAME
WITH s AS ({{snapshots}}),
q AS (
  SELECT o.* FROM option_quotes AS o
  SEMI JOIN s ON o.symbol = s.symbol AND o.expiry = s.expiry AND o.exchange_ts = s.exchange_ts
  WHERE o.exchange_ts >= $lo AND o.exchange_ts <= $hi
),
{ATM_PAIRS},
atm AS ({ATM_PICK})
SELECT s.symbol, s.expiry, s.exchange_ts, atm.spot, atm.atm_strike, atm.straddle, atm.atm_iv
FROM s LEFT JOIN atm
  ON atm.symbol = s.symbol AND atm.expiry = s.expiry AND atm.exchange_ts = s.exchange_ts
"""


def fill_atm(con: Connection, snapshots: str) -> int:
    """Add the ATM row of every snapshot ``snapshots`` lists (a constant SELECT of distinct
    symbol, expiry, exchange_ts), from its rows in ``option_quotes``. Inside the caller's
    transaction; returns the rows added."""
    sql = f"SELECT min(exchange_ts), max(exchange_ts) FROM ({snapshots})"
    ((lo, hi),) = con.execute(sql).fetchall()
    if lo is None:
        return 0
    rows = con.execute(_FILL.format(snapshots=snapshots), {"lo": lo, "hi": hi}).fetchall()
    return int(rows[0][0]) if rows else 0


def rebuild_atm(con: Connection) -> int:
    """Create ``snapshot_atm`` if missing and refill it for every snapshot in
    ``loaded_snapshots``, in one transaction (~1 s per 20M quote rows here)."""
    started = time.perf_counter()
    with transaction(con):
        con.execute(ATM_DDL)
        con.execute(f"DELETE FROM {SNAPSHOT_ATM}")
        filled = fill_atm(con, "SELECT DISTINCT symbol, expiry, exchange_ts FROM loaded_snapshots")
    log.info(
        "upgrade snapshot_atm filled_snapshots=%d ms=%.0f",
        filled,
        (time.perf_counter() - started) * 1000,
    )
    return filled
