"""Exactly once when the snapshot naming a batch is gone: a writer killed between its lake
commit and its journal, away longer than ``lake_snapshot_retention_s``, while another writer
committed and ``lake expire`` (and compaction) ran. Its batch id is in no snapshot summary any
more; the rows are in the lake, and must not be committed twice.

Real PostgreSQL catalog and local warehouse, as in test_lake.py (its fixtures).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nsechain.timeutil import IST
from test_lake import DAY, NOW, _commit, catalog_url, counts, lake_settings, make_ticks, postgres

__all__ = ["catalog_url", "postgres"]  # the fixtures, imported for pytest


def _killed_after_commit(settings: object) -> None:
    def die(_batch: object) -> None:
        raise KeyboardInterrupt("killed between the lake commit and the journal")

    with pytest.raises(KeyboardInterrupt):
        _commit(settings, NOW, on_batch=die)


def _far_future(settings: object) -> datetime:
    """After every snapshot the lake holds (its own wall-clock stamps), by 30 days."""
    from nsechain.lake.tables import open_catalog, open_table

    with open_catalog(settings) as catalog:  # type: ignore[arg-type]
        table = open_table(catalog, "nsechain", "option_quotes")
        newest = max(s.timestamp_ms for s in table.metadata.snapshots) / 1000
    return datetime.fromtimestamp(newest, IST) + timedelta(days=30)


def _age_journal(settings: object, days: int = 40) -> None:
    """The open journal was written long ago (its file time is what the writer reads)."""
    root = Path(str(settings.data_dir)) / "lake" / "open"  # type: ignore[attr-defined]
    for path in root.glob("*.json"):
        old = time.time() - days * 86400
        os.utime(path, (old, old))


@pytest.mark.parametrize("compact", [False, True])
def test_a_batch_whose_snapshot_expired_is_not_committed_twice(
    tmp_path: Path, catalog_url: str, compact: bool
) -> None:
    from nsechain.lake.compact import compact_days
    from nsechain.lake.maintain import expire_snapshots

    mine = lake_settings(tmp_path / "a", catalog_url)
    other = lake_settings(tmp_path / "b", catalog_url, str(mine.lake_warehouse))
    rows = make_ticks(mine.processed_dir, 3)
    _killed_after_commit(mine)  # committed to both tables, journal still open
    rows += make_ticks(other.processed_dir, 2, DAY + timedelta(hours=1))
    _commit(other, NOW)  # newer snapshots: the batch's own are no longer the heads
    if compact:
        assert list(compact_days(mine, DAY.date() + timedelta(days=1)))
    later = _far_future(mine)
    assert "option_quotes_expired=" in expire_snapshots(mine, later)
    _age_journal(mine)

    report = _commit(mine, NOW)
    assert (report.resumed, report.batches) == (1, 1)
    assert report.already == 2 and report.rows["option_quotes"] == 0, report.line()
    got = counts(mine)
    assert got["option_quotes"]["rows"] == rows
    assert got["fetch_log"]["rows"] == 5


def test_an_old_journal_whose_batch_never_reached_the_lake_is_committed(
    tmp_path: Path, catalog_url: str
) -> None:
    """The content check finds nothing: the batch goes in, once."""
    from nsechain.lake.ledger import Ledger

    settings = lake_settings(tmp_path, catalog_url)
    other = lake_settings(tmp_path / "b", catalog_url, str(settings.lake_warehouse))
    make_ticks(other.processed_dir, 1, DAY + timedelta(hours=1))
    _commit(other, NOW)  # the tables exist and have history
    rows = make_ticks(settings.processed_dir, 2)
    files = sorted(
        p.relative_to(settings.processed_dir).as_posix()
        for p in settings.processed_dir.rglob("*.parquet")
    )
    Ledger(settings.data_dir / "lake").start(files, "20260811T091500000000")
    _age_journal(settings)
    expire_all = _far_future(settings)
    from nsechain.lake.maintain import expire_snapshots

    expire_snapshots(settings, expire_all)
    report = _commit(settings, NOW)
    assert (report.resumed, report.already) == (1, 0)
    assert report.rows["option_quotes"] == rows
