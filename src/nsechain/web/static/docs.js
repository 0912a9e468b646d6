/* /docs: the OpenAPI document rendered without any CDN (FastAPI's Swagger UI needs one). */
(function () {
  "use strict";
  const { $, esc } = U;

  function ref(spec, schema) {
    if (schema && schema.$ref) return spec.components.schemas[schema.$ref.split("/").pop()];
    return schema || {};
  }
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
  function model(spec, name, seen) {
    const s = spec.components.schemas[name];
    if (!s || !s.properties) return "";
    let html = "<div class='schema'><b>" + esc(name) + "</b>" + (s.description ? " — " + esc(s.description) : "") + "<br>";
    for (const [k, v] of Object.entries(s.properties)) {
      html += "<code>" + esc(k) + "</code>: " + esc(typeOf(spec, v)) + (v.description ? " — " + esc(v.description) : "") + "<br>";
      const inner = v.$ref || (v.items && v.items.$ref) || (v.anyOf || []).map((x) => x.$ref || (x.items && x.items.$ref)).find(Boolean);
      if (inner) seen.add(inner.split("/").pop());
    }
    return html + "</div>";
  }

  async function init() {
    const spec = await U.api("/openapi.json");
    $("title").textContent = spec.info.title + " · API v" + spec.info.version;
    $("intro").innerHTML = "<p>" + esc(spec.info.summary || "") + "</p><p>" + esc(spec.info.description || "") + "</p>" +
      "<p>Every route is a GET and answers JSON. Try one: <a href='/api/chain/NIFTY?strikes=3'>/api/chain/NIFTY?strikes=3</a>.</p>";
    let html = "";
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const example = path.replace("{symbol}", "NIFTY");
        html += "<div class='card op'><h3><span class='get'>" + method.toUpperCase() + "</span><a href='" + esc(example) + "'>" + esc(path) + "</a></h3>";
        html += "<p>" + esc(op.description || op.summary || "").replace(/``(.+?)``/g, "<code>$1</code>") + "</p>";
        if (op.parameters && op.parameters.length) {
          html += "<table class='data'><thead><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Default</th><th>Limits</th><th>Meaning</th></tr></thead><tbody>";
          for (const p of op.parameters) {
            const s = p.schema || {};
            html += "<tr><td><code>" + esc(p.name) + "</code></td><td>" + esc(p.in) + "</td><td>" + esc(typeOf(spec, s)) + "</td><td>" + (p.required ? "yes" : "") + "</td><td>" + esc(s.default === undefined || s.default === null ? "" : s.default) + "</td><td>" + esc(limits(s)) + "</td><td>" + esc(p.description || "") + "</td></tr>";
          }
          html += "</tbody></table>";
        }
        const codes = Object.entries(op.responses || {}).map(([c, r]) => "<b>" + c + "</b> " + esc(r.description)).join(" · ");
        html += "<p style='margin-top:8px'>Responses: " + codes + "</p>";
        const ok = op.responses["200"] && op.responses["200"].content && op.responses["200"].content["application/json"];
        if (ok) {
          const seen = new Set();
          const first = typeOf(spec, ok.schema).replace("[]", "");
          seen.add(first);
          let models = "";
          const done = new Set();
          while (seen.size > done.size) {
            for (const n of [...seen]) if (!done.has(n)) { done.add(n); models += model(spec, n, seen); }
          }
          if (models) html += "<details><summary>Response: " + esc(typeOf(spec, ok.schema)) + "</summary>" + models + "</details>";
        }
        html += "</div>";
      }
    }
    $("ops").innerHTML = html;
    document.body.dataset.loaded = "1";
  }
  init().catch((e) => { $("ops").innerHTML = "<div class='note'>" + esc(e.message) + "</div>"; });
})();
