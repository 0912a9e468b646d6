"""The Iceberg lake against real servers: PostgreSQL (Debian's package, a private cluster) as
the SQL catalog, a local folder or moto's S3 server as the warehouse.

Tick files are the real NIFTY v3 capture, parsed and written by the real tick writer with their
snapshot times shifted, so every file holds distinct snapshots. Counts are exact: rows in the
lake equal rows in the tick files, each file committed once, across crashes and races.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import fixture_bytes
from lakeservers import S3, Postgres, missing, moto_s3, postgres_cluster
from nsechain.config import Settings, load_settings
from nsechain.contract import FETCH_LOG_SCHEMA
from nsechain.errors import ConfigError
from nsechain.nse.parse import parse_chain
from nsechain.store.files import write_tick
from nsechain.timeutil import IST

NOW = datetime(2026, 8, 12, 18, 0, tzinfo=IST)
DAY = datetime(2026, 8, 11, 9, 15, tzinfo=IST)


def _need_extra() -> None:
    try:
        import pyiceberg  # noqa: F401
        import pyiceberg_core  # noqa: F401
    except ImportError:
        missing("the lake extra (pyiceberg, pyiceberg-core) is not installed")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    _need_extra()
    with postgres_cluster() as pg:
        yield pg


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    _need_extra()
    with moto_s3() as server:
        yield server


@pytest.fixture
def catalog_url(postgres: Postgres, request: pytest.FixtureRequest) -> str:
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return postgres.create_database(f"{name}_{random.randrange(1 << 30)}")


_CHAIN: list[pa.Table] = []


def chain() -> pa.Table:
    if not _CHAIN:
        body = fixture_bytes("v3_indices_NIFTY_2026-08-11_112903.json")
        _CHAIN.append(parse_chain(body, symbol="NIFTY", fetched_at=DAY).table)
    return _CHAIN[0]


def make_ticks(processed: Path, n: int, start: datetime = DAY, symbol: str = "NIFTY") -> int:
    """``n`` tick files one minute apart in ``processed``; their total quote rows."""
    base, rows = chain(), 0
    if symbol != "NIFTY":
        at = base.schema.get_field_index("symbol")
        base = base.set_column(at, base.schema.field(at), pa.array([symbol] * base.num_rows))
    for i in range(n):
        at = start + timedelta(minutes=i)
        quotes = base.set_column(
            0, base.schema.field(0), pa.array([at] * base.num_rows, base.schema.field(0).type)
        )
        log = pa.Table.from_pylist(
            [{"fetched_at": at, "symbol": symbol, "endpoint": "option-chain-v3", "outcome": "ok"}],
            schema=FETCH_LOG_SCHEMA,
        )
        write_tick(processed, at, quotes, log)
        rows += quotes.num_rows
    return rows


def _commit(settings: Settings, now: datetime, **kw: Any) -> Any:
    from nsechain.lake.writer import LakeWriter

    with LakeWriter(settings) as writer:
        return writer.commit_pending(now, **kw)


def lake_settings(tmp: Path, url: str, warehouse: str | None = None, **kw: Any) -> Settings:
    return load_settings(
        data_dir=tmp / "data",
        lake_catalog_url=url,
        lake_warehouse=warehouse or str(tmp / "warehouse"),
        **kw,
    )


def counts(settings: Settings) -> dict[str, Any]:
    from nsechain.lake.tables import open_catalog, open_table

    out: dict[str, Any] = {}
    with open_catalog(settings) as catalog:
        for kind in ("option_quotes", "fetch_log"):
            out[kind] = _counts(open_table(catalog, settings.lake_namespace, kind))
    return out


def _counts(table: Any) -> dict[str, int]:
    from nsechain.lake.tables import BATCH_KEY

    files = table.inspect.files()
    paths_ = files.column("file_path").to_pylist()
    ids = [s.summary.get(BATCH_KEY) for s in table.metadata.snapshots if s.summary]
    ids = [i for i in ids if i]
    return {
        "rows": table.scan().to_arrow().num_rows,
        "files": len(paths_),
        "distinct_files": len(set(paths_)),
        "batches": len(ids),
        "distinct_batches": len(set(ids)),
    }


# --- no server needed ------------------------------------------------------------------------


def test_lake_settings_are_named_when_missing(tmp_path: Path) -> None:
    _need_extra()
    from nsechain.lake.tables import open_catalog

    with pytest.raises(ConfigError, match="lake_catalog_url"):
        open_catalog(load_settings(data_dir=tmp_path))
    with pytest.raises(ConfigError, match="lake_warehouse"):
        open_catalog(load_settings(data_dir=tmp_path, lake_catalog_url="sqlite://"))


def test_retry_loop_outlasts_conflicts_then_gives_up_at_its_deadline() -> None:
    _need_extra()
    from pyiceberg.exceptions import CommitFailedException

    from nsechain.lake.tables import LakeError, commit_with_retry

    clock = [0.0]
    tries = [0]

    def flaky() -> str:
        tries[0] += 1
        if tries[0] < 12:  # three times pyiceberg's own four retries
            raise CommitFailedException("concurrent update")
        return "done"

    def sleep(s: float) -> None:
        clock[0] += s

    assert commit_with_retry(flaky, 600, "t", sleep=sleep, monotonic=lambda: clock[0]) == "done"
    assert tries[0] == 12

    def always() -> None:
        clock[0] += 1
        raise CommitFailedException("concurrent update")

    with pytest.raises(LakeError, match="still conflicting"):
        commit_with_retry(always, 30, "t", sleep=sleep, monotonic=lambda: clock[0])
    with pytest.raises(ZeroDivisionError):  # anything else is not retried
        commit_with_retry(lambda: 1 / 0, 30, "t", sleep=sleep, monotonic=lambda: clock[0])


# --- PostgreSQL catalog ------------------------------------------------------------------------


def test_commit_is_exactly_once_and_idempotent(tmp_path: Path, catalog_url: str) -> None:

    settings = lake_settings(tmp_path, catalog_url, lake_batch_files=4)
    rows = make_ticks(settings.processed_dir, 10)
    report = _commit(settings, NOW)
    assert (report.batches, report.files, report.rows["option_quotes"]) == (3, 10, rows)
    assert report.rows["fetch_log"] == 10
    again = _commit(settings, NOW)
    assert (again.batches, again.files) == (0, 0)
    got = counts(settings)
    assert got["option_quotes"] == {
        "rows": rows,
        "files": 10,
        "distinct_files": 10,
        "batches": 3,
        "distinct_batches": 3,
    }
    assert got["fetch_log"]["rows"] == 10
    rows += make_ticks(settings.processed_dir, 3, DAY + timedelta(hours=2))  # new files only
    assert _commit(settings, NOW).files == 3
    assert counts(settings)["option_quotes"]["rows"] == rows


def test_a_file_the_lake_holds_is_never_appended_again(tmp_path: Path, catalog_url: str) -> None:
    """The writer's own guard (pyiceberg's ``add_files`` check, limited to the files' days)."""
    from nsechain.lake.tables import LakeError, open_catalog, open_table
    from nsechain.lake.writer import _described

    settings = lake_settings(tmp_path, catalog_url)
    make_ticks(settings.processed_dir, 2)
    _commit(settings, NOW)
    with open_catalog(settings) as catalog:
        table = open_table(catalog, "nsechain", "option_quotes")
        held = table.inspect.files().column("file_path").to_pylist()
        with pytest.raises(LakeError, match="already committed"):
            _described(table, held[:1], "exchange_ts")


def test_a_crash_after_the_commit_does_not_commit_twice(tmp_path: Path, catalog_url: str) -> None:

    settings = lake_settings(tmp_path, catalog_url)
    rows = make_ticks(settings.processed_dir, 5)

    def die(_batch: object) -> None:
        raise KeyboardInterrupt("killed between the lake commit and the journal")

    with pytest.raises(KeyboardInterrupt):
        _commit(settings, NOW, on_batch=die)
    assert len(list((settings.data_dir / "lake" / "open").glob("*.json"))) == 1
    report = _commit(settings, NOW)
    assert (report.resumed, report.already, report.batches) == (1, 2, 1)
    assert report.rows["option_quotes"] == 0  # found committed, not committed again
    got = counts(settings)["option_quotes"]
    assert (got["rows"], got["files"], got["batches"]) == (rows, 5, 1)


def test_a_tick_file_spanning_two_days_is_split_by_day(tmp_path: Path, catalog_url: str) -> None:

    settings = lake_settings(tmp_path, catalog_url)
    base = chain()
    half = base.num_rows // 2
    stamps = [DAY - timedelta(days=1)] * half + [DAY] * (base.num_rows - half)
    quotes = base.set_column(0, base.schema.field(0), pa.array(stamps, base.schema.field(0).type))
    write_tick(settings.processed_dir, DAY, quotes, FETCH_LOG_SCHEMA.empty_table())
    _commit(settings, NOW)
    got = counts(settings)["option_quotes"]
    assert (got["rows"], got["files"]) == (base.num_rows, 2)


def test_s3_warehouse_on_moto(
    tmp_path: Path, catalog_url: str, s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    bucket = f"lake-{random.randrange(1 << 30)}"
    s3.create_bucket(bucket)
    settings = lake_settings(
        tmp_path, catalog_url, f"s3://{bucket}/wh", lake_s3_endpoint=s3.endpoint
    )
    rows = make_ticks(settings.processed_dir, 4)
    assert _commit(settings, NOW).rows["option_quotes"] == rows
    got = counts(settings)["option_quotes"]
    assert (got["rows"], got["files"]) == (rows, 4)
    from nsechain.lake.tables import open_catalog, open_table

    with open_catalog(settings) as catalog:
        table = open_table(catalog, "nsechain", "option_quotes")
        assert table.location().startswith(f"s3://{bucket}/wh/")
        assert all(
            p.startswith("s3://") for p in table.inspect.files().column("file_path").to_pylist()
        )


# --- concurrent writer processes, with SIGKILLs ------------------------------------------------


def _writer(settings_env: dict[str, str], data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env, "NSECHAIN_DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "nsechain", "lake", "commit"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_four_writers_commit_concurrently_with_kills(tmp_path: Path, catalog_url: str) -> None:
    from nsechain.lake.tables import open_catalog, open_table

    env = {
        "NSECHAIN_LAKE_CATALOG_URL": catalog_url,
        "NSECHAIN_LAKE_WAREHOUSE": str(tmp_path / "warehouse"),
        "NSECHAIN_LAKE_BATCH_FILES": "2",  # many small batches: many commits, many races
    }
    settings = lake_settings(tmp_path, catalog_url)
    with open_catalog(settings) as catalog:
        for kind in ("option_quotes", "fetch_log"):  # created once, before the race
            open_table(catalog, "nsechain", kind)
    dirs = [tmp_path / f"shard{i}" for i in range(4)]
    rows = sum(
        make_ticks(d / "options_processed", 6, DAY + timedelta(hours=i)) for i, d in enumerate(dirs)
    )
    rng = random.Random(17)
    first = [_writer(env, d) for d in dirs]
    picked = rng.sample(range(4), 2)
    victims = [first[i] for i in picked]
    for i in picked:  # killed mid-run: once a batch is journalled, a random moment later
        journal = dirs[i] / "lake" / "open"
        deadline = time.monotonic() + 120
        while not list(journal.glob("*.json")) and first[i].poll() is None:
            assert time.monotonic() < deadline, "the writer never started a batch"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        first[i].send_signal(signal.SIGKILL)
    errors = {id(p): p.communicate(timeout=240)[1].decode() for p in first}
    for proc in first:
        if proc not in victims:
            assert proc.returncode == 0, errors[id(proc)]
    second = [_writer(env, d) for d in dirs]  # every shard runs again: finishes what was cut
    lines = []
    for proc in second:
        out, errs = proc.communicate(timeout=240)
        assert proc.returncode == 0, errs.decode()
        lines.append(out.decode().strip())
    print("second runs:", *lines, sep="\n  ")  # resumed= / conflicts= per shard, with -s
    got = counts(settings)
    quotes = got["option_quotes"]
    assert quotes["rows"] == rows  # 0 lost, 0 duplicated
    assert quotes["files"] == quotes["distinct_files"] == 24
    assert quotes["batches"] == quotes["distinct_batches"]
    assert got["fetch_log"]["rows"] == 24
    for d in dirs:
        assert not list((d / "lake" / "open").glob("*.json"))


# --- maintenance -------------------------------------------------------------------------------


def test_compaction_keeps_every_row_and_orphans_go(tmp_path: Path, catalog_url: str) -> None:
    from nsechain.lake.compact import compact_days
    from nsechain.lake.maintain import (
        expire_snapshots,
        referenced_files,
        remove_orphans,
    )
    from nsechain.lake.tables import open_catalog, open_table

    settings = lake_settings(tmp_path, catalog_url, lake_batch_files=5)
    rows = make_ticks(settings.processed_dir, 20)
    _commit(settings, NOW)
    with open_catalog(settings) as catalog:
        table = open_table(catalog, "nsechain", "option_quotes")
        before = table.scan().to_arrow()
        size_before = sum(table.inspect.files().column("file_size_in_bytes").to_pylist())

        lines = list(compact_days(settings, NOW.date()))
        assert lines[0] == f"compacted option_quotes 2026-08-11: files=20->1 rows={rows}"
        table.refresh()
        after = table.scan().to_arrow()
        assert after.num_rows == rows
        keys = ["symbol", "expiry", "strike", "option_type", "exchange_ts"]
        assert after.sort_by([(k, "ascending") for k in keys]).equals(
            before.sort_by([(k, "ascending") for k in keys])
        )
        files = table.inspect.files()
        assert files.num_rows == 1
        size_after = files.column("file_size_in_bytes")[0].as_py()
        assert size_after < size_before
        compacted = files.column("file_path")[0].as_py().removeprefix("file://")
        on_disk = pq.read_table(compacted)
        order = [(k, "ascending") for k in keys]
        assert on_disk.equals(on_disk.sort_by(order))  # the file itself is in key order

        # The 20 tick-sized files are unreferenced by the current snapshot, but older snapshots
        # still hold them: nothing goes until those snapshots expire. "Later" is taken from
        # the lake's own snapshot times (pyiceberg stamps them), never from the test's clock.
        newest = max(s.timestamp_ms for s in table.metadata.snapshots) / 1000
        later = datetime.fromtimestamp(newest, IST) + timedelta(days=30)
        old = [p.removeprefix("file://") for p in referenced_files(table) if "/data/" in p]
        old = [p for p in old if p != compacted]
        assert len(old) == 20
        assert remove_orphans(settings, later).startswith("option_quotes_orphans=0")
        assert "option_quotes_expired=" in expire_snapshots(settings, later)
        young = Path(compacted).with_name("young-orphan.parquet")
        young.write_bytes(b"x")
        os.utime(young, (later.timestamp() - 60,) * 2)
        dry = remove_orphans(settings, later, dry_run=True)
        assert "dry run" in dry and all(Path(p).exists() for p in old)
        remove_orphans(settings, later)
        assert not any(Path(p).exists() for p in old)
        assert young.exists()  # inside the grace period
        assert Path(compacted).exists()
        table.refresh()
        assert table.scan().to_arrow().num_rows == rows
