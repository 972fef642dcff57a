// Installations: find a user (paged, searched by username prefix), then manage their copies.
import { h, replace, table, when, pager, say } from "./dom.js";

export async function users(ctx) {
  const search = ctx.params.get("search") || "";
  const skip = Number(ctx.params.get("skip") || 0);
  const page = await ctx.api.get(`/manage/users?search=${encodeURIComponent(search)}&skip=${skip}&limit=25`);
  const input = h("input", { type: "search", id: "user-search", name: "search", value: search });
  const goTo = (s, q = search) => ctx.go(`#/${ctx.env}/users?search=${encodeURIComponent(q)}&skip=${Math.max(s, 0)}`);
  replace(ctx.main,
    h("h1", {}, "Installations by user", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); goTo(0, input.value.trim()); } },
      h("label", { for: "user-search" }, "Username starts with"), input,
      h("button", { type: "submit" }, "Search")),
    table(["Username", "Full name", "User id", "Created"], page.data.map((u) => h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `#/${ctx.env}/users/${encodeURIComponent(u.userId)}` }, u.username)),
      h("td", {}, u.fullName || "—"), h("td", {}, h("code", {}, u.userId)), h("td", {}, when(u.createdAt))))),
    pager(page, goTo));
}

function fieldInput(f, id) {
  if (f.type === "select" || f.options) {
    return h("select", { id, name: f.name },
      f.required ? null : h("option", { value: "" }, "—"),
      (f.options || []).map((o) => h("option", { value: o, selected: o === f.value }, o)));
  }
  if (f.type === "boolean") return h("input", { id, name: f.name, type: "checkbox", checked: f.value === true });
  const type = { number: "number", url: "url", email: "email" }[f.type] || "text";
  return h("input", { id, name: f.name, type, value: f.value ?? "", required: f.required, size: 48 });
}

function readField(f, el) {
  if (el.type === "checkbox") return el.checked;
  if (f.type === "number") return el.value === "" ? null : Number(el.value);
  return el.value === "" ? null : el.value;
}

function copyCard(ctx, user, c) {
  const wfPath = encodeURIComponent(c.workflowId);
  const base = `/manage/users/${encodeURIComponent(user.userId)}/workflows/${wfPath}`;
  const act = async (fn, done) => {
    try { await fn(); say(done); ctx.go(location.hash); } catch (err) { say(err.message, true); }
  };
  const inputs = c.fields.map((f, i) => [f, fieldInput(f, `f-${c.workflowId}-${i}`)]);
  const versionSelect = h("select", { id: `v-${c.workflowId}` },
    c.versions.map((n) => h("option", { value: n, selected: n === c.version }, `v${n}${n === c.latestVersion ? " (newest)" : ""}`)));
  return h("section", { class: "card", "aria-labelledby": `wf-${c.workflowId}` },
    h("h2", { id: `wf-${c.workflowId}` }, `${c.integrationName}: ${c.workflowName}`),
    h("dl", { class: "facts" },
      h("dt", {}, "State"), h("dd", { class: c.active ? "status succeeded" : "status failed" }, c.active ? "active" : "inactive"),
      h("dt", {}, "Version"), h("dd", {}, `v${c.version}`, c.latestVersion > c.version ? ` (v${c.latestVersion} is out)` : ""),
      h("dt", {}, "Installed"), h("dd", {}, when(c.installedAt)),
      h("dt", {}, "Credentials"), h("dd", {}, c.credentials.length ? c.credentials.map((cr) => h("div", {},
        `${cr.name} (${cr.type}): `, h("span", { class: `health ${cr.health}` }, cr.health.replace("_", " ")),
        cr.expiresAt ? h("span", { class: "muted" }, ` · token expires ${when(cr.expiresAt)}`) : null)) : "none")),
    h("div", { class: "row spaced" },
      c.active
        ? h("button", { class: "secondary", onclick: () => act(() => ctx.api.put("/workflows/deactivate", { userId: user.userId, workflowId: c.workflowId }), "Deactivated") }, "Deactivate")
        : h("button", { class: "secondary", onclick: () => act(() => ctx.api.put("/workflows/activate", { userId: user.userId, workflowId: c.workflowId }), "Activated") }, "Activate"),
      h("a", { href: `#/${ctx.env}/runs?workflowId=${c.workflowId}&userId=${user.userId}` }, "Runs"),
      h("label", { for: `v-${c.workflowId}` }, "Version"), versionSelect,
      h("button", { class: "secondary", onclick: () => act(() => ctx.api.put(`${base}/version`, { version: Number(versionSelect.value) }), "Version changed") }, "Move to this version"),
      h("button", { class: "danger", onclick: () => {
        if (confirm(`Uninstall ${c.workflowName} for ${user.username}?`)) {
          act(() => ctx.api.del(`/workflows/${wfPath}?userId=${encodeURIComponent(user.userId)}`), "Uninstalled");
        }
      } }, "Uninstall")),
    c.fields.length ? h("form", { "aria-label": `Settings of ${c.workflowName}`, onsubmit: (e) => {
      e.preventDefault();
      act(() => ctx.api.put(`${base}/fields`, { fields: inputs.map(([f, el]) => ({ blockId: f.blockId, name: f.name, value: readField(f, el) })) }), "Settings saved");
    } },
      h("h3", {}, "Settings the user chose"),
      inputs.map(([f, el]) => h("div", { class: "field-row" },
        h("label", { for: el.id }, f.displayName, f.required ? " (required)" : ""), el,
        f.description ? h("span", { class: "muted" }, f.description) : null)),
      h("button", { type: "submit" }, "Save settings")) : null);
}

export async function user(ctx) {
  const result = await ctx.api.get(`/manage/users/${encodeURIComponent(ctx.id)}/workflows`);
  const u = result.user;
  replace(ctx.main,
    h("p", {}, h("a", { href: `#/${ctx.env}/users` }, "← All users")),
    h("h1", {}, u.username, h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    h("p", { class: "muted" }, u.fullName ? `${u.fullName} · ` : "", `user ${u.userId}`),
    result.data.length ? result.data.map((c) => copyCard(ctx, u, c)) : h("p", { class: "muted" }, "This user has installed nothing."));
}
