// What the ISV built: integrations with their workflows and versions, and custom events.
import { h, replace, table, when, json } from "./dom.js";

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

export async function integrations(ctx) {
  const [ints, all] = await Promise.all([ctx.api.get("/integrations"), ctx.api.get("/workflows")]);
  const byIntegration = {};
  for (const wf of all.data) (byIntegration[wf.integrationId] ||= []).push(wf);
  replace(ctx.main,
    h("h1", {}, "Integrations", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    ints.data.length ? null : h("p", { class: "muted" }, "No integration yet: push one with `solder push`."),
    ints.data.map((i) => h("section", { class: "card", "aria-labelledby": `int-${i.integrationId}` },
      h("h2", { id: `int-${i.integrationId}` }, i.app),
      h("p", { class: "muted" }, `Integration ${i.integrationId}`),
      table(["Workflow", "Released version", "Trigger and blocks", "Updated", ""],
        (byIntegration[i.integrationId] || []).map((wf) => h("tr", {},
          h("th", { scope: "row" }, wf.name),
          h("td", {}, wf.version === null ? "draft only" : `v${wf.version}`),
          h("td", {}, wf.blocks.map((b) => b.name).join(" → ")),
          h("td", {}, when(wf.updatedAt)),
          h("td", {}, versionsOf(ctx, wf), h("a", { href: `#/${ctx.env}/runs?workflowId=${wf.workflowId}` }, "Runs"))))))));
}

export async function events(ctx) {
  const list = (await ctx.api.get("/events")).data;
  replace(ctx.main,
    h("h1", {}, "Custom events", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    table(["Event", "Description", "Body"], list.map((e) => h("tr", {},
      h("th", { scope: "row" }, e.name), h("td", {}, e.description || "—"),
      h("td", {}, h("details", {}, h("summary", {}, "Schema"), json(e.body)))))));
}
