"""CLI commands of the analysis desk: ``show``, ``pcr`` and ``export``.

Where it sits: the edge; ``cli.main`` calls ``register(app)``; each command builds Settings for the
default database path, opens a ``nsechain.query.Desk`` read-only (retrying while the
collector's loader holds the lock) and prints with rich. The numbers come from the Desk; this
module only lays them out.
"""

from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from nsechain.cli._settings import err
from nsechain.errors import ConfigError, NsechainError
from nsechain.timeutil import IST

__all__ = ["chain_table", "fitted_chain_table", "register"]


def _out(stderr: bool = False) -> Console:
    # Made per command, not at import: the terminal width (COLUMNS) is read when it prints.
    return Console(stderr=stderr)


_ITM = "on grey23"  # shading of in-the-money cells, as on NSE's page
# (column, title) of each side, mirrored around the strike like NSE's page.
_CE: tuple[tuple[str, str], ...] = (
    ("ce_open_interest", "OI"),
    ("ce_change_in_oi", "Chng OI"),
    ("ce_volume", "Volume"),
    ("ce_iv", "IV"),
    ("ce_last_price", "LTP"),
)
_PE: tuple[tuple[str, str], ...] = tuple(("pe" + c[2:], t) for c, t in reversed(_CE))
#: ``show --greeks``: the model's IV and greeks in place of volume and NSE's IV.
_CE_GREEKS: tuple[tuple[str, str], ...] = (
    ("ce_open_interest", "OI"),
    ("ce_change_in_oi", "Chng OI"),
    ("ce_model_iv", "IV"),
    ("ce_delta", "Delta"),
    ("ce_gamma", "Gamma"),
    ("ce_theta", "Theta"),
    ("ce_vega", "Vega"),
    ("ce_last_price", "LTP"),
)
_DECIMALS = {"_iv": 2, "_last_price": 2, "_delta": 3, "_gamma": 5, "_theta": 2, "_vega": 2}

DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: settings)")]
ExpiryOption = Annotated[str | None, typer.Option(help="Expiry YYYY-MM-DD (default: nearest live)")]


def _num(value: Any, decimals: int = 0) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _cell(row: dict[str, Any], column: str, itm: bool) -> Text:
    value = row[column]
    style = _ITM if itm else ""
    if column.endswith("change_in_oi") and value:
        style += " green" if value > 0 else " red"
    decimals = next((d for end, d in _DECIMALS.items() if column.endswith(end)), 0)
    return Text(_num(value, decimals), style=style.strip(), justify="right")


#: Below this terminal width the chain uses thin rules and short headers (always with greeks).
NARROW_WIDTH = 110
#: Which leg columns go first when the chain is wider than the terminal, least useful first
#: (both sides at once). LTP goes last; the strike is never dropped nor cut.
_DROP_ORDER = (
    "_volume",
    "_vega",
    "_gamma",
    "_change_in_oi",
    "_theta",
    "_iv",
    "_open_interest",
    "_delta",
    "_last_price",
)


def chain_table(
    chain: list[dict[str, Any]],
    spot: float | None,
    *,
    around: int,
    narrow: bool = False,
    greeks: bool = False,
    leave_out: tuple[str, ...] = (),
) -> Table:
    """The ``around`` strikes each side of ATM as a rich Table: CE | strike | PE, without
    the leg columns whose names end in ``leave_out``."""
    strikes = [r["strike"] for r in chain]
    if spot is not None and strikes:
        mid = min(range(len(strikes)), key=lambda i: abs(strikes[i] - spot))
        chain = chain[max(mid - around, 0) : mid + around + 1]
    cols = _CE_GREEKS if greeks else _CE
    ce = tuple(c for c in cols if not (leave_out and c[0].endswith(leave_out)))
    pe = tuple(("pe" + c[2:], t) for c, t in reversed(ce))
    table = Table(show_lines=False, header_style="bold", title_justify="left")
    compact = narrow or greeks
    if compact:
        # Thin rules instead of boxes: nine right-aligned numbers fit in 80 columns.
        table = Table(
            box=box.SIMPLE_HEAD,
            header_style="bold",
            title="calls (CE) | strike | puts (PE)",
            title_justify="left",
            pad_edge=False,
            padding=(0, 0, 0, 1),
        )

    def head(side: str, title: str) -> str:
        return title.replace("Chng OI", "ΔOI") if compact else f"{side} {title}"

    for _, title in ce:
        table.add_column(head("CE", title), justify="right", no_wrap=True)
    table.add_column("Strike", justify="center", style="bold", no_wrap=True)
    for _, title in pe:
        table.add_column(head("PE", title), justify="right", no_wrap=True)
    for row in chain:
        k = row["strike"]
        ce_itm = spot is not None and k < spot
        pe_itm = spot is not None and k > spot
        cells = [_cell(row, c, ce_itm) for c, _ in ce]
        cells.append(Text(f"{k:,.2f}".rstrip("0").rstrip("."), justify="center"))
        cells += [_cell(row, c, pe_itm) for c, _ in pe]
        table.add_row(*cells)
    return table


def fitted_chain_table(
    console: Console,
    chain: list[dict[str, Any]],
    spot: float | None,
    *,
    around: int,
    greeks: bool = False,
) -> tuple[Table, list[str]]:
    """``chain_table`` as wide as fits ``console``: whole leg columns are left out (in
    ``_DROP_ORDER``) until every cell fits, so no number, and never the strike, is cut.
    Returns the table and the titles of the columns left out."""
    narrow = console.width < NARROW_WIDTH
    unbounded = console.options.update_width(10_000)  # measure the natural width, not clamped
    titles = dict(_CE_GREEKS if greeks else _CE)
    present = tuple(end for end in _DROP_ORDER if any(c.endswith(end) for c in titles))
    # The boxed layout first (wide terminals), then thin rules, then fewer columns.
    tries = [(narrow, ()), *((True, present[:n]) for n in range(len(present) + 1))]
    for compact, out in tries:
        table = chain_table(
            chain, spot, around=around, narrow=compact, greeks=greeks, leave_out=out
        )
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            break
    gone = [t for c, t in titles.items() if out and c.endswith(out)]
    return table, gone


def _date(text: str | None, flag: str) -> date | None:
    try:
        return None if text is None else date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=flag) from None


def _desk(db: Path | None) -> Any:
    from nsechain.config import load_settings
    from nsechain.query import connect

    settings = load_settings(db_path=db)
    path = settings.db_path
    if not path.is_file():  # a wrong --db is a bad argument (exit 2), not a failed read
        raise ConfigError(
            f"--db {path}: no such database; run the collector first, or pass the right --db"
        )
    # hold=True: a command runs a few queries in well under a second, then closes.
    # With a lake catalog configured, days no longer in the file come from the lake.
    return connect(path, hold=True, lake=settings)


def _recorded(desk: Any, symbols: list[str], expiry: date | None = None) -> list[str]:
    """``symbols`` upper-cased; a LookupError listing what IS recorded if one (or the expiry)
    is not: the same words as the web API's 404."""
    from nsechain.web.service import check
    from nsechain.web.service import symbols as listing

    known = listing(desk)
    names = [s.strip().upper() for s in symbols]
    for name in names:
        check(known, name, expiry)
    return names


def _at(text: str | None) -> str | None:
    """``--at``: 'YYYY-MM-DD HH:MM[:SS]' (IST), or 'HH:MM[:SS]' on the day of the latest data."""
    if text is None:
        return None
    clock = text.strip()
    try:
        if len(clock) in (5, 8) and clock[2] == ":":
            time.fromisoformat(clock)
            return clock
        datetime.fromisoformat(clock)
    except ValueError:
        msg = f"{text!r} is not a time: use 'YYYY-MM-DD HH:MM' or 'HH:MM' (IST)"
        raise typer.BadParameter(msg, param_hint="--at") from None
    return clock


def _on_latest_day(desk: Any, symbol: str, expiry: date | None, at: str | None) -> str | None:
    """An ``HH:MM`` time on the day of the symbol's latest snapshot; other values unchanged."""
    if at is None or len(at) not in (5, 8) or at[2] != ":":
        return at
    latest = desk.snapshot(symbol, expiry).exchange_ts.astimezone(IST)
    return f"{latest:%Y-%m-%d} {at}"


def _first(table: Any, column: str) -> Any:
    return table.column(column)[0].as_py() if table.num_rows else None


def _show(
    symbol: str,
    expiry: str | None,
    at: str | None,
    db: Path | None,
    around: int,
    greeks: bool = False,
    since: str | None = None,
) -> None:
    from nsechain.analytics.trader import merge_oi_window

    with _desk(db) as desk:
        day = _date(expiry, "--expiry")
        symbol = _recorded(desk, [symbol], day)[0]
        snap = desk.snapshot(symbol, day, _on_latest_day(desk, symbol, day, at))
        read = desk.chain_greeks if greeks else desk.chain
        chain = read(snap.symbol, snap.expiry, snap.exchange_ts)
        rows, note = chain.to_pylist(), "Chng OI: since the previous close (NSE)"
        if since:
            into = ("ce_change_in_oi", "pe_change_in_oi")  # the Chng OI columns show the window
            start = merge_oi_window(desk, snap, rows, since, into) or snap.exchange_ts
            note = f"Chng OI: since {start:%H:%M:%S} ({since})"
        pcr = desk.pcr(snap.symbol, snap.expiry, snap.exchange_ts, snap.exchange_ts)
        pain = desk.max_pain(snap.symbol, snap.expiry, snap.exchange_ts)
        atm = desk.atm(snap.symbol, snap.expiry, snap.exchange_ts)
    spot = _first(chain, "underlying_value")
    iv, ratio = _first(atm, "atm_iv"), _first(pcr, "pcr_oi")
    when = f"{snap.exchange_ts:%Y-%m-%d %H:%M:%S}"
    console = _out()
    console.print(f"[bold]{snap.symbol}[/bold] expiry {snap.expiry}  at {when} IST")
    console.print(
        f"spot {_num(spot, 2)}   PCR (OI) {_num(ratio, 2)}   "
        f"max pain {_num(_first(pain, 'max_pain'), 2)}   "
        f"ATM IV {'-' if iv is None else f'{iv:.2f}%'}"
    )
    table, gone = fitted_chain_table(console, rows, spot, around=around, greeks=greeks)
    console.print(table)
    extra = "; IV and greeks: Black-76 on the parity forward" if greeks else ""
    if gone:
        extra += f"; left out to fit {console.width} columns: {', '.join(gone)} (widen it)"
    console.print(f"{note}{extra}", style="dim")


_BASIS = {
    "constant": "the same expiries all day: those seen in its first 15 minutes",
    "ffill": "each expiry carried forward from its latest snapshot, across days",
}


def _pcr(symbol: str, expiry: str | None, db: Path | None, last: int, basis: str) -> None:
    with _desk(db) as desk:
        day = _date(expiry, "--expiry")
        symbol = _recorded(desk, [symbol], day)[0]
        rows = desk.pcr(symbol, day) if day is not None else desk.pcr_steady(symbol, basis=basis)
    rows = rows.slice(max(rows.num_rows - last, 0))
    listed = rows.to_pylist()
    one_day = len({r["exchange_ts"].date() for r in listed}) <= 1
    stamp = "%H:%M:%S" if one_day else "%Y-%m-%d %H:%M"
    table = Table("Time (IST)", "Expiries", "CE OI", "PE OI", "PCR OI", "PCR Volume")
    for r in listed:
        table.add_row(
            f"{r['exchange_ts']:{stamp}}",
            str(r["expiries"]),
            _num(r["ce_oi"]),
            _num(r["pe_oi"]),
            _num(r["pcr_oi"], 3),
            _num(r["pcr_volume"], 3),
        )
    what = f"expiry {expiry}" if expiry else f"all expiries ({_BASIS[basis]})"
    if one_day and listed:
        what += f", {listed[0]['exchange_ts']:%a %d-%b-%Y}"
    console = _out()
    console.print(f"[bold]{symbol.upper()}[/bold] put-call ratio, {what}")
    console.print(table)


def _since(since: str | None, at: str | None) -> str | None:
    """``HH:MM`` means that time on the day shown; other values pass to ``Desk.oi_window``."""
    if since is None or since == "open" or since.isdigit():
        return since
    if len(since) == 5 and since[2] == ":":
        return since  # on the snapshot's IST day (analytics.trader's window start)
    msg = f"{since!r}: use open, a number of minutes or HH:MM"
    raise typer.BadParameter(msg, param_hint="--since")


def _guard(action: Any, *args: Any) -> None:
    """Run a command body; a known failure is one red line, not a traceback.

    Exit 2 when an argument is wrong (an unknown symbol or expiry, no database at --db, a
    format), as for every bad flag; exit 1 when the data could not be read (locked, damaged).
    """
    try:
        action(*args)
    except (ConfigError, LookupError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except NsechainError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add ``show``, ``pcr`` and ``export`` to the ``nsechain`` app."""

    @app.command()
    def show(
        symbol: Annotated[str, typer.Argument(help="Underlying, e.g. NIFTY or RELIANCE")],
        expiry: ExpiryOption = None,
        at: Annotated[
            str | None,
            typer.Option(
                help="IST time 'YYYY-MM-DD HH:MM', or 'HH:MM' on the latest day "
                "(default: the latest snapshot)"
            ),
        ] = None,
        db: DbOption = None,
        strikes: Annotated[int, typer.Option(min=0, help="Strikes each side of ATM")] = 10,
        greeks: Annotated[
            bool, typer.Option("--greeks", help="Model IV, delta, gamma, theta, vega")
        ] = False,
        since: Annotated[
            str | None,
            typer.Option(
                help="Chng OI over a window: open, minutes (5, 15...) or 'HH:MM' "
                "(default: since the previous close, as NSE)"
            ),
        ] = None,
    ) -> None:
        """Print the option chain around ATM, with spot, PCR, max pain and ATM IV."""
        _guard(_show, symbol, expiry, _at(at), db, strikes, greeks, _since(since, at))

    @app.command()
    def pcr(
        symbol: Annotated[str, typer.Argument(help="Underlying, e.g. NIFTY")],
        expiry: Annotated[
            str | None, typer.Option(help="Expiry YYYY-MM-DD (default: all expiries)")
        ] = None,
        db: DbOption = None,
        last: Annotated[int, typer.Option(min=1, help="Rows to print (the latest)")] = 20,
        basis: Annotated[
            str, typer.Option(help="All expiries: constant (a fixed set per day) or ffill")
        ] = "constant",
    ) -> None:
        """Print the put-call ratio (OI and volume) per snapshot."""
        if basis not in _BASIS:
            raise typer.BadParameter(f"{basis!r}: use constant or ffill", param_hint="--basis")
        _guard(_pcr, symbol, expiry, db, last, basis)

    @app.command()
    def export(
        from_: Annotated[str, typer.Option("--from", help="First IST day, YYYY-MM-DD")],
        to: Annotated[str, typer.Option("--to", help="Last IST day, YYYY-MM-DD (included)")],
        out: Annotated[Path, typer.Option(help="Output file")],
        symbols: Annotated[
            str | None, typer.Option(help="Comma-separated symbols (default: all)")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
        db: DbOption = None,
    ) -> None:
        """Export recorded quotes of a date range to one Parquet or CSV file."""
        start, end = _date(from_, "--from"), _date(to, "--to")
        if start is not None and end is not None and start > end:
            msg = f"{from_} is after --to {to}: the range is empty"
            raise typer.BadParameter(msg, param_hint="--from")
        if fmt not in ("parquet", "csv"):
            raise typer.BadParameter(f"{fmt!r}: use parquet or csv", param_hint="--format")
        wanted = [s for s in (symbols or "").split(",") if s.strip()]

        def _export() -> None:
            with _desk(db) as desk:
                names = _recorded(desk, wanted) or None
                out.parent.mkdir(parents=True, exist_ok=True)  # the folder is created
                n = desk.export(out, start=start, end=end, symbols=names, fmt=fmt)
            _out().print(f"exported {n} rows to {out}")

        _guard(_export)
