"""SQL of the trader's desk: which snapshots, and the few per-strike or per-expiry reads.

Where it sits: ``analytics/trader.py`` runs these through the Desk (values always ``$name``
parameters, table names only from ``analytics.queries``); ``analytics/views.py`` wraps
``GREEKS_VIEW_SQL`` and ``OI_WINDOW_VIEW_SQL`` into views and ``OI_BETWEEN_MACRO`` into a
table macro for plain-SQL users.
"""

from __future__ import annotations

from nsechain.analytics.queries import SNAPSHOT_INDEX
from nsechain.analytics.sql import ist_day
from nsechain.store.summaries import ATM_PAIRS, ATM_PICK, SNAPSHOT_ATM

__all__ = [
    "ATM_BY_EXPIRY",
    "ATM_NEAREST",
    "GREEKS_VIEW_SQL",
    "HAS_ATM",
    "OI_BETWEEN_MACRO",
    "OI_WINDOW_VIEW_SQL",
    "STRIKES",
    "STRIKE_DAY",
    "TWO_SNAPSHOTS",
    "atm_covers_sql",
    "atm_latest_sql",
    "day_snapshots_sql",
    "latest_per_expiry_sql",
    "nearest_expiry_sql",
    "quotes_of_sql",
    "window_base_sql",
]


def latest_per_expiry_sql(table: str) -> str:
    """(expiry, exchange_ts): the latest snapshot of each expiry live on the IST day of
    ``$at``, between that day's start ``$day_start`` and ``$at``."""
    return f"""
SELECT expiry, max(exchange_ts) AS exchange_ts FROM {table}
WHERE symbol = $symbol AND exchange_ts >= $day_start AND exchange_ts <= $at AND expiry >= $day
GROUP BY expiry ORDER BY expiry"""


def window_base_sql(table: str) -> str:
    """For a window over one expiry ending at ``$exchange_ts``: the day's ``first`` snapshot
    (at or after ``$day_start``) and the ``latest`` at or before ``$moment`` (NULL if none)."""
    return f"""
SELECT min(exchange_ts) AS first,
       max(exchange_ts) FILTER (WHERE exchange_ts <= $moment) AS latest
FROM {table}
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts >= $day_start
  AND exchange_ts <= $exchange_ts"""


def day_snapshots_sql(table: str) -> str:
    """Every snapshot of a symbol in ``[$start, $end]`` with its totals columns (PCR)."""
    return f"""
SELECT expiry, exchange_ts, ce_oi, pe_oi, ce_volume, pe_volume FROM {table}
WHERE symbol = $symbol AND exchange_ts >= $start AND exchange_ts <= $end"""


def nearest_expiry_sql(table: str, columns: str = "s.expiry, s.exchange_ts") -> str:
    """``columns`` of the rows of ``table`` (``s``) in ``[$start, $end]`` whose expiry is the
    nearest one live on their IST day: one pass and a join, no correlated subquery."""
    return f"""
WITH s AS (
  SELECT *, {ist_day("exchange_ts")} AS day
  FROM {table}
  WHERE symbol = $symbol AND exchange_ts >= $start AND exchange_ts <= $end
),
n AS (SELECT day, min(expiry) AS expiry FROM s WHERE expiry >= day GROUP BY day)
SELECT DISTINCT {columns} FROM s SEMI JOIN n ON s.day = n.day AND s.expiry = n.expiry"""


#: 2 when the database has both the snapshot index and ``snapshot_atm``.
HAS_ATM = f"""
SELECT count(*) AS n FROM duckdb_tables()
WHERE table_name IN ('{SNAPSHOT_INDEX}', '{SNAPSHOT_ATM}') AND schema_name = 'main'
  AND database_name = current_database()
"""


def atm_covers_sql() -> str:
    """Whether ``snapshot_atm`` has a row for every snapshot of ``$symbol`` that
    ``loaded_snapshots`` lists in ``[$start, $end]`` (the loader fills both in one
    transaction; a database filled by hand may have neither or only one): one row, ``ok``."""
    where = "WHERE symbol = $symbol AND exchange_ts >= $start AND exchange_ts <= $end"
    return f"""
SELECT (SELECT count(*) FROM {SNAPSHOT_INDEX} {where})
     = (SELECT count(*) FROM {SNAPSHOT_ATM} {where}) AS ok"""


#: The stored ATM rows of the nearest live expiry, each snapshot of ``[$start, $end]``.
ATM_NEAREST = f"""
SELECT * FROM ({nearest_expiry_sql(SNAPSHOT_ATM, "s.* EXCLUDE (day, symbol)")})
WHERE atm_strike IS NOT NULL ORDER BY expiry, exchange_ts"""


def atm_latest_sql() -> str:
    """The stored ATM rows of each live expiry's latest snapshot in ``[$day_start, $at]``."""
    return f"""
SELECT a.expiry, a.exchange_ts, a.spot, a.atm_strike, a.straddle, a.atm_iv
FROM {SNAPSHOT_ATM} AS a
SEMI JOIN ({latest_per_expiry_sql(SNAPSHOT_ATM)}) AS l
  ON a.expiry = l.expiry AND a.exchange_ts = l.exchange_ts
WHERE a.symbol = $symbol AND a.exchange_ts >= $day_start AND a.exchange_ts <= $at
  AND a.atm_strike IS NOT NULL
ORDER BY a.expiry, a.exchange_ts"""


def quotes_of_sql(snapshots: str) -> str:
    """The quote rows of the snapshots ``snapshots`` lists (expiry, exchange_ts), of
    ``$symbol`` in ``[$start, $end]`` (bounds let DuckDB prune row groups)."""
    return f"""SELECT * FROM option_quotes
WHERE symbol = $symbol AND exchange_ts >= $start AND exchange_ts <= $end
  AND (expiry, exchange_ts) IN (SELECT (expiry, exchange_ts) FROM ({snapshots}))"""


#: Over ``q`` = quotes of several snapshots: the ATM strike (nearest the spot quoting both
#: legs), straddle and ATM IV (mean of NSE's CE and PE IV) of each snapshot; the rule the
#: loader stores per snapshot in ``snapshot_atm`` (``store.summaries``).
ATM_BY_EXPIRY = f"""{ATM_PAIRS.strip()},
atm AS ({ATM_PICK})
SELECT expiry, exchange_ts, spot, atm_strike, straddle, atm_iv FROM atm
ORDER BY expiry, exchange_ts
"""

#: Source: the rows of two snapshots of one expiry (``$from_ts`` once if it is the same one).
#: Two equality reads, each pruned by zone maps; an IN list or a range over a whole day
#: (a window since the open) is read as one scan of every row between (~2.5x slower).
TWO_SNAPSHOTS = """SELECT * FROM option_quotes
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts = $exchange_ts
UNION ALL
SELECT * FROM option_quotes
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts = $from_ts
  AND $from_ts <> $exchange_ts"""

#: Over ``q`` = one snapshot: its strikes.
STRIKES = "s AS (SELECT DISTINCT strike FROM q) SELECT strike FROM s ORDER BY strike"

#: Over ``q`` = one contract pair's rows (one strike, one expiry) through a day.
STRIKE_DAY = """
legs AS (
  SELECT exchange_ts, max(underlying_value) AS spot,
         any_value(open_interest) FILTER (WHERE option_type = 'CE') AS ce_oi,
         any_value(open_interest) FILTER (WHERE option_type = 'PE') AS pe_oi,
         any_value(last_price) FILTER (WHERE option_type = 'CE') AS ce_ltp,
         any_value(last_price) FILTER (WHERE option_type = 'PE') AS pe_ltp,
         nullif(any_value(iv) FILTER (WHERE option_type = 'CE'), 0) AS ce_iv,
         nullif(any_value(iv) FILTER (WHERE option_type = 'PE'), 0) AS pe_iv,
         any_value(volume) FILTER (WHERE option_type = 'CE') AS ce_volume,
         any_value(volume) FILTER (WHERE option_type = 'PE') AS pe_volume
  FROM q
  GROUP BY exchange_ts
)
SELECT * FROM legs ORDER BY exchange_ts
"""

# The Abramowitz-Stegun 26.2.17 normal CDF (|error| < 7.5e-8): DuckDB has no erf.
_NCDF = """CREATE OR REPLACE MACRO nc_ncdf(x) AS (
  CASE WHEN x >= 0 THEN 1 - nc_npdf(x) * nc_poly(1 / (1 + 0.2316419 * x))
       ELSE nc_npdf(x) * nc_poly(1 / (1 - 0.2316419 * x)) END)"""
GREEKS_MACROS = (
    "CREATE OR REPLACE MACRO nc_npdf(x) AS exp(-0.5 * x * x) / sqrt(2 * pi())",
    "CREATE OR REPLACE MACRO nc_poly(k) AS k * (0.319381530 + k * (-0.356563782"
    " + k * (1.781477937 + k * (-1.821255978 + k * 1.330274429))))",
    _NCDF,
)

#: Black-76 greeks of every quote row at NSE's own IV, forward = spot * exp(r T) with r =
#: 6.5 %, T to 15:30 IST on expiry. The Python desk (``Desk.chain_greeks``) solves its own IV
#: from mid prices with the put-call-parity forward instead: the two differ by NSE's IV error.
GREEKS_VIEW_SQL = """
base AS (
  SELECT *, (epoch(expiry::TIMESTAMP) + 36000 - epoch(exchange_ts)) / 31536000.0 AS t,
         underlying_value * exp(0.065 * (epoch(expiry::TIMESTAMP) + 36000
                                         - epoch(exchange_ts)) / 31536000.0) AS fwd,
         iv / 100.0 AS sigma
  FROM q
  WHERE iv > 0 AND underlying_value > 0 AND strike > 0
),
d AS (
  SELECT *, (ln(fwd / strike) + 0.5 * sigma * sigma * t) / (sigma * sqrt(t)) AS d1,
         exp(-0.065 * t) AS df
  FROM base WHERE t > 0
)
SELECT symbol, expiry, exchange_ts, strike, option_type, underlying_value, fwd AS forward,
       t AS t_years, iv,
       CASE option_type WHEN 'CE' THEN df * nc_ncdf(d1) ELSE -df * nc_ncdf(-d1) END AS delta,
       df * nc_npdf(d1) / (fwd * sigma * sqrt(t)) AS gamma,
       (0.065 * df * (CASE option_type WHEN 'CE'
            THEN fwd * nc_ncdf(d1) - strike * nc_ncdf(d1 - sigma * sqrt(t))
            ELSE strike * nc_ncdf(sigma * sqrt(t) - d1) - fwd * nc_ncdf(-d1) END)
        - df * fwd * nc_npdf(d1) * sigma / (2 * sqrt(t))) / 365 AS theta,
       df * fwd * nc_npdf(d1) * sqrt(t) / 100 AS vega
FROM d
"""

#: OI change of every contract since the first snapshot of its IST day (the open) and since
#: the latest snapshot at least 15 minutes earlier that day (ASOF join).
OI_WINDOW_VIEW_SQL = f"""
k AS (
  SELECT symbol, expiry, strike, option_type, exchange_ts, open_interest, last_price,
         {ist_day("exchange_ts")} AS day,
         first_value(open_interest) OVER w AS oi_open,
         first_value(exchange_ts) OVER w AS open_ts
  FROM q
  WINDOW w AS (PARTITION BY symbol, expiry, strike, option_type,
                            {ist_day("exchange_ts")}
               ORDER BY exchange_ts)
)
SELECT a.symbol, a.expiry, a.strike, a.option_type, a.exchange_ts, a.open_interest,
       a.open_ts, a.open_interest - a.oi_open AS oi_change_since_open,
       b.exchange_ts AS ts_15m, a.open_interest - b.open_interest AS oi_change_15m
FROM k AS a ASOF LEFT JOIN k AS b
  ON a.symbol = b.symbol AND a.expiry = b.expiry AND a.strike = b.strike
 AND a.option_type = b.option_type AND a.day = b.day
 AND a.exchange_ts - INTERVAL 15 MINUTE >= b.exchange_ts
"""

#: ``SELECT * FROM oi_between('NIFTY', DATE '2026-08-11', t0, t1)``: per contract, OI at
#: the latest snapshots at or before t0 and t1, and the change.
OI_BETWEEN_MACRO = """CREATE OR REPLACE MACRO oi_between(sym, exp, t0, t1) AS TABLE
WITH s AS (
  SELECT max(exchange_ts) FILTER (WHERE exchange_ts <= t0) AS ts0,
         max(exchange_ts) FILTER (WHERE exchange_ts <= t1) AS ts1
  FROM option_quotes WHERE symbol = sym AND expiry = exp
)
SELECT b.strike, b.option_type, s.ts0, s.ts1, a.open_interest AS oi_from,
       b.open_interest AS oi_to, b.open_interest - a.open_interest AS oi_change
FROM s JOIN option_quotes AS b ON b.symbol = sym AND b.expiry = exp AND b.exchange_ts = s.ts1
LEFT JOIN option_quotes AS a ON a.symbol = sym AND a.expiry = exp AND a.exchange_ts = s.ts0
 AND a.strike = b.strike AND a.option_type = b.option_type
ORDER BY b.strike, b.option_type"""
