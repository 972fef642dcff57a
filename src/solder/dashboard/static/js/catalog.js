// What the ISV built: integrations with their workflows and versions, and custom events.
import { h, replace, table, when, json, say } from "./dom.js";
import { exportFile, importer } from "./buildtools.js";

function versionsOf(ctx, wf) {
  const box = h("div", {});
  return h("details", { ontoggle: async (e) => {
    if (!e.target.open || box.childElementCount) return;
    const versions = (await ctx.api.get(`/workflows/${encodeURIComponent(wf.workflowId)}/versions`)).data;
    replace(box, table(["Version", "Status", "Last modified", ""], versions.map((v) => h("tr", {},
      h("td", {}, v.versionName), h("td", {}, v.status), h("td", {}, when(v.lastModified)),
      h("td", {}, v.version ? h("a", { href: `#/${ctx.env}/runs?workflowId=${wf.workflowId}&version=${v.version}` }, "Runs") : "")))));
  } }, h("summary", {}, "Versions"), box);
}

// "New integration": its key, app and name; then the builder opens on its first workflow.
function newIntegration(ctx, apps) {
  const message = h("p", { class: "error-text", role: "alert" });
  const key = h("input", { id: "ni-key", required: true, pattern: "[a-z0-9][a-z0-9_\\-]*", size: 24, autocomplete: "off" });
  const name = h("input", { id: "ni-name", size: 30, autocomplete: "off" });
  const app = h("select", { id: "ni-app" }, apps.map((a) => h("option", { value: a.app }, a.name)));
  const form = h("form", { class: "card", id: "new-integration", hidden: true, "aria-labelledby": "ni-title", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const made = await ctx.api.post("/manage/integrations/new", { key: key.value.trim(), app: app.value, name: name.value.trim() || undefined });
      say("Integration created");
      ctx.go(`#/${ctx.env}/builder/${encodeURIComponent(made.integrationId)}/new`);
    } catch (err) {
      message.textContent = err.message;
      if (err.body && err.body.field) (form.querySelector(`#ni-${err.body.field}`) || key).setAttribute("aria-invalid", "true");
    }
  } },
    h("h2", { id: "ni-title" }, "New integration"),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "ni-key" }, "Integration key (lower case, digits, - and _)"), key),
      h("div", { class: "field" }, h("label", { for: "ni-app" }, "App"), app),
      h("div", { class: "field" }, h("label", { for: "ni-name" }, "Name shown to users (optional)"), name),
      h("button", { type: "submit" }, "Create integration")),
    message);
  const open = h("button", { type: "button", "aria-expanded": "false", "aria-controls": "new-integration", onclick: () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) key.focus();
  } }, "New integration");
  return [open, form];
}

// The last import's report, shown again when the page is redrawn with what it imported.
const lastImport = {}; // by environment

export async function integrations(ctx) {
  const [ints, all, apps] = await Promise.all([ctx.api.get("/integrations"), ctx.api.get("/workflows"), ctx.api.get("/metadata/apps")]);
  const byIntegration = {};
  for (const wf of all.data) (byIntegration[wf.integrationId] ||= []).push(wf);
  const [openNew, newForm] = newIntegration(ctx, apps.data);
  const builder = (i, wf) => `#/${ctx.env}/builder/${encodeURIComponent(i)}/${wf}`;
  replace(ctx.main,
    h("h1", {}, "Integrations", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    h("div", { class: "row" }, openNew, importer(ctx, () => ctx.go(location.hash),
      lastImport[ctx.env] ||= h("div", { id: "import-report", "aria-live": "polite" }))),
    newForm,
    ints.data.length ? null : h("p", { class: "muted" }, "No integration yet: make one here, or push one with `solder push`."),
    ints.data.map((i) => h("section", { class: "card", "aria-labelledby": `int-${i.integrationId}` },
      h("h2", { id: `int-${i.integrationId}` }, i.app),
      h("p", { class: "muted" }, `Integration ${i.integrationId}`),
      h("div", { class: "row" },
        h("a", { class: "button", href: builder(i.integrationId, "new"), "aria-label": `New workflow in ${i.app}` }, "New workflow"),
        h("button", { type: "button", class: "secondary", onclick: () => exportFile(ctx.api, i.integrationId, i.app.toLowerCase().replace(/[^a-z0-9]+/g, "-"), "yaml") },
          "Export YAML")),
      table(["Workflow", "Released version", "Trigger and blocks", "Updated", ""],
        (byIntegration[i.integrationId] || []).map((wf) => h("tr", {},
          h("th", { scope: "row" }, wf.name),
          h("td", {}, wf.version === null ? "draft only" : `v${wf.version}`),
          h("td", {}, wf.blocks.map((b) => b.name).join(" → ")),
          h("td", {}, when(wf.updatedAt)),
          h("td", {}, versionsOf(ctx, wf),
            h("a", { href: builder(i.integrationId, wf.workflowId), "aria-label": `Open ${wf.name} in the builder` }, "Builder"), " ",
            h("a", { href: `#/${ctx.env}/runs?workflowId=${wf.workflowId}` }, "Runs"))))))));
}

// "Define a custom event": its name, description and sample body, as events.yaml holds them;
// saving a name that exists changes that event (PUT /manage/events adds or updates).
function eventForm(ctx, redraw) {
  const message = h("p", { class: "error-text", role: "alert" });
  const name = h("input", { id: "ev-name", required: true, size: 30, autocomplete: "off" });
  const description = h("input", { id: "ev-description", size: 50, autocomplete: "off" });
  const body = h("textarea", { id: "ev-body", rows: 6, cols: 60, spellcheck: "false", "aria-describedby": "ev-body-help",
    placeholder: '{"orderId": "String", "status": "String"}' });
  const fields = { name, description, body };
  const form = h("form", { class: "card", id: "new-event", "aria-labelledby": "ev-title", onsubmit: async (e) => {
    e.preventDefault();
    message.textContent = "";
    for (const el of Object.values(fields)) el.removeAttribute("aria-invalid");
    let sample;
    try {
      sample = JSON.parse(body.value.trim() || "{}");
    } catch (err) {
      body.setAttribute("aria-invalid", "true");
      message.textContent = `Sample body: not JSON (${err.message})`;
      body.focus();
      return;
    }
    const event = { name: name.value.trim(), body: sample };
    if (description.value.trim()) event.description = description.value.trim();
    try {
      await ctx.api.put("/manage/events", { events: [event] });
      say(`Custom event ${event.name} saved`);
      redraw();
    } catch (err) {
      message.textContent = err.message;
      const field = ((err.body && err.body.field) || "").split(".").pop();
      const bad = fields[field] || name;
      bad.setAttribute("aria-invalid", "true");
      bad.focus();
    }
  } },
    h("h2", { id: "ev-title" }, "Define a custom event"),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "ev-name" }, "Event name"), name),
      h("div", { class: "field" }, h("label", { for: "ev-description" }, "Description (optional)"), description)),
    h("div", { class: "field" }, h("label", { for: "ev-body" }, "Sample body (JSON)"), body,
      h("p", { id: "ev-body-help", class: "muted" },
        "Keys with a dummy value of the wanted type, or a type name (\"String\", \"Number\"); the builder's variable picker lists them.")),
    h("button", { type: "submit" }, "Save event"),
    message);
  // "Edit" on a listed event fills the form with it
  form.edit = (e) => {
    name.value = e.name;
    description.value = e.description || "";
    body.value = JSON.stringify(e.body, null, 2);
    name.focus();
  };
  return form;
}

export async function events(ctx) {
  const list = (await ctx.api.get("/events")).data;
  const form = eventForm(ctx, () => ctx.go(location.hash));
  replace(ctx.main,
    h("h1", {}, "Custom events", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    table(["Event", "Description", "Body", ""], list.map((e) => h("tr", {},
      h("th", { scope: "row" }, e.name), h("td", {}, e.description || "—"),
      h("td", {}, h("details", {}, h("summary", {}, "Schema"), json(e.body))),
      h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Edit ${e.name}`, onclick: () => form.edit(e) }, "Edit"))))),
    form);
}
