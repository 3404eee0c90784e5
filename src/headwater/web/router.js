// Hash routes: #/overview, #/jobs/<id>, #/jobs/<id>/vertices/<vid>, #/taskmanagers/<id>, ...
import { stopAll } from "./live.js";
import { esc } from "./util.js";

const routes = [];

/** Register a page for a pattern like "/jobs/:jobid". */
export function route(pattern, page) {
  const keys = [];
  const re = new RegExp("^" + pattern.replace(/:(\w+)/g, (_, k) => { keys.push(k); return "([^/]+)"; }) + "$");
  routes.push({ re, keys, page });
}

/** Render the page of the current hash into the main element. */
export async function navigate() {
  stopAll();
  const path = (location.hash.replace(/^#/, "") || "/overview").split("?")[0];
  const main = document.getElementById("main");
  for (const a of document.querySelectorAll("#nav a")) {
    const href = a.getAttribute("href").slice(1);
    a.classList.toggle("active", path === href || path.startsWith(href + "/"));
  }
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params = {};
    r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
    // Each visit renders into its own element: late answers for a page already left
    // land in a detached element instead of the current page.
    const view = document.createElement("div");
    main.replaceChildren(view);
    try {
      await r.page(view, params);
    } catch (err) {
      view.innerHTML = `<p class="error">${esc(err.message)}</p>`;
    }
    return;
  }
  main.innerHTML = `<p class="error">No page at ${esc(path)}.</p>`;
}

export function start() {
  window.addEventListener("hashchange", navigate);
  navigate();
}
