// Data sets: the streams BATCH jobs cached (DataStream.cache()) and kept on the
// TaskManagers for later jobs, as GET /datasets lists them (Flink 1.12 gives an id and
// whether every partition is still there), with a Delete action per data set.
import { api, ApiError, awaitOperation, failureMessage } from "../api.js";
import { live } from "../live.js";
import { html, toast } from "../util.js";
import { renderTable } from "../widgets/table.js";

const EMPTY = "No cluster data sets: BATCH jobs keep the streams they cache() on the " +
  "TaskManagers, for later jobs of the same program to read instead of computing them again.";

/** #/datasets */
export async function datasetsPage(main) {
  main.innerHTML = `<h1>Data sets</h1><div class="list"></div>`;
  const list = main.querySelector(".list");
  const deleting = new Set(); // ids whose deletion runs
  const failures = new Map(); // id -> why its deletion failed
  let rows = [];

  const render = (data) => {
    rows = data.dataSets || [];
    const ids = new Set(rows.map((d) => d.id));
    for (const id of failures.keys()) if (!ids.has(id)) failures.delete(id);
    renderTable(list, [
      { title: "ID", value: (d) => html`<code>${d.id}</code>` },
      { title: "Complete", value: (d) => (d.isComplete ? "yes"
        : html`no <span class="muted">(a TaskManager holding part of it was lost: the next job computes it again)</span>`) },
      { title: "", value: (d) => html`<button class="btn danger small" data-delete="${d.id}"
          ${deleting.has(d.id) ? html`disabled` : ""}>${deleting.has(d.id) ? "Deleting…" : "Delete"}</button>
          ${failures.has(d.id) ? html` <span class="error">${failures.get(d.id)}</span>` : ""}` },
    ], rows, null, EMPTY);
  };
  const load = () => api.get("/datasets");
  const refresh = () => load().then((data) => { if (main.isConnected) render(data); });

  list.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-delete]");
    if (!button || button.disabled) return;
    const id = button.dataset.delete;
    if (!confirm(`Delete data set ${id}? Its records are deleted on every TaskManager; ` +
                 "jobs that use it compute it again.")) return;
    deleting.add(id);
    failures.delete(id);
    render({ dataSets: rows });
    try {
      const { "request-id": trigger } = await api.del(`/datasets/${encodeURIComponent(id)}`);
      const op = await awaitOperation(`/datasets/delete/${encodeURIComponent(trigger)}`);
      if (op["failure-cause"]) throw new Error(`Deleting data set ${id} failed: ${failureMessage(op["failure-cause"])}`);
      toast(`Data set ${id} deleted.`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        toast(`Data set ${id} was already deleted.`);
      } else {
        failures.set(id, err.message);
        toast(err.message, true);
      }
    } finally {
      deleting.delete(id);
    }
    await refresh().catch((err) => toast(err.message, true));
  });

  // A data set appears when the job that cached it finishes, and becomes incomplete when
  // a TaskManager holding part of it is lost: both come as events. The timer catches
  // deletions made elsewhere.
  live(load, render, { interval: 5000, pushedInterval: 15000, on: ["job-status", "taskmanager"] },
    (err) => { list.innerHTML = html`<p class="error">${err.message}</p>`.__raw; });
}
