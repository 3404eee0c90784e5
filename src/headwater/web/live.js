// The one place that decides how a page gets fresh data. Today it polls; an event stream
// can replace the timer here without touching the pages.

const subscriptions = new Set();

/**
 * Call `load()` now and every `intervalMs` until the returned stop function runs or the
 * route changes. `render(data)` receives each result; `onError(err)` each failure.
 */
export function live(load, render, intervalMs = 3000, onError = () => {}) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      const data = await load();
      if (!stopped) render(data);
    } catch (err) {
      if (!stopped) onError(err);
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  const stop = () => { stopped = true; clearTimeout(timer); subscriptions.delete(stop); };
  subscriptions.add(stop);
  tick();
  return stop;
}

/** Stop every subscription (called by the router on navigation). */
export function stopAll() {
  for (const stop of [...subscriptions]) stop();
}
