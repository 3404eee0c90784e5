// TaskManagers list and detail.
import { api } from "../api.js";
import { live } from "../live.js";
import { esc, fmtBytes, fmtDuration, html } from "../util.js";
import { renderTable } from "../widgets/table.js";
import { logsPanel, metricCharts, threadDumpPanel } from "./logs.js";

/** #/taskmanagers */
export async function taskManagersPage(main) {
  main.innerHTML = `<h1>TaskManagers</h1><div class="list"></div>`;
  live(() => api.get("/taskmanagers"), (data) => {
    renderTable(main.querySelector(".list"), [
      { title: "ID", value: (t) => html`<code>${t.id}</code>` },
      { title: "Address", value: (t) => t.path },
      { title: "Slots", value: (t) => t.slotsNumber, num: true },
      { title: "Free slots", value: (t) => t.freeSlots, num: true },
      { title: "CPU cores", value: (t) => t.hardware?.cpuCores, num: true },
      { title: "Physical memory", value: (t) => fmtBytes(t.hardware?.physicalMemory), num: true },
      { title: "Heartbeat age", value: (t) => fmtDuration(Date.now() - t.timeSinceLastHeartbeat), num: true },
    ], data.taskmanagers || [], (t) => { location.hash = `#/taskmanagers/${encodeURIComponent(t.id)}`; },
    "No TaskManagers registered.");
  }, { interval: 3000, pushedInterval: 10000, on: ["taskmanager"] });
}

/** #/taskmanagers/:tmid */
export async function taskManagerPage(main, { tmid }) {
  const base = `/taskmanagers/${encodeURIComponent(tmid)}`;
  const tm = await api.get(base);
  const hw = tm.hardware || {};
  main.innerHTML = html`<p><a href="#/taskmanagers">← TaskManagers</a></p><h1>TaskManager <code>${tm.id}</code></h1>
    <div class="cards">${[["Address", tm.path], ["Slots", `${tm.freeSlots} free of ${tm.slotsNumber}`],
      ["CPU cores", hw.cpuCores], ["Physical memory", fmtBytes(hw.physicalMemory)],
      ["Free memory", fmtBytes(hw.freeMemory)], ["Managed memory", fmtBytes(hw.managedMemory)]]
      .map(([k, v]) => html`<div class="card"><div class="k">${k}</div><div class="v">${v ?? "-"}</div></div>`)}</div>
    <h2>Memory, CPU and GC</h2><div class="charts"></div>
    <h2>Logs</h2><div class="logs"></div>
    <h2>Thread dump</h2><div class="threads"></div>`.__raw;
  await Promise.all([
    metricCharts(main.querySelector(".charts"), base, /CPU|Memory|GarbageCollector|GC/),
    logsPanel(main.querySelector(".logs"), base),
    threadDumpPanel(main.querySelector(".threads"), base).catch((e) => {
      main.querySelector(".threads").innerHTML = `<p class="error">${esc(e.message)}</p>`;
    }),
  ]);
}
