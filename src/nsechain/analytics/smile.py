"""The IV smile of one snapshot: per strike, NSE's and our IV of both sides side by side.

Where it sits: ``Desk.iv_smile`` feeds it the output of ``greeks.chain_greeks`` for one
(symbol, expiry, snapshot). Arrow joins and compute kernels only.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["smile_table"]

_SIDE_COLUMNS = ("nse_iv", "model_iv", "iv_reason", "price")


def _side(greeks: pa.Table, side: str) -> pa.Table:
    rows = greeks.filter(pc.equal(greeks.column("option_type"), side))
    cols = {"strike": rows.column("strike")}
    cols |= {f"{side.lower()}_{name}": rows.column(name) for name in _SIDE_COLUMNS}
    return pa.table(cols)


def smile_table(greeks: pa.Table) -> pa.Table:
    """strike, forward, log_moneyness = ln(K/F), ce_/pe_ nse_iv, model_iv, iv_reason, price,
    and ``smile_iv``: the out-of-the-money side's model IV (PE below the forward, CE at or
    above it), falling back to the other side's model IV. IVs in percent."""
    forward = pc.max(greeks.column("forward")).as_py()
    wide = _side(greeks, "CE").join(_side(greeks, "PE"), keys="strike", join_type="full outer")
    wide = wide.sort_by("strike")
    strike = wide.column("strike")
    # No forward (no spot recorded) leaves every model IV null; the columns stay the same.
    fwd = pa.repeat(pa.scalar(forward, pa.float64()), wide.num_rows)
    otm_call = pc.greater_equal(strike, fwd)
    ce, pe = wide.column("ce_model_iv"), wide.column("pe_model_iv")
    smile = pc.coalesce(pc.if_else(otm_call, ce, pe), pc.if_else(otm_call, pe, ce))
    log_m = pc.ln(pc.divide(strike, fwd))
    head = pa.table({"strike": strike, "forward": fwd, "log_moneyness": log_m, "smile_iv": smile})
    for name in wide.column_names[1:]:
        head = head.append_column(name, wide.column(name))
    return head
