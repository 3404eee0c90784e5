// Shared pieces of the TaskManager and JobManager pages: log viewer, stdout, thread dump, charts.
import { api } from "../api.js";
import { live, liveMetrics } from "../live.js";
import { esc, fmtBytes, html } from "../util.js";
import { LineChart } from "../widgets/chart.js";

/** Log file list plus a viewer with follow mode (re-fetch and stick to the bottom). */
export async function logsPanel(el, base) {
  const list = await api.get(`${base}/logs`).catch(() => ({ logs: [] }));
  const files = list.logs || [];
  el.innerHTML = html`<form class="inline"><select class="file">
      <option value="${base}/log">log</option><option value="${base}/stdout">stdout</option>
      ${files.map((f) => html`<option value="${base}/logs/${encodeURIComponent(f.name)}">${f.name} (${fmtBytes(f.size)})</option>`)}
    </select><label><input type="checkbox" class="follow"> follow</label></form><pre class="view">Loading…</pre>`.__raw;
  const sel = el.querySelector(".file"), pre = el.querySelector(".view"), follow = el.querySelector(".follow");
  let stop = null;
  const load = async () => {
    const text = await api.text(sel.value).catch((e) => `(${e.message})`);
    pre.textContent = text || "(empty)";
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  };
  const restart = () => {
    if (stop) stop();
    stop = follow.checked ? live(load, () => {}, 2000) : null;
    if (!stop) load();
  };
  sel.addEventListener("change", restart);
  follow.addEventListener("change", restart);
  await load();
}

/** Thread dump as text blocks. */
export async function threadDumpPanel(el, base) {
  const d = await api.get(`${base}/thread-dump`);
  el.innerHTML = `<pre>${esc((d.threadInfos || []).map((t) => t.stringifiedThreadInfo).join("\n"))}</pre>`;
}

/** Live charts for every listed metric matching `pattern` (pushed by the event stream). */
export async function metricCharts(el, base, pattern, limit = 8) {
  const ids = (await api.get(`${base}/metrics`)).map((m) => m.id).filter((id) => pattern.test(id)).sort().slice(0, limit);
  if (!ids.length) { el.innerHTML = '<p class="muted">No matching metrics.</p>'; return; }
  el.innerHTML = "";
  el.classList.add("grid2");
  const charts = new Map(ids.map((id) => {
    const box = document.createElement("div");
    el.appendChild(box);
    return [id, new LineChart(box, id)];
  }));
  const resource = decodeURIComponent(base.replace(/^\//, ""));
  liveMetrics(ids.map((id) => [resource, id]), (_, id, value) => charts.get(id)?.push(value));
}
