// The workflow builder: #/<env>/builder/<integrationId>/<workflow key, id or "new">.
// The workflow document (docs/workflows.md) is edited in memory and saved as the draft; each
// block's form is drawn from the schema GET /manage/blocks (or the app action) declares.
// Structural edits (add, move, delete) redraw the editor and keep the focus where it was.
import { h, replace, say } from "./dom.js";
import { objectForm, jsonForm, fieldType } from "./schemaform.js";
import * as picker from "./picker.js";
import * as tools from "./buildtools.js";

const TRIGGERS = [["customEvent", "Custom event"], ["appEvent", "App event"], ["webhook", "Incoming webhook"],
  ["schedule", "Schedule"], ["installation", "On installation"]];
const enc = encodeURIComponent;
const uids = new WeakMap();
let counter = 0;
export function uid(o) { if (!uids.has(o)) uids.set(o, `u${++counter}`); return uids.get(o); }

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
}

function allKeys(doc) {
  const keys = new Set([doc.trigger.key]);
  const walk = (list) => list.forEach((b) => { keys.add(b.key); picker.children(b).forEach(([, l]) => walk(l)); });
  walk(doc.blocks);
  return keys;
}

function freshKey(doc, base) {
  const keys = allKeys(doc);
  let key = slug(base) || "block";
  for (let n = 2; keys.has(key); n++) key = `${slug(base) || "block"}-${n}`;
  return key;
}

function newBlock(B, type) {
  const kind = B.cat[type];
  const b = { key: freshKey(B.doc, kind.title), name: kind.title, type, inputs: {} };
  if (type === "appAction") {
    const app = B.apps.find((a) => a.app === B.appKey && a.actions.length) || B.apps.find((a) => a.actions.length);
    b.app = app.app; b.action = app.actions[0].key;
  }
  if (type === "formatter") b.operation = kind.operations[0].name;
  if (type === "destination") b.destination = kind.destinations[0].destination;
  if (type === "code") b.code = "function main(input) {\n  return input;\n}";
  if (type === "if") { b.then = []; b.else = []; }
  if (type === "iterate") b.blocks = [];
  if (type === "branch") b.paths = [{ key: "path-1", condition: "", blocks: [] }];
  if (type === "stop") b.inputs = { status: "succeeded" };
  return b;
}

// The document as it is saved: no empty leftovers of the editor.
export function clean(doc) {
  const copy = JSON.parse(JSON.stringify(doc));
  const tidy = (b) => {
    if (b.inputs && !Object.keys(b.inputs).length) delete b.inputs;
    if (b.fields && !b.fields.length) delete b.fields;
    if (b.name === "") delete b.name;
    for (const k of ["then", "else"]) if (Array.isArray(b[k]) && !b[k].length) delete b[k];
    for (const [, list] of picker.children(b)) list.forEach(tidy);
  };
  tidy(copy.trigger);
  copy.blocks.forEach(tidy);
  return copy;
}

// Problems from the check endpoint, or from a refused save (its `problems`, or its message
// "path: message; path: message"), as [{path, message}] with paths inside the workflow.
export function problemsFrom(list, message) {
  const raw = list || (message || "").split("; ").map((part) => {
    const m = /^([A-Za-z0-9_.\[\]`-]+): ([\s\S]*)$/.exec(part);
    return m ? { path: m[1], message: m[2] } : { path: "", message: part };
  });
  return raw.map((p) => ({ ...p, path: (p.path || "").replace(/^workflows\[\d+\]\.?/, "").replace(/^workflow\.?/, "") }));
}

// This block's problems: those whose path is inside it and not inside a nested block.
function problemsAt(B, path, nestedPaths) {
  const mine = B.problems.filter((p) => (p.path === path || p.path.startsWith(`${path}.`))
    && !nestedPaths.some((n) => p.path === n || p.path.startsWith(`${n}.`) || p.path.startsWith(`${n}[`)));
  const fields = {};
  const all = mine.map((p) => {
    const rest = p.path.slice(path.length + 1);
    const name = rest.startsWith("inputs.") ? rest.slice(7).split(/[.[]/)[0] : rest.split(/[.[]/)[0];
    if (name) (fields[name] ||= []).push(p.message);
    const said = !name || p.message.startsWith(`${name}:`) || p.message.startsWith(`${name} `);
    return { ...p, message: said ? p.message : `${name}: ${p.message}` };
  });
  return { all, fields };
}

function text(id, label, value, set, extra = {}) {
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("input", { id, type: "text", value: value || "", autocomplete: "off", size: extra.size || 30,
      readonly: extra.readonly, onchange: extra.onchange, oninput: (e) => set(e.target.value) }));
}

function select(id, label, options, value, set) {
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("select", { id, onchange: (e) => set(e.target.value) },
      options.map(([v, t]) => h("option", { value: v, selected: v === value }, t))));
}

function sources(B) {
  return {
    kind: (type) => B.cat[type],
    triggerSample: () => tools.triggerSample(B),
    tested: (key) => {
      const step = B.lastTest && (B.lastTest.steps || []).find((s) => s.blockKey === key);
      return step ? step.output : undefined;
    },
    output: (b) => {
      if (b.type === "appAction") {
        const action = actionOf(B, b);
        return { schema: action && action.outputSchema, sample: action && action.sample };
      }
      if (b.type === "formatter") {
        const op = (B.cat.formatter.operations || []).find((o) => o.name === b.operation);
        return { schema: op && op.outputSchema };
      }
      if (b.type === "destination") {
        const d = (B.cat.destination.destinations || []).find((x) => x.destination === b.destination);
        return { schema: d && d.outputSchema };
      }
      return { schema: (B.cat[b.type] || {}).outputSchema };
    },
  };
}

function actionOf(B, b) {
  const app = B.apps.find((a) => a.app === b.app);
  return app && app.actions.find((a) => a.key === b.action);
}

function inputSchema(B, b) {
  if (b.type === "appAction") { const a = actionOf(B, b); return a ? a.inputSchema : {}; }
  if (b.type === "formatter") return ((B.cat.formatter.operations || []).find((o) => o.name === b.operation) || {}).inputSchema || {};
  if (b.type === "destination") return ((B.cat.destination.destinations || []).find((d) => d.destination === b.destination) || {}).inputSchema || {};
  return (B.cat[b.type] || {}).inputSchema || {};
}

function pickFor(B, path) {
  return (el, label) => picker.open(B.ctx.main, el, label, picker.variables(B.doc, path, sources(B)));
}

function changed(B) { B.dirty = true; }

function inputsView(B, b, u, path, problems) {
  if (b.type === "branch") return null;
  b.inputs ||= {};
  const schema = inputSchema(B, b);
  const opts = { id: u, problems, pick: pickFor(B, path), changed: () => changed(B),
    user: {
      get: (name) => (b.fields || []).find((f) => f.name === name),
      set: (name, on, s) => {
        b.fields = (b.fields || []).filter((f) => f.name !== name);
        if (on) {
          const field = { name, displayName: name, type: fieldType(s) };
          if (s.enum) field.options = s.enum.map(String);
          if (s.description) field.description = s.description;
          b.fields.push(field);
          delete b.inputs[name];
        }
        changed(B);
        B.focus = `${u}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}-user`;
        draw(B);
      },
    } };
  const body = schema.properties ? objectForm(schema, b.inputs, opts) : jsonForm(b.inputs, opts);
  return h("fieldset", { class: "inputs" }, h("legend", {}, "Inputs"), body);
}

function typeControls(B, b, u) {
  const redraw = () => { changed(B); draw(B); };
  if (b.type === "appAction") {
    const apps = B.apps.filter((a) => a.actions.length);
    const app = apps.find((a) => a.app === b.app) || apps[0];
    return h("div", { class: "row" },
      select(`${u}-app`, "App", apps.map((a) => [a.app, a.name]), b.app, (v) => {
        b.app = v; b.action = apps.find((a) => a.app === v).actions[0].key; B.focus = `${u}-app`; redraw();
      }),
      select(`${u}-action`, "Action", app.actions.map((a) => [a.key, a.name]), b.action, (v) => {
        b.action = v; B.focus = `${u}-action`; redraw();
      }));
  }
  if (b.type === "formatter") {
    return select(`${u}-op`, "Operation", B.cat.formatter.operations.map((o) => [o.name, `${o.name}: ${o.description}`]),
      b.operation, (v) => { b.operation = v; B.focus = `${u}-op`; redraw(); });
  }
  if (b.type === "destination") {
    return select(`${u}-dest`, "Destination", B.cat.destination.destinations.map((d) => [d.destination, d.title]),
      b.destination, (v) => { b.destination = v; B.focus = `${u}-dest`; redraw(); });
  }
  if (b.type === "code") {
    return h("div", { class: "field" }, h("label", { for: `${u}-code` }, "Code (JavaScript: function main(input))"),
      h("textarea", { id: `${u}-code`, rows: 6, cols: 60, spellcheck: "false", value: b.code || "",
        oninput: (e) => { b.code = e.target.value; changed(B); } }));
  }
  return null;
}

function nestedViews(B, b, path) {
  if (b.type === "if") {
    return [listView(B, b.then ||= [], `Then of ${b.key}`, `${path}.then`),
      listView(B, b.else ||= [], `Else of ${b.key}`, `${path}.else`)];
  }
  if (b.type === "iterate") return listView(B, b.blocks ||= [], `Blocks of ${b.key}`, `${path}.blocks`);
  if (b.type !== "branch") return null;
  b.paths ||= [];
  const u = uid(b);
  return h("div", { class: "nest" },
    b.paths.map((p, j) => {
      const pu = uid(p);
      const cond = h("textarea", { id: `${pu}-cond`, rows: 2, cols: 50, value: typeof p.condition === "string" ? p.condition : JSON.stringify(p.condition ?? ""),
        oninput: (e) => { p.condition = e.target.value; changed(B); } });
      return h("fieldset", { class: "path" }, h("legend", {}, `Path ${p.key}`),
        h("div", { class: "row" },
          text(`${pu}-key`, "Path key", p.key, (v) => { p.key = v; changed(B); }),
          text(`${pu}-name`, "Path name", p.name, (v) => { if (v) p.name = v; else delete p.name; changed(B); }),
          h("div", { class: "field" }, h("label", { for: `${pu}-cond` }, `Condition of path ${p.key}`),
            h("div", { class: "row tight" }, cond, h("button", { type: "button", class: "secondary small",
              "aria-label": `Insert a variable into the condition of ${p.key}`, onclick: () => pickFor(B, path)(cond, `the condition of ${p.key}`) }, "{{ }}"))),
          h("button", { type: "button", class: "danger", disabled: b.paths.length < 2, onclick: () => {
            b.paths.splice(j, 1); changed(B); B.focus = `${u}-addpath`; draw(B);
          } }, `Remove path ${p.key}`)),
        listView(B, p.blocks ||= [], `Path ${p.key} of ${b.key}`, `${path}.paths[${j}].blocks`));
    }),
    h("button", { type: "button", class: "secondary", id: `${u}-addpath`, onclick: () => {
      let n = b.paths.length + 1;
      while (b.paths.some((x) => x.key === `path-${n}`)) n++;
      const key = `path-${n}`;
      const p = { key, condition: "", blocks: [] };
      b.paths.push(p); changed(B); B.focus = `${uid(p)}-cond`; draw(B);
    } }, `Add a path to ${b.key}`),
    h("div", { class: "field" }, h("label", { class: "inline", for: `${u}-hasdefault` },
      h("input", { type: "checkbox", id: `${u}-hasdefault`, checked: Array.isArray(b.default), onchange: (e) => {
        if (e.target.checked) b.default = []; else delete b.default;
        changed(B); B.focus = `${u}-hasdefault`; draw(B);
      } }), "A default path (when no condition is true)")),
    Array.isArray(b.default) ? listView(B, b.default, `Default of ${b.key}`, `${path}.default`) : null);
}

function move(B, list, i, by, focusId) {
  const [b] = list.splice(i, 1);
  list.splice(i + by, 0, b);
  changed(B);
  B.focus = focusId;
  draw(B);
  say(`Moved ${b.key} to position ${i + by + 1}`);
}

function blockCard(B, list, i, path) {
  const b = list[i];
  const u = uid(b);
  const kind = B.cat[b.type] || { title: b.type };
  const nested = picker.children(b).map(([sub]) => `${path}.${sub}`);
  const mine = problemsAt(B, path, nested);
  const title = h("span", {}, `${i + 1}. ${b.name || kind.title}`);
  const button = (suffix, label, body, disabled, fn, cls = "secondary small") =>
    h("button", { type: "button", id: `${u}-${suffix}`, class: cls, "aria-label": label, disabled, onclick: fn }, body);
  return h("section", { class: `block-card${mine.all.length ? " has-problems" : ""}`, "aria-label": `Block ${b.key}` },
    h("div", { class: "block-head" },
      h("h3", {}, grip(list, b), title, h("span", { class: "muted" }, ` · ${kind.title}`)),
      h("div", { class: "row tight" },
        button("up", `Move ${b.key} up`, "↑ Up", i === 0, () => move(B, list, i, -1, i - 1 === 0 ? `${u}-down` : `${u}-up`)),
        button("down", `Move ${b.key} down`, "↓ Down", i === list.length - 1,
          () => move(B, list, i, 1, i + 2 === list.length ? `${u}-up` : `${u}-down`)),
        button("del", `Delete ${b.key}`, "Delete", false, () => {
          if (!confirm(`Delete the block ${b.key}${picker.children(b).some(([, l]) => l.length) ? " and the blocks inside it" : ""}?`)) return;
          list.splice(i, 1);
          changed(B);
          B.focus = list.length ? `${uid(list[Math.min(i, list.length - 1)])}-name` : `add-${uid(list)}`;
          draw(B);
          say(`Deleted ${b.key}`);
        }, "danger small"))),
    mine.all.length ? h("ul", { class: "problems error-text", "aria-label": `Problems of ${b.key}` },
      mine.all.map((p) => h("li", {}, p.message))) : null,
    h("div", { class: "row" },
      // renamed in place: a redraw here would swallow the click that ended the edit
      text(`${u}-name`, "Block name", b.name, (v) => { b.name = v; changed(B); title.textContent = `${i + 1}. ${v || kind.title}`; }),
      text(`${u}-key`, "Block key", b.key, (v) => { b.key = v; changed(B); }, { size: 20, onchange: (e) => {
        const card = e.target.closest("section");
        card.setAttribute("aria-label", `Block ${b.key}`);
        [["up", `Move ${b.key} up`], ["down", `Move ${b.key} down`], ["del", `Delete ${b.key}`]].forEach(([s, l]) =>
          document.getElementById(`${u}-${s}`).setAttribute("aria-label", l));
      } })),
    moveTo(B, list, b, u),
    typeControls(B, b, u),
    inputsView(B, b, u, path, mine.fields),
    nestedViews(B, b, path));
}

// Drag and drop, for the mouse (the Up and Down buttons are the keyboard's way): a block is
// dragged by its grip and dropped on a block (it goes before it) or on a list's "Add" row (it
// goes last), in its own list or another one, never inside itself.
let dragging = null; // {list, block}

function inside(b, list) {
  return picker.children(b).some(([, l]) => l === list || l.some((x) => inside(x, list)));
}

function dropOn(B, list, index) {
  return {
    ondragover: (e) => {
      if (dragging && dragging.block !== list[index] && !inside(dragging.block, list)) {
        e.preventDefault(); e.stopPropagation(); e.dataTransfer.dropEffect = "move";
      }
    },
    ondrop: (e) => {
      if (!dragging || inside(dragging.block, list)) return;
      e.preventDefault(); e.stopPropagation();
      const { list: from, block } = dragging;
      dragging = null;
      const before = index === undefined ? null : list[index]; // the block it goes before
      from.splice(from.indexOf(block), 1);
      list.splice(before ? list.indexOf(before) : list.length, 0, block);
      changed(B);
      draw(B);
      say(`Moved ${block.key}`);
    },
  };
}

// Every list of blocks with its name, in document order: where "Move to" may send a block.
function allLists(B) {
  const out = [["Blocks", B.doc.blocks]];
  const names = { then: "Then", else: "Else", blocks: "Blocks", default: "Default" };
  const walk = (list) => list.forEach((b) => picker.children(b).forEach(([sub, l]) => {
    const j = /^paths\[(\d+)\]/.exec(sub);
    out.push([j ? `Path ${b.paths[Number(j[1])].key} of ${b.key}` : `${names[sub]} of ${b.key}`, l]);
    walk(l);
  }));
  walk(B.doc.blocks);
  return out;
}

// The keyboard's way into another list: choose the list, then "Move" (the block goes last).
function moveTo(B, list, b, u) {
  const lists = allLists(B).filter(([, l]) => !inside(b, l));
  if (lists.length < 2) return null;
  const chosen = h("select", { id: `${u}-to` },
    lists.map(([name, l], k) => h("option", { value: String(k), selected: l === list }, name)));
  return h("div", { class: "row tight move-to" },
    h("label", { for: `${u}-to` }, `Move ${b.key} to`), chosen,
    h("button", { type: "button", class: "secondary small", id: `${u}-go`, onclick: () => {
      const [name, target] = lists[Number(chosen.value)];
      if (target === list) return;
      list.splice(list.indexOf(b), 1);
      target.push(b);
      changed(B);
      B.focus = `${u}-go`;
      draw(B);
      say(`Moved ${b.key} to ${name}`);
    } }, "Move"));
}

function grip(list, b) {
  return h("span", { class: "grip", draggable: "true", title: `Drag ${b.key} to move it`, "aria-hidden": "true",
    ondragstart: (e) => { dragging = { list, block: b }; e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", b.key); },
    ondragend: () => { dragging = null; } }, "⠿");
}

function listView(B, list, name, path) {
  const id = `add-${uid(list)}`;
  const types = Object.values(B.cat).filter((k) => !k.trigger);
  const chosen = h("select", { id }, types.map((k) => h("option", { value: k.type }, k.title)));
  return h("div", { class: "block-list" },
    path === "blocks" ? null : h("h4", { class: "list-name" }, name),
    list.length ? h("ol", { class: "blocks", "aria-label": name },
      list.map((b, i) => h("li", dropOn(B, list, i), blockCard(B, list, i, `${path}[${i}]`)))) : h("p", { class: "muted" }, "No block here yet."),
    h("div", { class: "row add", role: "group", "aria-label": `Add to ${name}`, ...dropOn(B, list, undefined) },
      h("label", { for: id }, `New block in ${name}`), chosen,
      h("button", { type: "button", onclick: () => {
        const b = newBlock(B, chosen.value);
        list.push(b);
        changed(B);
        B.focus = `${uid(b)}-name`;
        draw(B);
        say(`Added ${b.key}`);
      } }, "Add block")));
}

function triggerView(B) {
  const t = B.doc.trigger;
  const mine = problemsAt(B, "trigger", []);
  const set = (type) => {
    const next = { key: t.key || "trigger", type };
    if (t.id) next.id = t.id;
    if (type === "customEvent") next.event = (B.events[0] || {}).name || "";
    if (type === "appEvent") {
      const app = B.apps.find((a) => a.app === B.appKey && a.triggers.length) || B.apps.find((a) => a.triggers.length);
      next.app = app.app; next.event = app.triggers[0].key;
    }
    if (type === "schedule") { next.cron = "0 9 * * 1-5"; next.timeZone = "UTC"; }
    B.doc.trigger = next;
    changed(B); B.focus = "t-type"; draw(B);
  };
  const parts = [select("t-type", "Trigger type", TRIGGERS, t.type, set)];
  if (t.type === "customEvent") {
    const names = B.events.map((e) => [e.name, e.name]);
    if (t.event && !B.events.some((e) => e.name === t.event)) names.unshift([t.event, `${t.event} (not defined)`]);
    parts.push(select("t-event", "Custom event", names, t.event, (v) => { t.event = v; changed(B); B.focus = "t-event"; draw(B); }),
      h("a", { href: `#/${B.ctx.env}/events`, class: "inline-link" }, "Define a custom event"));
  } else if (t.type === "appEvent") {
    const apps = B.apps.filter((a) => a.triggers.length);
    const app = apps.find((a) => a.app === t.app) || apps[0];
    parts.push(
      select("t-app", "App", apps.map((a) => [a.app, a.name]), t.app, (v) => {
        t.app = v; t.event = apps.find((a) => a.app === v).triggers[0].key; changed(B); B.focus = "t-app"; draw(B);
      }),
      select("t-appevent", "App event", app.triggers.map((x) => [x.key, `${x.name} (${x.delivery})`]), t.event,
        (v) => { t.event = v; changed(B); }));
  } else if (t.type === "schedule") {
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
    parts.push(
      text("t-cron", "Cron expression (minute hour day month weekday)", t.cron, (v) => { t.cron = v; changed(B); }),
      h("div", { class: "field" }, h("label", { for: "t-tz" }, "Time zone"),
        h("input", { id: "t-tz", list: "t-zones", value: t.timeZone || "UTC", autocomplete: "off",
          oninput: (e) => { t.timeZone = e.target.value; changed(B); } }),
        h("datalist", { id: "t-zones" }, ["UTC", ...zones].map((z) => h("option", { value: z })))));
  } else {
    parts.push(h("p", { class: "muted" }, (B.cat[t.type] || {}).description || ""));
  }
  return h("section", { class: "card", "aria-labelledby": "b-trigger" }, h("h2", { id: "b-trigger" }, "Trigger"),
    mine.all.length ? h("ul", { class: "problems error-text", "aria-label": "Problems of the trigger" },
      mine.all.map((p) => h("li", {}, p.message))) : null,
    h("div", { class: "row" }, parts));
}

function summary(B) {
  if (!B.problems.length) return null;
  return h("section", { class: "card problems-summary", role: "alert", "aria-labelledby": "b-problems" },
    h("h2", { id: "b-problems" }, B.problems.length === 1 ? "1 problem" : `${B.problems.length} problems`),
    h("ul", {}, B.problems.map((p) => h("li", {}, p.blockKey ? `Block ${p.blockKey}: ` : "",
      h("code", {}, p.path || "workflow"), " ", p.message))));
}

// The workflow's and the trigger's own fields: marked invalid, with their message under them.
function flagFields(B) {
  const t = B.doc.trigger;
  const ids = { name: "w-name", key: "w-key", "trigger.type": "t-type", "trigger.app": "t-app",
    "trigger.event": t.type === "appEvent" ? "t-appevent" : "t-event", "trigger.cron": "t-cron",
    "trigger.timeZone": "t-tz", "trigger.timezone": "t-tz" };
  for (const [path, id] of Object.entries(ids)) {
    const messages = B.problems.filter((p) => p.path === path).map((p) => p.message);
    const el = B.ctx.main.querySelector(`#${id}`);
    if (!messages.length || !el) continue;
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", `${id}-error`);
    el.closest(".field").append(h("p", { id: `${id}-error`, class: "error-text field-problem" }, messages.join(" ")));
  }
}

export function draw(B) {
  const active = document.activeElement && document.activeElement.id;
  const d = B.doc;
  const keyBox = text("w-key", "Workflow key", d.key, (v) => { d.key = v; B.keyTouched = true; changed(B); },
    { readonly: !B.isNew, size: 30 });
  replace(B.ctx.main,
    h("p", {}, h("a", { href: `#/${B.ctx.env}/integrations` }, "← Integrations")),
    h("h1", {}, B.isNew ? "New workflow" : `Workflow: ${d.name}`, h("span", { class: `env-badge ${B.ctx.env}` }, B.ctx.env)),
    h("p", { class: "muted" }, `Integration ${B.integrationName}`, B.workflowId ? ` · workflow ${B.workflowId}` : " · not saved yet"),
    h("div", { class: "row toolbar" },
      h("button", { type: "button", id: "b-save", onclick: () => save(B) }, "Save draft"),
      h("button", { type: "button", class: "secondary", id: "b-check", onclick: () => check(B) }, "Check"),
      tools.fileButtons(B)),
    summary(B),
    h("section", { class: "card", "aria-labelledby": "b-wf" }, h("h2", { id: "b-wf" }, "Workflow"),
      h("div", { class: "row" },
        text("w-name", "Workflow name", d.name, (v) => {
          d.name = v; changed(B);
          if (!B.keyTouched) { d.key = slug(v); document.getElementById("w-key").value = d.key; }
        }, { size: 60 }),
        keyBox),
    ),
    triggerView(B),
    h("section", { class: "card", "aria-labelledby": "b-blocks" }, h("h2", { id: "b-blocks" }, "Blocks"),
      B.problems.filter((p) => p.path === "blocks").map((p) => h("p", { class: "error-text" }, p.message)),
      listView(B, d.blocks, "Blocks", "blocks")),
    tools.panels(B));
  flagFields(B);
  const target = document.getElementById(B.focus || active);
  B.focus = null;
  if (target) {
    if (target.disabled) {
      const other = target.id.endsWith("-up") ? target.id.replace(/-up$/, "-down") : target.id.replace(/-down$/, "-up");
      (document.getElementById(other) || target).focus();
    } else target.focus();
  }
}

// Saves the draft; on refusal the problems are shown on their blocks and fields.
export async function save(B, quiet = false) {
  const doc = clean(B.doc);
  if (!doc.key) { // the address needs it: said here, before asking the server
    B.problems = [{ path: "key", blockKey: null, message: "A workflow needs a key (lower case letters, digits, - and _)." }];
    B.focus = "w-key";
    draw(B);
    say("Not saved: the workflow has no key", true);
    return false;
  }
  try {
    const r = await B.ctx.api.put(`/manage/integrations/${enc(B.integrationId)}/workflows/${enc(doc.key)}`, doc);
    B.problems = [];
    B.dirty = false;
    B.workflowId = r.workflowId;
    if (B.isNew) {
      B.isNew = false;
      B.ctx.moved(`#/${B.ctx.env}/builder/${enc(B.integrationId)}/${enc(doc.key)}`);
    }
    draw(B);
    if (!quiet) say(r.changed ? "Draft saved" : "Draft saved (nothing changed)");
    return true;
  } catch (err) {
    if (err.status === 422) {
      B.problems = problemsFrom(err.body.problems, err.message);
      draw(B);
      say(`Not saved: ${B.problems.length} problem(s)`, true);
    } else say(err.message, true);
    return false;
  }
}

export async function check(B) {
  try {
    const r = await B.ctx.api.post("/manage/workflows/check", { integrationId: B.integrationId, workflow: clean(B.doc) });
    B.problems = problemsFrom(r.problems);
    draw(B);
    say(r.ok ? "No problems found" : `${B.problems.length} problem(s)`, !r.ok);
  } catch (err) {
    if (err.status === 404 || err.status === 405) { await save(B); return; } // an older server: saving checks too
    say(err.message, true);
  }
}

export async function page(ctx) {
  const [blocks, apps, events, ints, flows] = await Promise.all([
    ctx.api.get("/manage/blocks"), ctx.api.get("/metadata/apps"), ctx.api.get("/events"),
    ctx.api.get("/integrations"), ctx.api.get("/workflows"),
  ]);
  const integration = ints.data.find((i) => i.integrationId === ctx.id);
  if (!integration) throw new Error(`There is no integration ${ctx.id} in ${ctx.env}.`);
  const cat = Object.fromEntries(blocks.data.map((k) => [k.type, k]));
  const B = { ctx, cat, apps: apps.data, events: events.data, integrationId: ctx.id, integrationName: integration.app,
    appKey: (apps.data.find((a) => a.name === integration.app) || {}).app,
    workflowId: null, isNew: true, problems: [], lastTest: null, keyTouched: false, dirty: false };
  const mine = flows.data.filter((w) => w.integrationId === ctx.id);
  const wanted = ctx.sub && ctx.sub !== "new" ? ctx.sub : null;
  if (wanted) {
    let found = mine.find((w) => w.workflowId === wanted);
    let draft = found ? await ctx.api.get(`/manage/workflows/${enc(found.workflowId)}/draft`) : null;
    if (!found) {
      const drafts = await Promise.all(mine.map((w) => ctx.api.get(`/manage/workflows/${enc(w.workflowId)}/draft`)));
      const i = drafts.findIndex((x) => x.data.key === wanted);
      if (i < 0) throw new Error(`The integration has no workflow ${wanted}.`);
      found = mine[i]; draft = drafts[i];
    }
    Object.assign(B, { doc: draft.data, workflowId: found.workflowId, isNew: false, keyTouched: true });
  } else {
    B.doc = { key: "", name: "", trigger: { key: "trigger", type: "customEvent", event: (B.events[0] || {}).name || "" }, blocks: [] };
  }
  await tools.load(B);
  draw(B);
  // unsaved edits are not dropped without asking (the tab's close or reload asks too)
  const leave = () => !B.dirty || confirm("Leave the builder? Your unsaved changes will be lost.");
  leave.quiet = () => !B.dirty;
  ctx.guard(leave);
}
