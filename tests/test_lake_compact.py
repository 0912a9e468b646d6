"""lake.compact against real servers (PostgreSQL catalog, local warehouse): a day's files become
a few sorted files in one commit, with every row kept, also when a writer commits meanwhile.

The race is made, not waited for: the compaction's commit is wrapped so that a writer commits
first (to another day, or to the day being compacted), which makes the compaction's commit
lose, as it would against a live collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from test_lake import DAY, NOW, _commit, catalog_url, lake_settings, make_ticks, postgres

__all__ = ["catalog_url", "postgres"]  # the fixtures, imported for pytest

KEYS = [(k, "ascending") for k in ("symbol", "expiry", "strike", "option_type", "exchange_ts")]


@contextmanager
def _table(settings: Any) -> Iterator[Any]:
    from nsechain.lake.tables import open_catalog, open_table

    with open_catalog(settings) as catalog:
        yield open_table(catalog, settings.lake_namespace, "option_quotes")


def _local(path: str) -> Path:
    return Path(path.removeprefix("file://"))


def _race(monkeypatch: pytest.MonkeyPatch, settings: Any, start: Any) -> dict[str, int]:
    """Before the compaction's first commit, a writer commits 3 new tick files at ``start``."""
    from nsechain.lake import compact

    calls = {"rewrite": 0, "commit": 0}
    real_commit, real_rewrite = compact._commit, compact._rewrite

    def rewrite(*args: Any) -> Any:
        calls["rewrite"] += 1
        return real_rewrite(*args)

    def commit(table: Any, day: Any, done: Any) -> None:
        calls["commit"] += 1
        if calls["commit"] == 1:
            make_ticks(settings.processed_dir, 3, start=start)
            _commit(settings, NOW)
        real_commit(table, day, done)

    monkeypatch.setattr(compact, "_rewrite", rewrite)
    monkeypatch.setattr(compact, "_commit", commit)
    return calls


@pytest.mark.parametrize(
    ("late", "sorts"), [(timedelta(days=1), 1), (timedelta(hours=1), 2)], ids=["other", "same"]
)
def test_a_writer_committing_meanwhile_costs_a_commit_or_a_sort_never_a_row(
    tmp_path: Path, catalog_url: str, monkeypatch: pytest.MonkeyPatch, late: Any, sorts: int
) -> None:
    """Rows for another day cost the compaction one more commit of the same sorted files;
    rows into the day being compacted make it sort the day again, the first sort's files
    deleted."""
    from nsechain.lake.compact import compact_day

    settings = lake_settings(tmp_path, catalog_url)
    rows = make_ticks(settings.processed_dir, 12)
    _commit(settings, NOW)
    calls = _race(monkeypatch, settings, DAY + late)
    late_rows = 3 * (rows // 12)
    in_day = rows + late_rows * (sorts - 1)
    with _table(settings) as table:
        assert compact_day(table, DAY.date(), settings) == (12 + 3 * (sorts - 1), 1, in_day)
        assert calls == {"rewrite": sorts, "commit": 2}
        table.refresh()
        kept = [_local(p) for p in table.inspect.files().column("file_path").to_pylist()]
        assert table.scan().to_arrow().num_rows == rows + late_rows
    compacted = [p.name for p in kept if p.name.startswith("compacted-")]
    written = kept[0].parent.parent.rglob("compacted-*")  # every day folder of the table
    assert [p.name for p in written] == compacted  # a first sort's files are gone


def test_a_big_day_is_split_at_symbol_boundaries_each_file_sorted(
    tmp_path: Path, catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nsechain.lake import compact

    settings = lake_settings(tmp_path, catalog_url, lake_compact_memory_mb=512)
    rows = 0
    for n, symbol in enumerate(("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")):
        rows += make_ticks(settings.processed_dir, 4, DAY + timedelta(minutes=10 * n), symbol)
    _commit(settings, NOW)
    with _table(settings) as table:
        before = table.scan().to_arrow()
    monkeypatch.setattr(compact, "FILE_ROWS", rows // 4 - 10)  # a file ends inside each symbol

    assert list(compact.compact_days(settings, NOW.date())) == [
        f"compacted option_quotes 2026-08-11: files=16->4 rows={rows}",
        "compacted fetch_log 2026-08-11: files=16->1 rows=16",
    ]
    with _table(settings) as table:
        files = [_local(p) for p in table.inspect.files().column("file_path").to_pylist()]
        after = table.scan().to_arrow()
    parts = [pq.read_table(p) for p in sorted(files)]
    assert [pc.unique(p["symbol"]).to_pylist() for p in parts] == [
        ["BANKNIFTY"], ["FINNIFTY"], ["MIDCPNIFTY"], ["NIFTY"]
    ]  # fmt: skip
    assert all(p.equals(p.sort_by(KEYS)) for p in parts)
    assert after.sort_by(KEYS).equals(before.sort_by(KEYS))
    assert not (settings.data_dir / "lake" / "sort-tmp").exists()
