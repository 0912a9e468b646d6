"""The analysis desk over the lake: days the local DuckDB no longer holds come from Iceberg,
with the same answers (IST times, same rows, same order) as a DuckDB that still holds them.

Real servers as in test_lake.py (its fixtures): a private PostgreSQL catalog, a local
warehouse. Two days of the real NIFTY capture are loaded by the real loader and committed by
the real lake writer; then the first day is removed from one copy of the database.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lakeservers import S3
from nsechain.collector.batch import make_loader
from nsechain.config import Settings
from nsechain.query import Desk, connect
from nsechain.timeutil import IST
from test_lake import DAY, NOW, _commit, catalog_url, lake_settings, make_ticks, postgres, s3

__all__ = ["catalog_url", "postgres", "s3"]  # the fixtures, imported for pytest

#: The capture's expiry is DAY's own date: the earlier day is the day before, so both days
#: have a live expiry to show.
DAY1, DAY2 = DAY.date() - timedelta(days=1), DAY.date()


def two_days(tmp: Path, url: str, **kw: Any) -> Settings:
    """Two days loaded into DuckDB (through the real loader) and committed to the lake."""
    settings = lake_settings(tmp, url, **kw)
    make_ticks(settings.pending_dir, 4, DAY - timedelta(days=1))
    make_ticks(settings.pending_dir, 3, DAY)
    loaded = make_loader(settings).load_pending()
    assert loaded.files == 7
    _commit(settings, NOW)
    return settings


def drop_days_before(db: Path, day: date) -> None:
    cut = datetime.combine(day, datetime.min.time(), IST)
    with duckdb.connect(str(db)) as con:
        for table, column in (
            ("option_quotes", "exchange_ts"),
            ("loaded_snapshots", "exchange_ts"),
            ("fetch_log", "fetched_at"),
        ):
            con.execute(f"DELETE FROM {table} WHERE {column} < $cut", {"cut": cut})


def same_answers(full: Desk, lake: Desk) -> None:
    at1 = datetime(2026, 8, 10, 9, 17, tzinfo=IST)
    expiry = full.snapshot("NIFTY", at=at1).expiry
    strike = full.chain("NIFTY", at=at1).column("strike")[10].as_py()
    asks = [
        lambda d: d.pcr("NIFTY"),
        lambda d: d.pcr("NIFTY", start=DAY1, end=DAY1),
        lambda d: d.pcr("NIFTY", expiry, start=DAY1),
        lambda d: d.chain("NIFTY", at=at1),
        lambda d: d.chain("NIFTY"),
        lambda d: d.quotes("NIFTY", expiry, at=at1),
        lambda d: d.max_pain("NIFTY", at=at1),
        lambda d: d.max_pain_series("NIFTY", expiry),
        lambda d: d.history("NIFTY", expiry, strike, "CE"),
        lambda d: d.oi_buildup("NIFTY", window=1, at=at1),
        # max_gap_after/expiry: arg_max over equal gaps (every tick 60 s apart) picks any.
        lambda d: d.fetch_quality().drop_columns(["max_gap_after", "max_gap_expiry"]),
        lambda d: d.sql("SELECT count(*) AS n, min(exchange_ts) AS t FROM option_quotes"),
    ]
    for n, ask in enumerate(asks):
        want, got = ask(full), ask(lake)
        assert want.num_rows > 0, n
        assert got.schema == want.schema, n
        assert got.equals(want), n
    ts = lake.pcr("NIFTY").column("exchange_ts")
    assert str(ts.type) == "timestamp[us, tz=Asia/Kolkata]"
    assert ts[0].as_py().date() == DAY1


def test_the_desk_reads_days_gone_from_duckdb_out_of_the_lake(
    tmp_path: Path, catalog_url: str
) -> None:
    from nsechain.lake.compact import compact_days

    settings = two_days(tmp_path, catalog_url)
    full_db = tmp_path / "full.duckdb"
    shutil.copy(settings.db_path, full_db)
    drop_days_before(settings.db_path, DAY2)

    with connect(settings.db_path) as local_only:
        assert local_only.pcr("NIFTY", start=DAY1, end=DAY1).num_rows == 0
    with connect(full_db, hold=True) as full, connect(settings.db_path, lake=settings) as lake:
        same_answers(full, lake)
        # After compaction the day is one sorted file written by pyiceberg: same answers.
        assert any("option_quotes 2026-08-10" in line for line in compact_days(settings, DAY2))
        same_answers(full, lake)


def test_the_lake_adds_no_day_the_local_file_holds(tmp_path: Path, catalog_url: str) -> None:
    """A day in both places is read from DuckDB only: never twice."""
    settings = two_days(tmp_path, catalog_url)
    with connect(settings.db_path) as plain, connect(settings.db_path, lake=settings) as lake:
        assert lake.sql("SELECT count(*) AS n FROM option_quotes").equals(
            plain.sql("SELECT count(*) AS n FROM option_quotes")
        )
        assert lake.pcr("NIFTY").equals(plain.pcr("NIFTY"))


def cli_pcr_shows_both_days(settings: Settings, **env: str) -> None:
    """`nsechain pcr NIFTY` with the lake from the environment's settings alone."""
    from typer.testing import CliRunner

    from nsechain.cli.main import app

    env = {
        "NSECHAIN_DATA_DIR": str(settings.data_dir),
        "NSECHAIN_LAKE_CATALOG_URL": str(settings.lake_catalog_url),
        "NSECHAIN_LAKE_WAREHOUSE": str(settings.lake_warehouse),
        **env,
    }
    args = ["pcr", "NIFTY", "--db", str(settings.db_path), "--last", "20"]
    out = CliRunner().invoke(app, args, env=env)
    assert out.exit_code == 0, out.output
    assert "2026-08-10" in out.output
    assert "2026-08-11" in out.output


def test_the_cli_shows_a_day_from_the_lake(tmp_path: Path, catalog_url: str) -> None:
    settings = two_days(tmp_path, catalog_url)
    drop_days_before(settings.db_path, DAY2)
    cli_pcr_shows_both_days(settings)


@pytest.mark.parametrize("kind", ["option_quotes", "fetch_log"])
def test_an_empty_lake_changes_nothing(tmp_path: Path, catalog_url: str, kind: str) -> None:
    settings = lake_settings(tmp_path, catalog_url)
    make_ticks(settings.pending_dir, 2, DAY)
    make_loader(settings).load_pending()
    with connect(settings.db_path) as plain, connect(settings.db_path, lake=settings) as lake:
        query = f"SELECT count(*) AS n FROM {kind}"
        assert lake.sql(query).equals(plain.sql(query))


# --- local_retention_days ------------------------------------------------------------------------


def local_days(db: Path) -> list[date]:
    with duckdb.connect(str(db), read_only=True) as con:
        sql = "SELECT DISTINCT CAST(timezone('UTC', exchange_ts) AS DATE) FROM option_quotes"
        return sorted(r[0] for r in con.execute(sql).fetchall())


def test_retention_deletes_old_days_once_in_the_lake_and_the_desk_still_answers(
    tmp_path: Path, catalog_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from nsechain.lake.retention import retain_once

    settings = two_days(tmp_path, catalog_url, local_retention_days=1)
    full_db = tmp_path / "full.duckdb"
    shutil.copy(settings.db_path, full_db)
    with caplog.at_level("INFO", logger="nsechain.lake.retention"):
        report = retain_once(settings, DAY2)
    assert (report.cutoff, report.days, report.held) == (DAY2, 1, "")
    assert report.rows is not None and report.rows["option_quotes"] > 0
    assert report.rows["fetch_log"] == 4
    assert local_days(settings.db_path) == [DAY2]
    line = next(r.getMessage() for r in caplog.records if "local_retention" in r.getMessage())
    assert f"option_quotes={report.rows['option_quotes']}" in line and "days=1" in line
    with connect(full_db, hold=True) as full, connect(settings.db_path, lake=settings) as lake:
        same_answers(full, lake)
    assert retain_once(settings, DAY2).days == 0  # nothing left to do: no change


def test_the_desk_reads_a_retained_day_from_an_s3_lake(
    tmp_path: Path, catalog_url: str, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warehouse on S3 (moto's server on loopback): retention empties DuckDB of a day, and
    `pcr`, the chain and the rest come from the S3 lake, identical to a DuckDB that kept it."""
    import random

    from nsechain.lake.compact import compact_days
    from nsechain.lake.reader import LakeReader, Scope
    from nsechain.lake.retention import retain_once

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    bucket = f"desk-{random.randrange(1 << 30)}"
    s3.create_bucket(bucket)
    settings = two_days(
        tmp_path,
        catalog_url,
        warehouse=f"s3://{bucket}/wh",
        lake_s3_endpoint=s3.endpoint,
        local_retention_days=1,
    )
    full_db = tmp_path / "full.duckdb"
    shutil.copy(settings.db_path, full_db)
    assert retain_once(settings, DAY2).days == 1
    assert local_days(settings.db_path) == [DAY2]

    reader = LakeReader(settings)
    try:
        planned = reader.plan("option_quotes", Scope(), {DAY2})
    finally:
        reader.close()
    assert len(planned) == 4 and all(p.startswith(f"s3://{bucket}/wh/") for p in planned)
    with connect(full_db, hold=True) as full, connect(settings.db_path, lake=settings) as lake:
        same_answers(full, lake)
        # Compaction on S3: DuckDB sorts through an Arrow dataset on the lake's S3 filesystem.
        lines = list(compact_days(settings, DAY2))
        assert "compacted option_quotes 2026-08-10: files=4->1" in lines[0]
        same_answers(full, lake)

    cli_pcr_shows_both_days(settings, NSECHAIN_LAKE_S3_ENDPOINT=s3.endpoint)


def test_retention_never_deletes_a_day_not_in_the_lake(tmp_path: Path, catalog_url: str) -> None:
    from nsechain.lake.retention import retain, retain_once

    settings = two_days(tmp_path, catalog_url, local_retention_days=1)
    later = DAY2 + timedelta(days=1)
    # A new day loaded into DuckDB but not committed: its first tick may hold DAY2's close,
    # so DAY2 stays, and only DAY1 (whose next folder is committed) may go.
    make_ticks(settings.pending_dir, 2, DAY + timedelta(days=1))
    assert make_loader(settings).load_pending().files == 2
    report = retain_once(settings, later)
    assert report.cutoff == DAY2 and report.days == 1
    assert "not in the lake yet" in report.held
    assert local_days(settings.db_path) == [DAY2, later]

    # A journal that says "done" is not enough: the lake must hold the rows (here: a lake
    # that holds nothing, as when the catalog was switched).
    _commit(settings, NOW)
    empty = retain(settings, later + timedelta(days=1), {})
    assert empty.days == 0 and "fewer option_quotes rows" in empty.held
    assert local_days(settings.db_path) == [DAY2, later]

    assert retain_once(settings, later + timedelta(days=1)).days == 2
    assert local_days(settings.db_path) == []


def test_retention_is_off_by_default(tmp_path: Path, catalog_url: str) -> None:
    from nsechain.lake.retention import retain_once

    settings = two_days(tmp_path, catalog_url)
    assert retain_once(settings, DAY2 + timedelta(days=30)).cutoff is None
    assert local_days(settings.db_path) == [DAY1, DAY2]


def test_lake_retain_command(tmp_path: Path, catalog_url: str) -> None:
    from typer.testing import CliRunner

    from nsechain.cli.main import app

    settings = two_days(tmp_path, catalog_url)
    base = ["lake", "retain", "--catalog", catalog_url, "--warehouse", str(settings.lake_warehouse)]
    base += ["--data-dir", str(settings.data_dir)]
    refused = CliRunner().invoke(app, base)
    assert refused.exit_code == 1 and "local_retention_days" in refused.output
    # The settings' clock stands the day after both days: everything committed goes.
    env = {"NSECHAIN_CLOCK_START": "2026-08-12T10:00:00+05:30", "NSECHAIN_CLOCK_SPEED": "0"}
    done = CliRunner().invoke(app, [*base, "--days", "1"], env=env)
    assert done.exit_code == 0, done.output
    assert "days=2" in done.output and "option_quotes=" in done.output
    assert local_days(settings.db_path) == []


def test_an_unreachable_lake_leaves_the_local_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lakeservers import free_port
    from nsechain.config import load_settings

    settings = load_settings(
        data_dir=tmp_path / "data",
        lake_catalog_url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/lake",
        lake_warehouse=str(tmp_path / "warehouse"),
    )
    make_ticks(settings.pending_dir, 2, DAY)
    make_loader(settings).load_pending()
    with caplog.at_level("WARNING"), connect(settings.db_path, lake=settings) as desk:
        assert desk.pcr("NIFTY").num_rows == 2
    assert any("lake unavailable" in r.getMessage() for r in caplog.records)
