// Submit: upload artifacts (drag and drop), entry points, plan preview, run and delete.
import { api, clusterConfig } from "../api.js";
import { esc, fmtTime, html, toast } from "../util.js";
import { Dag } from "../widgets/dag.js";
import { renderTable } from "../widgets/table.js";

function runForm(jar) {
  const entries = jar.entry || [];
  return html`<form class="inline run">
    <select name="entry">${entries.map((e) => html`<option value="${e.name}">${e.name}</option>`)}</select>
    <input type="number" name="parallelism" min="1" placeholder="parallelism">
    <input type="text" name="args" placeholder="program arguments" size="24">
    <input type="text" name="savepoint" placeholder="savepoint path" size="24">
    <label><input type="checkbox" name="allowNonRestored"> allow non-restored state</label>
    <button class="btn" type="button" data-act="plan">Show plan</button>
    <button class="btn primary" type="submit">Run</button>
    <button class="btn danger" type="button" data-act="delete">Delete</button></form>`;
}

function requestBody(form) {
  const body = {};
  if (form.entry.value) body.entryClass = form.entry.value;
  if (form.parallelism.value) body.parallelism = Number(form.parallelism.value);
  const args = form.args.value.trim();
  if (args) body.programArgsList = args.split(/\s+/);
  if (form.savepoint.value.trim()) body.savepointPath = form.savepoint.value.trim();
  if (form.allowNonRestored.checked) body.allowNonRestoredState = true;
  return body;
}

/** #/submit */
export async function submitPage(main) {
  const cfg = await clusterConfig();
  if ((cfg.features || {})["web-submit"] === false) {
    main.innerHTML = '<h1>Submit</h1><p class="muted">Submission is disabled (web.submit.enable=false).</p>';
    return;
  }
  main.innerHTML = `<h1>Submit a job</h1>
    <label class="drop" id="drop">Drop a <b>.py</b> or <b>.zip</b> artifact here, or click to choose one.
      <input type="file" id="file" accept=".py,.zip" hidden></label>
    <h2>Uploaded artifacts</h2><div class="jars"></div><div class="selected"></div>
    <div class="dag" id="plan" hidden></div>`;
  const drop = main.querySelector("#drop"), input = main.querySelector("#file");
  const upload = async (file) => {
    if (!file) return;
    const form = new FormData();
    form.append("jarfile", file, file.name);
    try {
      await api.upload("/jars/upload", form);
      toast(`Uploaded ${file.name}.`);
      await refresh();
    } catch (e) { toast(`Upload failed: ${e.message}`, true); }
  };
  input.addEventListener("change", () => upload(input.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    upload(e.dataTransfer.files[0]);
  });
  const selected = main.querySelector(".selected"), planEl = main.querySelector("#plan");
  const select = (jar) => {
    selected.innerHTML = `<h2>${esc(jar.name)}</h2>${runForm(jar).__raw}`;
    const form = selected.querySelector("form");
    const id = encodeURIComponent(jar.id);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const { jobid } = await api.post(`/jars/${id}/run`, requestBody(form));
        toast(`Job ${jobid} submitted.`);
        location.hash = `#/jobs/${jobid}`;
      } catch (err) { toast(`Run failed: ${err.message}`, true); }
    });
    form.querySelector('[data-act="plan"]').addEventListener("click", async () => {
      try {
        const r = await api.post(`/jars/${id}/plan`, requestBody(form));
        planEl.hidden = false;
        new Dag(planEl, r.plan || r);
      } catch (err) { toast(`Plan failed: ${err.message}`, true); }
    });
    form.querySelector('[data-act="delete"]').addEventListener("click", async () => {
      if (!confirm(`Delete ${jar.name}?`)) return;
      try {
        await api.del(`/jars/${id}`);
        toast(`Deleted ${jar.name}.`);
        selected.innerHTML = ""; planEl.hidden = true;
        await refresh();
      } catch (err) { toast(`Delete failed: ${err.message}`, true); }
    });
  };
  const refresh = async () => {
    const data = await api.get("/jars");
    renderTable(main.querySelector(".jars"), [
      { title: "Name", value: (j) => j.name },
      { title: "Uploaded", value: (j) => fmtTime(j.uploaded) },
      { title: "Entry points", value: (j) => (j.entry || []).map((e) => e.name).join(", ") },
    ], data.files || [], select, "No artifacts uploaded yet.");
  };
  await refresh();
}
