// Small SVG line chart for live metrics: keeps the last N points of one series.
import { esc } from "../util.js";

export class LineChart {
  /** Create a chart inside `el` titled `title`, keeping `capacity` points. */
  constructor(el, title, capacity = 60) {
    this.el = el;
    this.title = title;
    this.capacity = capacity;
    this.points = [];
    el.classList.add("chart");
    this.draw();
  }

  /** Append a value (timestamped now) and redraw. */
  push(value, t = Date.now()) {
    const v = Number(value);
    if (!Number.isFinite(v)) return;
    this.points.push([t, v]);
    if (this.points.length > this.capacity) this.points.shift();
    this.draw();
  }

  draw() {
    const w = 300, h = 120, p = this.points;
    const last = p.length ? p[p.length - 1][1] : null;
    let path = "";
    if (p.length > 1) {
      const t0 = p[0][0], t1 = p[p.length - 1][0] || t0 + 1;
      const vs = p.map((x) => x[1]);
      const lo = Math.min(...vs), hi = Math.max(...vs);
      // A flat or overflowing range (e.g. Long.MIN_VALUE watermarks) draws a flat line.
      const span = hi - lo;
      const flat = !(span > 0) || !Number.isFinite(span);
      path = p.map(([t, v], i) => {
        const x = ((t - t0) / (t1 - t0 || 1)) * (w - 10) + 5;
        const y = flat ? h / 2 : h - 5 - ((v - lo) / span) * (h - 20);
        return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
      }).join(" ");
    }
    this.el.innerHTML = `<div class="title">${esc(this.title)}: <b>${last == null ? "-" : esc(last.toLocaleString())}</b></div>
      <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none">
        <line x1="0" y1="${h - 5}" x2="${w}" y2="${h - 5}" stroke="#dde1e6"/>
        <path d="${path}" fill="none" stroke="#2f6fde" stroke-width="1.5" vector-effect="non-scaling-stroke"/>
      </svg>`;
  }
}
