// The REST API's reference, rendered from the OpenAPI document the JobManager serves at
// /openapi.json (generated from the endpoint declarations and Flink's schemas).
import { esc as escapeHtml } from "/util.js";

const VERBS = ["get", "post", "put", "patch", "delete"];

function resolve(doc, schema, depth = 0, seen = new Set()) {
  if (!schema || depth > 12) return schema ?? {};
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    if (seen.has(name)) return { "$ref": name };
    return resolve(doc, doc.components.schemas[name], depth + 1, new Set([...seen, name]));
  }
  const out = { ...schema };
  if (out.properties) {
    out.properties = Object.fromEntries(Object.entries(out.properties)
      .map(([k, v]) => [k, resolve(doc, v, depth + 1, seen)]));
  }
  if (out.items) out.items = resolve(doc, out.items, depth + 1, seen);
  if (out.additionalProperties && typeof out.additionalProperties === "object") {
    out.additionalProperties = resolve(doc, out.additionalProperties, depth + 1, seen);
  }
  return out;
}

function schemaBlock(doc, title, schema) {
  if (!schema || Object.keys(schema).length === 0) return "";
  const text = JSON.stringify(resolve(doc, schema), null, 2);
  return `<h4>${escapeHtml(title)}</h4><div class="schema">${escapeHtml(text)}</div>`;
}

function operation(doc, path, verb, op) {
  const params = (op.parameters || []).map((p) => `<tr><td>${escapeHtml(p.name)}</td>
    <td>${escapeHtml(p.in)}</td><td>${p.required ? "yes" : ""}</td>
    <td>${escapeHtml(p.description || "")}</td></tr>`).join("");
  const ok = Object.entries(op.responses || {}).find(([code]) => code.startsWith("2"));
  const request = op.requestBody?.content?.["application/json"]?.schema;
  return `<details class="op" data-path="${escapeHtml(path)}" data-verb="${verb}">
    <summary><span class="verb ${verb}">${verb.toUpperCase()}</span>
      <span class="path">${escapeHtml(path)}</span>
      <span class="muted">${escapeHtml(op.summary || "")}</span></summary>
    <div class="body">
      ${params ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th>
        <th>description</th></tr>${params}</table>` : ""}
      ${schemaBlock(doc, "Request body", request)}
      ${ok ? schemaBlock(doc, `Response ${ok[0]}`, ok[1].content?.["application/json"]?.schema) : ""}
      <p class="muted">Errors: 4xx/5xx as <code>{"errors": ["..."]}</code>.</p>
    </div></details>`;
}

function render(doc) {
  const groups = new Map();
  for (const [path, ops] of Object.entries(doc.paths)) {
    const group = path.split("/")[1] || "/";
    for (const verb of VERBS) {
      if (!ops[verb]) continue;
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(operation(doc, path, verb, ops[verb]));
    }
  }
  const count = [...groups.values()].reduce((n, ops) => n + ops.length, 0);
  const main = document.getElementById("docs");
  main.innerHTML = `<h1>${escapeHtml(doc.info.title)}</h1>
    <p class="muted">Version ${escapeHtml(doc.info.version)} · ${count} operations ·
      <a href="/openapi.json">OpenAPI ${escapeHtml(doc.openapi)} document</a> ·
      every path also answers under <code>/v1</code></p>
    <input id="filter" placeholder="filter by path or description">
    ${[...groups.entries()].map(([group, ops]) => `<section class="group" data-group="${escapeHtml(group)}">
      <h2>/${escapeHtml(group)}</h2>${ops.join("")}</section>`).join("")}`;
  document.getElementById("filter").addEventListener("input", (e) => {
    const needle = e.target.value.toLowerCase();
    for (const op of main.querySelectorAll(".op")) {
      op.hidden = needle !== "" && !op.textContent.toLowerCase().includes(needle);
    }
  });
}

fetch("/openapi.json")
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
  .then(render)
  .catch((err) => {
    document.getElementById("docs").innerHTML =
      `<p class="error">Cannot load /openapi.json: ${escapeHtml(String(err))}</p>`;
  });
