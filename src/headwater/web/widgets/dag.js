// Job graph as a layered DAG in SVG: longest-path layering, barycentric ordering,
// curved edges labelled with their ship strategy, fit to view, wheel zoom and drag pan.
import { esc, fmtNum } from "../util.js";

const NODE_W = 220, NODE_H = 64, GAP_X = 90, GAP_Y = 28;

/** Flink's plan descriptions are HTML fragments ("a -&gt; b<br/>"): keep their text only. */
function plainText(fragment) {
  return new DOMParser().parseFromString(String(fragment), "text/html").body.textContent || "";
}

/** Assign each node the length of the longest path from a source to it. */
function layers(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map();
  const visit = (n, seen = new Set()) => {
    if (depth.has(n.id)) return depth.get(n.id);
    if (seen.has(n.id)) return 0;
    seen.add(n.id);
    let d = 0;
    for (const input of n.inputs || []) {
      const up = byId.get(input.id);
      if (up) d = Math.max(d, visit(up, seen) + 1);
    }
    depth.set(n.id, d);
    return d;
  };
  nodes.forEach((n) => visit(n));
  const result = [];
  for (const n of nodes) (result[depth.get(n.id)] ??= []).push(n);
  return result.map((l) => l || []);
}

/** Reorder each layer by the mean position of its neighbours, down and up a few times. */
function orderLayers(ls, nodes) {
  const ups = new Map(nodes.map((n) => [n.id, (n.inputs || []).map((i) => i.id)]));
  const downs = new Map(nodes.map((n) => [n.id, []]));
  for (const n of nodes) for (const i of n.inputs || []) downs.get(i.id)?.push(n.id);
  const pos = new Map();
  const index = () => ls.forEach((l) => l.forEach((n, i) => pos.set(n.id, i)));
  index();
  const bary = (n, nb) => {
    const xs = nb.get(n.id).filter((id) => pos.has(id)).map((id) => pos.get(id));
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : pos.get(n.id);
  };
  for (let pass = 0; pass < 4; pass++) {
    for (let i = 1; i < ls.length; i++) { ls[i].sort((a, b) => bary(a, ups) - bary(b, ups)); index(); }
    for (let i = ls.length - 2; i >= 0; i--) { ls[i].sort((a, b) => bary(a, downs) - bary(b, downs)); index(); }
  }
}

/** Flink 1.13's colours: blue-grey idle, towards red when busy, black-ish when back-pressured. */
export function vertexColour(stats) {
  if (!stats) return "#eef1f5";
  if (stats.backpressure != null && stats.backpressure > 0.1) {
    const bp = Math.min(1, stats.backpressure);
    return `hsl(0, 0%, ${Math.round(88 - bp * 55)}%)`;
  }
  if (stats.busy != null) {
    const b = Math.min(1, stats.busy);
    return `hsl(${Math.round(210 - b * 210)}, ${Math.round(40 + b * 40)}%, ${Math.round(90 - b * 25)}%)`;
  }
  return "#e6eefb";
}

export class Dag {
  /**
   * Draw `plan.nodes` (Flink plan shape: id, description, parallelism, inputs[{id,
   * ship_strategy}]) into `el`. `onNode(id)` is called on a click.
   */
  constructor(el, plan, onNode = null) {
    this.el = el;
    this.onNode = onNode;
    this.nodes = plan.nodes || [];
    this.view = null;
    this.layout();
    this.render();
  }

  layout() {
    const ls = layers(this.nodes);
    orderLayers(ls, this.nodes);
    this.pos = new Map();
    const tallest = Math.max(1, ...ls.map((l) => l.length));
    ls.forEach((l, li) => {
      const offset = ((tallest - l.length) * (NODE_H + GAP_Y)) / 2;
      l.forEach((n, i) => this.pos.set(n.id, { x: li * (NODE_W + GAP_X), y: offset + i * (NODE_H + GAP_Y) }));
    });
    this.width = ls.length * (NODE_W + GAP_X) - GAP_X;
    this.height = tallest * (NODE_H + GAP_Y) - GAP_Y;
  }

  render() {
    const edges = [];
    for (const n of this.nodes) {
      for (const input of n.inputs || []) {
        const a = this.pos.get(input.id), b = this.pos.get(n.id);
        if (!a || !b) continue;
        const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
        const mx = (x1 + x2) / 2;
        edges.push(`<path class="edge" data-from="${esc(input.id)}" data-to="${esc(n.id)}" marker-end="url(#arrow)"
          d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}"/>
          <text class="ship" x="${mx}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle">${esc(input.ship_strategy || "")}</text>`);
      }
    }
    const nodes = this.nodes.map((n) => {
      const p = this.pos.get(n.id);
      const name = plainText(n.description || n.id);
      const short = name.length > 30 ? name.slice(0, 29) + "…" : name;
      return `<g class="node" data-id="${esc(n.id)}" transform="translate(${p.x},${p.y})">
        <title>${esc(name)}</title>
        <rect width="${NODE_W}" height="${NODE_H}" fill="#eef1f5"/>
        <text x="10" y="18">${esc(short)}</text>
        <text class="sub" x="10" y="36">Parallelism: ${esc(n.parallelism)}</text>
        <text class="sub stats" x="10" y="52"></text>
      </g>`;
    }).join("");
    this.el.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
        <path d="M0,0 L10,5 L0,10 z" fill="#9aa5b1"/></marker></defs>
      <g class="viewport">${edges.join("")}${nodes}</g></svg>`;
    this.svg = this.el.querySelector("svg");
    this.viewport = this.el.querySelector(".viewport");
    this.el.querySelectorAll(".node").forEach((g) => {
      g.addEventListener("click", () => { if (!this.dragged && this.onNode) this.onNode(g.dataset.id); });
    });
    this.interact();
    requestAnimationFrame(() => this.fit());
  }

  /** Scale and centre the whole graph in the visible box. */
  fit() {
    const box = this.svg.getBoundingClientRect();
    const w = box.width || 800, h = box.height || 360, pad = 20;
    const k = Math.min(1.2, (w - 2 * pad) / Math.max(1, this.width), (h - 2 * pad) / Math.max(1, this.height));
    this.view = { k, x: (w - this.width * k) / 2, y: (h - this.height * k) / 2 };
    this.apply();
  }

  apply() {
    const { k, x, y } = this.view;
    this.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
  }

  interact() {
    this.svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = this.svg.getBoundingClientRect();
      const mx = e.clientX - r.left, my = e.clientY - r.top;
      const f = Math.exp(-e.deltaY * 0.0015);
      const v = this.view;
      const k = Math.min(4, Math.max(0.1, v.k * f));
      v.x = mx - ((mx - v.x) * k) / v.k;
      v.y = my - ((my - v.y) * k) / v.k;
      v.k = k;
      this.apply();
    }, { passive: false });
    let start = null;
    this.svg.addEventListener("pointerdown", (e) => {
      start = { x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y };
      this.dragged = false;
    });
    window.addEventListener("pointermove", (e) => {
      if (!start) return;
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) this.dragged = true;
      this.view.x = start.vx + dx;
      this.view.y = start.vy + dy;
      this.apply();
    });
    window.addEventListener("pointerup", () => { start = null; });
    this.svg.addEventListener("dblclick", () => this.fit());
  }

  /**
   * Update one vertex's figures: { recordsIn, recordsOut, backpressure, busy, level,
   * waiting }; `waiting` marks a vertex of a BATCH job that has not started yet (it is
   * scheduled once the stages it reads from finished), drawn dashed instead of idle.
   */
  update(id, stats) {
    const g = this.el.querySelector(`.node[data-id="${CSS.escape(id)}"]`);
    if (!g) return;
    g.classList.toggle("waiting", !!stats.waiting);
    g.dataset.waiting = stats.waiting ? "true" : "";
    if (stats.waiting) {
      g.querySelector("rect").setAttribute("fill", "#f6f7f9");
      g.dataset.backpressure = "";
      g.querySelector(".stats").textContent = "Not started: waits for its inputs";
      return;
    }
    g.querySelector("rect").setAttribute("fill", vertexColour(stats));
    g.dataset.backpressure = stats.level || "";
    const parts = [`In: ${fmtNum(stats.recordsIn)}`, `Out: ${fmtNum(stats.recordsOut)}`];
    if (stats.backpressure != null) parts.push(`BP: ${Math.round(stats.backpressure * 100)}%`);
    g.querySelector(".stats").textContent = parts.join("  ");
  }
}
