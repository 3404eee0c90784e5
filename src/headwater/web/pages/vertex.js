// Vertex detail: subtasks with their TaskManager, attempt, state, figures and back-pressure;
// the FlameGraph tab samples the Python stacks of the vertex's threads.
import { api } from "../api.js";
import { live } from "../live.js";
import { badge, esc, fmtBytes, fmtDuration, fmtNum, fmtTime, html } from "../util.js";
import { FlameGraph } from "../widgets/flamegraph.js";
import { renderTable } from "../widgets/table.js";

const TABS = ["Subtasks", "FlameGraph"];

// Flink's JobVertexFlameGraph answers without a graph (endTimestamp only).
const NO_GRAPH = {
  "-1": "The vertex has ended: nothing left to sample.",
  "-2": "Flame graphs are disabled (rest.flamegraph.enabled: false).",
  "-3": "Sampling the threads of the vertex's subtasks… the graph appears when the first sampling is done.",
};

/** The FlameGraph tab: type selector and the graph, refreshed while the tab is open. */
function flameGraphTab(el, base) {
  el.innerHTML = `<form class="inline"><label>Type <select class="fg-type">
      <option value="full">Full</option><option value="on_cpu">On-CPU</option><option value="off_cpu">Off-CPU</option>
    </select></label><span class="fg-status muted"></span></form>
    <p class="muted">Samples of the Python stacks of every subtask's threads (task thread, and source thread
    for sources): each frame is <code>function (module:line)</code>, as wide as the samples it was on.
    Warm frames are your code and libraries, blue ones headwater's.</p><div class="fg"></div>`;
  const select = el.querySelector(".fg-type");
  const status = el.querySelector(".fg-status");
  const graph = new FlameGraph(el.querySelector(".fg"));
  let shown = null;
  let stop = null;
  const start = () => {
    if (stop) stop();
    stop = live(() => api.get(`${base}/flamegraph?type=${select.value}`), (fg) => {
      const key = `${select.value}:${fg.endTimestamp}`;
      if (!fg.data) {
        status.textContent = NO_GRAPH[String(fg.endTimestamp)] || "No flame graph.";
        if (shown !== key) graph.update(null);
      } else {
        status.textContent = `sampled ${fmtTime(fg.endTimestamp)}, ${fmtNum(fg.data.value)} samples`;
        if (shown !== key) graph.update(fg.data);
      }
      shown = key;
    }, 2000, (err) => { status.textContent = err.message; });
  };
  select.addEventListener("change", start);
  start();
  return () => { if (stop) stop(); };
}

/** #/jobs/:jobid/vertices/:vertexid */
export async function vertexPage(main, { jobid, vertexid }) {
  const base = `/jobs/${encodeURIComponent(jobid)}/vertices/${encodeURIComponent(vertexid)}`;
  main.innerHTML = `<p><a href="#/jobs/${esc(jobid)}">← job</a></p><h1 class="title">Vertex</h1>
    <div class="cards"></div>
    <div class="tabs">${TABS.map((t, i) => `<button data-tab="${t}" class="${i ? "" : "active"}">${t}</button>`).join("")}</div>
    <div class="panel" data-panel="Subtasks"><h2>Subtasks</h2><div class="subtasks"></div>
    <h2>Attempt history</h2><div class="attempts"></div></div>
    <div class="panel" data-panel="FlameGraph" hidden></div>`;
  let stopFlameGraph = null;
  main.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    const tab = b.dataset.tab;
    main.querySelectorAll(".tabs button").forEach((x) => x.classList.toggle("active", x === b));
    main.querySelectorAll(".panel").forEach((p) => { p.hidden = p.dataset.panel !== tab; });
    if (tab === "FlameGraph" && !stopFlameGraph) {
      stopFlameGraph = flameGraphTab(main.querySelector('[data-panel="FlameGraph"]'), base);
    } else if (tab !== "FlameGraph" && stopFlameGraph) {
      stopFlameGraph();
      stopFlameGraph = null;
    }
  }));
  live(async () => {
    const [v, bp] = await Promise.all([api.get(base), api.get(`${base}/backpressure`).catch(() => null)]);
    return { v, bp };
  }, ({ v, bp }) => {
    main.querySelector(".title").textContent = v.name;
    const ratios = new Map((bp?.subtasks || []).map((s) => [s.subtask, s]));
    main.querySelector(".cards").innerHTML = [["Parallelism", v.parallelism],
      ["Back-pressure", bp ? bp["backpressure-level"] : "-"], ["Subtasks", (v.subtasks || []).length]]
      .map(([k, val]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(val)}</div></div>`).join("");
    const subtasks = v.subtasks || [];
    renderTable(main.querySelector(".subtasks"), [
      { title: "#", value: (s) => s.subtask, num: true },
      { title: "TaskManager", value: (s) => s["taskmanager-id"] || s.host },
      { title: "Attempt", value: (s) => s.attempt, num: true },
      { title: "State", value: (s) => badge(s.status) },
      { title: "Records in", value: (s) => fmtNum(s.metrics?.["read-records"]), num: true },
      { title: "Records out", value: (s) => fmtNum(s.metrics?.["write-records"]), num: true },
      { title: "Bytes in", value: (s) => fmtBytes(s.metrics?.["read-bytes"]), num: true },
      { title: "Bytes out", value: (s) => fmtBytes(s.metrics?.["write-bytes"]), num: true },
      { title: "Duration", value: (s) => fmtDuration(s.duration), num: true },
      { title: "Back-pressure", value: (s) => {
        const r = ratios.get(s.subtask);
        return r ? html`<span class="badge ${r["backpressure-level"]}">${r["backpressure-level"]}</span> ${Math.round(r.ratio * 100)}%` : "-";
      } },
    ], subtasks);
    const history = subtasks.flatMap((s) => (s["other-concurrent-attempts"] || []).map((a) => ({ ...a, subtask: s.subtask })));
    const attempts = subtasks.filter((s) => s.attempt > 0).concat(history);
    renderTable(main.querySelector(".attempts"), [
      { title: "#", value: (s) => s.subtask, num: true },
      { title: "Attempt", value: (s) => s.attempt, num: true },
      { title: "State", value: (s) => badge(s.status) },
      { title: "Host", value: (s) => s.host },
    ], attempts, null, "Every subtask runs its first attempt.");
  }, { interval: 3000, on: ["job-status", "exception"], job: jobid });
}
