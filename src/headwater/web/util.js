// Formatting and HTML escaping shared by every page.
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape any value for use in HTML text or attribute values. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
}

/** Tagged template that escapes every interpolation unless wrapped by raw(). */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += (v && v.__raw !== undefined) ? v.__raw
      : Array.isArray(v) ? v.map((x) => (x && x.__raw !== undefined ? x.__raw : esc(x))).join("")
      : esc(v);
    out += strings[i + 1];
  });
  return { __raw: out };
}

/** Mark a string as already-safe HTML. */
export const raw = (s) => ({ __raw: s });

export function fmtTime(ms) {
  if (!ms || ms < 0) return "-";
  return new Date(ms).toLocaleString();
}

export function fmtDuration(ms) {
  if (ms == null || ms < 0) return "-";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return ms < 1000 ? `${ms}ms` : `${s}s`;
}

export function fmtNum(n) {
  if (n == null || Number.isNaN(n)) return "-";
  return Number(n).toLocaleString();
}

export function fmtBytes(n) {
  if (n == null || n < 0) return "-";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

export function badge(state) {
  return html`<span class="badge ${state}">${state}</span>`;
}

export function toast(message, isError = false) {
  const box = document.getElementById("toast");
  const el = document.createElement("div");
  if (isError) el.className = "err";
  el.textContent = message;
  box.appendChild(el);
  setTimeout(() => el.remove(), 6000);
}
