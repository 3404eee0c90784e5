// The one place that decides how a page gets fresh data.
//
// One EventSource on GET /events per dashboard tab pushes what changes (job status,
// checkpoints, exceptions, TaskManagers) and the metric values pages subscribe to. A page
// asks `live()` to keep a view fresh: it loads now, again whenever a matching event
// arrives, and on a timer for figures no event announces (records counts). While the
// stream is down (refused, dropped, server restarting) the page polls at its interval and
// the stream reconnects with backoff; on reconnect every view reloads, since events may
// have been missed.

const KINDS = ["job-status", "checkpoint", "exception", "taskmanager"];
const subscriptions = new Set(); // stop functions of live views and metric feeds
const listeners = new Set(); // { kinds: Set, job, notify(event) }
const metricFeeds = new Map(); // "<resource>/<metric id>" -> Set of callbacks(value, ts)

/** What the stream is doing (read by the browser tests as window.headwaterLive). */
export const stream = { connected: false, events: 0, opened: 0, url: null };
window.headwaterLive = stream;

let source = null;
let retryTimer = null;
let retryDelay = 1000;
let reopenTimer = null;

function streamUrl() {
  const metrics = [...metricFeeds.keys()];
  return metrics.length ? `/events?metrics=${metrics.map(encodeURIComponent).join(",")}` : "/events";
}

function dispatch(kind, data) {
  stream.events += 1;
  for (const l of [...listeners]) {
    if (l.kinds.has(kind) && (!l.job || !data.jid || data.jid === l.job)) l.notify({ kind, data });
  }
}

function open() {
  clearTimeout(retryTimer);
  if (source) source.close();
  stream.url = streamUrl();
  const es = new EventSource(stream.url);
  source = es;
  es.addEventListener("hello", () => {
    stream.connected = true;
    stream.opened += 1;
    retryDelay = 1000;
    // Events may have been missed while disconnected: every view reloads.
    for (const l of [...listeners]) l.notify({ kind: "hello", data: {} });
  });
  for (const kind of KINDS) es.addEventListener(kind, (e) => dispatch(kind, JSON.parse(e.data)));
  es.addEventListener("metrics", (e) => {
    const { timestamp, values } = JSON.parse(e.data);
    stream.events += 1;
    for (const v of values) {
      for (const cb of metricFeeds.get(`${v.resource}/${v.id}`) || []) cb(v.value, timestamp);
    }
  });
  es.addEventListener("overflow", () => reconnectLater());
  es.onerror = () => {
    stream.connected = false;
    // EventSource retries by itself after a dropped stream, but gives up on an error
    // answer (429, 401...): then we retry, backing off up to 30 s.
    if (es.readyState === EventSource.CLOSED) reconnectLater();
  };
}

function reconnectLater() {
  if (source) source.close();
  source = null;
  stream.connected = false;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(open, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 30000);
}

/** Reopen the stream soon (its metric subscriptions changed). */
function reopenSoon() {
  clearTimeout(reopenTimer);
  reopenTimer = setTimeout(() => { if (streamUrl() !== stream.url || !source) open(); }, 50);
}

/**
 * Keep a view fresh: `load()` now, then again on each event of `opts.on` (of job
 * `opts.job`, if given) and every `opts.interval` ms (`opts.pushedInterval` while the
 * stream is up, for views whose changes all come as events); `render(data, cause)` receives each
 * result (`cause` is the event that triggered it, or null for the timer). `opts` may be
 * just the interval. Returns a stop function; the router stops every view on navigation.
 */
export function live(load, render, opts = 3000, onError = () => {}) {
  const o = typeof opts === "number" ? { interval: opts } : opts;
  let stopped = false;
  let timer = null;
  let running = false;
  let pending = null; // the event that arrived while loading
  const tick = async (cause = null) => {
    clearTimeout(timer);
    if (stopped) return;
    if (running) { pending = cause || pending || { kind: "timer" }; return; }
    running = true;
    try {
      const data = await load();
      if (!stopped) render(data, cause);
    } catch (err) {
      if (!stopped) onError(err);
    }
    running = false;
    if (stopped) return;
    if (pending) { const next = pending; pending = null; tick(next.kind === "timer" ? null : next); return; }
    const pushed = o.on && stream.connected && o.pushedInterval;
    timer = setTimeout(() => tick(null), pushed || o.interval);
  };
  let listener = null;
  if (o.on) {
    let debounce = null;
    listener = { kinds: new Set([...o.on, "hello"]), job: o.job || null,
      notify: (event) => { clearTimeout(debounce); debounce = setTimeout(() => tick(event), 100); } };
    listeners.add(listener);
    if (!source) open();
  }
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    if (listener) listeners.delete(listener);
    subscriptions.delete(stop);
  };
  subscriptions.add(stop);
  tick(null);
  return stop;
}

/**
 * Follow metric values: `metrics` is a list of [resource, metric id] (resource as in the
 * REST metric paths without /metrics: "jobmanager", "taskmanagers/<id>", "jobs/<id>",
 * "jobs/<id>/vertices/<vid>"); `onValue(resource, id, value)` gets each value as the
 * stream pushes it, or from polling every `intervalMs` while the stream is down.
 * Returns a stop function.
 */
export function liveMetrics(metrics, onValue, intervalMs = 2000) {
  const callbacks = metrics.map(([resource, id]) => {
    const key = `${resource}/${id}`;
    const cb = (value) => onValue(resource, id, value);
    if (!metricFeeds.has(key)) metricFeeds.set(key, new Set());
    metricFeeds.get(key).add(cb);
    return [key, cb];
  });
  reopenSoon();
  const byResource = new Map();
  for (const [resource, id] of metrics) {
    if (!byResource.has(resource)) byResource.set(resource, []);
    byResource.get(resource).push(id);
  }
  let stopped = false;
  let timer = null;
  const poll = async () => {
    if (stopped) return;
    if (!stream.connected) {
      await Promise.all([...byResource].map(async ([resource, ids]) => {
        try {
          const res = await fetch(`/${resource}/metrics?get=${ids.map(encodeURIComponent).join(",")}`);
          if (!res.ok) return;
          for (const m of await res.json()) if (!stopped) onValue(resource, m.id, m.value);
        } catch { /* the next poll tries again */ }
      }));
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  };
  timer = setTimeout(poll, intervalMs);
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    for (const [key, cb] of callbacks) {
      const set = metricFeeds.get(key);
      if (set) { set.delete(cb); if (!set.size) metricFeeds.delete(key); }
    }
    subscriptions.delete(stop);
    reopenSoon();
  };
  subscriptions.add(stop);
  return stop;
}

/** Stop every view and metric feed (called by the router on navigation). */
export function stopAll() {
  for (const stop of [...subscriptions]) stop();
}
