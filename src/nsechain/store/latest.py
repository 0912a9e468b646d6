"""``latest_snapshots``: what "latest" questions need, kept small, so their cost stays flat.

Where it sits: in ``store/``, beside the loader's SQL (``store.db``). One row per (symbol,
expiry) ever loaded: its latest snapshot with quote rows (``exchange_ts``), how many
snapshots it has, and how many quote rows. A year of the full universe is a few thousand rows,
against billions of quote rows and ~60M ``loaded_snapshots`` rows, so the desk finds "the
latest NIFTY chain" and ``nsechain status`` counts rows per symbol without touching history.

It is exact: the loader updates it in the batch's own transaction (``add_batch``, from the same
``_snaps`` list that decides what is inserted), the reprocess of a day recomputes the pairs it
replaced (``refresh``), and ``ensure_latest`` builds it (from ``loaded_snapshots`` when that
lists every quote row, else from ``option_quotes``) the first time a database is opened by a
version that has it. ``recompute_sql`` is the definition the tests
compare it with.
"""

from __future__ import annotations

import duckdb

__all__ = [
    "LATEST",
    "add_batch",
    "ensure_latest",
    "has_latest",
    "recompute_sql",
    "refresh",
    "symbol_rows",
    "symbol_rows_sql",
]

Connection = duckdb.DuckDBPyConnection

LATEST = "latest_snapshots"

_DDL = f"""CREATE TABLE {LATEST} (
    symbol VARCHAR NOT NULL,
    expiry DATE NOT NULL,
    exchange_ts TIMESTAMPTZ NOT NULL,
    snapshots BIGINT NOT NULL,
    quote_rows BIGINT NOT NULL,
    PRIMARY KEY (symbol, expiry)
)"""

_COLUMNS = "symbol, expiry, exchange_ts, snapshots, quote_rows"


def recompute_sql(where: str = "") -> str:
    """The table's definition over ``option_quotes`` (optionally narrowed by ``where``)."""
    return f"""
SELECT symbol, expiry, max(exchange_ts) AS exchange_ts,
       count(DISTINCT exchange_ts) AS snapshots, count(*) AS quote_rows
FROM option_quotes {where}
GROUP BY symbol, expiry"""


def has_latest(con: Connection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'"
        " AND database_name = current_database()",
        [LATEST],
    ).fetchall()  # fetch all: this DuckDB keeps a half-read result open
    return bool(rows[0][0])


#: The same from ``loaded_snapshots`` (one row per loaded snapshot, ~100x fewer rows).
_FROM_INDEX = """
SELECT symbol, expiry, max(exchange_ts) AS exchange_ts,
       count(*) AS snapshots, sum(rows) AS quote_rows
FROM loaded_snapshots WHERE rows > 0
GROUP BY symbol, expiry"""

# Whether loaded_snapshots lists every quote row (count(*) of a whole table is metadata).
_INDEX_COVERS = """
SELECT (SELECT count(*) FROM option_quotes)
     = (SELECT coalesce(sum(rows), 0) FROM loaded_snapshots WHERE rows > 0)"""


def ensure_latest(con: Connection) -> int:
    """Create the table if missing and fill it, once: from ``loaded_snapshots`` when its
    row counts add up to ``option_quotes`` (every row came through the loader), else from
    ``option_quotes`` itself (one aggregate over the history).

    Must run inside the caller's transaction (``upgrade_tables``). Returns the pairs filled.
    """
    if has_latest(con):
        return 0
    con.execute(_DDL)
    covered = bool(con.execute(_INDEX_COVERS).fetchall()[0][0])
    source = _FROM_INDEX if covered else recompute_sql()
    rows = con.execute(f"INSERT INTO {LATEST} ({_COLUMNS}) {source}").fetchall()
    return int(rows[0][0])


# The batch's new snapshots with quote rows, per (symbol, expiry), folded into the table. The
# exactly-once check already dropped the duplicates (``dup``), so adding the counts is exact.
_ADD = f"""
INSERT INTO {LATEST} ({_COLUMNS})
SELECT symbol, expiry, max(exchange_ts), count(*), sum(rows)
FROM _snaps WHERE NOT dup AND rows > 0
GROUP BY symbol, expiry
ON CONFLICT (symbol, expiry) DO UPDATE SET
    exchange_ts = greatest({LATEST}.exchange_ts, excluded.exchange_ts),
    snapshots = {LATEST}.snapshots + excluded.snapshots,
    quote_rows = {LATEST}.quote_rows + excluded.quote_rows
"""


def add_batch(con: Connection) -> None:
    """Fold the batch in temp table ``_snaps`` (see ``store.db``) into the table."""
    con.execute(_ADD)


def refresh(con: Connection, pairs: str) -> None:
    """Recompute the rows of the (symbol, expiry) pairs that ``pairs`` (a relation name with
    those two columns) lists, from ``option_quotes``: for rewrites that delete quote rows."""
    con.execute(
        f"DELETE FROM {LATEST} l USING (SELECT DISTINCT symbol, expiry FROM {pairs}) p"
        " WHERE l.symbol = p.symbol AND l.expiry = p.expiry"
    )
    semi = f"SEMI JOIN (SELECT DISTINCT symbol, expiry FROM {pairs}) p USING (symbol, expiry)"
    con.execute(f"INSERT INTO {LATEST} ({_COLUMNS}) {recompute_sql(semi)}")


def symbol_rows_sql(con: Connection) -> str:
    """The query of ``symbol_rows``: the small table when it exists; a database no loader of
    this version has opened yet falls back to counting ``option_quotes`` (history-sized)."""
    if has_latest(con):
        sql = f"SELECT symbol, sum(quote_rows), max(exchange_ts)::VARCHAR FROM {LATEST}"
    else:
        sql = "SELECT symbol, count(*), max(exchange_ts)::VARCHAR FROM option_quotes"
    return sql + " GROUP BY symbol"


def symbol_rows(con: Connection) -> list[tuple[str, int, str | None]]:
    """(symbol, quote rows, latest exchange_ts as text) per symbol: what ``status`` shows."""
    rows = con.execute(symbol_rows_sql(con)).fetchall()
    return [(str(s), int(n), ts) for s, n, ts in rows]
