// JobManager: configuration, metrics charts, logs, stdout and thread dump.
import { api } from "../api.js";
import { esc } from "../util.js";
import { renderTable } from "../widgets/table.js";
import { logsPanel, metricCharts, threadDumpPanel } from "./logs.js";

/** #/jobmanager */
export async function jobManagerPage(main) {
  main.innerHTML = `<h1>JobManager</h1><h2>Metrics</h2><div class="charts"></div>
    <h2>Configuration</h2><div class="config"></div><h2>Logs</h2><div class="logs"></div>
    <h2>Thread dump</h2><div class="threads"></div>`;
  const base = "/jobmanager";
  const config = await api.get(`${base}/config`);
  renderTable(main.querySelector(".config"), [{ title: "Key", value: (r) => r.key },
    { title: "Value", value: (r) => r.value }], [...config].sort((a, b) => a.key.localeCompare(b.key)));
  await Promise.all([
    metricCharts(main.querySelector(".charts"), base, /CPU|Memory|Threads|numRunningJobs|taskSlots/),
    logsPanel(main.querySelector(".logs"), base),
    threadDumpPanel(main.querySelector(".threads"), base).catch((e) => {
      main.querySelector(".threads").innerHTML = `<p class="error">${esc(e.message)}</p>`;
    }),
  ]);
}
