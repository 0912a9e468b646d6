"""The dashboard's JSON API over real HTTP (uvicorn on loopback), against a database the real
collector filled from the simulator; and the in-process mode beside a running collector."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

from conftest import SimTime, e2e_settings, wait_for
from nsechain import OptionsThreadedManager
from nsechain.collector.clock import FixedClock
from nsechain.config import Settings
from nsechain.errors import DatabaseLocked
from nsechain.query import connect
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.loader import Loader
from nsechain.timeutil import IST
from nsechain.web import start_dashboard
from nsechain.web.app import STATIC_DIR
from nsechain.web.sample import record_session
from nsechain.web.server import bind

TICKS = 24
SNAPSHOTS = TICKS + 1  # and one more by the collector run that writes status.json
#: Every 29th API request answers {} and every 31st a 503: the health page has errors to show.
FAULTS: dict[str, Any] = {"empty": {"every": 29}, "error_5xx": {"every": 31}}
#: The dashboard's "now": a minute after the recording ended (not today: see issue 10).
DASH_CLOCK = FixedClock(datetime(2026, 11, 25, 11, 17, tzinfo=IST))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A simulated morning, one snapshot every 5 minutes, then one collector run that leaves
    status.json behind (state 'stopped')."""
    tmp = tmp_path_factory.mktemp("web")
    config = SimConfig(seed=7, speed=0, start="2026-11-25T09:15:00", faults=FAULTS)
    with Simulator(config) as sim:
        settings = e2e_settings(tmp, sim.base_url)
        record_session(settings, sim, ticks=TICKS, step=timedelta(minutes=5))
        sim.set_clock(start="2026-11-25T11:16:00", speed=0)
        OptionsThreadedManager(settings, clock=SimTime(sim)).run_once()
    yield settings


@pytest.fixture(scope="module")
def api(recorded: Settings) -> Iterator[httpx.Client]:
    with (
        start_dashboard(settings=recorded, port=0, clock=DASH_CLOCK) as dash,
        httpx.Client(base_url=dash.url, timeout=30) as client,
    ):
        yield client


def get(client: httpx.Client, url: str, status: int = 200, **params: Any) -> Any:
    r = client.get(url, params=params or None)
    assert r.status_code == status, (url, r.status_code, r.text)
    return r.json()


# --- what is recorded ---------------------------------------------------------------------------


def test_symbols_list_what_the_collector_recorded(api: httpx.Client) -> None:
    listing = get(api, "/api/symbols")
    assert [e["symbol"] for e in listing] == ["M&M", "NIFTY", "RELIANCE"]
    for e in listing:
        assert len(e["expiries"]) == 2
        assert all(x["snapshots"] == SNAPSHOTS for x in e["expiries"])
    one = get(api, "/api/symbols/m%26m")
    assert one["symbol"] == "M&M" and one["snapshots"] == 2 * SNAPSHOTS


def test_chain_is_the_desks_chain_around_atm(api: httpx.Client, recorded: Settings) -> None:
    body = get(api, "/api/chain/NIFTY", strikes=5)
    rows = body["rows"]
    assert len(rows) == 11
    strikes = [r["strike"] for r in rows]
    assert strikes == sorted(strikes) and strikes[5] == body["atm_strike"]
    assert strikes[0] < body["spot"] < strikes[-1]
    # Closed at the end: a lingering desk would hold the file into the next test (a lock test).
    with connect(recorded.db_path) as desk:
        snap = desk.snapshot("NIFTY")
        assert body["expiry"] == snap.expiry.isoformat()
        assert datetime.fromisoformat(body["exchange_ts"]) == snap.exchange_ts
        wide = {r["strike"]: r for r in desk.chain("NIFTY").to_pylist()}
        for r in rows:
            assert r["ce_open_interest"] == wide[r["strike"]]["ce_open_interest"]
            assert r["pe_last_price"] == wide[r["strike"]]["pe_last_price"]
        pcr = desk.pcr("NIFTY", snap.expiry, snap.exchange_ts, snap.exchange_ts).to_pylist()[0]
        assert body["pcr_oi"] == pytest.approx(pcr["pcr_oi"])
        assert body["max_pain"] == desk.max_pain("NIFTY").to_pylist()[0]["max_pain"]
        assert body["strikes_total"] == len(wide)
        assert (
            body["resistance"]
            == max(wide.values(), key=lambda r: r["ce_open_interest"] or 0)["strike"]
        )


def test_time_picker_shows_the_chain_at_any_collected_minute(api: httpx.Client) -> None:
    listing = get(api, "/api/symbols/NIFTY")
    far = listing["expiries"][1]["expiry"]
    times = get(api, "/api/chain/NIFTY/times", expiry=far)
    assert times["expiry"] == far and times["day"] == "2026-11-25"
    assert times["days"] == [{"day": "2026-11-25", "snapshots": SNAPSHOTS}]
    assert len(times["times"]) == SNAPSHOTS
    picked = times["times"][3]
    at = get(api, "/api/chain/NIFTY", expiry=far, at=picked)
    assert at["exchange_ts"] == picked
    # between two snapshots: the one at or before; naive times are IST
    later = datetime.fromisoformat(picked) + timedelta(minutes=2)
    naive = later.replace(tzinfo=None).isoformat()
    assert get(api, "/api/chain/NIFTY", expiry=far, at=naive)["exchange_ts"] == picked
    before = get(api, "/api/chain/NIFTY", expiry=far, at=times["times"][2])
    assert before["rows"] != at["rows"]  # the market moved between the two minutes


def test_series_follow_the_day_and_smile_has_both_sides(api: httpx.Client) -> None:
    times = get(api, "/api/chain/NIFTY/times")
    series = get(api, "/api/chain/NIFTY/series")
    assert [p["exchange_ts"] for p in series["points"]] == times["times"]
    for p in series["points"]:
        assert p["pcr_oi"] > 0 and p["max_pain"] > 0 and p["spot"] > 0
        assert p["atm_iv"] > 0 and p["straddle"] > 0
    smile = get(api, "/api/chain/NIFTY/smile", strikes=6)
    assert len(smile["rows"]) == 13 and smile["forward"] > 0
    assert sum(r["smile_iv"] is not None for r in smile["rows"]) >= 10
    assert any(r["ce_nse_iv"] for r in smile["rows"]) and any(r["pe_nse_iv"] for r in smile["rows"])


# --- validation ---------------------------------------------------------------------------------


def test_unknown_things_are_404_with_a_message(api: httpx.Client) -> None:
    msg = get(api, "/api/chain/TCS", 404)["detail"]
    assert "unknown symbol 'TCS'" in msg and "NIFTY" in msg
    assert "unknown symbol" in get(api, "/api/symbols/TCS", 404)["detail"]
    msg = get(api, "/api/chain/NIFTY", 404, expiry="2026-12-15")["detail"]
    assert "no recorded expiry 2026-12-15" in msg
    msg = get(api, "/api/chain/NIFTY/smile", 404, at="2026-11-25T08:00:00")["detail"]
    assert "no snapshot at or before" in msg
    assert get(api, "/api/chain/NIFTY/series", 404, expiry="2030-01-01")["detail"]


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/chain/NIFTY", {"expiry": "tomorrow"}),
        ("/api/chain/NIFTY", {"at": "25-11-2026 10:00"}),
        ("/api/chain/NIFTY", {"strikes": "0"}),
        ("/api/chain/NIFTY", {"strikes": "many"}),
        ("/api/chain/NIFTY/times", {"day": "2026-13-01"}),
        ("/api/chain/NIFTY' OR '1'='1", {}),
        ("/api/chain/NIFTY;DROP TABLE option_quotes", {}),
        ("/api/symbols/" + "A" * 41, {}),
    ],
)
def test_malformed_requests_are_422(api: httpx.Client, url: str, params: dict[str, str]) -> None:
    detail = get(api, url, 422, **params)["detail"]
    assert isinstance(detail, list) and detail[0]["loc"][0] in ("query", "path")


def test_nothing_was_written_by_reads(api: httpx.Client, recorded: Settings) -> None:
    get(api, "/api/chain/NIFTY/times")
    rows = duckdb.connect(str(recorded.db_path), read_only=True)
    try:
        tables = {r[0] for r in rows.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        quotes = rows.execute("SELECT count(*) FROM option_quotes").fetchone()
    finally:
        rows.close()
    assert "option_quotes" in tables and quotes is not None and quotes[0] > 0


# --- health -------------------------------------------------------------------------------------


def test_health_reports_status_fetches_errors_and_freshness(
    api: httpx.Client, recorded: Settings
) -> None:
    h = get(api, "/api/health")
    assert h["mode"] == "read-only" and h["status"]["state"] == "stopped"
    assert h["collector_running"] is False
    assert any("no collector seems to be running" in n for n in h["notes"])
    assert h["status"]["collection_thread"]["ticks"] == 1
    assert h["market"]["phase"] in ("open", "closed", "pre_open") and h["market"]["next_open"]
    f = h["fetches"]
    assert f["available"] and f["live"]  # the recording ended a minute before DASH_CLOCK
    # The window is the last hour of market time: 11 ticks 5 minutes apart and the last run.
    assert f["totals"]["ok"] >= 6 * 12
    assert f["totals"]["http_error"] > 0 and f["totals"]["bad_payload"] > 0
    assert f["failed"] == f["totals"]["http_error"] + f["totals"]["bad_payload"]
    assert sum(m["requests"] for m in f["minutes"]) == f["requests"]
    messages = {e["source"]: e["message"] for e in h["errors"]}
    assert messages["fetch http_error HTTP 503"] == "option-chain-v3: HTTP 503"
    assert "empty JSON object" in messages["fetch bad_payload HTTP 200"]
    fresh = {r["symbol"]: r for r in h["freshness"]}
    assert set(fresh) == {"NIFTY", "RELIANCE", "M&M"}
    for r in fresh.values():
        assert r["last_outcome"] == "ok" and r["source"] == "status"
        assert 0 <= r["age_s"] < 600 and r["exchange_ts"].startswith("2026-11-25")
        assert r["counts"]["ok"] >= TICKS
    assert h["rate"]["budget"] == recorded.rate and h["rate"]["achieved"] > 0
    assert h["pending_files"] == 0
    assert h["quarantine"]["files"] > 0 and "empty JSON" in h["quarantine"]["recent"][0]["reason"]


def test_no_database_yet(tmp_path: Path) -> None:
    settings = e2e_settings(tmp_path, "http://127.0.0.1:9")
    with (
        start_dashboard(settings=settings, port=0) as dash,
        httpx.Client(base_url=dash.url) as client,
    ):
        assert "no data yet" in get(client, "/api/symbols", 503)["detail"]
        assert "no data yet" in get(client, "/api/chain/NIFTY", 503)["detail"]
        h = get(client, "/api/health")
        assert h["status"] is None and h["freshness"] == [] and h["fetches"] is None
        assert any("no collector status" in n for n in h["notes"])
        assert any("no database yet" in n for n in h["notes"])
    assert not settings.db_path.exists()  # reading never creates the file


# --- pages, docs, offline -----------------------------------------------------------------------


def test_pages_and_offline_api_reference(api: httpx.Client) -> None:
    assert api.get("/").headers.get("location") == "/health"
    for page in ("/health", "/chain", "/docs"):
        r = api.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "__REFRESH_S__" not in r.text
    spec = get(api, "/openapi.json")
    assert {"/api/health", "/api/symbols", "/api/chain/{symbol}"} <= set(spec["paths"])
    chain = spec["paths"]["/api/chain/{symbol}"]["get"]
    assert {"404", "422", "503"} <= set(chain["responses"])
    assert api.get("/redoc").status_code == 404  # FastAPI's CDN-backed pages are off
    for asset in STATIC_DIR.iterdir():
        # No CDN, no web address at all (the SVG namespace is a name, never fetched).
        text = asset.read_text(encoding="utf-8").replace('"http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text, asset.name
        assert api.get(f"/static/{asset.name}").status_code == 200


# --- the database lock ------------------------------------------------------------------------

_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
con.close()
"""


def test_read_only_mode_waits_for_the_lock_and_serves_cached_answers(recorded: Settings) -> None:
    with (
        start_dashboard(settings=recorded, port=0, lock_timeout_s=0.3, clock=DASH_CLOCK) as dash,
        httpx.Client(base_url=dash.url) as client,
    ):
        reader = dash.app.state.backend.reader
        first = get(client, "/api/chain/NIFTY")
        opens = reader.opens
        assert get(client, "/api/chain/NIFTY") == first and reader.opens == opens  # cached
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(recorded.db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            # What was read before the lock is served without touching the file ...
            assert get(client, "/api/chain/NIFTY") == first
            # ... a new question waits for the lock, then says why it could not answer.
            r = client.get("/api/chain/NIFTY", params={"strikes": 3})
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert "holds the database lock" in r.json()["detail"]
            assert get(client, "/api/health")["notes"]  # health still answers
        finally:
            holder.communicate("", timeout=30)
        assert len(get(client, "/api/chain/NIFTY", strikes=3)["rows"]) == 7


def test_read_only_in_process_would_lock_the_loader_out(recorded: Settings) -> None:
    """Why the in-process dashboard does not open the file read-only (see web/reader.py)."""
    loader = Loader(
        recorded.db_path, recorded.pending_dir, recorded.processed_dir, recorded.quarantine_dir
    )
    con = duckdb.connect(str(recorded.db_path), read_only=True)
    try:
        with pytest.raises(DatabaseLocked, match="open elsewhere in this process"):
            # recover() always opens the file (load_pending skips it with nothing pending)
            loader.recover()
    finally:
        con.close()


def test_in_process_dashboard_never_blocks_the_collector(tmp_path: Path) -> None:
    with Simulator(SimConfig(seed=3, speed=60, start="2026-11-25T09:20:00")) as sim:
        settings = e2e_settings(tmp_path, sim.base_url, symbols="NIFTY", batch_interval_s=0.5)
        m = OptionsThreadedManager(settings, clock=SimTime(sim))
        m.start_all_threads()
        stop = threading.Event()
        answers: list[int] = []
        try:
            with start_dashboard(m, port=0) as dash, httpx.Client(base_url=dash.url) as client:

                def hammer() -> None:
                    while not stop.is_set():
                        for url in ("/api/chain/NIFTY", "/api/health", "/api/chain/NIFTY/series"):
                            answers.append(client.get(url).status_code)

                reader = threading.Thread(target=hammer)
                reader.start()
                try:
                    # Counts, not time: loads and answered reads both happened, interleaved.
                    wait_for(lambda: m.batch.batches >= 6 and answers.count(200) > 10, timeout=120)
                finally:
                    stop.set()
                    reader.join()
                h = get(client, "/api/health")
                assert h["mode"] == "in-process" and h["collector_running"] is True
                assert h["status"]["collection_thread"]["alive"]
                assert h["status"]["batch_thread"]["alive"]
                assert h["freshness"][0]["symbol"] == "NIFTY"
                assert h["freshness"][0]["age_s"] < 60
        finally:
            assert m.stop_all_threads(timeout=30)
    # Every load got the file at once, though the dashboard read all the time.
    assert m.batch.lock_waits == 0 and m.batch.last_error is None
    # 503 before the first load created the file, 404 while NIFTY had no rows loaded yet.
    assert set(answers) <= {200, 404, 503} and answers.count(200) > 10
    rows = connect(settings.db_path).sql("SELECT count(*) AS n FROM option_quotes").to_pylist()
    assert rows[0]["n"] == m.collector.totals["rows_written"]


# --- serving ------------------------------------------------------------------------------------


def test_serve_command_and_a_busy_port(recorded: Settings) -> None:
    import typer

    from nsechain.cli.serve import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `serve` a subcommand
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "127.0.0.1" in result.output
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "--port", str(port), "--db", str(recorded.db_path)]
        )
        assert result.exit_code == 2
        assert f"cannot listen on 127.0.0.1:{port}" in result.output
    finally:
        taken.close()
