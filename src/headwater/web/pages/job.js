// Job page: DAG coloured by back-pressure / busy time, tabs and actions.
import { api, ApiError, awaitOperation, clusterConfig } from "../api.js";
import { live, liveMetrics, stream } from "../live.js";
import { badge, esc, fmtBytes, fmtDuration, fmtNum, fmtTime, html, toast } from "../util.js";
import { Dag } from "../widgets/dag.js";
import { LineChart } from "../widgets/chart.js";
import { renderTable } from "../widgets/table.js";

const TERMINAL = new Set(["FINISHED", "CANCELED", "FAILED"]);
const TABS = ["Overview", "Exceptions", "Timeline", "Checkpoints", "Configuration",
  "Watermarks", "Back-pressure", "Accumulators", "Metrics"];

/** A BATCH job (GET /jobs/:jid's job-type): no checkpoints, savepoints or rescaling; its
 * stages run one after the other. */
const isBatch = (job) => job["job-type"] === "BATCH";

/** A vertex of a running BATCH job that has not started: it waits for its inputs. */
const waiting = (job, v) => isBatch(job) && job.state === "RUNNING" && v.status === "CREATED";

const NO_CHECKPOINTS = "Checkpointing is not enabled for this job.";

const counts = (tasks) => html`${Object.entries(tasks || {}).filter(([, n]) => n > 0)
  .map(([s, n]) => html`<span class="badge ${s}">${s.toLowerCase()} ${n}</span> `)}`;

function actionBar(el, jobid, job, cfg) {
  const id = encodeURIComponent(jobid);
  const features = cfg.features || {};
  const running = !TERMINAL.has(job.state);
  // BATCH jobs take no savepoints and cannot be rescaled: only cancelling applies.
  el.innerHTML = running ? `
    ${features["web-cancel"] === false ? "" : '<button class="btn danger" data-act="cancel">Cancel job</button>'}
    ${isBatch(job) ? "" : `<button class="btn" data-act="savepoint">Trigger savepoint</button>
    <button class="btn" data-act="stop">Stop with savepoint</button>
    <button class="btn" data-act="rescale">Rescale</button>`}
    <span class="result muted"></span>` : "";
  const result = el.querySelector(".result");
  const show = (msg, err = false) => { result.textContent = msg; result.className = err ? "result error" : "result muted"; toast(msg, err); };
  const run = async (fn) => { try { await fn(); } catch (e) { show(e.message, true); } };
  el.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => run(async () => {
    const act = b.dataset.act;
    if (act === "cancel") {
      if (!confirm(`Cancel job ${job.name}?`)) return;
      await api.patch(`/jobs/${id}?mode=cancel`);
      show("Cancellation requested.");
    } else if (act === "savepoint" || act === "stop") {
      const dir = prompt("Savepoint directory (empty for the configured default):", "");
      if (dir === null) return;
      let body, path;
      if (act === "stop") {
        const drain = confirm("Drain the pipeline (emit MAX_WATERMARK) before stopping?");
        body = { drain }; if (dir) body.targetDirectory = dir; path = `/jobs/${id}/stop`;
      } else {
        body = { "cancel-job": false }; if (dir) body["target-directory"] = dir; path = `/jobs/${id}/savepoints`;
      }
      const { "request-id": trigger } = await api.post(path, body);
      show(`Savepoint ${trigger} triggered…`);
      const op = await awaitOperation(`/jobs/${id}/savepoints/${encodeURIComponent(trigger)}`);
      if (op["failure-cause"]) show(`Savepoint failed: ${op["failure-cause"]["stack-trace"] || op["failure-cause"].class}`, true);
      else show(`Savepoint completed at ${op.location}`);
    } else if (act === "rescale") {
      const p = prompt("New parallelism:", String(job.vertices?.[0]?.parallelism || 1));
      if (p === null) return;
      if (!/^\d+$/.test(p) || Number(p) < 1) { show("Parallelism must be a positive integer.", true); return; }
      if (!confirm(`Rescale job ${job.name} to parallelism ${p}?`)) return;
      const { "request-id": trigger } = await api.patch(`/jobs/${id}/rescaling?parallelism=${p}`);
      show("Rescaling…");
      const op = await awaitOperation(`/jobs/${id}/rescaling/${encodeURIComponent(trigger)}`);
      show(op["failure-cause"] ? `Rescaling failed: ${op["failure-cause"]["stack-trace"] || op["failure-cause"].class}` : "Rescaled.", !!op["failure-cause"]);
    }
  })));
}

const TAB_RENDERERS = {
  async Overview(el, ctx) {
    renderTable(el, [
      { title: "Name", value: (v) => v.name },
      { title: "Status", value: (v) => (waiting(ctx.job, v)
        ? html`<span class="nowrap">${badge(v.status)} <span class="muted">waits for its inputs</span></span>` : badge(v.status)) },
      { title: "Parallelism", value: (v) => v.parallelism, num: true },
      { title: "Records in", value: (v) => fmtNum(v.metrics?.["read-records"]), num: true },
      { title: "Records out", value: (v) => fmtNum(v.metrics?.["write-records"]), num: true },
      { title: "Bytes in", value: (v) => fmtBytes(v.metrics?.["read-bytes"]), num: true },
      { title: "Bytes out", value: (v) => fmtBytes(v.metrics?.["write-bytes"]), num: true },
      { title: "Duration", value: (v) => fmtDuration(v.duration), num: true },
      { title: "Tasks", value: (v) => counts(v.tasks) },
    ], ctx.job.vertices || [], (v) => { location.hash = `#/jobs/${ctx.jobid}/vertices/${v.id}`; });
  },
  async Exceptions(el, ctx) {
    const ex = await api.get(`${ctx.base}/exceptions`);
    const history = ex.exceptionHistory?.entries || ex["all-exceptions"] || [];
    el.innerHTML = html`<h2>Root exception</h2>
      ${ex["root-exception"] ? html`<p class="muted">${fmtTime(ex.timestamp)}</p><pre>${ex["root-exception"]}</pre>` : html`<p class="muted">No failure.</p>`}
      <h2>History</h2>${history.length ? history.map((e) => html`
        <p><b>${e.exceptionName || e.task || e.taskName || ""}</b> <span class="muted">${e.location || ""} ${fmtTime(e.timestamp)}</span></p>
        <pre>${e.stacktrace || e.exception || ""}</pre>`) : html`<p class="muted">No exceptions.</p>`}`.__raw;
  },
  async Timeline(el, ctx) {
    const rows = [];
    await Promise.all((ctx.job.vertices || []).map(async (v) => {
      const t = await api.get(`${ctx.base}/vertices/${v.id}/subtasktimes`);
      for (const s of t.subtasks || []) rows.push({ vertex: v.name, ...s });
    }));
    const states = [...new Set(rows.flatMap((r) => Object.keys(r.timestamps || {})))];
    const t0 = Math.min(...rows.flatMap((r) => Object.values(r.timestamps || {})).filter((x) => x > 0));
    renderTable(el, [
      { title: "Vertex", value: (r) => r.vertex },
      { title: "Subtask", value: (r) => r.subtask, num: true },
      { title: "Host", value: (r) => r.host },
      ...states.map((s) => ({ title: `${s} (+ms)`, num: true,
        value: (r) => (r.timestamps?.[s] > 0 ? fmtNum(r.timestamps[s] - t0) : "-") })),
      { title: "Duration", value: (r) => fmtDuration(r.duration), num: true },
    ], rows, null, "No subtask times yet.");
  },
  async Checkpoints(el, ctx) {
    if (isBatch(ctx.job)) {
      el.innerHTML = `<p class="muted">${NO_CHECKPOINTS} BATCH jobs take no checkpoints: a failed task restarts from the results of the stages before it.</p>`;
      return;
    }
    let cp, conf;
    try {
      [cp, conf] = await Promise.all([api.get(`${ctx.base}/checkpoints`),
        api.get(`${ctx.base}/checkpoints/config`).catch(() => null)]);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) { el.innerHTML = `<p class="muted">${NO_CHECKPOINTS}</p>`; return; }
      throw e;
    }
    const c = cp.counts || {};
    const latest = cp.latest?.completed;
    el.innerHTML = html`<div class="cards">${[["Triggered", c.total], ["In progress", c.in_progress],
      ["Completed", c.completed], ["Failed", c.failed], ["Restored", c.restored]].map(([k, v]) =>
      html`<div class="card"><div class="k">${k}</div><div class="v">${v ?? "-"}</div></div>`)}</div>
      <h2>Latest completed</h2><p>${latest ? `#${latest.id} at ${fmtTime(latest.latest_ack_timestamp)}, ${fmtBytes(latest.state_size)}, ${fmtDuration(latest.end_to_end_duration)}${latest.external_path ? ", " + latest.external_path : ""}` : "None yet."}</p>
      <h2>History</h2><div class="history"></div><div class="detail"></div>
      <h2>Summary</h2><div class="summary"></div><h2>Configuration</h2><div class="config"></div>`.__raw;
    renderTable(el.querySelector(".history"), [
      { title: "ID", value: (h) => h.id, num: true },
      { title: "Status", value: (h) => badge(h.status) },
      { title: "Type", value: (h) => (h.is_savepoint ? "savepoint" : "checkpoint") },
      { title: "Triggered", value: (h) => fmtTime(h.trigger_timestamp) },
      { title: "Acknowledged", value: (h) => `${h.num_acknowledged_subtasks}/${h.num_subtasks}` },
      { title: "End to end", value: (h) => fmtDuration(h.end_to_end_duration), num: true },
      { title: "State size", value: (h) => fmtBytes(h.state_size), num: true },
    ], cp.history || [], (h) => checkpointDetail(el.querySelector(".detail"), ctx, h.id), "No checkpoints.");
    const s = cp.summary || {};
    const metrics = Object.keys(s);
    const aggs = [...new Set(metrics.flatMap((m) => Object.keys(s[m] || {})))];
    renderTable(el.querySelector(".summary"), [{ title: "", value: (m) => m },
      ...aggs.map((a) => ({ title: a, num: true, value: (m) => fmtNum(s[m]?.[a]) }))], metrics);
    renderTable(el.querySelector(".config"), [{ title: "Key", value: (r) => r[0] },
      { title: "Value", value: (r) => (typeof r[1] === "object" ? JSON.stringify(r[1]) : r[1]) }],
    conf ? Object.entries(conf) : [], null, "Checkpointing is not enabled.");
  },
  async Configuration(el, ctx) {
    const c = await api.get(`${ctx.base}/config`);
    const ec = c["execution-config"] || {};
    const rows = Object.entries(ec).filter(([k]) => k !== "user-config")
      .concat(Object.entries(ec["user-config"] || {}).map(([k, v]) => [`user-config: ${k}`, v]));
    renderTable(el, [{ title: "Key", value: (r) => r[0] },
      { title: "Value", value: (r) => (typeof r[1] === "object" ? JSON.stringify(r[1]) : r[1]) }], rows);
  },
  async Watermarks(el, ctx) {
    const rows = [];
    await Promise.all((ctx.job.vertices || []).map(async (v) => {
      for (const w of await api.get(`${ctx.base}/vertices/${v.id}/watermarks`)) rows.push({ vertex: v.name, ...w });
    }));
    renderTable(el, [{ title: "Vertex", value: (r) => r.vertex }, { title: "Metric", value: (r) => r.id },
      { title: "Watermark", value: (r) => (Number(r.value) <= -9e15 ? "No watermark" : r.value), num: true }],
    rows, null, "No watermarks.");
  },
  async "Back-pressure"(el, ctx) {
    const rows = [];
    await Promise.all((ctx.job.vertices || []).map(async (v) => {
      const bp = await api.get(`${ctx.base}/vertices/${v.id}/backpressure`);
      for (const s of bp.subtasks || []) rows.push({ vertex: v.name, ...s });
    }));
    renderTable(el, [{ title: "Vertex", value: (r) => r.vertex },
      { title: "Subtask", value: (r) => r.subtask, num: true },
      { title: "Level", value: (r) => html`<span class="badge ${r["backpressure-level"]}">${r["backpressure-level"]}</span>` },
      { title: "Ratio", value: (r) => `${Math.round((r.ratio || 0) * 100)}%`, num: true }], rows);
  },
  async Accumulators(el, ctx) {
    const a = await api.get(`${ctx.base}/accumulators`);
    renderTable(el, [{ title: "Name", value: (r) => r.name }, { title: "Type", value: (r) => r.type },
      { title: "Value", value: (r) => r.value }],
    (a["user-task-accumulators"] || []).concat(a["job-accumulators"] || []), null, "No accumulators.");
  },
  async Metrics(el, ctx) {
    const vertices = ctx.job.vertices || [];
    el.innerHTML = html`<form class="inline"><select class="vertex">${vertices.map((v) =>
      html`<option value="${v.id}">${v.name}</option>`)}</select>
      <select class="metric"></select><button class="btn" type="submit">Add chart</button></form>
      <div class="grid2 charts"></div>`.__raw;
    const vSel = el.querySelector(".vertex"), mSel = el.querySelector(".metric");
    const loadMetrics = async () => {
      const list = await api.get(`${ctx.base}/vertices/${vSel.value}/metrics`);
      mSel.innerHTML = list.map((m) => m.id).sort().map((id) => `<option>${esc(id)}</option>`).join("");
    };
    vSel.addEventListener("change", loadMetrics);
    if (vertices.length) await loadMetrics();
    el.querySelector("form").addEventListener("submit", (e) => {
      e.preventDefault();
      const vid = vSel.value, metric = mSel.value;
      if (!metric) return;
      const box = document.createElement("div");
      el.querySelector(".charts").appendChild(box);
      const name = vertices.find((v) => v.id === vid)?.name || vid;
      const chart = new LineChart(box, `${name}: ${metric}`);
      ctx.stops.push(liveMetrics([[`jobs/${ctx.jobid}/vertices/${vid}`, metric]],
        (_, __, value) => chart.push(value)));
    });
  },
};

async function checkpointDetail(el, ctx, id) {
  const d = await api.get(`${ctx.base}/checkpoints/details/${id}`);
  const names = new Map((ctx.job.vertices || []).map((v) => [v.id, v.name]));
  const tasks = Object.entries(d.tasks || {});
  el.innerHTML = `<h2>Checkpoint ${esc(id)}</h2><div class="per-vertex"></div><div class="per-subtask"></div>`;
  renderTable(el.querySelector(".per-vertex"), [
    { title: "Vertex", value: ([vid]) => names.get(vid) || vid },
    { title: "Acknowledged", value: ([, t]) => `${t.num_acknowledged_subtasks}/${t.num_subtasks}` },
    { title: "State size", value: ([, t]) => fmtBytes(t.state_size), num: true },
    { title: "End to end", value: ([, t]) => fmtDuration(t.end_to_end_duration), num: true },
  ], tasks, async ([vid]) => {
    const s = await api.get(`${ctx.base}/checkpoints/details/${id}/subtasks/${vid}`);
    renderTable(el.querySelector(".per-subtask"), [
      { title: "Subtask", value: (r) => r.index, num: true },
      { title: "Status", value: (r) => r.status },
      { title: "Ack", value: (r) => fmtTime(r.ack_timestamp) },
      { title: "End to end", value: (r) => fmtDuration(r.end_to_end_duration), num: true },
      { title: "State size", value: (r) => fmtBytes(r.state_size), num: true },
      { title: "Alignment", value: (r) => fmtDuration(r.alignment?.duration), num: true },
    ], s.subtasks || []);
  });
}

/** Vertex colour inputs: back-pressure ratio (max over subtasks) and busy time. */
async function vertexStats(base, v) {
  const [bp, busy] = await Promise.all([
    api.get(`${base}/vertices/${v.id}/backpressure`).catch(() => null),
    api.get(`${base}/vertices/${v.id}/subtasks/metrics?get=busyTimeMsPerSecond&agg=max`).catch(() => []),
  ]);
  const ratios = (bp?.subtasks || []).map((s) => s.ratio || 0);
  const busyMax = busy.find?.((m) => m.id === "busyTimeMsPerSecond")?.max;
  return {
    recordsIn: v.metrics?.["read-records"], recordsOut: v.metrics?.["write-records"],
    backpressure: ratios.length ? Math.max(...ratios) : null,
    level: bp?.["backpressure-level"], busy: busyMax != null ? Number(busyMax) / 1000 : null,
  };
}

/** #/jobs/:jobid */
export async function jobPage(main, { jobid }) {
  const base = `/jobs/${encodeURIComponent(jobid)}`;
  const [job, plan, cfg] = await Promise.all([api.get(base), api.get(`${base}/plan`), clusterConfig()]);
  main.innerHTML = html`<h1><span class="name">${job.name}</span> <span class="state">${badge(job.state)}</span></h1>
    <p class="muted">${job.jid} · <span class="job-type">${job["job-type"] || ""}</span> · started ${fmtTime(job["start-time"])} · <span class="duration">${fmtDuration(job.duration)}</span></p>
    <div class="actions"></div>
    <div class="dag" id="dag"></div>
    <div class="legend"><span><i style="background:#e6eefb"></i>idle</span>
      <span><i style="background:hsl(0,80%,65%)"></i>busy</span>
      <span><i style="background:hsl(0,0%,40%)"></i>back-pressured</span>
      ${isBatch(job) ? html`<span><i style="background:#f6f7f9;border-style:dashed"></i>not started (waits for its inputs)</span>` : ""}
      <span>scroll to zoom, drag to pan, double-click to fit</span></div>
    <div class="tabs">${TABS.map((t, i) => html`<button data-tab="${t}" class="${i ? "" : "active"}">${t}</button>`)}</div>
    <div class="tab"></div>`.__raw;
  const ctx = { jobid, base, job, stops: [] };
  actionBar(main.querySelector(".actions"), jobid, job, cfg);
  const dag = new Dag(main.querySelector("#dag"), plan.plan || plan,
    (vid) => { location.hash = `#/jobs/${jobid}/vertices/${vid}`; });
  let current = "Overview";
  const tabEl = main.querySelector(".tab");
  const showTab = async (name, quiet = false) => {
    current = name;
    main.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    if (!quiet) { ctx.stops.forEach((s) => s()); ctx.stops = []; }
    try { await TAB_RENDERERS[name](tabEl, ctx); } catch (e) { tabEl.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  };
  main.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  await showTab("Overview");
  let lastState = job.state;
  live(async () => {
    const j = await api.get(base);
    const stats = await Promise.all((j.vertices || []).map((v) => vertexStats(base, v)));
    return { j, stats };
  }, ({ j, stats }, cause) => {
    ctx.job = j;
    (j.vertices || []).forEach((v, i) => dag.update(v.id, { ...stats[i], waiting: waiting(j, v) }));
    main.querySelector(".state").innerHTML = badge(j.state).__raw;
    main.querySelector(".duration").textContent = fmtDuration(j.duration);
    if (j.state !== lastState) { lastState = j.state; actionBar(main.querySelector(".actions"), jobid, j, cfg); }
    // Tabs of discrete changes follow their events (or every poll while the stream is down).
    const follows = { Overview: true, Exceptions: ["exception", "job-status"], Checkpoints: ["checkpoint"] }[current];
    if (follows === true || (follows && (!stream.connected || follows.includes(cause?.kind) || cause?.kind === "hello"))) {
      TAB_RENDERERS[current](tabEl, ctx).catch(() => {});
    }
  }, { interval: 2000, on: ["job-status", "exception", "checkpoint"], job: jobid });
}
