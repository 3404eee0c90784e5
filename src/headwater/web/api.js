// Fetch wrapper for the REST API: JSON in and out, Flink's {"errors": [...]} as exceptions.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function request(method, path, body, isForm = false) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    if (isForm) init.body = body;
    else { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  }
  const res = await fetch(path, init);
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const msg = data && data.errors ? data.errors.join("; ") : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body),
  patch: (path, body) => request("PATCH", path, body),
  del: (path) => request("DELETE", path),
  upload: (path, form) => request("POST", path, form, true),
  /** Fetch a plain-text resource (logs, stdout). */
  text: async (path) => {
    const res = await fetch(path);
    if (!res.ok) throw new ApiError(res.status, `${res.status} ${res.statusText}`);
    return res.text();
  },
};

/**
 * Follow a Flink asynchronous operation (savepoint, rescaling, data set deletion...) until
 * it completes; returns its `operation` (which holds `failure-cause` if it failed).
 */
export async function awaitOperation(path, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    const r = await request("GET", path);
    if (r.status?.id === "COMPLETED") return r.operation || {};
    if (Date.now() > deadline) throw new Error(`The operation did not complete within ${Math.round(timeoutMs / 1000)} s.`);
    await new Promise((ok) => setTimeout(ok, Math.min(1000, 100 * 2 ** i)));
  }
}

/** One line saying why an operation failed (its stack trace's last line, else its class). */
export function failureMessage(cause) {
  const lines = String(cause?.["stack-trace"] || "").trim().split("\n").filter((l) => l.trim());
  return lines.length ? lines[lines.length - 1].trim() : (cause?.class || "unknown failure");
}

let configPromise = null;
/**
 * The cluster's /config, fetched once per page load. Flink's features only name
 * web-submit; web-cancel is read from web.cancel.enable in /jobmanager/config.
 */
export function clusterConfig() {
  configPromise ??= Promise.all([api.get("/config"), api.get("/jobmanager/config").catch(() => [])])
    .then(([cfg, entries]) => {
      const features = { ...(cfg.features || {}) };
      if (features["web-cancel"] === undefined) {
        const entry = entries.find?.((e) => e.key === "web.cancel.enable");
        features["web-cancel"] = !entry || String(entry.value).toLowerCase() !== "false";
      }
      return { ...cfg, features };
    });
  return configPromise;
}
