"""The lake journal reads each done journal once: counts of journals opened, no server needed.

``lake.ledger`` remembers the files of every done journal it has read or finished itself; a
pass lists ``done/`` and opens only journals it has not seen (another process may add some);
one removed by hand is forgotten.
"""

from __future__ import annotations

from pathlib import Path

from nsechain.lake.ledger import Ledger


def _batch(ledger: Ledger, n: int) -> set[str]:
    files = [f"20260811/tick_{n:04d}_{i}.parquet" for i in range(3)]
    ledger.finish(ledger.start(files, f"20260811T{n:06d}"))
    return set(files)


def test_a_ledger_reads_each_done_journal_once(tmp_path: Path) -> None:
    writer = Ledger(tmp_path / "lake")
    want = _batch(writer, 1) | _batch(writer, 2)
    assert writer.committed() == want and writer.reads == 0  # its own batches: never read back
    assert writer.done_count() == 2

    other = Ledger(tmp_path / "lake")  # another process (nsechain lake commit), or a restart
    assert other.committed() == want and other.reads == 2
    for _ in range(5):
        assert other.committed() == want
    assert other.reads == 2  # nothing new: nothing opened

    want |= _batch(writer, 3)
    assert other.committed() == want and other.reads == 3  # only the new journal
    assert other.bytes_read == sum(p.stat().st_size for p in other.done_dir.glob("*.json"))


def test_a_journal_removed_by_hand_is_forgotten(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "lake")
    first, second = _batch(ledger, 1), _batch(ledger, 2)
    oldest = sorted(ledger.done_dir.glob("*.json"))[0]
    oldest.unlink()
    assert ledger.committed() == second and ledger.reads == 0
    assert first.isdisjoint(ledger.committed())
    taken = ledger.committed()
    taken.add("mine")  # callers get a copy
    assert "mine" not in ledger.committed()


def test_no_journal_yet(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "lake")
    assert ledger.committed() == set() and ledger.open_batches() == []
    assert ledger.done_count() == 0
