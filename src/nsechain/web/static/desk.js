/* The trader's desk cards of the chain page: one strike through the day, straddle + VWAP,
 * term structure with IV rank, volatility surface, GEX. chain.js calls DESK.load after each
 * snapshot and DESK.strike when a chain row is clicked. */
(function (global) {
  "use strict";
  const { $, el, fill, num, hms, day: fmtDay, api } = U;
  const CE = "#d9534f", PE = "#1a9a6c", NAVY = "#14324f";
  const PALETTE = ["#2563eb", "#e8590c", "#7c3aed", "#0b7285", "#d9534f", "#1a9a6c", "#f08c00", "#14324f"];
  let chosen = null, lastKey = null;

  const base = (s) => "/api/chain/" + encodeURIComponent(s.symbol);

  async function strike(s, k) {
    chosen = k;
    const q = new URLSearchParams({ expiry: s.expiry, strike: k });
    if (s.day) q.set("day", s.day);
    const d = await api(base(s) + "/strike?" + q);
    const pts = d.points, x = pts.map((p) => Date.parse(p.exchange_ts));
    $("strike-sub").textContent = "strike " + num(k) + " · " + pts.length + " snapshots · OI (left), LTP and IV (right)";
    NC.lines($("c-strike"), {
      x, time: true, height: 220, left: 60, right: 56, yFmt: (v) => NC.compact(v), y2Fmt: (v) => num(v, 1),
      tipTitle: (i) => hms(pts[i].exchange_ts),
      series: [
        { name: "CE OI", color: CE, values: pts.map((p) => p.ce_oi), width: 2 },
        { name: "PE OI", color: PE, values: pts.map((p) => p.pe_oi), width: 2 },
        { name: "CE LTP", color: CE, values: pts.map((p) => p.ce_ltp), axis: "right", dash: "4 3" },
        { name: "PE LTP", color: PE, values: pts.map((p) => p.pe_ltp), axis: "right", dash: "4 3" },
        { name: "CE IV %", color: "#e8590c", values: pts.map((p) => p.ce_iv), axis: "right", dash: "1 3" },
      ],
    });
  }

  async function straddle(s) {
    const q = new URLSearchParams({ expiry: s.expiry });
    if (s.day) q.set("day", s.day);
    const pts = await api(base(s) + "/straddle?" + q);
    if (!pts.length) return;
    const x = pts.map((p) => Date.parse(p.exchange_ts));
    $("straddle-sub").textContent = "ATM " + num(pts[0].ce_strike) + " held all day · VWAP weighted by traded volume";
    NC.lines($("c-straddle"), {
      x, time: true, height: 220, left: 56, yFmt: (v) => num(v, 1), tipTitle: (i) => hms(pts[i].exchange_ts),
      series: [
        { name: "Straddle premium", color: "#0b7285", values: pts.map((p) => p.premium), width: 2.2 },
        { name: "VWAP", color: "#f08c00", values: pts.map((p) => p.vwap), width: 1.6, dash: "5 3" },
      ],
    });
  }

  async function term(s) {
    const t = await api(base(s) + "/term");
    const e = t.expiries, r = t.iv_rank;
    const rank = r && r.rank ? ["IV rank ", el("b", null, num(r.rank.rank, 0)), " · percentile ", el("b", null, num(r.rank.percentile, 0))] : "IV rank: no history";
    fill("term-sub", rank, " · over " + (r ? r.days + " day" + (r.days === 1 ? "" : "s") + ", " + num(r.rank ? r.rank.observations : 0) + " snapshots" : "–"));
    NC.lines($("c-term"), {
      x: e.map((p) => p.days), height: 220, left: 46, right: 56, xFmt: (v) => num(v) + "d",
      yFmt: (v) => num(v, 1) + "%", y2Fmt: (v) => num(v),
      tipTitle: (i) => fmtDay(e[i].expiry) + " · " + e[i].days + " days",
      series: [
        { name: "ATM IV (%)", color: "#e8590c", values: e.map((p) => p.atm_iv), width: 2.2, dots: "small" },
        { name: "ATM straddle (right)", color: "#0b7285", values: e.map((p) => p.straddle), axis: "right", dash: "5 3", dots: "small" },
      ],
    });
    const surf = await api(base(s) + "/surface");
    const exps = [...new Set(surf.map((p) => p.expiry))].slice(0, 8);
    const keyOf = (m) => Math.round(m * 200) / 200;
    const xs = [...new Set(surf.filter((p) => p.log_moneyness !== null && Math.abs(p.log_moneyness) <= 0.15).map((p) => keyOf(p.log_moneyness)))].sort((a, b) => a - b);
    NC.lines($("c-surface"), {
      x: xs, height: 220, left: 46, xFmt: (v) => num(v, 2), yFmt: (v) => num(v, 1) + "%",
      tipTitle: (i) => "ln(K/F) " + num(xs[i], 3),
      series: exps.map((ex, j) => {
        const by = new Map(surf.filter((p) => p.expiry === ex && p.log_moneyness !== null).map((p) => [keyOf(p.log_moneyness), p.iv]));
        return { name: fmtDay(ex), color: PALETTE[j % PALETTE.length], values: xs.map((v) => (by.has(v) ? by.get(v) : null)), width: 1.6 };
      }),
    });
  }

  async function gex(s, c) {
    const q = new URLSearchParams({ expiry: s.expiry });
    if (s.at) q.set("at", s.at);
    const g = await api(base(s) + "/gex?" + q);
    const rows = g.rows.filter((r) => c.spot === null || Math.abs(r.strike - c.spot) <= 0.06 * c.spot);
    fill("gex-sub", "total ", el("b", null, NC.compact(g.total)), " ₹ per 1 % move · lot " + num(g.lot) + " · " + hms(g.exchange_ts));
    $("gex-conv").textContent = "Sign convention: " + g.convention;
    NC.bars($("c-gex"), {
      labels: rows.map((r) => r.strike), height: 230, xFmt: (k) => num(k), tipFmt: (v) => NC.compact(v),
      markers: c.spot === null ? [] : [{ at: c.spot, label: "spot " + num(c.spot, 2), color: NAVY }],
      series: [
        { name: "Call GEX (+)", color: CE, values: rows.map((r) => r.ce_gex) },
        { name: "Put GEX (−)", color: PE, values: rows.map((r) => r.pe_gex) },
      ],
    });
  }

  async function load(s, c) {
    try {
      const key = [s.symbol, s.expiry, s.day].join("|");
      const jobs = [gex(s, c), strike(s, chosen !== null && key === lastKey ? chosen : c.atm_strike)];
      if (key !== lastKey) jobs.push(straddle(s), term(s));
      lastKey = key;
      await Promise.all(jobs);
    } catch (e) {
      fill("notes", el("div", { class: "note" }, "desk: " + e.message));
    }
  }

  global.DESK = { load, strike };
})(window);
