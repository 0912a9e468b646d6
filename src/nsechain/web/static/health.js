/* The health page: polls /api/health and redraws tiles, charts and tables. */
(function () {
  "use strict";
  const { $, el, fill, num, ago, since, hms, hm, when, OUTCOME_COLORS } = U;
  const refresh = parseFloat(document.body.dataset.refresh) || 5;
  const ORDER = ["ok", "stale", "empty", "blocked", "unauthorized", "bad_payload", "timeout", "http_error"];

  function clip(text, n) { return text.length > n ? text.slice(0, n).replace(/\s+\S*$/, "") + " …" : text; }
  function plural(n, one, many) { return num(n) + " " + (n === 1 ? one : many || one + "s"); }

  function tile(id, value, cls, detail) {
    const t = $(id);
    const v = t.querySelector(".value");
    v.textContent = value;
    v.className = "value " + (cls || "");
    fill(t.querySelector(".detail"), detail);
  }
  const br = () => el("br");
  const b = (text, cls) => el("b", { class: cls || null }, text);

  function threads(h) {
    const st = h.status;
    if (!st) {
      tile("t-collect", "no status", "dim", ["start a collector: ", b("nsechain collect")]);
      tile("t-batch", "no status", "dim", null);
      return;
    }
    const stale = h.collector_running === false;
    const c = st.collection_thread;
    const aliveC = c.alive && !stale, aliveB = st.batch_thread.alive && !stale;
    const next = c.next_tick_at ? " · next " + hms(c.next_tick_at) : "";
    const flight = c.tick_in_flight ? " · now " + c.tick_in_flight[0] + "/" + c.tick_in_flight[1] : "";
    tile("t-collect", aliveC ? "Alive" : stale ? "Not running" : "Down", aliveC ? "good" : "bad", [
      "last tick ", b(since(c.last_tick_at)), " ago", next, flight,
      br(), plural(c.ticks, "tick") + " · " + num(c.rows_written) + " rows · restarts " + c.restarts,
      br(), el("span", { title: "collector state" }, st.state)]);
    const bt = st.batch_thread;
    tile("t-batch", aliveB ? "Alive" : stale ? "Not running" : "Down", aliveB ? "good" : "bad", [
      "last batch ", b(since(bt.last_batch_at)), " ago",
      br(), plural(bt.batches, "batch", "batches") + " · " + plural(bt.files_loaded, "file") + " · " + num(bt.rows_loaded) + " rows",
      br(), bt.lock_waits ? el("span", { class: "warn" }, "waited for the lock " + bt.lock_waits + "×") : "restarts " + bt.restarts]);
  }

  function market(h) {
    const m = h.market;
    if (!m) { tile("t-market", "–", "dim", null); return; }
    const label = { open: "Open", closed: "Closed", pre_open: "Pre-open", unknown: "Unknown" }[m.phase] || m.phase;
    const detail = [m.reason];
    if (m.phase === "open" && m.next_close) detail.push(br(), "closes ", b(hm(m.next_close)), " IST");
    if (m.next_open) detail.push(br(), "next session ", b(when(m.next_open)));
    tile("t-market", label, m.phase === "open" ? "good" : m.phase === "pre_open" ? "warn" : "", detail);
  }

  function rate(h) {
    const r = h.rate;
    const budget = r.budget, eff = r.effective, got = r.achieved;
    const value = (got === null || got === undefined ? "–" : num(got, 2)) + " / " + num(budget, budget % 1 ? 1 : 0) + " req/s";
    const cut = eff !== null && eff !== undefined && eff < budget - 1e-9;
    const detail = ["achieved (last 5 min of the log) / budget", br(), "effective budget ",
      b((eff === null || eff === undefined ? "–" : num(eff, 2)) + " req/s", cut ? "warn" : null)];
    if (cut) detail.push(" (cut after a block)");
    const cls = got === null || got === undefined ? "dim" : got > budget * 1.02 ? "bad" : "";
    tile("t-rate", value, cls, detail);
  }

  function fetches(h) {
    const f = h.fetches;
    if (!f || !f.available || !f.requests) { tile("t-fetch", "–", "dim", f && f.available ? "no requests logged" : "fetch log not loaded yet"); return; }
    const good = (f.totals.ok || 0) + (f.totals.stale || 0);
    const share = (100 * good) / f.requests;
    tile("t-fetch", num(share, 1) + "% ok", share >= 99 ? "good" : share >= 90 ? "warn" : "bad",
      [num(f.requests) + " requests · ", b(num(f.failed) + " failed", f.failed ? "bad" : null), " · " + num(f.totals.stale || 0) + " stale",
        br(), f.live ? "last hour" : "hour to " + when(f.end) + " (nothing newer)"]);
  }

  function files(h) {
    const q = h.quarantine;
    const detail = ["written, not yet loaded", br(), "quarantined: ", b(num(q.files), q.files ? "warn" : null)];
    if (q.recent && q.recent.length) detail.push(br(), el("span", { class: "msg", title: String(q.recent[0].reason) }, clip(String(q.recent[0].reason), 70)));
    tile("t-files", num(h.pending_files), h.pending_files > 20 ? "warn" : "", detail);
  }

  function outcomeChart(h) {
    const f = h.fetches;
    const el = $("c-outcomes");
    // The report's end is exclusive: its last minute starts a minute before.
    const last = f && f.available ? Date.parse(f.end) - 60000 : Math.floor(Date.now() / 60000) * 60000;
    const minutes = [];
    for (let t = last - 59 * 60000; t <= last; t += 60000) minutes.push(t);
    const at = new Map(minutes.map((t, i) => [t, i]));
    const counts = {};
    for (const m of (f && f.minutes) || []) {
      const i = at.get(Date.parse(m.minute));
      if (i === undefined) continue;
      for (const k in m.counts) { (counts[k] = counts[k] || new Array(minutes.length).fill(0))[i] += m.counts[k]; }
    }
    const series = ORDER.filter((k) => counts[k]).map((k) => ({ name: k.replace("_", " "), color: OUTCOME_COLORS[k], values: counts[k] }));
    $("window").textContent = f && f.available ? (f.live ? "last hour" : "the hour to " + hm(new Date(Date.parse(f.end) + NC.IST_MS).toISOString().replace("Z", "")) + ", the last recorded") + " · every request counted" : "";
    NC.bars(el, {
      labels: series.length ? minutes : [], series, stacked: true, time: true, height: 230,
      labelWidth: 48, tipFmt: (v) => num(v), yFmt: (v) => num(v),
      empty: f && f.available ? "no requests in the fetch log for this hour" : "the fetch log is not loaded yet",
    });

    const perSec = minutes.map((t, i) => {
      let n = 0;
      for (const k in counts) n += counts[k][i];
      return n / 60;
    });
    const hlines = [{ y: h.rate.budget, label: "budget " + num(h.rate.budget, 1), color: "#c9302c" }];
    if (h.rate.effective !== null && h.rate.effective !== undefined && Math.abs(h.rate.effective - h.rate.budget) > 1e-6) {
      hlines.push({ y: h.rate.effective, label: "effective " + num(h.rate.effective, 2), color: "#d98a00" });
    }
    NC.lines($("c-rate"), {
      x: minutes, time: true, height: 230, zeroBased: true, left: 40,
      series: [{ name: "requests/s (per minute)", color: "#2563eb", values: series.length ? perSec : [] }],
      hlines, yFmt: (v) => num(v, v % 1 ? 1 : 0),
    });
  }

  // The collector's own count: gaps between successive snapshots of a pair, per tier, against
  // the plan's promise, and the requests it sent against the budget (collection_thread.schedule).
  function tiers(h) {
    const sc = h.status && h.status.collection_thread && h.status.collection_thread.schedule;
    if (!sc || !sc.tiers || !sc.tiers.length) {
      $("tier-rate").textContent = "against the plan's promise";
      fill("tiers", el("div", { class: "empty" }, "no schedule yet: the collector reports one once it fetches in a session"));
      return;
    }
    const secs = (x) => x === null || x === undefined ? "–" : x < 120 ? num(x, 0) + " s" : num(x / 60, 1) + " min";
    $("tier-rate").textContent = "against the plan's promise · achieved " +
      (sc.achieved_rps === null ? "–" : num(sc.achieved_rps, 2)) + " of " + num(sc.budget_rps, sc.budget_rps % 1 ? 1 : 0) +
      " req/s" + (sc.achieved_over_budget === null ? "" : " (" + num(100 * sc.achieved_over_budget, 0) + "% of the budget, last " + num(sc.rate_window_s, 0) + " s)");
    const head = el("thead", null, el("tr", null,
      el("th", null, "Tier"), el("th", null, "Promise"), el("th", { class: "num" }, "Pairs fetched"),
      el("th", { class: "num" }, "Median gap"), el("th", { class: "num" }, "Max gap"), el("th", { class: "num" }, "Max / promise")));
    const body = el("tbody");
    for (const t of sc.tiers) {
      const over = t.max_over_promise;
      const cls = over === null ? "dim" : over <= 1.1 ? "good" : over <= 2 ? "warn" : "bad";
      body.append(el("tr", null,
        el("td", null, b(t.tier)), el("td", null, "every " + secs(t.promise_s)),
        el("td", { class: "num" }, num(t.pairs_fetched) + " / " + num(t.pairs)),
        el("td", { class: "num" }, secs(t.median_gap_s)), el("td", { class: "num" }, secs(t.max_gap_s)),
        el("td", { class: "num" }, el("span", { class: "badge " + cls }, over === null ? "–" : num(over, 2) + "×"))));
    }
    fill("tiers", el("table", { class: "data" }, head, body));
  }

  let lastHealth = null;
  function freshness(h) {
    lastHealth = h;
    const all = h.freshness || [];
    const want = ($("fresh-q").value || "").trim().toUpperCase();
    const rows = want ? all.filter((r) => r.symbol.includes(want)) : all;
    $("fresh-n").textContent = "stalest first · " + rows.length + " of " + all.length + " symbols · age of the last good snapshot";
    if (!rows.length) { fill("fresh", el("div", { class: "empty" }, "no symbols recorded yet")); return; }
    const interval = (h.status && h.status.settings && h.status.settings.interval_s) || 60;
    const head = el("thead", null, el("tr", null, ["Symbol", "Last good snapshot", "NSE time", "Last outcome", "Last hour"].map((t) => el("th", null, t))));
    const body = el("tbody");
    for (const r of rows) {
      const cls = r.age_s === null ? "dim" : r.age_s < 2.5 * interval ? "good" : r.age_s < 10 * interval ? "warn" : "bad";
      const age = r.age_s === null ? "–" : ago(r.age_s) + " ago";
      const oc = r.last_outcome ? el("span", { class: "badge " + (r.last_outcome === "ok" || r.last_outcome === "stale" ? "good" : "bad") }, r.last_outcome) : el("span", { class: "dim" }, "–");
      const chips = ORDER.filter((k) => r.counts && r.counts[k]).map((k) =>
        el("span", { style: "background:" + OUTCOME_COLORS[k], title: k }, k.replace("_", " ") + " " + num(r.counts[k])));
      body.append(el("tr", null,
        el("td", null, b(r.symbol)), el("td", null, el("span", { class: "badge " + cls }, age)),
        el("td", { class: "nowrap" }, r.exchange_ts ? when(r.exchange_ts).slice(0, 6) + " " + hms(r.exchange_ts) : "–"),
        el("td", null, oc), el("td", null, el("div", { class: "outcomes" }, chips.length ? chips : el("span", { class: "dim" }, "–")))));
    }
    fill("fresh", el("table", { class: "data" }, head, body));
  }
  $("fresh-q").addEventListener("input", () => { if (lastHealth) freshness(lastHealth); });

  function errors(h) {
    const rows = h.errors || [];
    $("errcount").textContent = rows.length ? rows.length + (rows.length === 1 ? " kind" : " kinds") : "";
    if (!rows.length) {
      // Only a recording collector earns the tick: no error logged is not the same as healthy.
      const ok = h.verdict && h.verdict.verdict === "recording";
      fill("errors", ok
        ? el("div", { class: "empty good" }, "No errors in the window ✓")
        : el("div", { class: "empty" }, "No errors logged in the window; see the verdict above"));
      return;
    }
    const head = el("thead", null, el("tr", null, el("th", null, "What"), el("th", null, "Message"), el("th", { class: "num" }, "Count"), el("th", null, "Last"), el("th", null, "Symbols")));
    const body = el("tbody");
    for (const e of rows) {
      const where = e.outcome ? [el("span", { class: "badge bad" }, String(e.outcome).replace("_", " ")), e.http_status ? el("div", { class: "sub" }, "HTTP " + e.http_status) : null]
        : el("span", { class: "badge bad" }, e.source);
      body.append(el("tr", null, el("td", { class: "nowrap" }, where), el("td", { class: "msg" }, e.message),
        el("td", { class: "num" }, e.count ? num(e.count) : ""), el("td", null, e.last_at ? hms(e.last_at) : "now"), el("td", null, e.symbols || "")));
    }
    fill("errors", el("table", { class: "data" }, head, body));
  }

  // The collector's verdict, as text (never HTML): the same words `nsechain status` prints.
  function verdict(h) {
    const v = h.verdict || {};
    const el = $("verdict");
    el.className = "card verdict " + ({ recording: "good", degraded: "warn", "not recording": "bad" }[v.verdict] || "dim");
    el.querySelector(".word").textContent = v.verdict || "–";
    el.querySelector(".since").textContent = v.since ? "since " + when(v.since).slice(0, -5) + hms(v.since) : "";
    el.querySelector(".reason").textContent = v.reason || "";
  }

  function render(h) {
    fill("mode", (h.mode === "in-process" ? "in the collector's process" : "read-only") + " · ", b(String(h.db_path).split("/").pop()));
    $("mode").title = h.db_path;
    fill("notes", (h.notes || []).map((n) => el("div", { class: "note" }, n)));
    verdict(h); threads(h); market(h); rate(h); fetches(h); files(h);
    outcomeChart(h); tiers(h); freshness(h); errors(h);
    $("updated").textContent = hms(h.generated_at);
  }

  async function tick() {
    try {
      render(await U.api("/api/health"));
      $("pulse").className = "pulse";
      document.body.dataset.loaded = "1";
    } catch (e) {
      $("pulse").className = "pulse err";
      fill("notes", el("div", { class: "note" }, "cannot reach the dashboard API: " + e.message));
    } finally {
      setTimeout(tick, refresh * 1000);
    }
  }
  tick();
})();
