// Cluster overview and the job lists.
import { api } from "../api.js";
import { live } from "../live.js";
import { badge, esc, fmtDuration, fmtTime, html } from "../util.js";
import { renderTable } from "../widgets/table.js";

const taskCounts = (tasks) => Object.entries(tasks || {})
  .filter(([, n]) => n > 0).map(([s, n]) => `${s.toLowerCase()} ${n}`).join(", ");

const JOB_COLUMNS = [
  { title: "Name", value: (j) => j.name },
  { title: "State", value: (j) => badge(j.state) },
  { title: "Start time", value: (j) => fmtTime(j["start-time"]) },
  { title: "Duration", value: (j) => fmtDuration(j.duration), num: true },
  { title: "Tasks", value: (j) => taskCounts(j.tasks) },
  { title: "Job ID", value: (j) => html`<code>${j.jid}</code>` },
];

const TERMINAL = new Set(["FINISHED", "CANCELED", "FAILED"]);
const openJob = (j) => { location.hash = `#/jobs/${j.jid}`; };

function renderJobLists(el, jobs) {
  const sorted = [...jobs].sort((a, b) => b["start-time"] - a["start-time"]);
  renderTable(el.querySelector(".running"), JOB_COLUMNS,
    sorted.filter((j) => !TERMINAL.has(j.state)), openJob, "No running jobs.");
  renderTable(el.querySelector(".completed"), JOB_COLUMNS,
    sorted.filter((j) => TERMINAL.has(j.state)), openJob, "No completed jobs.");
}

/** #/overview: cluster figures plus running and completed jobs. */
export async function overviewPage(main) {
  main.innerHTML = `<h1>Overview</h1><div class="cards"></div>
    <h2>Running jobs</h2><div class="running"></div>
    <h2>Completed jobs</h2><div class="completed"></div>`;
  const started = Date.now();
  live(async () => {
    const [ov, jobs, jm] = await Promise.all([api.get("/overview"), api.get("/jobs/overview"),
      api.get("/jobmanager/metrics?get=uptime").catch(() => [])]);
    return { ov, jobs, jm };
  }, ({ ov, jobs, jm }) => {
    const uptime = (jm.find?.((m) => m.id === "uptime") || {}).value;
    const cards = [
      ["TaskManagers", ov.taskmanagers], ["Slots total", ov["slots-total"]],
      ["Slots available", ov["slots-available"]], ["Running jobs", ov["jobs-running"]],
      ["Finished jobs", ov["jobs-finished"]], ["Cancelled jobs", ov["jobs-cancelled"]],
      ["Failed jobs", ov["jobs-failed"]], ["Version", ov["flink-version"]],
      ["JobManager uptime", uptime != null ? fmtDuration(Number(uptime)) : `${fmtDuration(Date.now() - started)} (page)`],
    ];
    if (uptime == null) cards.pop();
    main.querySelector(".cards").innerHTML = cards.map(([k, v]) =>
      `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div></div>`).join("");
    renderJobLists(main, jobs.jobs || []);
  }, { interval: 3000, on: ["job-status", "taskmanager"] }, (err) => { main.querySelector(".cards").innerHTML = `<p class="error">${esc(err.message)}</p>`; });
}

/** #/jobs: every job the cluster knows. */
export async function jobsPage(main) {
  main.innerHTML = `<h1>Jobs</h1><h2>Running jobs</h2><div class="running"></div>
    <h2>Completed jobs</h2><div class="completed"></div>`;
  live(() => api.get("/jobs/overview"), (jobs) => renderJobLists(main, jobs.jobs || []),
    { interval: 3000, on: ["job-status"] });
}
