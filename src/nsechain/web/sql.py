"""The dashboard's own SQL: listings for the pickers, the ATM series, the fetch-log report.

Where it sits: used by ``web/service.py`` through ``Desk.sql``. Like ``analytics/queries.py``
every statement is a constant of this module (a table name is picked from two constants,
never taken from a request); every value is a ``$name`` parameter.
"""

from __future__ import annotations

from nsechain.analytics.queries import QUOTES, SNAPSHOT_INDEX
from nsechain.analytics.sql import ist_day

__all__ = [
    "ATM_SERIES",
    "FETCH_ERRORS",
    "FETCH_LAST",
    "FETCH_MINUTES",
    "FETCH_SYMBOLS",
    "SNAPSHOT_DAYS",
    "SNAPSHOT_TIMES",
    "SYMBOLS",
    "TABLES",
]

#: Which of our tables exist (a fresh file may have none; old ones lack the snapshot index).
TABLES = """
SELECT table_name FROM duckdb_tables()
WHERE schema_name = 'main' AND database_name = current_database()
"""


def _snapshot_listing(table: str) -> dict[str, str]:
    # loaded_snapshots has one row per snapshot; the quotes table one per contract.
    count = "count(*)" if table == SNAPSHOT_INDEX else "count(DISTINCT exchange_ts)"
    day = ist_day("exchange_ts")
    return {
        "symbols": f"""
SELECT symbol, expiry, {count} AS snapshots,
       min(exchange_ts) AS first_ts, max(exchange_ts) AS last_ts
FROM {table}
GROUP BY symbol, expiry
ORDER BY symbol, expiry""",
        "days": f"""
SELECT {day} AS day, {count} AS snapshots
FROM {table}
WHERE symbol = $symbol AND expiry = $expiry
GROUP BY day
ORDER BY day""",
        "times": f"""
SELECT DISTINCT exchange_ts
FROM {table}
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts >= $start AND exchange_ts < $end
ORDER BY exchange_ts""",
    }


_LISTINGS = {t: _snapshot_listing(t) for t in (SNAPSHOT_INDEX, QUOTES)}
#: Per table (``SNAPSHOT_INDEX`` or ``QUOTES``): every (symbol, expiry) with its snapshot span.
SYMBOLS = {t: q["symbols"] for t, q in _LISTINGS.items()}
#: Per table: the IST days of one (symbol, expiry) with their snapshot counts.
SNAPSHOT_DAYS = {t: q["days"] for t, q in _LISTINGS.items()}
#: Per table: the snapshot times of one (symbol, expiry) in ``[$start, $end)``.
SNAPSHOT_TIMES = {t: q["times"] for t, q in _LISTINGS.items()}

#: Body over ``q`` (rows of one expiry over a day): per snapshot the ATM strike (nearest the
#: spot among strikes quoting both legs), the straddle and the ATM IV — ``queries.ATM`` for
#: every snapshot at once.
ATM_SERIES = """
pairs AS (
  SELECT exchange_ts, strike, max(underlying_value) AS spot,
         any_value(last_price) FILTER (WHERE option_type = 'CE') AS ce_last_price,
         any_value(last_price) FILTER (WHERE option_type = 'PE') AS pe_last_price,
         nullif(any_value(iv) FILTER (WHERE option_type = 'CE'), 0) AS ce_iv,
         nullif(any_value(iv) FILTER (WHERE option_type = 'PE'), 0) AS pe_iv
  FROM q
  GROUP BY exchange_ts, strike
),
ranked AS (
  SELECT *, row_number() OVER (
           PARTITION BY exchange_ts
           ORDER BY (ce_last_price IS NULL OR pe_last_price IS NULL), abs(strike - spot), strike
         ) AS pick
  FROM pairs
)
SELECT exchange_ts, spot, strike AS atm_strike, ce_last_price + pe_last_price AS straddle,
       (coalesce(ce_iv, pe_iv) + coalesce(pe_iv, ce_iv)) / 2 AS atm_iv
FROM ranked
WHERE pick = 1
ORDER BY exchange_ts
"""

#: The newest request in the log.
FETCH_LAST = "SELECT max(fetched_at) AS last FROM fetch_log"

#: Requests per minute and outcome in ``[$start, $end)`` (every call counted, retries too).
FETCH_MINUTES = """
SELECT time_bucket(INTERVAL 1 minute, fetched_at) AS minute, outcome, count(*) AS n
FROM fetch_log
WHERE fetched_at >= $start AND fetched_at < $end
GROUP BY minute, outcome
ORDER BY minute, outcome
"""

#: Per symbol in the window: requests by outcome, the last good fetch and its NSE time.
FETCH_SYMBOLS = """
SELECT coalesce(symbol, '(session)') AS symbol, outcome, count(*) AS n,
       max(fetched_at) AS last_at, max(exchange_ts) AS last_exchange_ts
FROM fetch_log
WHERE fetched_at >= $start AND fetched_at < $end
GROUP BY ALL
ORDER BY symbol, outcome
"""

#: The symbol and expiry a fetch error starts with ("NIFTY 01-Dec-2026: ..."): cut, so that one
#: kind of failure is one group; the group lists the symbols it hit.
_MESSAGE = r"regexp_replace(coalesce(error, ''), '^[^:]*\d{2}-[A-Za-z]{3}-\d{4}: ', '')"

#: Failed requests in the window, grouped by what went wrong, newest first.
FETCH_ERRORS = f"""
SELECT outcome, {_MESSAGE} AS error, count(*) AS n,
       max(fetched_at) AS last_at, min(fetched_at) AS first_at,
       string_agg(DISTINCT coalesce(symbol, '(session)'), ', '
                  ORDER BY coalesce(symbol, '(session)')) AS symbols,
       max(http_status) AS http_status
FROM fetch_log
WHERE fetched_at >= $start AND fetched_at < $end AND outcome NOT IN ('ok', 'stale')
GROUP BY outcome, {_MESSAGE}
ORDER BY last_at DESC
LIMIT $limit
"""
