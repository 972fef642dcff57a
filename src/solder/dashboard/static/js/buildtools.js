// The builder's panels around the editor: test run, release with a note, version history
// with the readable diff, export (download) and import (file picker).
import { h, replace, say, json, when, table } from "./dom.js";
import { save, draw } from "./builder.js";
import { children } from "./picker.js";

const enc = encodeURIComponent;
const TYPE_SAMPLES = { String: "text", Number: 1, Integer: 1, Boolean: true, Object: {}, Array: [] };

// An event's declared body with its type names ("String") turned into sample values.
function sampleOf(body) {
  if (typeof body === "string" && body in TYPE_SAMPLES) return TYPE_SAMPLES[body];
  if (Array.isArray(body)) return body.map(sampleOf);
  if (body && typeof body === "object") return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, sampleOf(v)]));
  return body;
}

function defaultSample(B) {
  const t = B.doc.trigger;
  const last = B.lastTest && (B.lastTest.steps || []).find((s) => s.blockKey === t.key);
  if (last && last.output && typeof last.output === "object") return last.output; // the last test's
  if (t.type === "customEvent") {
    const event = B.events.find((e) => e.name === t.event);
    if (event) return sampleOf(event.body);
  }
  return {};
}

// The trigger data the test run sends and the picker lists: the text box's, else the sample.
export function triggerSample(B) {
  if (B.testInput !== undefined) { try { return JSON.parse(B.testInput); } catch { /* being typed */ } }
  return defaultSample(B);
}

function userFields(B) {
  const out = [];
  const walk = (list) => list.forEach((b) => {
    for (const f of b.fields || []) out.push([b.key, f]);
    children(b).forEach(([, l]) => walk(l));
  });
  walk(B.doc.blocks);
  return out;
}

// The values typed for the test, for the fields the draft declares now, typed as declared.
function fieldValues(B) {
  const out = {};
  for (const [key, f] of userFields(B)) {
    const raw = (B.testFields[key] || {})[f.name];
    if (raw === undefined || raw === "") continue;
    let value = raw;
    if (f.type === "number" && /^-?\d+(\.\d+)?$/.test(raw.trim())) value = Number(raw.trim());
    if (f.type === "boolean") value = raw.trim() === "true";
    (out[key] ||= {})[f.name] = value;
  }
  return out;
}

function stepView(s) {
  return h("section", { class: `block ${s.status}`, "aria-label": `Step ${s.blockKey}${s.index !== undefined ? ` [${s.index}]` : ""}` },
    h("h3", {}, s.blockKey, s.index !== undefined ? ` [${s.index}]` : "", " ", h("span", { class: `status ${s.status}` }, s.status)),
    h("p", { class: "muted" }, `${s.type} · ${s.durationMs ?? "—"} ms`),
    s.error ? h("p", { class: "error-text" }, h("strong", {}, "Error: "), typeof s.error === "string" ? s.error : (s.error.message || JSON.stringify(s.error))) : null,
    h("details", { open: true }, h("summary", {}, `Input of ${s.blockKey}`), json(s.input)),
    h("details", { open: true }, h("summary", {}, `Output of ${s.blockKey}`), json(s.output)));
}

function testPanel(B) {
  if (B.testInput === undefined) B.testInput = JSON.stringify(defaultSample(B), null, 2);
  B.testFields ||= {};
  const result = h("div", { id: "test-result", "aria-live": "polite" }, B.lastTest ? resultView(B.lastTest) : null);
  const fields = userFields(B).map(([key, f]) => {
    const id = `tf-${key}-${f.name}`;
    const now = (B.testFields[key] || {})[f.name] ?? "";
    const keep = (e) => { (B.testFields[key] ||= {})[f.name] = e.target.value; };
    const choices = f.type === "boolean" ? ["true", "false"] : f.options;
    const control = choices
      ? h("select", { id, onchange: keep }, h("option", { value: "" }, "—"),
        choices.map((o) => h("option", { value: o, selected: o === now }, o)))
      : h("input", { id, type: "text", size: 40, value: now, oninput: keep });
    return h("div", { class: "field" }, h("label", { for: id }, `${f.displayName || f.name} (${key})`), control);
  });
  const run = async () => {
    let trigger;
    try { trigger = JSON.parse(B.testInput || "{}"); } catch { say("The sample trigger data is not valid JSON", true); return; }
    if (!(await save(B, true))) return;
    const body = { trigger, fields: fieldValues(B) };
    if (B.testUser) body.userId = B.testUser;
    try {
      const r = await B.ctx.api.post(`/manage/workflows/${enc(B.workflowId)}/test`, body);
      B.lastTest = r;
      replace(document.getElementById("test-result"), resultView(r));
      say(`Test run ${r.status}`, r.status !== "succeeded");
    } catch (err) {
      say(err.status === 404 || err.status === 405 ? "This server cannot test-run drafts yet" : err.message, true);
    }
  };
  return h("section", { class: "card", "aria-labelledby": "b-test" }, h("h2", { id: "b-test" }, "Test run"),
    h("p", { class: "muted" }, "Runs the saved draft once, for real (its requests are made); it is not an installation's run."),
    h("div", { class: "field" }, h("label", { for: "test-trigger" }, "Sample trigger data (JSON)"),
      h("textarea", { id: "test-trigger", rows: 5, cols: 60, spellcheck: "false", value: B.testInput,
        oninput: (e) => { B.testInput = e.target.value; } })),
    fields.length ? h("fieldset", {}, h("legend", {}, "Values of the fields the user configures"), fields) : null,
    h("div", { class: "field" }, h("label", { for: "test-user" }, "Run as user (user id; their connected accounts are used)"),
      h("input", { id: "test-user", type: "text", size: 30, list: "test-users", autocomplete: "off", value: B.testUser || "",
        oninput: (e) => { B.testUser = e.target.value.trim(); } }),
      h("datalist", { id: "test-users" }, (B.users || []).map((u) => h("option", { value: u.userId, label: u.username })))),
    h("button", { type: "button", id: "b-test-run", onclick: run }, "Test run"),
    result);
}

function resultView(r) {
  return h("div", {},
    h("p", {}, "Last test run: ", h("span", { class: `status ${r.status}`, id: "test-status" }, r.status)),
    r.error ? h("p", { class: "error-text" }, typeof r.error === "string" ? r.error : (r.error.message || JSON.stringify(r.error))) : null,
    (r.steps || []).map(stepView));
}

function releasePanel(B) {
  const note = h("textarea", { id: "release-note", rows: 2, cols: 60, maxlength: 2000 });
  return h("section", { class: "card", "aria-labelledby": "b-release" }, h("h2", { id: "b-release" }, "Release"),
    h("div", { class: "field" }, h("label", { for: "release-note" }, "Version note (what changed, for your team)"), note),
    h("button", { type: "button", id: "b-release-go", onclick: async () => {
      if (!(await save(B, true))) return;
      try {
        const body = note.value.trim() ? { note: note.value.trim() } : {};
        const r = await B.ctx.api.post(`/manage/workflows/${enc(B.workflowId)}/release`, body);
        say(r.released ? `Released v${r.version}` : `Nothing changed since v${r.version}`);
        await loadVersions(B);
        draw(B);
      } catch (err) { say(err.message, true); }
    } }, "Release"));
}

function diffView(d) {
  return h("div", { id: "diff", class: "diff" },
    h("h3", {}, `Changes from v${d.from} to ${d.to === "draft" ? "the draft" : `v${d.to}`}`),
    d.changes && d.changes.length
      ? h("ul", { class: "changes" }, d.changes.map((c) => h("li", { class: `change ${c.kind}` }, h("strong", {}, c.kind), " ", c.what)))
      : h("p", { class: "muted" }, "No change."),
    d.text ? h("details", {}, h("summary", {}, "The YAML, line by line"),
      h("pre", { class: "diff-text" }, d.text.split("\n").map((line) => h("span", {
        class: line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : null,
      }, line, "\n")))) : null);
}

async function showDiff(B, from, to) {
  try {
    B.diff = await B.ctx.api.get(`/manage/workflows/${enc(B.workflowId)}/diff?from=${from}&to=${to}`);
    replace(document.getElementById("diff-box"), diffView(B.diff));
    document.getElementById("diff-box").focus();
  } catch (err) { say(err.status === 404 ? "This server cannot compare versions yet" : err.message, true); }
}

function versionsPanel(B) {
  const rows = (B.versions || []).map((v) => h("tr", {},
    h("th", { scope: "row" }, v.versionName), h("td", {}, v.status), h("td", {}, when(v.lastModified)),
    h("td", {}, v.note || "—"),
    h("td", {}, h("div", { class: "row tight" },
      v.version > 1 ? h("button", { type: "button", class: "secondary small", onclick: () => showDiff(B, v.version - 1, v.version) },
        `Changes in v${v.version}`) : null,
      h("button", { type: "button", class: "secondary small", onclick: () => showDiff(B, v.version, "draft") },
        `Draft against v${v.version}`)))));
  return h("section", { class: "card", "aria-labelledby": "b-versions" }, h("h2", { id: "b-versions" }, "Versions"),
    table(["Version", "Status", "Released", "Note", "Compare"], rows),
    h("div", { id: "diff-box", tabindex: "-1" }, B.diff ? diffView(B.diff) : null));
}

export function panels(B) {
  if (!B.workflowId) return h("p", { class: "muted" }, "Save the draft to test-run it, release it and see its versions.");
  return [testPanel(B), releasePanel(B), versionsPanel(B)];
}

async function loadVersions(B) {
  B.versions = (await B.ctx.api.get(`/workflows/${enc(B.workflowId)}/versions`)).data;
}

export async function load(B) {
  const users = B.ctx.api.get("/manage/users?limit=25").catch(() => ({ data: [] })); // for "Run as user"
  if (!B.workflowId) { B.users = (await users).data; return; }
  const [last, people] = await Promise.all([
    B.ctx.api.get(`/manage/workflows/${enc(B.workflowId)}/test`).catch(() => null),
    users,
    loadVersions(B),
  ]);
  B.users = people.data;
  B.lastTest = last && last.steps ? last : null;
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function exportFile(api, integrationId, name, format) {
  try {
    const text = await api.getText(`/manage/integrations/${enc(integrationId)}/export?format=${format}`);
    download(`${name}.${format}`, text, format === "json" ? "application/json" : "text/yaml");
    say(`Exported ${name}.${format}`);
  } catch (err) { say(err.status === 404 ? "This server cannot export yet" : err.message, true); }
}

// A file input that imports what `solder push` reads; `done(answer)` is called after; the
// report element may be handed over (kept across a redraw of the page).
export function importer(ctx, done, report = h("div", { id: "import-report", "aria-live": "polite" })) {
  const input = h("input", { type: "file", id: "import-file", accept: ".yaml,.yml,.json,application/json,text/yaml",
    onchange: async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      const type = file.name.endsWith(".json") ? "application/json" : "application/yaml";
      try {
        const r = JSON.parse(await ctx.api.postText("/manage/import?release=false", await file.text(), type));
        replace(report, h("p", {}, `Imported ${file.name}: `,
          (r.workflows || []).map((w, i) => [i ? ", " : "",
            h("a", { href: `#/${ctx.env}/builder/${enc(r.integrationId)}/${enc(w.key)}` }, w.key),
            w.changed ? " (changed)" : " (unchanged)"])));
        say(`Imported ${file.name}`);
        if (done) done(r);
      } catch (err) {
        replace(report, h("p", { class: "error-text", role: "alert" }, `${file.name}: ${err.message}`));
        say(err.status === 404 ? "This server cannot import yet" : err.message, true);
      }
      e.target.value = "";
    } });
  return h("div", { class: "field" }, h("label", { for: "import-file" }, "Import a file (YAML or JSON)"), input, report);
}

export function fileButtons(B) {
  const name = B.integrationName.toLowerCase().replace(/[^a-z0-9]+/g, "-") || "integration";
  return [
    h("button", { type: "button", class: "secondary", onclick: () => exportFile(B.ctx.api, B.integrationId, name, "yaml") }, "Export YAML"),
    h("button", { type: "button", class: "secondary", onclick: () => exportFile(B.ctx.api, B.integrationId, name, "json") }, "Export JSON"),
    importer(B.ctx, null),
  ];
}
