"""The Desk's own SQL: snapshot lookup, row sources with filters, and the small reports.

Where it sits: used only by ``nsechain.query``. The measures shared with the views (chain,
PCR, max pain, build-up) are in ``analytics/sql.py``; a *source* here is the ``q`` CTE they
read. Sources are assembled from the constant fragments below, never from user text; every
value is a ``$name`` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nsechain.analytics.db import When, as_instant
from nsechain.analytics.sql import KNOWN_TOTALS
from nsechain.contract import OUTCOMES, SNAPSHOT_TOTALS

__all__ = [
    "ALL_FETCHES",
    "ALL_QUOTES",
    "ATM",
    "CONTRACT",
    "COPY_OPTIONS",
    "HAS_INDEX",
    "HAS_TOTALS",
    "LATEST",
    "LISTINGS",
    "ONE_SNAPSHOT",
    "QUOTES",
    "SNAPSHOT_INDEX",
    "SNAPSHOT_ROWS",
    "SOME_SYMBOLS",
    "SYMBOL",
    "SYMBOL_EXPIRY",
    "SYMBOL_EXPIRY_TOTALS",
    "SYMBOL_TOTALS",
    "TOP_OI",
    "TOTALS_COLUMNS",
    "TWO_SNAPSHOTS",
    "Source",
    "copy_sql",
    "fetch_quality_sql",
    "previous_snapshot_sql",
    "snapshot_sql",
    "source",
    "totals_cover_sql",
]

# --- finding a snapshot -----------------------------------------------------------------------
#: Where snapshots are listed: the loader's ``loaded_snapshots`` (one row per snapshot, written in
#: the same transaction as its quotes, ~250k rows a day) when the database has it, so finding
#: "the latest NIFTY chain" does not scan the symbol column of every quote row; else the quotes.
SNAPSHOT_INDEX = "loaded_snapshots"
QUOTES = "option_quotes"
HAS_INDEX = f"""
SELECT count(*) AS n FROM duckdb_tables()
WHERE table_name = '{SNAPSHOT_INDEX}' AND schema_name = 'main'
  AND database_name = current_database()
"""
#: The latest snapshot of every (symbol, expiry), kept by the loader (``store.latest``): a few
#: thousand rows however long the history, so "the latest chain" costs the same on day 500.
#: It has the columns ``snapshot_sql`` reads, and answers exactly when ``at`` is not given.
LATEST = "latest_snapshots"
#: Which of the two listing tables the database has (``name`` per row).
LISTINGS = f"""
SELECT table_name AS name FROM duckdb_tables()
WHERE table_name IN ('{SNAPSHOT_INDEX}', '{LATEST}') AND schema_name = 'main'
  AND database_name = current_database()
"""


#: How many of the per-snapshot totals columns (``contract.SNAPSHOT_TOTALS``) the index has:
#: the loader adds them; a database filled without it, or by an older one, lacks them.
HAS_TOTALS = f"""
SELECT count(*) AS n FROM duckdb_columns()
WHERE table_name = '{SNAPSHOT_INDEX}' AND schema_name = 'main'
  AND database_name = current_database()
  AND column_name IN ({", ".join(f"'{c}'" for c in SNAPSHOT_TOTALS)})
"""
TOTALS_COLUMNS = len(SNAPSHOT_TOTALS)


def totals_cover_sql(bounds: str) -> str:
    """Whether the stored totals stand for every quote row in a time range (``bounds``: the
    ``AND exchange_ts ...`` filters of ``source``): one row, ``ok``.

    True when every ``loaded_snapshots`` row in the range has its totals and their row counts
    add up to the ``option_quotes`` rows in the range. So quotes inserted without the loader,
    or deleted after it, send the Desk back to summing quotes. Costs ~1 ms: the index is small
    and a count over one exchange_ts range mostly reads zone maps.
    """
    return f"""
SELECT unknown = 0 AND indexed = quoted AS ok
FROM (SELECT count(*) FILTER (WHERE NOT ({KNOWN_TOTALS})) AS unknown,
             coalesce(sum(rows), 0) AS indexed
      FROM {SNAPSHOT_INDEX} WHERE true{bounds}),
     (SELECT count(*) AS quoted FROM {QUOTES} WHERE true{bounds})
"""


def snapshot_sql(table: str, *, expiry: bool, until: bool) -> str:
    """(expiry, exchange_ts) of the snapshot to show, from ``table`` (one of the two above).

    With ``expiry``: its latest snapshot. Without: the nearest expiry still live on the IST day
    of the symbol's latest snapshot, and its latest snapshot. ``until`` adds ``<= $at``.
    """
    at = " AND exchange_ts <= $at" if until else ""
    if expiry:
        return f"""
SELECT expiry, max(exchange_ts) AS exchange_ts FROM {table}
WHERE symbol = $symbol AND expiry = $expiry{at}
GROUP BY expiry"""
    return f"""
WITH s AS (SELECT expiry, exchange_ts FROM {table} WHERE symbol = $symbol{at}),
ref AS (SELECT CAST(timezone('Asia/Kolkata', max(exchange_ts)) AS DATE) AS day FROM s)
SELECT expiry, max(exchange_ts) AS exchange_ts
FROM s, ref
WHERE expiry >= ref.day
GROUP BY expiry
ORDER BY expiry
LIMIT 1"""


def previous_snapshot_sql(table: str) -> str:
    """The snapshot ``$back + 1`` steps before ``$exchange_ts`` of one expiry."""
    return f"""
SELECT DISTINCT exchange_ts FROM {table}
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts < $exchange_ts
ORDER BY exchange_ts DESC LIMIT 1 OFFSET $back"""


# --- sources: what the q CTE holds ------------------------------------------------------------
ONE_SNAPSHOT = """SELECT * FROM option_quotes
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts = $exchange_ts"""
TWO_SNAPSHOTS = """SELECT * FROM option_quotes
WHERE symbol = $symbol AND expiry = $expiry AND exchange_ts IN ($from_ts, $exchange_ts)"""
SYMBOL = "SELECT * FROM option_quotes WHERE symbol = $symbol"
SYMBOL_EXPIRY = "SELECT * FROM option_quotes WHERE symbol = $symbol AND expiry = $expiry"
#: The same two over the index: one row per snapshot with its stored totals.
SYMBOL_TOTALS = f"SELECT * FROM {SNAPSHOT_INDEX} WHERE symbol = $symbol"
SYMBOL_EXPIRY_TOTALS = f"SELECT * FROM {SNAPSHOT_INDEX} WHERE symbol = $symbol AND expiry = $expiry"
CONTRACT = """SELECT * FROM option_quotes
WHERE symbol = $symbol AND expiry = $expiry AND strike = $strike AND option_type = $option_type"""
ALL_FETCHES = "SELECT * FROM fetch_log WHERE true"
ALL_QUOTES = "SELECT * FROM option_quotes WHERE true"
SOME_SYMBOLS = "SELECT * FROM option_quotes WHERE list_contains($symbols, symbol)"

#: COPY options per export format (the format is checked against these keys first).
COPY_OPTIONS = {"parquet": "(FORMAT parquet, COMPRESSION zstd)", "csv": "(FORMAT csv, HEADER)"}

# --- bodies over q ----------------------------------------------------------------------------
SNAPSHOT_ROWS = """
rows AS (SELECT * FROM q)
SELECT * FROM rows ORDER BY exchange_ts, strike, option_type
"""

TOP_OI = """
ranked AS (
  SELECT CASE option_type WHEN 'PE' THEN 'support' ELSE 'resistance' END AS level,
         row_number() OVER (PARTITION BY option_type
                            ORDER BY open_interest DESC, strike) AS rank,
         strike, option_type, open_interest, change_in_oi, last_price, underlying_value
  FROM q
  WHERE open_interest > 0
)
SELECT * FROM ranked WHERE rank <= $n ORDER BY level DESC, rank
"""

# ATM: the strike nearest the spot among those quoting both legs (else any strike).
ATM = """
pairs AS (
  SELECT strike, max(underlying_value) AS spot,
         any_value(last_price) FILTER (WHERE option_type = 'CE') AS ce_last_price,
         any_value(last_price) FILTER (WHERE option_type = 'PE') AS pe_last_price,
         nullif(any_value(iv) FILTER (WHERE option_type = 'CE'), 0) AS ce_iv,
         nullif(any_value(iv) FILTER (WHERE option_type = 'PE'), 0) AS pe_iv,
         any_value(symbol) AS symbol, any_value(expiry) AS expiry,
         any_value(exchange_ts) AS exchange_ts
  FROM q
  GROUP BY strike
)
SELECT symbol, expiry, exchange_ts, spot, strike AS atm_strike,
       ce_last_price, pe_last_price, ce_last_price + pe_last_price AS straddle,
       ce_iv, pe_iv,
       (coalesce(ce_iv, pe_iv) + coalesce(pe_iv, ce_iv)) / 2 AS atm_iv
FROM pairs
ORDER BY (ce_last_price IS NULL OR pe_last_price IS NULL), abs(strike - spot), strike
LIMIT 1
"""


@dataclass(frozen=True)
class Source:
    sql: str
    params: dict[str, Any]


def source(
    base: str,
    params: dict[str, Any],
    start: When | None,
    end: When | None,
    *,
    column: str = "exchange_ts",
) -> Source:
    """``base`` narrowed to ``[start, end]`` on ``column`` (a constant name from this module's
    callers, never user text); bounds that are None are left out, not bound as NULL, so DuckDB
    can still prune by zone maps."""
    sql, bound = base, dict(params)
    lo, hi = as_instant(start), as_instant(end, end=True)
    if lo is not None:
        sql += f" AND {column} >= $start"
        bound["start"] = lo
    if hi is not None:
        sql += f" AND {column} <= $end"
        bound["end"] = hi
    return Source(sql, bound)


def copy_sql(source_sql: str, fmt: str) -> str:
    """COPY of a quotes source to the file ``$out``, in the day-file sort order (which is what
    makes Parquet small: DESIGN.md §7)."""
    return (
        f"COPY (\n{source_sql}\nORDER BY symbol, expiry, strike, option_type, exchange_ts\n)"
        f" TO $out {COPY_OPTIONS[fmt]}"
    )


def fetch_quality_sql(source_sql: str) -> str:
    """Per-symbol fetch report over the ``fetch_log`` rows of ``source_sql``."""
    by_outcome = ",\n       ".join(
        f"count(*) FILTER (WHERE outcome = '{o}') AS {o}" for o in OUTCOMES
    )
    return f"""
WITH f AS (
{source_sql}
),
counts AS (
  SELECT symbol, count(*) AS fetches,
       {by_outcome},
       count(*) FILTER (WHERE outcome NOT IN ('ok', 'stale')) AS failures,
       max(fetched_at) FILTER (WHERE outcome = 'ok') AS last_ok
  FROM f
  GROUP BY symbol
),
gaps AS (         -- time between consecutive ok fetches of one expiry, within one IST day
  SELECT symbol, expiry, fetched_at,
         lag(fetched_at) OVER (PARTITION BY symbol, expiry,
                                  CAST(timezone('Asia/Kolkata', fetched_at) AS DATE)
                               ORDER BY fetched_at) AS prev_ok
  FROM f
  WHERE outcome = 'ok'
),
worst AS (
  SELECT symbol,
         max(epoch(fetched_at) - epoch(prev_ok)) AS max_gap_s,
         arg_max(prev_ok, epoch(fetched_at) - epoch(prev_ok)) AS max_gap_after,
         arg_max(expiry, epoch(fetched_at) - epoch(prev_ok)) AS max_gap_expiry
  FROM gaps
  WHERE prev_ok IS NOT NULL
  GROUP BY symbol
)
SELECT counts.*, max_gap_s, max_gap_after, max_gap_expiry
FROM counts LEFT JOIN worst ON worst.symbol IS NOT DISTINCT FROM counts.symbol
ORDER BY symbol NULLS FIRST
"""
