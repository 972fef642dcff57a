// The JSON API, called with the dashboard's session cookie. The header names the
// environment; a cross-origin page cannot send it (ADR 0013).

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
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
  if (!response.ok) throw new ApiError(data.message || `${response.status} ${response.statusText}`, response.status);
  return data;
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
  };
}
