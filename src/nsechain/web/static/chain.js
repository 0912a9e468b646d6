/* The chain page: pickers (symbol, expiry, day, minute), levels, charts and the wide chain. */
(function () {
  "use strict";
  const { $, el, fill, num, signed, pct, hms, hm, day: fmtDay, api } = U;
  const refresh = Math.max(parseFloat(document.body.dataset.refresh) || 5, 15);
  const CE = "#d9534f", PE = "#1a9a6c", NAVY = "#14324f", PURPLE = "#7c3aed", BLUE = "#2563eb";

  const params = new URLSearchParams(location.search);
  const state = {
    symbol: params.get("symbol"), expiry: params.get("expiry"), day: params.get("day"),
    at: params.get("at"), strikes: params.get("strikes") || "12",
    listing: [], times: [], days: [], live: !params.get("at"),
    greeks: params.get("greeks") === "1", since: params.get("since") || "",
  };
  let loading = 0;

  const strikeFmt = (k) => (k % 1 ? num(k, 2) : num(k));
  // Axis labels get the scale's step (enough decimals to tell ticks apart); tooltips do not.
  const fmt = (digits, suffix) => (v, step) => num(v, step === undefined ? digits : NC.decimals(step)) + (suffix || "");
  const tsMs = (iso) => Date.parse(iso);

  function note(text) { fill("notes", text ? el("div", { class: "note" }, text) : null); }

  function syncUrl() {
    const p = new URLSearchParams();
    if (state.symbol) p.set("symbol", state.symbol);
    if (state.expiry) p.set("expiry", state.expiry);
    if (!state.live && state.at) { p.set("day", state.day); p.set("at", state.at); }
    if (state.strikes !== "12") p.set("strikes", state.strikes);
    if (state.greeks) p.set("greeks", "1");
    if (state.since) p.set("since", state.since);
    history.replaceState(null, "", "/chain" + (p.toString() ? "?" + p : ""));
  }

  function option(value, label, selected) {
    const o = document.createElement("option");
    o.value = value; o.textContent = label; o.selected = !!selected;
    return o;
  }

  function entry() { return state.listing.find((e) => e.symbol === state.symbol); }

  function fillSymbols() {
    const sel = $("symbol");
    sel.replaceChildren();
    for (const e of state.listing) sel.appendChild(option(e.symbol, e.symbol, e.symbol === state.symbol));
  }

  function defaultExpiry(e) {
    const lastDay = e.last_ts.slice(0, 10);
    const live = e.expiries.find((x) => x.expiry >= lastDay);
    return (live || e.expiries[e.expiries.length - 1]).expiry;
  }

  function fillExpiries() {
    const e = entry();
    if (!state.expiry || !e.expiries.some((x) => x.expiry === state.expiry)) state.expiry = defaultExpiry(e);
    const sel = $("expiry");
    sel.replaceChildren();
    for (const x of e.expiries) sel.appendChild(option(x.expiry, fmtDay(x.expiry) + "  (" + num(x.snapshots) + ")", x.expiry === state.expiry));
  }

  async function loadTimes() {
    const q = new URLSearchParams({ expiry: state.expiry });
    if (state.day && !state.live) q.set("day", state.day);
    const t = await api("/api/chain/" + encodeURIComponent(state.symbol) + "/times?" + q);
    state.days = t.days; state.day = t.day; state.times = t.times;
    const sel = $("day");
    sel.replaceChildren();
    for (const d of t.days.slice().reverse()) sel.appendChild(option(d.day, fmtDay(d.day) + "  (" + num(d.snapshots) + ")", d.day === t.day));
    const slider = $("time");
    slider.max = Math.max(t.times.length - 1, 0);
    let i = t.times.length - 1;
    if (!state.live && state.at) {
      const want = tsMs(state.at);
      i = 0;
      t.times.forEach((ts, k) => { if (tsMs(ts) <= want) i = k; });
    }
    slider.value = i;
    state.at = t.times[i] || null;
    showClock();
  }

  function showClock() {
    const i = +$("time").value;
    $("clock").textContent = state.times.length ? hms(state.times[i]) : "–";
    $("count").textContent = state.times.length ? (i + 1) + " of " + state.times.length : "";
    $("latest").classList.toggle("on", state.live);
    $("livetext").textContent = state.live ? "following the latest snapshot" : "historical view";
    $("pulse").className = "pulse" + (state.live ? "" : " off");
  }

  function pick(i) {
    if (!state.times.length) return;
    i = Math.max(0, Math.min(state.times.length - 1, i));
    $("time").value = i;
    state.at = state.times[i];
    const newest = state.days.length && state.day === state.days[state.days.length - 1].day;
    state.live = newest && i === state.times.length - 1 && state.live;
    showClock();
    loadSnapshot();
  }

  async function loadAll() {
    syncUrl();
    const base = "/api/chain/" + encodeURIComponent(state.symbol);
    const q = new URLSearchParams({ expiry: state.expiry, day: state.day });
    const series = api(base + "/series?" + q);
    await loadSnapshot();
    renderSeries(await series);
    document.body.dataset.loaded = "1";
  }

  let lastSeries = null;
  async function loadSnapshot() {
    syncUrl();
    const token = ++loading;
    const base = "/api/chain/" + encodeURIComponent(state.symbol);
    const q = new URLSearchParams({ expiry: state.expiry, strikes: state.strikes });
    if (state.at) q.set("at", state.at);
    if (state.greeks) q.set("greeks", "true");
    if (state.since) q.set("since", state.since);
    const sq = new URLSearchParams({ expiry: state.expiry, strikes: "24" });
    if (state.at) sq.set("at", state.at);
    try {
      const [chain, smile] = await Promise.all([api(base + "?" + q), api(base + "/smile?" + sq)]);
      if (token !== loading) return;
      note("");
      renderTiles(chain);
      renderStrikeCharts(chain);
      renderTable(chain);
      renderSmile(smile, chain);
      if (lastSeries) renderSeries(lastSeries);
      if (window.DESK) await DESK.load(state, chain);
      document.body.dataset.snapshot = chain.exchange_ts;
    } catch (e) {
      note("cannot load the chain: " + e.message);
    }
  }

  // --- tiles -------------------------------------------------------------------------------
  function renderTiles(c) {
    const painGap = c.max_pain !== null && c.spot !== null ? c.max_pain - c.spot : null;
    const tiles = [
      ["Spot", num(c.spot, 2), "at NSE's " + hms(c.exchange_ts) + " IST"],
      ["ATM strike", strikeFmt(c.atm_strike), c.strikes_total + " strikes in the chain"],
      ["ATM IV", pct(c.atm_iv), ["straddle ", el("b", null, num(c.straddle, 2))]],
      ["PCR (OI)", num(c.pcr_oi, 2), ["volume PCR ", el("b", null, num(c.pcr_volume, 2))]],
      ["Max pain", strikeFmt(c.max_pain), painGap === null ? "" : [el("b", null, signed(painGap, 0)), " from spot"]],
      ["Support · resistance", strikeFmt(c.support) + " · " + strikeFmt(c.resistance), "highest PE OI · highest CE OI"],
      ["Open interest", NC.compact(c.pe_oi) + " / " + NC.compact(c.ce_oi), "PE / CE contracts"],
    ];
    fill("tiles", tiles.map(([l, v, d]) => el("div", { class: "card tile" }, el("div", { class: "label" }, l), el("div", { class: "value" }, v), el("div", { class: "detail" }, d))));
    fill("snapinfo", el("b", null, c.symbol), " " + fmtDay(c.expiry) + " · NSE ", el("b", null, hms(c.exchange_ts)), " " + fmtDay(c.exchange_ts));
  }

  // --- charts by strike -----------------------------------------------------------------------
  function strikeMarkers(c) {
    const m = [];
    if (c.spot !== null) m.push({ at: c.spot, label: "spot " + num(c.spot, 2), color: NAVY });
    if (c.max_pain !== null) m.push({ at: c.max_pain, label: "max pain", color: PURPLE, row: 1, anchor: c.max_pain < c.spot ? "end" : "start" });
    return m;
  }

  function renderStrikeCharts(c) {
    const rows = c.rows;
    const labels = rows.map((r) => r.strike);
    const tipTitle = (i) => "Strike " + strikeFmt(labels[i]);
    $("oi-sub").textContent = rows.length + " strikes around ATM";
    NC.bars($("c-oi"), {
      labels, tipTitle, xFmt: strikeFmt, height: 250, markers: strikeMarkers(c), tipFmt: (v) => num(v),
      series: [
        { name: "Call OI", color: CE, values: rows.map((r) => r.ce_open_interest) },
        { name: "Put OI", color: PE, values: rows.map((r) => r.pe_open_interest) },
      ],
    });
    NC.bars($("c-chg"), {
      labels, tipTitle, xFmt: strikeFmt, height: 250, markers: strikeMarkers(c), tipFmt: (v) => signed(v),
      series: [
        { name: "Call change in OI", color: CE, values: rows.map((r) => (state.since ? r.ce_oi_window : r.ce_change_in_oi)) },
        { name: "Put change in OI", color: PE, values: rows.map((r) => (state.since ? r.pe_oi_window : r.pe_change_in_oi)) },
      ],
    });
  }

  // --- charts through the day ---------------------------------------------------------------
  function renderSeries(s) {
    lastSeries = s;
    const pts = s.points;
    const x = pts.map((p) => tsMs(p.exchange_ts));
    const markers = state.at ? [{ at: tsMs(state.at), label: hm(state.at), color: NAVY }] : [];
    const onPick = (i) => {
      const k = state.times.indexOf(pts[i].exchange_ts);
      state.live = false;
      pick(k >= 0 ? k : i);
    };
    const tipTitle = (i) => hms(pts[i].exchange_ts);
    $("day-sub").textContent = fmtDay(s.day) + " · " + pts.length + " snapshots · click to travel";
    NC.lines($("c-pcr"), {
      x, time: true, height: 220, markers, onPick, tipTitle, yFmt: fmt(2), left: 46,
      hlines: [{ y: 1, label: "PCR 1", color: "#9aa5b1" }],
      series: [
        { name: "PCR (OI)", color: BLUE, values: pts.map((p) => p.pcr_oi), width: 2.2 },
        { name: "PCR (volume)", color: "#f08c00", values: pts.map((p) => p.pcr_volume), width: 1.5, dash: "5 3" },
      ],
    });
    NC.lines($("c-pain"), {
      x, time: true, height: 220, markers, onPick, tipTitle, yFmt: (v) => num(v), left: 60,
      series: [
        { name: "Max pain", color: PURPLE, values: pts.map((p) => p.max_pain), width: 2.2 },
        { name: "Spot", color: NAVY, values: pts.map((p) => p.spot), width: 1.6 },
      ],
    });
    NC.lines($("c-atm"), {
      x, time: true, height: 220, markers, onPick, tipTitle, left: 46, right: 56,
      yFmt: fmt(2, "%"), y2Fmt: fmt(2),
      series: [
        { name: "ATM IV (%)", color: "#e8590c", values: pts.map((p) => p.atm_iv), width: 2.2 },
        { name: "ATM straddle (right axis)", color: "#0b7285", values: pts.map((p) => p.straddle), axis: "right", width: 1.6, dash: "5 3" },
      ],
    });
  }

  function renderSmile(s, c) {
    const rows = s.rows;
    const x = rows.map((r) => r.strike);
    const markers = [];
    if (s.forward !== null) markers.push({ at: s.forward, label: "forward " + num(s.forward, 1), color: NAVY });
    $("smile-sub").textContent = hms(s.exchange_ts) + " · NSE's IV and the model's OTM smile";
    NC.lines($("c-smile"), {
      x, height: 220, markers, left: 46, xFmt: strikeFmt, yFmt: fmt(2, "%"),
      tipTitle: (i) => "Strike " + strikeFmt(x[i]),
      series: [
        { name: "Model smile (OTM side)", color: BLUE, values: rows.map((r) => r.smile_iv), width: 2.2 },
        { name: "NSE call IV", color: CE, values: rows.map((r) => r.ce_nse_iv || null), dots: "small", line: false },
        { name: "NSE put IV", color: PE, values: rows.map((r) => r.pe_nse_iv || null), dots: "small", line: false },
      ],
    });
  }

  // --- the wide chain ---------------------------------------------------------------------------
  const SIDE = [
    ["open_interest", "OI", "oi"], ["change_in_oi", "Chng in OI", "chg"], ["volume", "Volume", "int"],
    ["iv", "IV", "iv"], ["last_price", "LTP", "px"], ["change", "Chng", "chgpx"],
    ["bid_qty", "Bid Qty", "int"], ["bid_price", "Bid", "px"], ["ask_price", "Ask", "px"], ["ask_qty", "Ask Qty", "int"],
  ];
  const PE_SIDE = [6, 7, 8, 9, 5, 4, 3, 2, 1, 0].map((i) => SIDE[i]);
  const G_SIDE = [
    ["open_interest", "OI", "oi"], ["change_in_oi", "Chng OI", "chg"], ["model_iv", "IV", "iv"],
    ["delta", "Delta", "d3"], ["gamma", "Gamma", "d5"], ["theta", "Theta", "px"], ["vega", "Vega", "px"], ["last_price", "LTP", "px"],
  ];
  const G_PE = G_SIDE.slice().reverse();

  function cell(row, side, spec, itm, maxOi) {
    const [field, , kind] = spec;
    let v = row[side + "_" + field];
    if (field === "change_in_oi" && state.since) v = row[side + "_oi_window"];
    let cls = itm ? "itm" : "", text, style = null;
    if (v === null || v === undefined || ((kind === "iv" || kind === "px") && v === 0)) text = el("span", { class: "dim" }, "–");
    else if (kind === "chg" || kind === "chgpx") {
      text = signed(v, kind === "chgpx" ? 2 : 0);
      if (v) cls += v > 0 ? " up" : " down";
    } else text = num(v, kind === "iv" || kind === "px" ? 2 : kind === "d3" ? 3 : kind === "d5" ? 5 : 0);
    if (kind === "oi" && v) {
      const w = Math.round((100 * v) / maxOi);
      const color = side === "ce" ? "rgba(217,83,79,.16)" : "rgba(26,154,108,.16)";
      style = "background-image:linear-gradient(to " + (side === "ce" ? "left" : "right") + "," + color + " " + w + "%,transparent " + w + "%)";
      cls += " oi" + (v === maxOi ? " maxoi" : "");
    }
    return el("td", { class: cls.trim() || null, style }, text);
  }

  function renderTable(c) {
    const rows = c.rows;
    const maxCe = Math.max(1, ...rows.map((r) => r.ce_open_interest || 0));
    const maxPe = Math.max(1, ...rows.map((r) => r.pe_open_interest || 0));
    const ceCols = state.greeks ? G_SIDE : SIDE, peCols = state.greeks ? G_PE : PE_SIDE, n = ceCols.length;
    const head = el("thead", null,
      el("tr", { class: "sides" }, el("th", { class: "ce", colspan: n }, "CALLS"), el("th", { class: "strike" }), el("th", { class: "pe", colspan: n }, "PUTS")),
      el("tr", null, ceCols.map((s) => el("th", null, s[1])), el("th", { class: "strike" }, "Strike"), peCols.map((s) => el("th", null, s[1]))));
    const body = el("tbody");
    let spotDone = c.spot === null;
    for (const r of rows) {
      if (!spotDone && r.strike > c.spot) {
        body.append(el("tr", { class: "spot" }, el("td", { colspan: 2 * n + 1 }, c.symbol + " " + num(c.spot, 2) + " · NSE " + hms(c.exchange_ts))));
        spotDone = true;
      }
      const ceItm = c.spot !== null && r.strike < c.spot, peItm = c.spot !== null && r.strike > c.spot;
      body.append(el("tr", { "data-strike": r.strike, class: r.strike === c.atm_strike ? "atm" : null },
        ceCols.map((s) => cell(r, "ce", s, ceItm, maxCe)),
        el("td", { class: "strike", title: "click: this strike through the day" }, strikeFmt(r.strike)),
        peCols.map((s) => cell(r, "pe", s, peItm, maxPe))));
    }
    fill("chain", head, body);
    $("chain-sub").textContent = rows.length + " of " + c.strikes_total + " strikes around ATM · shaded: in the money · OI in contracts";
  }

  // --- wiring -------------------------------------------------------------------------------
  async function reloadFromTimes() {
    try {
      await loadTimes();
      await loadAll();
    } catch (e) {
      note(e.message);
    }
  }

  $("symbol").addEventListener("change", () => { state.symbol = $("symbol").value; state.expiry = null; state.live = true; fillExpiries(); reloadFromTimes(); });
  $("expiry").addEventListener("change", () => { state.expiry = $("expiry").value; state.live = true; reloadFromTimes(); });
  $("day").addEventListener("change", () => { state.day = $("day").value; state.live = false; state.at = null; reloadFromTimes(); });
  $("time").addEventListener("input", () => { state.live = false; showClock(); });
  $("time").addEventListener("change", () => { state.live = false; pick(+$("time").value); });
  $("prev").addEventListener("click", () => { state.live = false; pick(+$("time").value - 1); });
  $("next").addEventListener("click", () => { state.live = false; pick(+$("time").value + 1); });
  $("latest").addEventListener("click", () => { state.live = true; state.at = null; state.day = null; reloadFromTimes(); });
  $("strikes").addEventListener("change", () => { state.strikes = $("strikes").value; loadSnapshot(); });
  $("greeks").addEventListener("change", () => { state.greeks = $("greeks").checked; loadSnapshot(); });
  $("window").addEventListener("change", () => { state.since = $("window").value; loadSnapshot(); });
  $("chain").addEventListener("click", (evt) => {
    const tr = evt.target.closest("tr[data-strike]");
    if (tr && window.DESK) DESK.strike(state, +tr.dataset.strike);
  });
  document.addEventListener("keydown", (evt) => {
    if (evt.target.tagName === "SELECT" || evt.target.tagName === "INPUT") return;
    if (evt.key === "ArrowLeft") { state.live = false; pick(+$("time").value - 1); }
    if (evt.key === "ArrowRight") { state.live = false; pick(+$("time").value + 1); }
  });

  async function follow() {
    if (state.live && state.symbol) {
      try {
        const before = state.times[state.times.length - 1];
        await loadTimes();
        if (state.times[state.times.length - 1] !== before) await loadAll();
      } catch (e) { /* shown on the next user action */ }
    }
    setTimeout(follow, refresh * 1000);
  }

  async function init() {
    try {
      state.listing = await api("/api/symbols");
    } catch (e) {
      note(e.message + " — retrying");
      setTimeout(init, refresh * 1000);
      return;
    }
    if (!state.listing.length) { note("nothing recorded yet — retrying"); setTimeout(init, refresh * 1000); return; }
    const want = (state.symbol || "").toUpperCase();
    state.symbol = (state.listing.find((e) => e.symbol === want) || state.listing.find((e) => e.symbol === "NIFTY") || state.listing[0]).symbol;
    if (want && want !== state.symbol) note("no data for " + want + "; showing " + state.symbol);
    $("strikes").value = state.strikes;
    $("greeks").checked = state.greeks;
    $("window").value = state.since;
    fillSymbols();
    fillExpiries();
    await reloadFromTimes();
    setTimeout(follow, refresh * 1000);
  }
  init();
})();
