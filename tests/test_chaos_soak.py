"""Fault soak: the collector runs through NSE's failure modes and keeps recording.

The full soak (marked slow; ``make chaos`` runs it) is one whole simulated trading day over the
full F&O universe with every simulator fault on; ``-s`` prints its summary. The default run has
a 30-minute slice of the day over five symbols with denser faults, enough for every fault class
to show. How a planned fetch "eventually succeeds" is defined in ``nsechain/chaos/soak.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nsechain.chaos.soak import (
    FAULT_CLASSES,
    SoakConfig,
    SoakResult,
    fault_class,
    group_fetches,
    run_soak,
)


def assert_soak(result: SoakResult) -> None:
    summary = result.summary()
    print(summary)
    assert result.collector_up, summary  # alive to the end, no thread restarted
    assert result.exit_code == 0, summary  # and it stopped cleanly on SIGTERM
    assert result.missing_classes == [], summary  # every fault class, with its outcome
    for kind in ("error_5xx", "empty", "truncate", "br", "slow", "reset", "block", "stale"):
        assert result.sim_faults.get(kind, 0) > 0, (kind, summary)  # the simulator fired it
    assert result.sim_401 > 0
    assert result.ratio >= 0.99, summary
    assert result.store is not None and result.store.problems() == [], summary
    assert result.store.pending_files == 0 and result.store.db_rows > 0


@pytest.mark.throughput
def test_a_slice_of_a_faulty_day(tmp_path: Path) -> None:
    cfg = SoakConfig(
        tmp_path,
        seed=5,
        start="14:55:00",
        speed=120.0,
        symbols="NIFTY,BANKNIFTY,RELIANCE,M&M,INFY",
        fault_probability=0.06,
        cookie_life_s=3.0,
        block_window=("15:05", "15:08"),
        timeout_s=1.0,
        slow_s=1.5,
        block_cooloff_s=2.0,
        # Short run: make the two rarest classes likelier to show.
        fault_overrides={"stale": {"probability": 0.15}, "reset": {"probability": 0.06}},
    )
    assert_soak(run_soak(cfg))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~7 minutes on 2 cores; the default per-test limit is 300 s
def test_a_whole_faulty_day_over_the_full_universe(tmp_path: Path) -> None:
    assert_soak(run_soak(SoakConfig(tmp_path), progress=print))


@pytest.mark.parametrize(
    ("outcome", "status", "error", "expected"),
    [
        ("http_error", 503, "NIFTY: option-chain-v3: HTTP 503", "5xx"),
        ("http_error", None, "ReadError: [Errno 104] Connection reset by peer", "reset"),
        ("http_error", 404, "HTTP 404", None),
        ("bad_payload", 200, "empty JSON object {}: NSE sends this", "{}"),
        ("bad_payload", 200, "body is not valid JSON (unexpected end of data", "truncated JSON"),
        ("bad_payload", 200, "body sent with Content-Encoding 'br'", "undecodable"),
        ("timeout", None, "ReadTimeout", "slow → timeout"),
        ("unauthorized", 401, "401, session cookies missing or expired", "401 cookie expiry"),
        ("blocked", 403, "403 blocked by NSE", "403 block"),
        ("stale", 200, None, "stale"),
        ("ok", 200, None, None),
    ],
)
def test_fault_class_of_a_fetch_log_row(
    outcome: str, status: int | None, error: str | None, expected: str | None
) -> None:
    assert fault_class(outcome, status, error) == expected
    assert expected is None or expected in FAULT_CLASSES


def _row(
    sec: float, attempt: int, outcome: str, endpoint: str = "option-chain-v3"
) -> dict[str, Any]:
    at = datetime(2026, 11, 25, 10, 0) + timedelta(seconds=sec)
    return {"symbol": "NIFTY", "expiry": "2026-12-01", "endpoint": endpoint, "fetched_at": at,
            "attempt": attempt, "outcome": outcome, "http_status": 200}  # fmt: skip


def test_a_fetch_is_its_attempts_whatever_files_they_landed_in() -> None:
    # With the continuous scheduler a flush can fall between two attempts of one fetch, and
    # one file can hold two fetches of a pair: files are not fetches.
    rows = [
        (0, _row(1, 1, "timeout")),
        (0, _row(2, 2, "unauthorized")),
        (1, _row(3, 3, "ok")),  # the same fetch, written in the next file
        (1, _row(4, 1, "ok")),  # the next fetch, same file
        (2, _row(6, 1, "http_error")),  # the primary endpoint is gone…
        (2, _row(7, 1, "ok", "nextapi-getOptionChainData")),  # …the fallback, same fetch
        (3, _row(5, 1, "stale")),  # written late (the stop's flush): ordered by fetched_at
    ]
    fetches = group_fetches(rows)
    assert [[o for o, _ in f.outcomes] for f in fetches] == [
        ["timeout", "unauthorized", "ok"],
        ["ok"],
        ["stale"],
        ["http_error", "ok"],
    ]
    assert [f.tick for f in fetches] == [0, 1, 3, 2]
