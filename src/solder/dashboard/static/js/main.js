// The dashboard's shell: sessions, the environment switch, the page list and a hash router.
// Routes: #/ (both environments side by side), #/<env>/<page>[/<id>][?filters]
import * as api from "./api.js";
import { h, replace, say } from "./dom.js";
import * as catalog from "./catalog.js";
import * as installs from "./installs.js";
import * as runs from "./runs.js";
import * as admin from "./admin.js";
import * as builder from "./builder.js";

const ENVS = ["development", "production"];
const PAGES = [
  ["integrations", "Integrations", catalog.integrations],
  ["events", "Custom events", catalog.events],
  ["users", "Installations", installs.users],
  ["runs", "Runs", runs.explorer],
  ["keys", "API keys", admin.keys],
  ["settings", "Settings", admin.settings],
];
const DETAIL = { users: installs.user, runs: runs.run };
const HIDDEN = { builder: [builder.page, "integrations"] }; // pages reached from others, not listed
const state = { envs: [] };

export function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }

function parse() {
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const [env, page, id, sub] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { env, page, id, sub, params: new URLSearchParams(search || "") };
}

async function refreshSessions() {
  state.envs = (await api.sessions()).data.map((s) => s.environment);
}

function drawNav(where) {
  replace(document.getElementById("envs"),
    ENVS.map((env) => h("a", {
      href: state.envs.includes(env) ? `#/${env}/${where.page || "integrations"}` : "#/",
      "aria-current": env === where.env ? "page" : null,
    }, env, state.envs.includes(env) ? "" : " (log in)")));
  const pages = document.getElementById("pages");
  if (!where.env) { replace(pages, h("a", { href: "#/", "aria-current": "page" }, "Overview")); return; }
  replace(pages,
    h("a", { href: "#/" }, "Overview"),
    PAGES.map(([key, title]) => h("a", {
      href: `#/${where.env}/${key}`,
      "aria-current": key === where.page || (HIDDEN[where.page] && HIDDEN[where.page][1] === key) ? "page" : null,
    }, title)),
    h("button", { class: "secondary spaced", onclick: async () => {
      await api.logOut(where.env); await refreshSessions(); go("#/");
    } }, `Log out of ${where.env}`));
}

function loginForm(env) {
  const input = h("input", { type: "password", name: "key", autocomplete: "off", required: true, id: `key-${env}` });
  const message = h("p", { class: "error-text", role: "alert" });
  return h("form", { class: "card", "aria-label": `Log in to ${env}`, onsubmit: async (e) => {
    e.preventDefault();
    try {
      const who = await api.logIn(input.value.trim());
      input.value = "";
      await refreshSessions();
      go(`#/${who.environment}/integrations`);
    } catch (err) { message.textContent = err.message; }
  } },
    h("h2", {}, `Log in to ${env}`),
    h("label", { for: `key-${env}` }, "API key"), input,
    h("p", { class: "muted" }, "The key is checked once; the browser keeps only a session cookie."),
    h("button", { type: "submit" }, "Log in"), message);
}

// A dashboard account (solder accounts create) logs in to every environment it may see.
function accountForm() {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, id: "account-email" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, id: "account-password" });
  const message = h("p", { class: "error-text", role: "alert" });
  return h("form", { class: "card", "aria-label": "Log in with an account", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const who = await api.logInAccount(email.value.trim(), password.value);
      password.value = "";
      await refreshSessions();
      go(`#/${who.environments[0]}/integrations`);
    } catch (err) { message.textContent = err.message; }
  } },
    h("h2", {}, "Log in with an account"),
    h("label", { for: "account-email" }, "Email"), email,
    h("label", { for: "account-password" }, "Password"), password,
    h("p", { class: "muted" }, "Opens every environment the account may see."),
    h("button", { type: "submit" }, "Log in"), message);
}

async function overview(main) {
  const columns = await Promise.all(ENVS.map(async (env) => {
    if (!state.envs.includes(env)) return h("section", {}, loginForm(env));
    const a = api.bound(env);
    const [ints, people, failed, all] = await Promise.all([
      a.get("/integrations"), a.get("/manage/users?limit=1"),
      a.get("/logs?limit=1&status=failed&sortBy=createdAt"), a.get("/logs?limit=1&sortBy=createdAt"),
    ]);
    const flows = ints.data.reduce((n, i) => n + i.workflows.length, 0);
    return h("section", { class: "card", "aria-label": env },
      h("h2", {}, env, h("span", { class: `env-badge ${env}` }, "logged in")),
      h("dl", { class: "facts" },
        h("dt", {}, "Integrations"), h("dd", {}, h("a", { href: `#/${env}/integrations` }, `${ints.data.length} (${flows} workflows)`)),
        h("dt", {}, "Users"), h("dd", {}, h("a", { href: `#/${env}/users` }, String(people.totalItems))),
        h("dt", {}, "Runs"), h("dd", {}, h("a", { href: `#/${env}/runs` }, String(all.totalItems))),
        h("dt", {}, "Failed runs"), h("dd", {}, h("a", { href: `#/${env}/runs?status=failed` }, String(failed.totalItems)))));
  }));
  const anonymous = ENVS.some((env) => !state.envs.includes(env));
  replace(main, h("h1", {}, "Development and production"), h("div", { class: "side" }, columns),
    anonymous ? accountForm() : null);
}

let current = 0; // the latest navigation; an older one that finishes later is dropped
let guard = null; // a page with unsaved edits: () => true when it may be left

async function route() {
  if (guard && route.last !== undefined && location.hash !== route.last && !guard()) {
    history.replaceState(null, "", route.last); // stay: the address goes back to this page
    return;
  }
  guard = null;
  const seq = ++current;
  const main = document.getElementById("main");
  const view = h("div", {}); // drawn off-page, shown only if no newer navigation started
  const where = parse();
  if (where.env && !state.envs.includes(where.env)) where.env = undefined;
  drawNav(where);
  try {
    if (!where.env) await overview(view);
    else {
      const ctx = { api: api.bound(where.env), env: where.env, id: where.id, sub: where.sub, params: where.params, main: view, go,
        guard: (fn) => { if (seq === current) guard = fn; },
        moved: (hash) => { history.replaceState(null, "", hash); route.last = hash; } }; // same page, new address
      const entry = PAGES.find(([key]) => key === where.page) || PAGES[0];
      if (HIDDEN[where.page] && where.id) await HIDDEN[where.page][0](ctx);
      else await (where.id && DETAIL[entry[0]] ? DETAIL[entry[0]] : entry[2])(ctx);
    }
  } catch (err) {
    replace(view, h("h1", {}, "Something went wrong"), h("p", { class: "error-text", role: "alert" }, err.message));
    if (err.status === 401) { await refreshSessions(); drawNav(where); }
  }
  if (seq !== current) return;
  replace(main, view);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    // after moving to another page, start from its heading (not on a refresh of the same one)
    if (route.last !== undefined && route.last !== location.hash) heading.focus();
  }
  route.last = location.hash;
}

export function refresh() { route(); }
export { say };

window.addEventListener("hashchange", route);
window.addEventListener("beforeunload", (e) => { if (guard && !guard.quiet()) e.preventDefault(); });
refreshSessions().then(route);
