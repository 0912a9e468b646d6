"""The durability checks of DESIGN.md §6, run over a data dir and its DuckDB file after chaos.

Where it sits: the crash loop (``chaos.crashloop``) and the tests call ``check_store`` once
the collector has stopped for good; ``temp_files`` is also used between kills. Read-only: the
database is opened ``read_only`` and no file is moved.

What is checked:

* corrupt: every ``tick_*.parquet`` under a final name (pending or processed) reads fully and
  its footer matches its data; a tick file that ended in quarantine counts as corrupt too (the
  loader only quarantines what it could not read);
* temp files: none left anywhere under the data dir;
* duplicates: no two rows of ``option_quotes`` share (symbol, expiry, strike, option_type,
  exchange_ts);
* lost: every quote key and every snapshot in every written tick file is in DuckDB, every
  processed file is in the manifest, and the fetch log rows of all files are all loaded;
* summaries: ``snapshot_atm`` (when the database has it) holds exactly one row for each
  snapshot of ``loaded_snapshots``, none for any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from nsechain.store.files import read_tick_info
from nsechain.store.paths import TEMP_PREFIX, is_tick_file, list_tick_files
from nsechain.store.summaries import SNAPSHOT_ATM

__all__ = ["StoreReport", "check_store", "temp_files"]

_KEY = "symbol, expiry, strike, option_type, exchange_ts"


@dataclass
class StoreReport:
    """What ``check_store`` found. ``ok`` is True when no promise was broken."""

    pending_files: int = 0
    processed_files: int = 0
    file_rows: int = 0  # quote rows in all tick files under a final name
    db_rows: int = 0
    db_fetch_rows: int = 0
    file_fetch_rows: int = 0
    manifest_files: int = 0
    duplicates: int = 0  # duplicated keys in option_quotes
    corrupt: list[str] = field(default_factory=list)
    temp_left: list[str] = field(default_factory=list)
    missing_keys: int = 0  # quote keys in files but not in DuckDB
    missing_snapshots: int = 0
    manifest_missing: list[str] = field(default_factory=list)  # processed, not in loaded_files
    atm_mismatch: int = 0  # snapshots without exactly one snapshot_atm row, or extra rows

    @property
    def ok(self) -> bool:
        return not (
            self.duplicates
            or self.corrupt
            or self.temp_left
            or self.missing_keys
            or self.missing_snapshots
            or self.manifest_missing
            or self.atm_mismatch
            or self.db_fetch_rows != self.file_fetch_rows
        )

    def problems(self) -> list[str]:
        out = []
        if self.duplicates:
            out.append(f"{self.duplicates} duplicated quote keys in option_quotes")
        if self.corrupt:
            out.append(f"corrupt files under a final name: {', '.join(self.corrupt[:5])}")
        if self.temp_left:
            out.append(f"temp files left: {', '.join(self.temp_left[:5])}")
        if self.missing_keys or self.missing_snapshots:
            out.append(
                f"written but not in DuckDB: {self.missing_keys} quote keys, "
                f"{self.missing_snapshots} snapshots"
            )
        if self.manifest_missing:
            out.append(f"processed but not in loaded_files: {', '.join(self.manifest_missing[:5])}")
        if self.atm_mismatch:
            out.append(f"{self.atm_mismatch} snapshots without exactly one snapshot_atm row")
        if self.db_fetch_rows != self.file_fetch_rows:
            out.append(
                f"fetch_log has {self.db_fetch_rows} rows, the files hold {self.file_fetch_rows}"
            )
        return out


def temp_files(data_dir: Path) -> list[Path]:
    """Every temp file (``.tmp-*``) anywhere under ``data_dir``."""
    if not data_dir.is_dir():
        return []
    return sorted(p for p in data_dir.rglob(f"{TEMP_PREFIX}*") if p.is_file())


def _readable(path: Path) -> str | None:
    """None if the tick file reads fully and agrees with its footer, else why not."""
    try:
        info = read_tick_info(path)
        rows = pq.read_table(path).num_rows
    except Exception as exc:  # any failure to read is the finding
        return f"{path.name}: {type(exc).__name__}: {exc}"
    if rows != info.quote_rows:
        return f"{path.name}: footer says {info.quote_rows} rows, data has {rows}"
    return None


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_store(data_dir: Path, db_path: Path) -> StoreReport:
    """Run every check over ``data_dir`` (the collector's) and ``db_path``."""
    pending = list_tick_files(data_dir / "options_parquet")
    processed = list_tick_files(data_dir / "options_processed")
    report = StoreReport(pending_files=len(pending), processed_files=len(processed))
    report.temp_left = [str(p.relative_to(data_dir)) for p in temp_files(data_dir)]
    quarantine = data_dir / "quarantine"
    if quarantine.is_dir():
        report.corrupt += [
            f"{p.name}: quarantined by the loader" for p in quarantine.rglob("*") if is_tick_file(p)
        ]
    readable: list[Path] = []
    for path in [*pending, *processed]:
        problem = _readable(path)
        if problem is None:
            readable.append(path)
        else:
            report.corrupt.append(problem)
    for path in readable:
        info = read_tick_info(path)
        report.file_rows += info.quote_rows
        report.file_fetch_rows += info.fetch_log.num_rows
    if not db_path.exists():
        report.missing_keys = report.file_rows
        return report
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        _check_db(con, report, readable, processed)
    finally:
        con.close()
    return report


def _check_db(
    con: duckdb.DuckDBPyConnection,
    report: StoreReport,
    readable: list[Path],
    processed: list[Path],
) -> None:
    report.db_rows = _one(con, "SELECT count(*) FROM option_quotes")
    report.db_fetch_rows = _one(con, "SELECT count(*) FROM fetch_log")
    report.manifest_files = _one(con, "SELECT count(*) FROM loaded_files")
    report.duplicates = _one(
        con,
        f"SELECT count(*) FROM (SELECT 1 FROM option_quotes GROUP BY {_KEY} HAVING count(*) > 1)",
    )
    report.atm_mismatch = _atm_mismatch(con)
    loaded = {str(r[0]) for r in con.execute("SELECT file_name FROM loaded_files").fetchall()}
    report.manifest_missing = [p.name for p in processed if p.name not in loaded]
    if not readable:
        return
    files = [str(p) for p in readable]
    report.missing_keys = _one(
        con,
        f"SELECT count(*) FROM (SELECT {_KEY} FROM read_parquet($files) "
        f"EXCEPT SELECT {_KEY} FROM option_quotes)",
        {"files": files},
    )
    report.missing_snapshots = _one(
        con,
        "SELECT count(*) FROM (SELECT DISTINCT symbol, expiry, exchange_ts FROM "
        "read_parquet($files) EXCEPT SELECT DISTINCT symbol, expiry, exchange_ts "
        "FROM option_quotes)",
        {"files": files},
    )


def _atm_mismatch(con: duckdb.DuckDBPyConnection) -> int:
    """Snapshot keys that ``loaded_snapshots`` and ``snapshot_atm`` do not hold once each."""
    if not _one(con, f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{SNAPSHOT_ATM}'"):
        return 0
    key = "symbol, expiry, exchange_ts"
    return _one(
        con,
        f"""SELECT count(*) FROM (
          (SELECT DISTINCT {key} FROM loaded_snapshots EXCEPT SELECT {key} FROM {SNAPSHOT_ATM})
          UNION ALL
          (SELECT {key} FROM {SNAPSHOT_ATM} EXCEPT SELECT {key} FROM loaded_snapshots)
          UNION ALL
          (SELECT {key} FROM {SNAPSHOT_ATM} GROUP BY ALL HAVING count(*) > 1))""",
    )
