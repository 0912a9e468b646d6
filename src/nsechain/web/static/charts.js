/* nsechain charts: small SVG bar and line charts for the dashboard, no dependencies.
 *
 *   NC.bars(el, {labels, series: [{name, color, values}], stacked, markers, yFmt, xFmt})
 *   NC.lines(el, {x, series: [{name, color, values, axis, dash, dots}], time, markers,
 *                 hlines, yFmt, y2Fmt, xFmt, onPick})
 *
 * Charts redraw when their container is resized. Every drawn bar has class "bar" and every
 * drawn line class "line" (with data-n = its points), which the browser test counts.
 */
(function (global) {
  "use strict";
  const SVGNS = "http://www.w3.org/2000/svg";
  const IST_MS = 5.5 * 3600 * 1000;

  function node(tag, attrs, parent) {
    const n = document.createElementNS(SVGNS, tag);
    for (const k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) n.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(n);
    return n;
  }

  function finite(v) { return typeof v === "number" && isFinite(v); }

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10) * mag;
  }

  function niceScale(lo, hi, count) {
    if (!finite(lo) || !finite(hi)) { lo = 0; hi = 1; }
    if (lo === hi) { const d = Math.abs(lo) * 0.05 || 1; lo -= d; hi += d; }
    const step = niceStep(hi - lo, count);
    const a = Math.floor(lo / step) * step, b = Math.ceil(hi / step) * step;
    const ticks = [];
    for (let v = a; v <= b + step / 2; v += step) ticks.push(Math.round(v / step) * step);
    return { lo: a, hi: b, ticks, step };
  }

  // Decimals that show every tick of a scale with this step distinctly (0.25 → 2, 50 → 0).
  function decimals(step) {
    for (let d = 0; d < 6; d++) {
      const k = step * Math.pow(10, d);
      if (Math.abs(k - Math.round(k)) < 1e-6 * Math.max(1, k)) return d;
    }
    return 6;
  }

  function timeTicks(lo, hi, count) {
    const mins = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];
    const span = (hi - lo) / 60000;
    let step = mins[mins.length - 1];
    for (const m of mins) if (span / m <= count) { step = m; break; }
    const ms = step * 60000;
    const ticks = [];
    for (let t = Math.ceil((lo + IST_MS) / ms) * ms - IST_MS; t <= hi; t += ms) ticks.push(t);
    return ticks;
  }

  function hhmm(ms) { return new Date(ms + IST_MS).toISOString().slice(11, 16); }

  function compact(v) {
    if (!finite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e7) return (v / 1e7).toFixed(a >= 1e8 ? 0 : 1) + " Cr";
    if (a >= 1e5) return (v / 1e5).toFixed(a >= 1e6 ? 0 : 1) + " L";
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + "k";
    return String(Math.round(v * 100) / 100);
  }

  // --- tooltip ----------------------------------------------------------------------------
  let tipEl = null;
  // title, then one line per [color, name, value]: text nodes only (names may come from data).
  function tip(evt, title, lines) {
    if (!tipEl) { tipEl = document.createElement("div"); tipEl.className = "tip"; document.body.appendChild(tipEl); }
    tipEl.replaceChildren();
    const b = document.createElement("b");
    b.textContent = title;
    tipEl.appendChild(b);
    for (const [color, name, value] of lines) tipEl.append(document.createElement("br"), swatch(color), name + ": " + value);
    tipEl.style.display = "block";
    const w = tipEl.offsetWidth, h = tipEl.offsetHeight;
    let x = evt.clientX + 14, y = evt.clientY - h - 10;
    if (x + w > window.innerWidth - 6) x = evt.clientX - w - 14;
    if (y < 6) y = evt.clientY + 16;
    tipEl.style.left = x + "px"; tipEl.style.top = y + "px";
  }
  function untip() { if (tipEl) tipEl.style.display = "none"; }
  function swatch(color, cls) {
    const i = document.createElement("i");
    if (cls) i.className = cls;
    i.style.background = color;
    return i;
  }

  // --- frame ------------------------------------------------------------------------------
  function frame(container, spec, draw) {
    container._spec = spec;
    container._draw = draw;
    if (!container._observed && global.ResizeObserver) {
      container._observed = true;
      let lastW = 0;
      new ResizeObserver(() => {
        const w = container.clientWidth;
        if (w && Math.abs(w - lastW) > 2 && container._spec) { lastW = w; container._draw(container, container._spec); }
      }).observe(container);
    }
    container.replaceChildren();
    container.classList.add("chart");
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of spec.series) {
      if (s.legend === false) continue;
      const item = document.createElement("span");
      const isLine = draw === drawLines;
      item.append(swatch(s.color, isLine ? "ln" : ""), String(s.name));
      legend.appendChild(item);
    }
    container.appendChild(legend);
    const width = Math.max(container.clientWidth || 600, 240);
    const height = spec.height || 240;
    const svg = node("svg", { viewBox: "0 0 " + width + " " + height, height: height, role: "img" }, container);
    if (spec.title) node("title", {}, svg).textContent = spec.title;
    const m = { l: spec.left || 58, r: spec.right || 14, t: 12, b: 26 };
    return { svg, width, height, m, iw: width - m.l - m.r, ih: height - m.t - m.b };
  }

  // One unit for a whole axis (lakh, crore, thousand), decimals enough to tell ticks apart.
  function axisFmt(scale) {
    const a = Math.max(...scale.ticks.map(Math.abs));
    const [div, suffix] = a >= 1e7 ? [1e7, " Cr"] : a >= 1e5 ? [1e5, " L"] : a >= 1e3 ? [1e3, "k"] : [1, ""];
    const d = decimals(scale.step / div);
    return (v) => (v === 0 ? "0" : (v / div).toFixed(d) + suffix);
  }

  function yAxis(f, scale, y, fmt, side) {
    const label = fmt ? (t) => fmt(t, scale.step) : axisFmt(scale);
    const g = node("g", { class: "axis" }, f.svg);
    const grid = node("g", { class: "grid" }, f.svg);
    f.svg.insertBefore(grid, f.svg.firstChild);
    const x = side === "right" ? f.m.l + f.iw : f.m.l;
    for (const t of scale.ticks) {
      const py = y(t);
      if (side !== "right") node("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: py, y2: py }, grid);
      const text = node("text", {
        x: side === "right" ? x + 6 : x - 6, y: py + 3.5,
        "text-anchor": side === "right" ? "start" : "end",
      }, g);
      text.textContent = label(t);
    }
  }

  function drawMarkers(f, markers, xOf) {
    for (const mk of markers || []) {
      const px = xOf(mk.at);
      if (!finite(px) || px < f.m.l - 1 || px > f.m.l + f.iw + 1) continue;
      const g = node("g", { class: "marker" }, f.svg);
      node("line", { x1: px, x2: px, y1: f.m.t, y2: f.m.t + f.ih, stroke: mk.color || "#14324f" }, g);
      const anchor = mk.anchor || (px > f.m.l + f.iw - 90 ? "end" : "start");
      const t = node("text", {
        x: px + (anchor === "end" ? -4 : 4), y: f.m.t + 10 + (mk.row || 0) * 13,
        fill: mk.color || "#14324f", "text-anchor": anchor,
      }, g);
      t.textContent = mk.label;
    }
  }

  // --- bars over categories -----------------------------------------------------------------
  function drawBars(container, spec) {
    const f = frame(container, spec, drawBars);
    const n = spec.labels.length;
    if (!n) { emptyNote(f, spec.empty); return; }
    let lo = 0, hi = 0;
    if (spec.stacked) {
      for (let i = 0; i < n; i++) {
        let pos = 0, neg = 0;
        for (const s of spec.series) { const v = s.values[i]; if (finite(v)) { if (v >= 0) pos += v; else neg += v; } }
        hi = Math.max(hi, pos); lo = Math.min(lo, neg);
      }
    } else {
      for (const s of spec.series) for (const v of s.values) if (finite(v)) { hi = Math.max(hi, v); lo = Math.min(lo, v); }
    }
    const scale = niceScale(lo, hi, Math.max(3, Math.round(f.ih / 45)));
    const y = (v) => f.m.t + f.ih - ((v - scale.lo) / (scale.hi - scale.lo)) * f.ih;
    yAxis(f, scale, y, spec.yFmt, "left");
    const band = f.iw / n;
    const inner = band * (spec.stacked ? 0.72 : 0.8);
    const groups = spec.stacked ? 1 : spec.series.length;
    const bw = Math.max(inner / groups, 1);
    const bandX = (i) => f.m.l + i * band + (band - inner) / 2;
    const plot = node("g", {}, f.svg);
    let drawn = 0;
    for (let i = 0; i < n; i++) {
      let up = 0, down = 0;
      spec.series.forEach((s, k) => {
        const v = s.values[i];
        if (!finite(v) || v === 0) return;
        let y0, y1;
        if (spec.stacked) {
          if (v >= 0) { y0 = y(up); up += v; y1 = y(up); } else { y0 = y(down); down += v; y1 = y(down); }
        } else { y0 = y(0); y1 = y(v); }
        const x = spec.stacked ? bandX(i) : bandX(i) + k * bw;
        node("rect", {
          class: "bar", x: x.toFixed(2), y: Math.min(y0, y1).toFixed(2),
          width: Math.max(bw - (groups > 1 ? 1 : 0), 1).toFixed(2),
          height: Math.max(Math.abs(y1 - y0), 0.8).toFixed(2), fill: s.color, rx: 1.5,
        }, plot);
        drawn++;
      });
    }
    if (lo < 0) node("line", { class: "zero", x1: f.m.l, x2: f.m.l + f.iw, y1: y(0), y2: y(0) }, f.svg);
    // x labels: as many as fit
    const g = node("g", { class: "axis" }, f.svg);
    const fit = Math.max(1, Math.floor(f.iw / (spec.labelWidth || 52)));
    let show = (i) => i % Math.max(1, Math.ceil(n / fit)) === 0;
    if (spec.time) {  // minutes: label round times (every 5, 10, 15 ... minutes IST)
      const step = [1, 2, 5, 10, 15, 30, 60, 120].find((m) => n / m <= fit) || 240;
      show = (i) => Math.round((spec.labels[i] + IST_MS) / 60000) % step === 0;
    }
    for (let i = 0; i < n; i++) {
      if (!show(i)) continue;
      const t = node("text", { x: f.m.l + (i + 0.5) * band, y: f.height - 8, "text-anchor": "middle" }, g);
      t.textContent = (spec.xFmt || (spec.time ? hhmm : String))(spec.labels[i]);
    }
    // numeric markers placed between categories (e.g. the spot between two strikes)
    const nums = spec.labels.map(Number);
    const xOf = (v) => {
      if (!nums.every(finite)) return NaN;
      if (v <= nums[0]) return f.m.l + 0.5 * band;
      for (let i = 1; i < n; i++) {
        if (v <= nums[i]) {
          const frac = (v - nums[i - 1]) / (nums[i] - nums[i - 1] || 1);
          return f.m.l + (i - 1 + 0.5 + frac) * band;
        }
      }
      return f.m.l + (n - 0.5) * band;
    };
    drawMarkers(f, spec.markers, xOf);
    // hover bands
    const hover = node("g", {}, f.svg);
    for (let i = 0; i < n; i++) {
      const r = node("rect", { x: f.m.l + i * band, y: f.m.t, width: band, height: f.ih, fill: "transparent" }, hover);
      r.addEventListener("mousemove", (evt) => {
        const lines = [];
        for (const s of spec.series) {
          const v = s.values[i];
          if (spec.stacked && !v) continue;
          lines.push([s.color, s.name, (spec.tipFmt || compact)(v)]);
        }
        tip(evt, spec.tipTitle ? spec.tipTitle(i) : (spec.xFmt || String)(spec.labels[i]), lines);
      });
      r.addEventListener("mouseleave", untip);
    }
    f.svg.setAttribute("data-kind", "bars");
    f.svg.setAttribute("data-points", drawn);
  }

  // --- lines over numbers or times -----------------------------------------------------------
  function drawLines(container, spec) {
    const f = frame(container, spec, drawLines);
    const xs = spec.x;
    const n = xs.length;
    if (!n) { emptyNote(f, spec.empty); return; }
    let xlo = Math.min(...xs), xhi = Math.max(...xs);
    if (xlo === xhi) { xlo -= spec.time ? 60000 : 1; xhi += spec.time ? 60000 : 1; }
    const x = (v) => f.m.l + ((v - xlo) / (xhi - xlo)) * f.iw;
    const axes = { left: [Infinity, -Infinity], right: [Infinity, -Infinity] };
    for (const s of spec.series) {
      const a = axes[s.axis === "right" ? "right" : "left"];
      for (const v of s.values) if (finite(v)) { a[0] = Math.min(a[0], v); a[1] = Math.max(a[1], v); }
    }
    for (const h of spec.hlines || []) {
      const a = axes[h.axis === "right" ? "right" : "left"];
      if (finite(h.y)) { a[0] = Math.min(a[0], h.y); a[1] = Math.max(a[1], h.y); }
    }
    const count = Math.max(3, Math.round(f.ih / 45));
    const pad = (a) => { const d = (a[1] - a[0]) * 0.06; return [a[0] - d, a[1] + d]; };
    const ls = niceScale(...(spec.zeroBased ? [Math.min(0, axes.left[0]), axes.left[1]] : pad(axes.left)), count);
    const yl = (v) => f.m.t + f.ih - ((v - ls.lo) / (ls.hi - ls.lo)) * f.ih;
    yAxis(f, ls, yl, spec.yFmt, "left");
    let yr = yl;
    if (spec.series.some((s) => s.axis === "right") && finite(axes.right[0])) {
      const rs = niceScale(...pad(axes.right), count);
      yr = (v) => f.m.t + f.ih - ((v - rs.lo) / (rs.hi - rs.lo)) * f.ih;
      yAxis(f, rs, yr, spec.y2Fmt, "right");
    }
    // x axis
    const g = node("g", { class: "axis" }, f.svg);
    const ticks = spec.time ? timeTicks(xlo, xhi, Math.max(2, Math.floor(f.iw / 70)))
      : niceScale(xlo, xhi, Math.max(2, Math.floor(f.iw / 70))).ticks.filter((t) => t >= xlo && t <= xhi);
    for (const t of ticks) {
      const label = node("text", { x: x(t), y: f.height - 8, "text-anchor": "middle" }, g);
      label.textContent = (spec.xFmt || (spec.time ? hhmm : compact))(t);
    }
    for (const h of spec.hlines || []) {
      const yy = (h.axis === "right" ? yr : yl)(h.y);
      const hg = node("g", { class: "marker" }, f.svg);
      node("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: yy, y2: yy, stroke: h.color || "#c9302c" }, hg);
      const t = node("text", { x: f.m.l + f.iw - 4, y: yy - 4, fill: h.color || "#c9302c", "text-anchor": "end" }, hg);
      t.textContent = h.label || "";
    }
    drawMarkers(f, spec.markers, x);
    let drawn = 0;
    const dotted = [];
    for (const s of spec.series) {
      const yy = s.axis === "right" ? yr : yl;
      let d = "", pts = 0, pen = false;
      for (let i = 0; i < n; i++) {
        const v = s.values[i];
        if (!finite(v)) { pen = false; continue; }
        d += (pen ? "L" : "M") + x(xs[i]).toFixed(2) + "," + yy(v).toFixed(2);
        pen = true; pts++;
      }
      if (!pts) continue;
      if (s.dots || pts === 1) dotted.push([s, yy]);
      if (s.line !== false) {
        node("path", {
          class: "line", d, fill: "none", stroke: s.color, "stroke-width": s.width || 2,
          "stroke-dasharray": s.dash, "stroke-linejoin": "round", "data-n": pts,
        }, f.svg);
      }
      drawn += pts;
    }
    for (const [s, yy] of dotted) {  // on top of every line
      for (let i = 0; i < n; i++) {
        if (!finite(s.values[i])) continue;
        node("circle", { class: "dot", cx: x(xs[i]), cy: yy(s.values[i]), r: s.dots === "small" ? 3 : 3.5, fill: s.color, stroke: "#fff", "stroke-width": 1 }, f.svg);
      }
    }
    // hover: nearest x
    const hl = node("line", { class: "hover", y1: f.m.t, y2: f.m.t + f.ih, visibility: "hidden" }, f.svg);
    const overlay = node("rect", { x: f.m.l, y: f.m.t, width: f.iw, height: f.ih, fill: "transparent", class: spec.onPick ? "pick" : null }, f.svg);
    const nearest = (evt) => {
      const box = f.svg.getBoundingClientRect();
      const px = ((evt.clientX - box.left) / box.width) * f.width;
      let best = 0, bd = Infinity;
      for (let i = 0; i < n; i++) { const dd = Math.abs(x(xs[i]) - px); if (dd < bd) { bd = dd; best = i; } }
      return best;
    };
    overlay.addEventListener("mousemove", (evt) => {
      const i = nearest(evt);
      hl.setAttribute("x1", x(xs[i])); hl.setAttribute("x2", x(xs[i])); hl.setAttribute("visibility", "visible");
      const lines = spec.series.filter((s) => s.legend !== false).map((s) => [s.color, s.name, ((s.axis === "right" ? spec.y2Fmt : spec.yFmt) || compact)(s.values[i])]);
      tip(evt, spec.tipTitle ? spec.tipTitle(i) : (spec.xFmt || (spec.time ? hhmm : compact))(xs[i]), lines);
    });
    overlay.addEventListener("mouseleave", () => { hl.setAttribute("visibility", "hidden"); untip(); });
    if (spec.onPick) overlay.addEventListener("click", (evt) => spec.onPick(nearest(evt)));
    f.svg.setAttribute("data-kind", "lines");
    f.svg.setAttribute("data-points", drawn);
  }

  function emptyNote(f, text) {
    const t = node("text", { x: f.width / 2, y: f.height / 2, "text-anchor": "middle", fill: "#8a96a6" }, f.svg);
    t.textContent = text || "no data";
    f.svg.setAttribute("data-points", 0);
  }

  global.NC = { bars: drawBars, lines: drawLines, compact, decimals, hhmm, IST_MS };
})(window);
