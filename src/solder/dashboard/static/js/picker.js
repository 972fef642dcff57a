// The variable picker: every value a block's input may map from at its place in the workflow
// (the trigger's output, each earlier block's output, `item`/`index` inside an iterate), from
// the declared output schemas, the samples and the last test run; choosing one inserts
// "{{ path }}" into the field at the cursor.
import { h, replace } from "./dom.js";
import { resolve } from "./schemaform.js";

const NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const seg = (key) => (NAME.test(key) ? key : `\`${key}\``);

function fromValue(value, prefix, out, depth = 0) {
  if (depth > 3 || value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    if (value.length) { out.add(`${prefix}[0]`); fromValue(value[0], `${prefix}[0]`, out, depth + 1); }
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const p = `${prefix}.${seg(k)}`;
    out.add(p);
    fromValue(v, p, out, depth + 1);
  }
}

function fromSchema(schema, root, prefix, out, depth = 0) {
  const s = resolve(schema, root || schema);
  if (depth > 3 || !s) return;
  for (const [k, sub] of Object.entries(s.properties || {})) {
    const p = `${prefix}.${seg(k)}`;
    out.add(p);
    fromSchema(sub, root || schema, p, out, depth + 1);
  }
  if (s.items && typeof s.items === "object") {
    const items = resolve(s.items, root || schema);
    if (items.properties) fromSchema(items, root || schema, `${prefix}[0]`, out, depth + 1);
  }
}

// Every block before `path` in document order (ancestors included), each with its path.
function before(doc, path) {
  const out = [];
  let found = false;
  const walk = (list, at) => list.forEach((b, i) => {
    if (found) return;
    const here = `${at}[${i}]`;
    if (here === path) { found = true; return; }
    out.push([here, b]);
    for (const [sub, nested] of children(b)) walk(nested, `${here}.${sub}`);
  });
  walk(doc.blocks, "blocks");
  return out;
}

export function children(b) {
  const out = [];
  if (b.type === "if") out.push(["then", b.then || []], ["else", b.else || []]);
  if (b.type === "iterate") out.push(["blocks", b.blocks || []]);
  if (b.type === "branch") {
    (b.paths || []).forEach((p, j) => out.push([`paths[${j}].blocks`, p.blocks || []]));
    if (b.default) out.push(["default", b.default]);
  }
  return out;
}

// [{group, paths: [..]}] for a block at `path`; `sources` knows schemas and samples.
export function variables(doc, path, sources) {
  const groups = [];
  const trig = new Set(["trigger"]);
  const sample = sources.triggerSample();
  if (sample) fromValue(sample, "trigger", trig);
  const triggered = sources.tested(doc.trigger.key); // the last test run's trigger output
  if (triggered !== undefined) fromValue(triggered, "trigger", trig);
  const tkind = sources.kind(doc.trigger.type);
  if (tkind && tkind.outputSchema) fromSchema(tkind.outputSchema, null, "trigger", trig);
  groups.push({ group: "Trigger", paths: [...trig] });
  for (const [at, b] of before(doc, path)) {
    const ref = `blocks.${seg(b.key)}`;
    const paths = new Set([ref]);
    const out = sources.output(b);
    if (out.schema) fromSchema(out.schema, null, ref, paths);
    if (out.sample) fromValue(out.sample, ref, paths);
    const tested = sources.tested(b.key);
    if (tested !== undefined) fromValue(tested, ref, paths);
    if (b.type === "iterate" && path.startsWith(`${at}.blocks[`)) groups.push({ group: `Each item of ${b.key}`, paths: ["item", "index"] });
    groups.push({ group: `Block ${b.key}`, paths: [...paths] });
  }
  groups.push({ group: "This run", paths: ["user.id", "user.username", "execution.id", "execution.workflowId", "config"] });
  return groups;
}

// Inserts "{{ path }}" at the cursor of a text field and tells the form it changed.
export function insert(el, path) {
  const text = `{{ ${path} }}`;
  const start = el.selectionStart ?? el.value.length;
  const end = el.selectionEnd ?? el.value.length;
  el.value = el.value.slice(0, start) + text + el.value.slice(end);
  el.setSelectionRange(start + text.length, start + text.length);
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

// A <dialog> listing the groups; Escape closes it; focus returns to the field.
export function open(host, el, label, groups) {
  const filter = h("input", { type: "search", id: "picker-filter", autocomplete: "off" });
  const list = h("div", { class: "picker-list" });
  const dialog = h("dialog", { class: "picker", "aria-labelledby": "picker-title" });
  const done = () => { dialog.close(); dialog.remove(); el.focus(); };
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    replace(list, groups.map((g) => {
      const paths = g.paths.filter((p) => !q || p.toLowerCase().includes(q));
      if (!paths.length) return null;
      return h("section", { "aria-label": g.group }, h("h3", {}, g.group),
        h("ul", {}, paths.map((p) => h("li", {}, h("button", { type: "button", class: "linkish",
          onclick: () => { done(); insert(el, p); } }, p)))));
    }));
  };
  filter.addEventListener("input", draw);
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(); });
  replace(dialog,
    h("h2", { id: "picker-title" }, `Insert a variable into ${label}`),
    h("label", { for: "picker-filter" }, "Filter"), filter, list,
    h("button", { type: "button", class: "secondary", onclick: done }, "Close"));
  draw();
  host.append(dialog);
  dialog.showModal();
  filter.focus();
}
