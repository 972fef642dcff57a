// The runs explorer: executions filtered by workflow, user, status, version and time, each
// with its blocks' input, output, error and timing; re-run. The data is GET /logs's.
import { h, replace, table, when, duration, json, pager, say } from "./dom.js";
import { query } from "./api.js";

const FILTERS = ["workflowId", "userId", "status", "version", "since", "until"];
const usernames = new Map(); // user id -> Promise of the username, per environment

function userLink(ctx, userId) {
  const link = h("a", { href: `#/${ctx.env}/users/${encodeURIComponent(userId)}` }, userId);
  const key = `${ctx.env}:${userId}`;
  if (!usernames.has(key)) {
    usernames.set(key, ctx.api.get(`/users/${encodeURIComponent(userId)}`).then((u) => u.username, () => null));
  }
  usernames.get(key).then((name) => { if (name) link.textContent = name; });
  return link;
}

function localToIso(value) { return value ? new Date(value).toISOString() : ""; }
function isoToLocal(value) {
  if (!value) return "";
  const d = new Date(value);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

export async function explorer(ctx) {
  const p = Object.fromEntries(FILTERS.map((k) => [k, ctx.params.get(k) || ""]));
  const skip = Number(ctx.params.get("skip") || 0);
  const [flows, page] = await Promise.all([
    ctx.api.get("/workflows"),
    ctx.api.get(`/logs${query({ ...p, skip, limit: 25, sortBy: "createdAt" })}`),
  ]);
  const names = Object.fromEntries(flows.data.map((w) => [w.workflowId, w.name]));
  const field = (id, label, control) => h("div", { class: "field" }, h("label", { for: id }, label), control);
  const wf = h("select", { id: "f-workflow", name: "workflowId" }, h("option", { value: "" }, "any"),
    flows.data.map((w) => h("option", { value: w.workflowId, selected: w.workflowId === p.workflowId }, w.name)));
  const st = h("select", { id: "f-status", name: "status" }, ["", "queued", "running", "succeeded", "failed"].map(
    (s) => h("option", { value: s, selected: s === p.status }, s || "any")));
  const us = h("input", { id: "f-user", name: "userId", value: p.userId, placeholder: "id or username" });
  const ver = h("input", { id: "f-version", name: "version", type: "number", min: 1, value: p.version, class: "narrow" });
  const since = h("input", { id: "f-since", type: "datetime-local", value: isoToLocal(p.since) });
  const until = h("input", { id: "f-until", type: "datetime-local", value: isoToLocal(p.until) });
  const goTo = (s, f = p) => ctx.go(`#/${ctx.env}/runs${query({ ...f, skip: s > 0 ? s : "" })}`);
  const rows = page.data.map((r) => h("tr", {},
    h("td", {}, h("a", { href: `#/${ctx.env}/runs/${r.executionId}` }, when(r.startedAt))),
    h("td", {}, names[r.workflowId] || r.workflowId),
    h("td", {}, userLink(ctx, r.userId)),
    h("td", { class: `status ${r.status}` }, r.status),
    h("td", {}, duration(r.startedAt, r.stoppedAt)),
    h("td", { class: "error-text" }, r.error ? (r.error.message || JSON.stringify(r.error)) : "")));
  replace(ctx.main,
    h("h1", {}, "Runs", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    h("form", { class: "filters", "aria-label": "Filter runs", onsubmit: (e) => {
      e.preventDefault();
      goTo(0, { workflowId: wf.value, userId: us.value.trim(), status: st.value, version: ver.value,
        since: localToIso(since.value), until: localToIso(until.value) });
    } },
      field("f-workflow", "Workflow", wf), field("f-user", "User", us), field("f-status", "Status", st),
      field("f-version", "Version", ver), field("f-since", "From", since), field("f-until", "Until", until),
      h("button", { type: "submit" }, "Filter"),
      h("button", { type: "button", class: "secondary", onclick: () => ctx.go(`#/${ctx.env}/runs`) }, "Clear")),
    table(["Started", "Workflow", "User", "Status", "Took", "Error"], rows),
    pager(page, goTo));
}

function blockView(b) {
  return h("section", { class: `block ${b.status}`, "aria-label": `Block ${b.blockName}` },
    h("h3", {}, b.blockName, b.item ? ` [${b.item}]` : "", " ", h("span", { class: `status ${b.status}` }, b.status)),
    h("p", { class: "muted" }, `${b.blockType} · ${duration(b.startedAt, b.stoppedAt)} · ${b.attempts} attempt(s) · started ${when(b.startedAt)}`),
    b.error ? h("p", { class: "error-text" }, h("strong", {}, "Error: "), b.error) : null,
    h("details", { open: b.status === "failed" }, h("summary", {}, "Input"), json(b.input)),
    h("details", { open: b.status === "failed" }, h("summary", {}, "Output"), json(b.data)));
}

export async function run(ctx) {
  const r = (await ctx.api.get(`/logs/${encodeURIComponent(ctx.id)}`)).data;
  const workflow = (await ctx.api.get(`/workflows/${encodeURIComponent(r.workflowId)}`)).data;
  const rerun = async () => {
    try {
      const made = await ctx.api.post(`/workflows/${encodeURIComponent(r.workflowId)}/rerun/${encodeURIComponent(r.executionId)}?userId=${encodeURIComponent(r.userId)}`);
      say("Re-run queued");
      ctx.go(`#/${ctx.env}/runs/${made.executionUuid}`);
    } catch (err) { say(err.message, true); }
  };
  replace(ctx.main,
    h("p", {}, h("a", { href: `#/${ctx.env}/runs?workflowId=${r.workflowId}` }, "← Runs of this workflow")),
    h("h1", {}, "Run ", h("code", {}, r.executionId)),
    h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", { class: `status ${r.status}`, id: "run-status" }, r.status),
      h("dt", {}, "Workflow"), h("dd", {}, workflow.name, " ", h("code", { class: "muted" }, r.workflowId)),
      h("dt", {}, "User"), h("dd", {}, userLink(ctx, r.userId)),
      h("dt", {}, "Started"), h("dd", {}, when(r.startedAt)),
      h("dt", {}, "Took"), h("dd", {}, duration(r.startedAt, r.stoppedAt)),
      h("dt", {}, "Attempt"), h("dd", {}, String(r.attempt))),
    r.error ? h("p", { class: "error-text", role: "alert" }, r.error.message || JSON.stringify(r.error)) : null,
    h("div", { class: "row spaced" },
      h("button", { onclick: rerun }, "Re-run"),
      h("button", { class: "secondary", onclick: () => ctx.go(location.hash) }, "Refresh")),
    h("h2", {}, "Trigger input"), json(r.inputs),
    h("h2", {}, "Blocks"), r.results.length ? r.results.map(blockView) : h("p", { class: "muted" }, "No block has run yet."));
  if (r.status === "queued" || r.status === "running") {
    const here = location.hash;
    setTimeout(() => { if (location.hash === here) ctx.go(here); }, 1000);
  }
}
