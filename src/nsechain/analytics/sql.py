"""The analytics SQL: one text per measure, shared by the DuckDB views and the Python API.

Where it sits: ``analytics/views.py`` wraps each body into ``CREATE OR REPLACE VIEW`` over the
whole ``option_quotes`` table; ``nsechain.query`` runs the same body over a filtered slice
(``WHERE symbol = $symbol AND ...``, values always bound as parameters). So a view and its
Python twin cannot drift apart.

Every body reads a CTE named ``q`` (rows of ``option_quotes``) and starts with its own CTEs, so
``compose(source, body)`` is ``WITH q AS (source), <body>``. Only constant SQL from this module is
ever joined into a statement; user values travel as ``$name`` parameters.

The put-call ratios come in two forms with one tail: ``PCR_SQL`` / ``PCR_ALL_EXPIRIES_SQL`` sum
the quote rows of each snapshot; ``PCR_FROM_TOTALS_SQL`` / ``PCR_ALL_EXPIRIES_FROM_TOTALS_SQL``
read the same sums from ``loaded_snapshots`` (``q`` = its rows: one per snapshot, with the
totals the loader stored, ``contract.SNAPSHOT_TOTALS``), ~10x fewer rows to touch.
"""

from __future__ import annotations

__all__ = [
    "BUILDUP_SQL",
    "CHAIN_WIDE_SQL",
    "KNOWN_TOTALS",
    "LATEST_CHAIN_SQL",
    "MAX_PAIN_SQL",
    "PCR_ALL_EXPIRIES_FROM_TOTALS_SQL",
    "PCR_ALL_EXPIRIES_SQL",
    "PCR_FROM_TOTALS_SQL",
    "PCR_SQL",
    "PCR_VIEW_FROM_TOTALS_SQL",
    "UNKNOWN_TOTALS_QUOTES",
    "WIDE_COLUMNS",
    "compose",
    "ist_day",
]


def ist_day(column: str) -> str:
    """SQL: the IST calendar day of the TIMESTAMPTZ ``column``, by arithmetic.

    IST is UTC+05:30 all year (no DST since 1945), so the day is the epoch shifted by 5.5 h, in
    whole days: ~10x cheaper than ``timezone('Asia/Kolkata', …)`` (an ICU lookup per row;
    measured 29 vs 285 ms of CPU over 2.7M rows), which the nearest-expiry reads paid per row.
    """
    days = f"floor((epoch_us({column}) + 19800000000) / 86400000000)"  # floor: before 1970 too
    return f"(DATE '1970-01-01' + CAST({days} AS INTEGER))"


#: Leg columns of the wide chain in NSE's page order, CE side left of the strike. The PE side
#: mirrors it, so the strike sits in the middle as on nseindia.com.
_LEG = (
    "open_interest",
    "change_in_oi",
    "volume",
    "iv",
    "last_price",
    "change",
    "bid_qty",
    "bid_price",
    "ask_price",
    "ask_qty",
)


def _side(side: str, fields: tuple[str, ...]) -> str:
    return ",\n       ".join(
        f"any_value({f}) FILTER (WHERE option_type = '{side}') AS {side.lower()}_{f}"
        for f in fields
    )


#: Column order of ``chain_wide`` (and ``Desk.chain``).
WIDE_COLUMNS: tuple[str, ...] = (
    "symbol",
    "expiry",
    "exchange_ts",
    "underlying_value",
    *(f"ce_{f}" for f in _LEG),
    "strike",
    *(f"pe_{f}" for f in reversed(_LEG)),
)


def compose(source: str, body: str) -> str:
    """``WITH q AS (<source>), <body>``: a runnable statement from a source and a body."""
    return f"WITH q AS (\n{source}\n),\n{body}"


#: One row per (symbol, expiry, exchange_ts, strike): CE columns | strike | PE columns.
CHAIN_WIDE_SQL = f"""
wide AS (
  SELECT symbol, expiry, exchange_ts, strike,
       max(underlying_value) AS underlying_value,
       {_side("CE", _LEG)},
       {_side("PE", _LEG)}
  FROM q
  GROUP BY symbol, expiry, exchange_ts, strike
)
SELECT {", ".join(WIDE_COLUMNS)}
FROM wide
ORDER BY symbol, expiry, exchange_ts, strike
"""

#: The latest snapshot of every (symbol, expiry) that is still live on the symbol's latest
#: trading day (an expiry that ended yesterday is history, not the current chain).
LATEST_CHAIN_SQL = """
latest AS (
  SELECT symbol, expiry, max(exchange_ts) AS exchange_ts
  FROM q
  GROUP BY symbol, expiry
  QUALIFY expiry >= CAST(timezone('Asia/Kolkata',
                                  max(max(exchange_ts)) OVER (PARTITION BY symbol)) AS DATE)
)
SELECT q.*
FROM q SEMI JOIN latest USING (symbol, expiry, exchange_ts)
ORDER BY symbol, expiry, strike, option_type
"""


def _snapshot_totals(keys: str, *, also: str = "") -> str:
    """CTE ``snap``: open interest and volume of each snapshot, split by side, from quote rows.

    Summing per (snapshot, side) first and pivoting the small result is faster than FILTER
    aggregates over every row. ``keys`` are the grouping columns besides the side; sum() of
    BIGINT is HUGEINT in DuckDB, cast back so Arrow gets int64, not decimal128. A null quantity
    counts as 0, a missing side as 0 (``store.files.snapshots_of`` sums the same way). ``also``
    is a ``UNION ALL SELECT`` of more snapshots with the same columns.
    """
    return f"""
sides AS (
  SELECT {keys}, option_type,
         max(underlying_value) AS underlying_value,
         sum(open_interest) AS oi, sum(volume) AS volume
  FROM q
  GROUP BY {keys}, option_type
),
snap AS (
  SELECT {keys},
         max(underlying_value) AS underlying_value,
         coalesce(sum(oi) FILTER (WHERE option_type = 'CE'), 0) AS ce_oi,
         coalesce(sum(oi) FILTER (WHERE option_type = 'PE'), 0) AS pe_oi,
         coalesce(sum(volume) FILTER (WHERE option_type = 'CE'), 0)::BIGINT AS ce_volume,
         coalesce(sum(volume) FILTER (WHERE option_type = 'PE'), 0)::BIGINT AS pe_volume
  FROM sides
  GROUP BY {keys}{also}
)"""


_TOTALS = "underlying_value, ce_oi, pe_oi, ce_volume, pe_volume"


def _stored_totals(keys: str) -> str:
    """CTE ``snap`` as ``_snapshot_totals`` makes it, read from ``loaded_snapshots`` rows in q."""
    return f"""
snap AS (
  SELECT {keys}, {_TOTALS}
  FROM q
)"""


#: A ``loaded_snapshots`` row whose totals are known (the loader writes all four or none).
KNOWN_TOTALS = (
    "ce_oi IS NOT NULL AND pe_oi IS NOT NULL AND ce_volume IS NOT NULL AND pe_volume IS NOT NULL"
)

_PCR_TAIL = """
SELECT symbol, expiry, exchange_ts, underlying_value, 1::BIGINT AS expiries,
       ce_oi, pe_oi, pe_oi / nullif(ce_oi, 0) AS pcr_oi,
       ce_volume, pe_volume, pe_volume / nullif(ce_volume, 0) AS pcr_volume
FROM snap
ORDER BY symbol, expiry, exchange_ts
"""

_SNAPSHOT = "symbol, expiry, exchange_ts"

#: Put-call ratios of each (symbol, expiry) snapshot. NULL when the CE side is zero.
PCR_SQL = _snapshot_totals(_SNAPSHOT) + _PCR_TAIL
#: ``PCR_SQL`` over ``loaded_snapshots`` rows (with known totals) instead of quote rows.
PCR_FROM_TOTALS_SQL = _stored_totals(_SNAPSHOT) + _PCR_TAIL

#: Source of ``PCR_VIEW_FROM_TOTALS_SQL``: the quote rows of the snapshots whose totals are
#: not stored. When every row has its totals DuckDB skips the quotes scan (empty join side).
UNKNOWN_TOTALS_QUOTES = f"""SELECT * FROM option_quotes
SEMI JOIN (SELECT {_SNAPSHOT} FROM loaded_snapshots WHERE NOT ({KNOWN_TOTALS})) AS unknown
  USING ({_SNAPSHOT})"""
#: The ``pcr`` view of a database whose loader stores totals: the stored totals, plus the
#: quote sums of snapshots listed without totals. (Quote rows the loader never listed are not
#: seen: in such a database every quote row comes through the loader.)
PCR_VIEW_FROM_TOTALS_SQL = (
    _snapshot_totals(
        _SNAPSHOT,
        also=f"""
  UNION ALL
  SELECT {_SNAPSHOT}, {_TOTALS} FROM loaded_snapshots WHERE {KNOWN_TOTALS}""",
    )
    + _PCR_TAIL
)

#: The minute of exchange_ts (as date_trunc('minute', ...) in any whole-minute time zone) and
#: a number for its IST day (days since 1970-01-01 in IST), both without time-zone lookups.
_MINUTE = "to_timestamp(epoch_us(exchange_ts) // 60000000 * 60)"
_IST_DAY = "(epoch_us(exchange_ts) + 19800000000) // 86400000000"

#: Put-call ratios of a symbol over all its expiries, one row per minute. Each expiry is
#: fetched on its own schedule (far expiries less often), so a minute counts every expiry at
#: its latest snapshot of that day so far, not only the expiries fetched in that minute.
#: Without a minutes x expiries grid: each snapshot contributes its change since the same
#: expiry's previous snapshot that day (all of itself for the first), and a running sum over
#: the day's minutes adds those up. Two snapshots of one expiry in a minute telescope to the
#: later one. ``q`` must hold the rows of the one symbol bound as ``$symbol``: leaving it out
#: of the big GROUP BY saves a third. Minute and IST day come from integer arithmetic on the
#: epoch (IST is a fixed +05:30, a whole number of minutes), not ICU calendar calls per row.
_PCR_ALL_EXPIRIES_TAIL = f""",
steps AS (
  SELECT CAST($symbol AS VARCHAR) AS symbol, exchange_ts, underlying_value,
         {_MINUTE} AS minute,
         {_IST_DAY} AS day,
         ce_oi - coalesce(lag(ce_oi) OVER w, 0) AS ce_oi,
         pe_oi - coalesce(lag(pe_oi) OVER w, 0) AS pe_oi,
         ce_volume - coalesce(lag(ce_volume) OVER w, 0) AS ce_volume,
         pe_volume - coalesce(lag(pe_volume) OVER w, 0) AS pe_volume,
         CASE WHEN lag(exchange_ts) OVER w IS NULL THEN 1 ELSE 0 END AS expiries
  FROM snap
  WINDOW w AS (PARTITION BY expiry, {_IST_DAY} ORDER BY exchange_ts)
),
by_minute AS (
  SELECT symbol, day, minute, arg_max(underlying_value, exchange_ts) AS underlying_value,
         sum(ce_oi) AS ce_oi, sum(pe_oi) AS pe_oi, sum(ce_volume) AS ce_volume,
         sum(pe_volume) AS pe_volume, sum(expiries) AS expiries
  FROM steps
  GROUP BY symbol, day, minute
),
totals AS (
  SELECT symbol, minute, underlying_value,
         sum(expiries) OVER run AS expiries,
         sum(ce_oi) OVER run AS ce_oi, sum(pe_oi) OVER run AS pe_oi,
         sum(ce_volume) OVER run AS ce_volume, sum(pe_volume) OVER run AS pe_volume
  FROM by_minute
  WINDOW run AS (PARTITION BY symbol, day ORDER BY minute
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT symbol, CAST(NULL AS DATE) AS expiry, minute AS exchange_ts, underlying_value,
       expiries::BIGINT AS expiries,
       ce_oi, pe_oi, pe_oi / nullif(ce_oi, 0) AS pcr_oi,
       ce_volume::BIGINT AS ce_volume, pe_volume::BIGINT AS pe_volume,
       pe_volume / nullif(ce_volume, 0) AS pcr_volume
FROM totals
ORDER BY symbol, minute
"""
PCR_ALL_EXPIRIES_SQL = _snapshot_totals("expiry, exchange_ts") + _PCR_ALL_EXPIRIES_TAIL
#: ``PCR_ALL_EXPIRIES_SQL`` over the ``loaded_snapshots`` rows of ``$symbol``.
PCR_ALL_EXPIRIES_FROM_TOTALS_SQL = _stored_totals("expiry, exchange_ts") + _PCR_ALL_EXPIRIES_TAIL

#: Max pain per snapshot: the settlement strike S that minimises what option writers pay,
#:   pain(S) = sum_i CE_OI_i * max(S - K_i, 0) + sum_i PE_OI_i * max(K_i - S, 0).
#: With strikes sorted, both sums are prefix sums (one ascending window for calls, one
#: descending for puts): pain(S_j) = S_j*C<=j - (CK)<=j + (PK)>=j - S_j*P>=j, O(n log n).
#: Ties go to the lower strike.
MAX_PAIN_SQL = """
strikes AS (      -- one row per strike, OI of both sides (a missing leg counts as 0)
  SELECT symbol, expiry, exchange_ts, strike,
         coalesce(sum(open_interest) FILTER (WHERE option_type = 'CE'), 0) AS ce_oi,
         coalesce(sum(open_interest) FILTER (WHERE option_type = 'PE'), 0) AS pe_oi
  FROM q
  GROUP BY symbol, expiry, exchange_ts, strike
),
running AS (
  SELECT *,
         sum(ce_oi) OVER up AS ce_oi_le, sum(ce_oi * strike) OVER up AS ce_oik_le,
         sum(pe_oi) OVER down AS pe_oi_ge, sum(pe_oi * strike) OVER down AS pe_oik_ge
  FROM strikes
  WINDOW up AS (PARTITION BY symbol, expiry, exchange_ts ORDER BY strike
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
         down AS (PARTITION BY symbol, expiry, exchange_ts ORDER BY strike DESC
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
pain AS (
  SELECT symbol, expiry, exchange_ts, strike,
         strike * ce_oi_le - ce_oik_le AS call_pain,   -- paid to CE buyers if it settles here
         pe_oik_ge - strike * pe_oi_ge AS put_pain     -- paid to PE buyers if it settles here
  FROM running
)
SELECT symbol, expiry, exchange_ts,
       arg_min(strike, (call_pain + put_pain, strike)) AS max_pain,
       min(call_pain + put_pain) AS total_pain,
       count(*) AS strikes
FROM pain
GROUP BY symbol, expiry, exchange_ts
ORDER BY symbol, expiry, exchange_ts
"""

#: OI build-up: each contract against its previous snapshot in ``q``. The Python API feeds
#: ``q`` exactly two snapshots (latest and the one a window earlier); the view feeds it all.
BUILDUP_SQL = """
paired AS (
  SELECT symbol, expiry, strike, option_type, exchange_ts, last_price, open_interest,
         lag(exchange_ts) OVER w AS prev_ts,
         last_price - lag(last_price) OVER w AS price_change,
         open_interest - lag(open_interest) OVER w AS oi_change
  FROM q
  WINDOW w AS (PARTITION BY symbol, expiry, strike, option_type ORDER BY exchange_ts)
)
SELECT symbol, expiry, strike, option_type, prev_ts, exchange_ts,
       last_price, price_change, open_interest, oi_change,
       CASE
         WHEN oi_change > 0 AND price_change > 0 THEN 'long_buildup'
         WHEN oi_change > 0 AND price_change < 0 THEN 'short_buildup'
         WHEN oi_change < 0 AND price_change > 0 THEN 'short_covering'
         WHEN oi_change < 0 AND price_change < 0 THEN 'long_unwinding'
         ELSE 'neutral'                 -- price or OI unchanged (or unknown)
       END AS buildup
FROM paired
WHERE prev_ts IS NOT NULL
ORDER BY symbol, expiry, exchange_ts, strike, option_type
"""
