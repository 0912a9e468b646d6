/* /docs: the OpenAPI document rendered without any CDN (FastAPI's Swagger UI needs one).
   Built with text nodes (U.el / U.fill) like the other pages: no HTML string is parsed. */
(function () {
  "use strict";
  const { $, el, fill } = U;

  function typeOf(spec, s) {
    if (!s) return "";
    if (s.$ref) return s.$ref.split("/").pop();
    if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).filter((t) => t !== "null").join(" | ") + (s.anyOf.some((x) => x.type === "null") ? " (optional)" : "");
    if (s.type === "array") return typeOf(spec, s.items) + "[]";
    return (s.format ? s.format : s.type) || "any";
  }
  function limits(s) {
    const out = [];
    if (!s) return "";
    for (const k of ["minimum", "maximum", "pattern"]) if (s[k] !== undefined) out.push(k + " " + s[k]);
    if (s.anyOf) for (const x of s.anyOf) for (const k of ["minimum", "maximum", "pattern"]) if (x[k] !== undefined) out.push(k + " " + x[k]);
    return out.join(", ");
  }
  // A description's ``literal`` parts as <code>, the rest as text.
  function prose(text) {
    return String(text || "").split(/``(.+?)``/g).map((part, i) => (i % 2 ? el("code", null, part) : part));
  }
  function model(spec, name, seen) {
    const s = spec.components.schemas[name];
    if (!s || !s.properties) return null;
    const box = el("div", { class: "schema" }, el("b", null, name), s.description ? " — " + s.description : "", el("br"));
    for (const [k, v] of Object.entries(s.properties)) {
      box.append(el("code", null, k), ": " + typeOf(spec, v) + (v.description ? " — " + v.description : ""), el("br"));
      const inner = v.$ref || (v.items && v.items.$ref) || (v.anyOf || []).map((x) => x.$ref || (x.items && x.items.$ref)).find(Boolean);
      if (inner) seen.add(inner.split("/").pop());
    }
    return box;
  }
  function params(spec, list) {
    if (!list || !list.length) return null;
    const head = ["Parameter", "In", "Type", "Required", "Default", "Limits", "Meaning"].map((t) => el("th", null, t));
    const rows = list.map((p) => {
      const s = p.schema || {};
      const dflt = s.default === undefined || s.default === null ? "" : s.default;
      return el("tr", null, el("td", null, el("code", null, p.name)), el("td", null, p.in), el("td", null, typeOf(spec, s)),
        el("td", null, p.required ? "yes" : ""), el("td", null, dflt), el("td", null, limits(s)), el("td", null, p.description || ""));
    });
    return el("table", { class: "data" }, el("thead", null, el("tr", null, head)), el("tbody", null, rows));
  }
  function models(spec, op) {
    const ok = op.responses["200"] && op.responses["200"].content && op.responses["200"].content["application/json"];
    if (!ok) return null;
    const seen = new Set([typeOf(spec, ok.schema).replace("[]", "")]);
    const done = new Set();
    const boxes = [];
    while (seen.size > done.size) {
      for (const n of [...seen]) if (!done.has(n)) { done.add(n); boxes.push(model(spec, n, seen)); }
    }
    if (!boxes.some(Boolean)) return null;
    return el("details", null, el("summary", null, "Response: " + typeOf(spec, ok.schema)), boxes);
  }
  function operation(spec, path, method, op) {
    const codes = Object.entries(op.responses || {}).map(([c, r], i) => [i ? " · " : "", el("b", null, c), " " + (r.description || "")]);
    return el("div", { class: "card op" },
      el("h3", null, el("span", { class: "get" }, method.toUpperCase()), el("a", { href: path.replace("{symbol}", "NIFTY") }, path)),
      el("p", null, prose(op.description || op.summary)),
      params(spec, op.parameters),
      el("p", { class: "codes" }, "Responses: ", codes),
      models(spec, op));
  }

  async function init() {
    const spec = await U.api("/openapi.json");
    $("title").textContent = spec.info.title + " · API v" + spec.info.version;
    const example = "/api/chain/NIFTY?strikes=3";
    fill("intro", el("p", null, spec.info.summary || ""), el("p", null, spec.info.description || ""),
      el("p", null, "Every route is a GET and answers JSON. Try one: ", el("a", { href: example }, example), "."));
    const ops = [];
    for (const [path, byMethod] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(byMethod)) ops.push(operation(spec, path, method, op));
    }
    fill("ops", ops);
    document.body.dataset.loaded = "1";
  }
  init().catch((e) => { fill("ops", el("div", { class: "note" }, e.message)); });
})();
