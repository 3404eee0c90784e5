// Vertex detail: subtasks with their TaskManager, attempt, state, figures and back-pressure.
import { api } from "../api.js";
import { live } from "../live.js";
import { badge, esc, fmtBytes, fmtDuration, fmtNum, html } from "../util.js";
import { renderTable } from "../widgets/table.js";

/** #/jobs/:jobid/vertices/:vertexid */
export async function vertexPage(main, { jobid, vertexid }) {
  const base = `/jobs/${encodeURIComponent(jobid)}/vertices/${encodeURIComponent(vertexid)}`;
  main.innerHTML = `<p><a href="#/jobs/${esc(jobid)}">← job</a></p><h1 class="title">Vertex</h1>
    <div class="cards"></div><h2>Subtasks</h2><div class="subtasks"></div>
    <h2>Attempt history</h2><div class="attempts"></div>`;
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
