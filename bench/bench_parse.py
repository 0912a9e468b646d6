"""Side-by-side benchmark: nsechain's option-chain parser against bare decoders and peer libraries.

Where it sits: outside the package; it measures ``nsechain.nse.parse.parse_chain`` (bytes in,
``QUOTES_SCHEMA`` Arrow table out) on real NSE responses from ../shared/fixtures/nse, the
same bytes for every contender. Run it with ``.venv/bin/python bench/bench_parse.py``; the
peers come from ``pip install -e .[bench]`` (nselib, nsepython, nsemine). No network is used:
each peer's HTTP fetch is replaced by a stub that hands over the fixture.

Contenders (each timed from raw bytes to that library's finished output, doing what a caller
does in real use, minus the network):

- ``nsechain``: ``parse_chain`` as the collector calls it (with the asked expiry on v3 bodies):
  decode (msgspec typed on v3, orjson otherwise) + validation + ``QUOTES_SCHEMA`` Arrow table.
- ``orjson.loads`` / ``json.loads``: decoding alone, the floor every parser pays.
- ``nselib``: ``derivatives.nse_live_option_chain(symbol, expiry_date=DD-MM-YYYY)`` with
  ``get_nse_option_chain`` stubbed to a response whose ``.json()`` is stdlib ``json.loads`` of
  the bytes (nselib fetches with requests, whose ``.json()`` is stdlib ``json``); timed: that
  decode, nselib's expiry conversion and its row loop into a DataFrame. v3 needs an expiry in
  the URL, so real use always passes one; a body with several expiries is read without.
- ``nsepython``: ``oi_chain_builder(symbol, expiry=...)`` with ``nse_optionchain_scrapper``
  stubbed; timed: ``orjson.loads`` (curl_cffi's ``.json()`` uses orjson when it is installed,
  as here), handing ``{data, timestamp}`` over (the shape its scrapper returns: no
  underlyingValue) and the builder's row loop into a DataFrame, once per expiry in the body
  (one call on v3). Not timed, so generous to it: the scrapper's own pass regrouping
  ``getSymbolDerivativesData``'s per-contract list into CE/PE rows (v3 rows come grouped) and,
  with several expiries, the re-fetch and re-decode each call does live.
- ``nsemine``: ``orjson.loads`` (its fetch goes through curl_cffi) +
  ``utilities.utils.process_option_chain_response``, exactly what ``fno.get_option_chain``
  does after its HTTP call.

Every peer's output is checked against counts taken straight from the JSON (rows, CE open
interest total, CE best-bid total, expiries present). A peer that crashes on a shape or whose
output is wrong prints ``n/a`` with the reason in a footnote instead of a time.

Cells are the median of N calls timed with ``time.perf_counter`` (N chosen so a cell takes
about ``--budget`` seconds, at least 5; samples of all contenders are taken in 5 interleaved
rounds so load drift on a shared machine hits them alike), and the ratio to ``orjson.loads``
on the same bytes.
The targets for nsechain on v3 NIFTY, printed, not asserted: at most 2.5x ``orjson.loads`` and
at least 5x faster than the fastest peer that gives a correct result.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from nsechain.nse.parse import parse_chain, parse_nse_date
from nsechain.timeutil import IST

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "nse"
CASES = (
    ("v3 NIFTY", "v3_indices_NIFTY_2026-08-11_112903.json", "NIFTY"),
    ("v3 RELIANCE", "v3_equity_RELIANCE_2026-08-11_112849.json", "RELIANCE"),
    ("legacy NIFTY", "legacy_indices_NIFTY_2025-07-17_1530.json", "NIFTY"),
)


class NotApplicable(Exception):
    """This contender cannot produce a correct result for this body."""


@dataclass(frozen=True)
class Expected:
    """Facts counted straight from the JSON, to check every contender's output."""

    rows: int  # records.data rows (one per strike and expiry)
    ce_oi: float
    ce_bid: float
    expiries: frozenset[str]  # as written in the rows

    @classmethod
    def of(cls, body: bytes) -> Expected:
        rows = orjson.loads(body)["records"]["data"]
        legs = [r["CE"] for r in rows if r.get("CE") and r["CE"]["identifier"]]
        bid = "buyPrice1" if legs and "buyPrice1" in legs[0] else "bidprice"
        return cls(
            rows=len(rows),
            ce_oi=sum(leg["openInterest"] for leg in legs),
            ce_bid=sum(leg[bid] for leg in legs),
            expiries=frozenset(r.get("expiryDates") or r["expiryDate"] for r in rows),
        )

    @property
    def only_expiry(self) -> str | None:
        """The expiry of a one-expiry body (what a v3 caller asked for), else None."""
        return next(iter(self.expiries)) if len(self.expiries) == 1 else None


def close(a: float, b: float, n: int) -> bool:
    return abs(a - b) <= 0.006 * max(n, 1) + 1e-6 * abs(b)  # peers round prices to 2 dp


def verify(exp: Expected, rows: int, ce_oi: float, ce_bid: float, dates: list[Any]) -> None:
    """Raise NotApplicable naming the first output fact that disagrees with the JSON."""
    if rows != exp.rows:
        raise NotApplicable(f"wrong output: {rows} rows, the JSON has {exp.rows}")
    missing = sum(1 for d in dates if not d)
    if missing:
        raise NotApplicable(f"wrong output: expiry missing on {missing}/{len(dates)} rows")
    if not close(ce_oi, exp.ce_oi, 0):
        raise NotApplicable(f"wrong output: CE OI total {ce_oi:.2f}, the JSON has {exp.ce_oi:.2f}")
    if not close(ce_bid, exp.ce_bid, rows):
        raise NotApplicable(f"wrong output: CE bid total {ce_bid:.2f}, JSON has {exp.ce_bid:.2f}")


# --- contenders: each returns a zero-argument callable that does the whole job ---------------


def run_nsechain(body: bytes, symbol: str, exp: Expected) -> Callable[[], object]:
    now = datetime.now(IST)
    asked = parse_nse_date(exp.only_expiry) if exp.only_expiry else None  # as the collector

    # Every plausibility rule runs, the timestamp one against the capture's own time.
    taken = parse_chain(body, symbol=symbol, expiry=asked, fetched_at=now).exchange_ts

    def run() -> object:
        return parse_chain(body, symbol=symbol, expiry=asked, fetched_at=now, now=taken)

    table = parse_chain(body, symbol=symbol, expiry=asked, fetched_at=now, now=taken).table
    rows = table.select(["expiry", "strike", "option_type", "open_interest", "bid_price"])
    ce = [r for r in rows.to_pylist() if r["option_type"] == "CE"]
    # nsechain is long (one row per contract); NSE's rows are one per (expiry, strike).
    pairs = len({(r["expiry"], r["strike"]) for r in rows.to_pylist()})
    oi = sum(r["open_interest"] or 0 for r in ce)
    verify(exp, pairs, oi, sum(r["bid_price"] or 0 for r in ce), table["expiry"].to_pylist())
    return run


def run_nselib(body: bytes, symbol: str, exp: Expected) -> Callable[[], object]:
    from nselib.derivatives import derivative_data  # optional peer: imported only when benchmarked

    class Response:
        def json(self) -> Any:
            return json.loads(body)  # requests' Response.json is stdlib json

    derivative_data.get_nse_option_chain = lambda symbol, expiry_date: Response()
    # nselib takes DD-MM-YYYY; without an expiry it reads every row (several-expiry bodies).
    asked = parse_nse_date(exp.only_expiry).strftime("%d-%m-%Y") if exp.only_expiry else None

    def run() -> Any:
        return derivative_data.nse_live_option_chain(symbol, expiry_date=asked, oi_mode="full")

    df = quiet(run)
    verify(exp, len(df), df["CALLS_OI"].sum(), df["CALLS_Bid_Price"].sum(), list(df["Expiry_Date"]))
    return run


def run_nsepython(body: bytes, symbol: str, exp: Expected) -> Callable[[], object]:
    from nsepython import rahu  # optional peer: imported only when benchmarked

    holder: dict[str, Any] = {}
    rahu.nse_optionchain_scrapper = lambda symbol: holder["payload"]

    def run() -> Any:
        rec = orjson.loads(body)["records"]  # curl_cffi's Response.json uses orjson
        holder["payload"] = {"data": rec["data"], "timestamp": rec["timestamp"]}
        return [rahu.oi_chain_builder(symbol, expiry=e)[0] for e in sorted(exp.expiries)]

    frames = quiet(run)
    rows = sum(len(f) for f in frames)
    oi = sum(f["CALLS_OI"].sum() for f in frames if len(f))
    bid = sum(f["CALLS_Bid Price"].sum() for f in frames if len(f))
    verify(exp, rows, oi, bid, [])  # one expiry per call: the expiry is known by construction
    return run


def run_nsemine(body: bytes, symbol: str, exp: Expected) -> Callable[[], object]:
    from nsemine.utilities import utils  # optional peer: imported only when benchmarked

    def run() -> Any:
        return utils.process_option_chain_response(orjson.loads(body))

    df = quiet(run)
    verify(exp, len(df), df["ce_oi"].sum(), df["ce_top_bid_price"].sum(), list(df["expiry_date"]))
    return run


def bare(decode: Callable[[bytes], Any]) -> Callable[[bytes, str, Expected], Callable[[], object]]:
    def prepare(body: bytes, symbol: str, exp: Expected) -> Callable[[], object]:
        return lambda: decode(body)

    return prepare


CONTENDERS: dict[str, Callable[[bytes, str, Expected], Callable[[], object]]] = {
    "nsechain parse_chain": run_nsechain,
    "orjson.loads": bare(orjson.loads),
    "json.loads": bare(json.loads),
    "nselib": run_nselib,
    "nsepython": run_nsepython,
    "nsemine": run_nsemine,
}
PEERS = ("nselib", "nsepython", "nsemine")


def quiet(fn: Callable[[], Any]) -> Any:
    """Call a peer once, turning any failure (or its printed traceback) into NotApplicable."""
    out = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore")
            result = fn()
    except NotApplicable:
        raise
    except Exception as exc:
        raise NotApplicable(f"crashed: {type(exc).__name__}: {exc}"[:160]) from exc
    if result is None:
        said = out.getvalue().strip().splitlines()
        raise NotApplicable(f"returned None ({said[0] if said else 'no message'})"[:160])
    return result


ROUNDS = 5


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def median_ms(runs: dict[str, Callable[[], object]], budget_s: float) -> dict[str, float]:
    """Median ms per contender, sampled in interleaved rounds.

    The machine is shared, so load drifts: taking every contender's samples in the same few
    rounds keeps the ratios to orjson.loads honest even when absolute times wobble.
    """
    repeats = {}
    for name, fn in runs.items():
        start = time.perf_counter()
        fn()  # warm-up, and the estimate of how many repeats fit the budget
        once = time.perf_counter() - start
        repeats[name] = max(1, min(400, int(budget_s / ROUNDS / max(once, 1e-6))))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, fn in runs.items():
            gc.collect()
            samples[name] += timed(fn, repeats[name])
    return {name: statistics.median(s) * 1e3 for name, s in samples.items()}


def measure(budget_s: float) -> tuple[dict[str, dict[str, float | str]], list[str]]:
    """Return {contender: {case: ms or footnote marker}} and the footnotes."""
    cells: dict[str, dict[str, float | str]] = {name: {} for name in CONTENDERS}
    notes: list[str] = []
    for case, filename, symbol in CASES:
        body = (FIXTURES / filename).read_bytes()
        exp = Expected.of(body)
        runs = {}
        for name, prepare in CONTENDERS.items():
            try:
                runs[name] = prepare(body, symbol, exp)
            except (NotApplicable, ImportError) as exc:
                notes.append(f"{name} on {case}: {exc}")
                cells[name][case] = f"n/a [{len(notes)}]"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas chatter from the peers
            for name, ms in median_ms(runs, budget_s).items():
                cells[name][case] = ms
    return cells, notes


def render(cells: dict[str, dict[str, float | str]], notes: list[str]) -> str:
    cases = [c for c, _, _ in CASES]
    width = 24
    lines = ["parser".ljust(width) + "".join(c.rjust(22) for c in cases)]
    for name, row in cells.items():
        text = []
        for case in cases:
            value, base = row[case], cells["orjson.loads"][case]
            if isinstance(value, float) and isinstance(base, float):
                text.append(f"{value:.3f} ms ({value / base:.1f}x)")
            else:
                text.append(str(value))
        lines.append(name.ljust(width) + "".join(t.rjust(22) for t in text))
    lines += ["", *(f"[{i}] {note}" for i, note in enumerate(notes, 1))] if notes else []
    lines.append("")
    lines.append(summary(cells, cases))
    return "\n".join(lines)


def summary(cells: dict[str, dict[str, float | str]], cases: list[str]) -> str:
    parts = []
    for case in cases:
        ours, base = cells["nsechain parse_chain"][case], cells["orjson.loads"][case]
        peers = {p: v for p in PEERS if isinstance(v := cells[p][case], float)}
        if not isinstance(ours, float) or not isinstance(base, float):
            parts.append(f"{case}: nsechain n/a")
            continue
        text = f"{case}: parse/orjson {ours / base:.2f}x"
        if peers:
            fastest = min(peers, key=peers.__getitem__)
            text += f", {peers[fastest] / ours:.1f}x faster than fastest peer ({fastest})"
        else:
            text += ", no peer produced a correct result"
        parts.append(text)
    targets = "targets on v3 NIFTY: parse/orjson <= 2.5x, >= 5x faster than the fastest peer"
    return "RESULT " + " | ".join(parts) + f"  ({targets})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget", type=float, default=0.6, help="seconds per cell (default 0.6)")
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"NSE fixtures not found at {FIXTURES}; clone shared/ beside the repo")
    gc.collect()
    cells, notes = measure(args.budget)
    print(render(cells, notes))


if __name__ == "__main__":
    main()
