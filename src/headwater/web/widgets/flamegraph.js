// Flame graph of Flink's JobVertexFlameGraph tree ({name, value, children}): one SVG
// rectangle per frame, the root at the bottom, each frame as wide as its share of the
// samples. Hover shows a frame's name, samples and percentage; click zooms into a frame,
// clicking the root (or a frame below the zoomed one) zooms back out.
import { esc } from "../util.js";

const ROW = 18;
const SVG = "http://www.w3.org/2000/svg";

/** Stable warm colour for user and library frames, cool for headwater's own. */
function colour(name) {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  if (name.includes("(headwater.")) return `hsl(${205 + (h % 30)},45%,${72 + (h % 10)}%)`;
  return `hsl(${(h % 45) + 5},80%,${58 + (h % 12)}%)`;
}

function depthOf(node) {
  let deepest = 0;
  for (const c of node.children || []) deepest = Math.max(deepest, depthOf(c));
  return deepest + 1;
}

export class FlameGraph {
  /** Draw into `el` (emptied); call update() with each new tree. */
  constructor(el) {
    this.el = el;
    this.root = null;
    this.focus = [];  // names from the root's child down to the zoomed frame
    el.classList.add("flamegraph");
    el.innerHTML = `<div class="fg-info muted">Hover a frame for its samples; click to zoom.</div><div class="fg-svg"></div>`;
    this.info = el.querySelector(".fg-info");
    this.box = el.querySelector(".fg-svg");
    this.width = 0;
    // Frames are laid out in pixels: redraw when the box changes its width.
    new ResizeObserver(() => {
      if (this.root && this.box.clientWidth && this.box.clientWidth !== this.width) this.draw();
    }).observe(this.box);
  }

  /** Show a new tree (the `data` of a JobVertexFlameGraph); keeps the zoom if the frame is still there. */
  update(root) {
    this.root = root;
    if (!this.path(this.focus)) this.focus = [];
    this.draw();
  }

  /** The nodes from the root along `names`, or null when a name is missing. */
  path(names) {
    if (!this.root) return null;
    const nodes = [this.root];
    for (const name of names) {
      const next = (nodes[nodes.length - 1].children || []).find((c) => c.name === name);
      if (!next) return null;
      nodes.push(next);
    }
    return nodes;
  }

  zoom(names) {
    this.focus = names;
    this.draw();
  }

  draw() {
    const root = this.root;
    this.box.replaceChildren();
    if (!root) return;
    if (!root.value) {
      this.box.innerHTML = `<p class="muted">No samples of this kind.</p>`;
      return;
    }
    const chain = this.path(this.focus);
    const focus = chain[chain.length - 1];
    this.width = this.box.clientWidth;
    const width = Math.max(300, this.width || this.el.clientWidth || 1000);
    const rows = chain.length - 1 + depthOf(focus);
    const height = rows * ROW;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const total = root.value;
    const frame = (node, names, depth, x, w, dimmed) => {
      const g = document.createElementNS(SVG, "g");
      g.setAttribute("class", dimmed ? "frame dim" : "frame");
      g.dataset.name = node.name;
      g.setAttribute("transform", `translate(${x.toFixed(2)},${height - (depth + 1) * ROW})`);
      const pct = (100 * node.value / total).toFixed(node.value === total ? 0 : 1);
      const label = `${node.name}: ${node.value.toLocaleString()} sample${node.value === 1 ? "" : "s"} (${pct}%)`;
      g.innerHTML = `<title>${esc(label)}</title><rect width="${Math.max(0.5, w - 1).toFixed(2)}" height="${ROW - 1}" fill="${dimmed ? "#d8dde3" : colour(node.name)}"/>`;
      if (w > 28) {
        const text = document.createElementNS(SVG, "text");
        text.setAttribute("x", 4);
        text.setAttribute("y", ROW - 5);
        const fits = Math.floor((w - 8) / 6.6);
        text.textContent = node.name.length <= fits ? node.name : node.name.slice(0, Math.max(1, fits - 1)) + "…";
        g.appendChild(text);
      }
      g.addEventListener("mouseenter", () => { this.info.textContent = label; });
      g.addEventListener("click", (e) => {
        e.stopPropagation();
        // the root, or a frame at or below the zoomed one on its chain, zooms out to it
        this.zoom(node === root ? [] : names);
      });
      svg.appendChild(g);
    };
    // The chain down to the zoomed frame spans the whole width.
    chain.forEach((node, depth) => frame(node, this.focus.slice(0, depth), depth, 0, width, depth < chain.length - 1));
    const minWidth = 0.3;
    const walk = (node, names, depth, x, w) => {
      let cx = x;
      for (const child of node.children || []) {
        const cw = w * child.value / node.value;
        if (cw >= minWidth) {
          const childNames = [...names, child.name];
          frame(child, childNames, depth, cx, cw, false);
          walk(child, childNames, depth + 1, cx, cw);
        }
        cx += cw;
      }
    };
    walk(focus, this.focus, chain.length, 0, width);
    this.box.appendChild(svg);
  }
}
