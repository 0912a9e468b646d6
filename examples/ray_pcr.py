"""Per-day put-call ratios of every symbol in the Iceberg lake, computed by Ray Data.

Where it sits: outside nsechain, beside it. The collectors commit their tick files to the lake
(``nsechain lake commit``); this script is what any distributed engine can do with the table:
Ray Data's ``read_iceberg`` plans the files with pyiceberg and reads them on every node of the
cluster. Needs the ``scale`` extra: ``pip install -e '.[scale]'``. It prints the table after
one line: the cluster's live nodes, the table's rows, and the nodes that read the quotes with
how many each (``nodes=2 rows=4 read_on=2 quotes_per_node=f53fb862:3044,f6e78589:1236``).

The lake is found from nsechain's own settings (``NSECHAIN_LAKE_CATALOG_URL``,
``NSECHAIN_LAKE_WAREHOUSE``, …, or the flags below), so it is the table ``nsechain lake``
writes. "Per day" means what the desk's ``Desk.pcr(symbol)`` says at the day's end: every
expiry at its latest snapshot of the IST day, summed; ``pcr_oi = pe_oi / ce_oi`` and
``pcr_volume = pe_volume / ce_volume`` (null when the CE side is 0).

    ray start --head --port 6379                      # then on the others: ray start --address …
    RAY_ADDRESS=head-host:6379 python examples/ray_pcr.py [--out pcr.parquet] [--read-tasks N]

(``--address`` instead of ``RAY_ADDRESS``; with neither, Ray starts a local one-node cluster.)
"""

from __future__ import annotations

import argparse
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nsechain.config import load_settings
from nsechain.lake.tables import catalog_properties

_IST_US = 19_800_000_000  # +05:30 in microseconds
_DAY_US = 86_400_000_000
SNAPSHOT = ["symbol", "expiry", "day", "exchange_ts"]
SIDES = ["ce_oi", "pe_oi", "ce_volume", "pe_volume"]
COLUMNS = ["symbol", "expiry", "exchange_ts", "option_type", "open_interest", "volume"]


def sides(batch: pa.Table) -> pa.Table:
    """Per quote row: its IST day, the Ray node that read it, and its OI and volume under its
    side's columns (0 under the other), so that one sum per snapshot gives both sides."""
    import ray

    micros = pc.cast(batch.column("exchange_ts"), pa.int64())
    day = pc.cast(pc.divide(pc.add(micros, _IST_US), _DAY_US), pa.int32()).cast(pa.date32())
    ce = pc.equal(batch.column("option_type"), "CE")
    pe = pc.equal(batch.column("option_type"), "PE")
    oi = pc.fill_null(batch.column("open_interest"), 0.0)
    volume = pc.fill_null(batch.column("volume"), 0)
    out = batch.select(["symbol", "expiry", "exchange_ts"]).append_column("day", day)
    # The read task's node: Ray Data runs the read and this function as one task.
    node = ray.get_runtime_context().get_node_id()
    out = out.append_column("node", pa.array([node] * batch.num_rows, pa.string()))
    for name, side, value in (
        ("ce_oi", ce, oi),
        ("pe_oi", pe, oi),
        ("ce_volume", ce, volume),
        ("pe_volume", pe, volume),
    ):
        zero = pa.scalar(0, value.type)
        out = out.append_column(name, pc.if_else(pc.fill_null(side, False), value, zero))
    return out


def latest(group: pa.Table) -> pa.Table:
    """One (symbol, expiry, day): its latest snapshot's totals."""
    last = pc.max(group.column("exchange_ts"))
    return group.filter(pc.equal(group.column("exchange_ts"), last)).slice(0, 1)


def ratios(group: pa.Table) -> pa.Table:
    """One (symbol, day): the sum over its expiries, and the two ratios."""
    sums = {name: pc.sum(group.column(name)).as_py() or 0 for name in SIDES}
    return pa.table(
        {
            "symbol": [group.column("symbol")[0].as_py()],
            "day": [group.column("day")[0].as_py()],
            "expiries": [group.num_rows],
            **{name: [value] for name, value in sums.items()},
            "pcr_oi": [sums["pe_oi"] / sums["ce_oi"] if sums["ce_oi"] else None],
            "pcr_volume": [sums["pe_volume"] / sums["ce_volume"] if sums["ce_volume"] else None],
        }
    )


def daily_pcr(
    catalog: dict[str, str], namespace: str, read_tasks: int | None = None
) -> tuple[pa.Table, dict[str, int]]:
    """The per-day PCR table of every symbol, computed on the Ray cluster ``ray.init`` joined,
    and how many quotes each node read. ``read_tasks``: how many (at most one a file; default
    Ray Data's choice, twice the cluster's CPUs for a small table); Ray Data spreads them over
    the nodes."""
    import ray
    import ray.data

    ds = ray.data.read_iceberg(
        table_identifier=f"{namespace}.option_quotes",
        catalog_kwargs={"name": "nsechain", **catalog},
        override_num_blocks=read_tasks,
    ).select_columns(COLUMNS)
    # Read once, used twice: the PCR and the count of quotes each node read (held in the object
    # store meanwhile, spilled to disk if larger).
    quotes = ds.map_batches(sides, batch_format="pyarrow").materialize()
    per_node = {row["node"]: row["count()"] for row in quotes.groupby("node").count().take_all()}
    snapshots = quotes.groupby(SNAPSHOT).sum(SIDES)
    snapshots = snapshots.rename_columns({f"sum({name})": name for name in SIDES})
    ends = snapshots.groupby(["symbol", "expiry", "day"]).map_groups(latest, batch_format="pyarrow")
    per_day = ends.groupby(["symbol", "day"]).map_groups(ratios, batch_format="pyarrow")
    blocks = ray.get(per_day.to_arrow_refs())
    table = pa.concat_tables(blocks).sort_by([("symbol", "ascending"), ("day", "ascending")])
    return table, per_node


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", help="Ray cluster (host:port); default: a local Ray")
    parser.add_argument("--catalog", help="SQL catalog URL (lake_catalog_url)")
    parser.add_argument("--warehouse", help="folder or s3://bucket/prefix (lake_warehouse)")
    parser.add_argument("--out", help="also write the table to this Parquet file")
    parser.add_argument(
        "--read-tasks", type=int, metavar="N", help="at most one a file; default: Ray Data's choice"
    )
    args = parser.parse_args(argv)
    flags: dict[str, Any] = {"lake_catalog_url": args.catalog, "lake_warehouse": args.warehouse}
    settings = load_settings(**{k: v for k, v in flags.items() if v is not None})

    import ray

    ray.init(address=args.address, logging_level="WARNING", log_to_driver=False)
    try:
        nodes = sum(1 for node in ray.nodes() if node["Alive"])
        catalog = catalog_properties(settings)
        table, per_node = daily_pcr(catalog, settings.lake_namespace, args.read_tasks)
    finally:
        ray.shutdown()
    if args.out:
        pq.write_table(table, args.out)
    read = ",".join(f"{node[:8]}:{n}" for node, n in sorted(per_node.items()))
    print(f"nodes={nodes} rows={table.num_rows} read_on={len(per_node)} quotes_per_node={read}")
    print(table.to_pandas().to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
