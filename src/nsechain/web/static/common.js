/* Helpers shared by the dashboard pages: fetching the API, formatting numbers and times. */
(function (global) {
  "use strict";

  async function api(path) {
    const res = await fetch(path, { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      let detail = body && body.detail;
      if (Array.isArray(detail)) detail = detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
      const err = new Error(detail || res.status + " " + res.statusText);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  const nf = {};
  function num(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    const d = digits || 0;
    const key = String(d);
    if (!nf[key]) nf[key] = new Intl.NumberFormat("en-IN", { minimumFractionDigits: d, maximumFractionDigits: d });
    return nf[key].format(v);
  }
  function signed(v, digits) { return v > 0 ? "+" + num(v, digits) : num(v, digits); }
  function pct(v) { return v === null || v === undefined ? "–" : num(v, 2) + "%"; }

  function ago(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    const s = Math.max(0, seconds);
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return Math.round(s / 86400) + " d";
  }
  function since(iso, nowMs) { return iso ? ago(((nowMs || Date.now()) - Date.parse(iso)) / 1000) : "–"; }
  // Times arrive as IST ISO strings (+05:30): slicing shows IST whatever the browser's zone.
  function hms(iso) { return iso ? iso.slice(11, 19) : "–"; }
  function hm(iso) { return iso ? iso.slice(11, 16) : "–"; }
  function day(iso) {
    if (!iso) return "–";
    const d = new Date(iso.slice(0, 10) + "T00:00:00Z");
    return d.toLocaleDateString("en-GB", { day: "2-digit", month: "short", year: "numeric", timeZone: "UTC" });
  }
  function when(iso) { return iso ? day(iso) + " " + hm(iso) : "–"; }
  function $(id) { return document.getElementById(id); }

  // The DOM from data, never from HTML strings: a string child becomes a text node, so a
  // symbol, an error message or anything read from status.json shows as text, whatever it
  // holds. el("b", {class: "warn"}, "3", " files"); fill("notes", el(...), ...).
  function add(node, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false || k === "") continue;
      node.append(k instanceof Node ? k : String(k));
    }
    return node;
  }
  function el(tag, props, ...kids) {
    const node = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
    for (const k in props || {}) {
      const v = props[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.setAttribute("class", v);
      // Styles through the CSSOM (allowed by the CSP's style-src 'self'; a style attribute
      // would not be): a dynamic colour or bar width, never a fixed look (that is app.css).
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v);
    }
    return add(node, kids);
  }
  function fill(target, ...kids) {
    const node = typeof target === "string" ? $(target) : target;
    node.replaceChildren();
    return add(node, kids);
  }

  const OUTCOME_COLORS = {
    ok: "#1a9a6c", stale: "#a3adb8", empty: "#e0a100", blocked: "#8e44ad",
    unauthorized: "#e67e22", bad_payload: "#b03a2e", timeout: "#e74c3c", http_error: "#34495e",
  };

  global.U = { api, num, signed, pct, ago, since, hms, hm, day, when, $, el, fill, OUTCOME_COLORS };
})(window);
