// API keys (list, create, revoke) and the environment's settings.
import { h, replace, table, when, say } from "./dom.js";

export async function keys(ctx) {
  const list = await ctx.api.get("/manage/keys");
  const shown = h("div", { "aria-live": "polite" });
  const create = async () => {
    try {
      const made = await ctx.api.post("/manage/keys");
      await keys(ctx);
      replace(ctx.main.querySelector("[aria-live]"), h("div", { class: "key-once" },
        h("p", {}, h("strong", {}, "New key, shown this once: "), "copy it now."),
        h("code", { id: "new-key" }, made.key)));
    } catch (err) { say(err.message, true); }
  };
  const revoke = async (k) => {
    if (!confirm(`Revoke the key ${k.prefix}…? Calls made with it will be refused.`)) return;
    try { await ctx.api.del(`/manage/keys/${encodeURIComponent(k.keyId)}`); say("Key revoked"); await keys(ctx); }
    catch (err) { say(err.message, true); }
  };
  replace(ctx.main,
    h("h1", {}, "API keys", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    h("p", { class: "muted" }, "Keys are stored as hashes: only their first characters can be shown again."),
    h("div", { class: "row" }, h("button", { onclick: create }, `Create a ${ctx.env} key`)), shown,
    table(["Key", "Created", "State", ""], list.data.map((k) => h("tr", {},
      h("th", { scope: "row" }, h("code", {}, `${k.prefix}…`)),
      h("td", {}, when(k.createdAt)),
      h("td", {}, k.revokedAt ? `revoked ${when(k.revokedAt)}` : (k.current ? "active (this session)" : "active")),
      h("td", {}, k.revokedAt || k.current ? "" : h("button", { class: "danger", onclick: () => revoke(k) }, `Revoke ${k.prefix}…`))))));
}

export async function settings(ctx) {
  const [current, deliveries] = await Promise.all([
    ctx.api.get("/manage/settings"), ctx.api.get("/manage/errors/deliveries"),
  ]);
  const url = h("input", { id: "error-webhook", type: "url", value: current.data.errorWebhookUrl || "", size: 50 });
  replace(ctx.main,
    h("h1", {}, "Settings", h("span", { class: `env-badge ${ctx.env}` }, ctx.env)),
    h("form", { class: "card", onsubmit: async (e) => {
      e.preventDefault();
      try {
        // a PUT replaces every setting: send the others as they are, only the URL changed
        const body = { ...current.data, errorWebhookUrl: url.value.trim() || null };
        await ctx.api.put("/manage/settings", body);
        say("Settings saved");
      } catch (err) { say(err.message, true); }
    } },
      h("h2", {}, "Error stream"),
      h("label", { for: "error-webhook" }, "Webhook URL: every failed run is POSTed here, signed"), url,
      h("p", {}, h("button", { type: "submit" }, "Save"))),
    h("section", { class: "card" },
      h("h2", {}, "Install modal"),
      h("p", {}, "Pages that may show the modal in a frame: ",
        current.data.frameAncestors == null
          ? h("span", { class: "muted" }, "not set (localhost and 127.0.0.1 only)")
          : (current.data.frameAncestors.join(", ") || "none"),
        h("span", { class: "muted" }, " (frameAncestors, set with PUT /manage/settings)"))),
    h("section", { class: "card" },
      h("h2", {}, "Retention"),
      h("p", {}, `Finished runs are kept ${current.server.logRetentionDays} days, then purged. `,
        h("span", { class: "muted" }, "Set by SOLDER_LOG_RETENTION_DAYS on the server."))),
    h("h2", {}, "Latest error-stream deliveries"),
    table(["Run", "Status", "Attempts", "Created", "Last error"], deliveries.data.map((d) => h("tr", {},
      h("td", {}, h("a", { href: `#/${ctx.env}/runs/${d.executionId}` }, d.executionId)), h("td", {}, d.status),
      h("td", {}, String(d.attempts)), h("td", {}, when(d.createdAt)), h("td", {}, d.lastError || "")))));
}
