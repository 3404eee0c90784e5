// Plain HTML tables from column definitions; every cell is escaped unless it returns html``.
import { esc } from "../util.js";

/**
 * columns: [{ title, value: (row) => string | html``, num?: bool }]
 * onRow: optional click handler (row) => void.
 */
export function renderTable(el, columns, rows, onRow = null, empty = "Nothing to show.") {
  if (!rows || rows.length === 0) {
    el.innerHTML = `<p class="muted">${esc(empty)}</p>`;
    return;
  }
  const cell = (v) => (v && v.__raw !== undefined ? v.__raw : esc(v));
  const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${esc(c.title)}</th>`).join("");
  const body = rows.map((row, i) => `<tr data-i="${i}" class="${onRow ? "link" : ""}">` +
    columns.map((c) => `<td class="${c.num ? "num" : ""}">${cell(c.value(row))}</td>`).join("") +
    "</tr>").join("");
  el.innerHTML = `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  if (onRow) {
    el.querySelectorAll("tbody tr").forEach((tr) => {
      tr.addEventListener("click", () => onRow(rows[Number(tr.dataset.i)]));
    });
  }
}
