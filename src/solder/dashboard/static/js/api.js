// The JSON API, called with the dashboard's session cookie. The header names the
// environment; a cross-origin page cannot send it (ADR 0013).

export class ApiError extends Error {
  constructor(message, status, body = {}) { super(message); this.status = status; this.body = body; }
}

async function call(method, path, { env, body } = {}) {
  const headers = { accept: "application/json" };
  if (env) headers["x-solder-dashboard"] = env;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(data.message || `${response.status} ${response.statusText}`, response.status, data);
  return data;
}

// A file's text in or out (export, import): the body is sent and read as text.
async function callText(method, path, { env, body, type } = {}) {
  const headers = { accept: "text/yaml, application/json" };
  if (env) headers["x-solder-dashboard"] = env;
  if (body !== undefined) headers["content-type"] = type;
  const response = await fetch(path, { method, headers, credentials: "same-origin", body });
  const text = await response.text();
  if (!response.ok) {
    let data = {};
    try { data = JSON.parse(text); } catch { /* not JSON: the status says it */ }
    throw new ApiError(data.message || `${response.status} ${response.statusText}`, response.status, data);
  }
  return text;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const sessions = () => call("GET", "/dashboard/session");
export const logIn = (key) => call("POST", "/dashboard/session", { body: { key } });
export const logInAccount = (email, password) => call("POST", "/dashboard/login", { body: { email, password } });
export const logOut = (env) => call("DELETE", `/dashboard/session${query({ environment: env })}`);

// An API bound to one environment: api.get("/integrations")
export function bound(env) {
  return {
    env,
    get: (path) => call("GET", path, { env }),
    put: (path, body) => call("PUT", path, { env, body }),
    post: (path, body) => call("POST", path, { env, body }),
    del: (path) => call("DELETE", path, { env }),
    getText: (path) => callText("GET", path, { env }),
    postText: (path, body, type) => callText("POST", path, { env, body, type }),
  };
}
