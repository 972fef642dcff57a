// A block's inputs drawn from its JSON Schema (GET /manage/blocks, an app action's
// inputSchema): text and numbers as text fields (a "{{ mapping }}" fits anywhere a value
// does), booleans and enums as selects, objects with properties as nested fieldsets, anything
// else as JSON in a textarea. Every control has a label, its help text and its problems.
import { h } from "./dom.js";

// Follows $ref into the root's $defs and unwraps "X or null" (pydantic's optional fields).
export function resolve(schema, root) {
  let s = schema || {};
  for (let depth = 0; depth < 8; depth++) {
    const { $ref, anyOf, oneOf, allOf, ...rest } = s;
    if ($ref) { s = { ...((root && root.$defs) || {})[$ref.split("/").pop()], ...rest }; continue; }
    const alts = (anyOf || oneOf || []).filter((a) => a.type !== "null");
    if (alts.length === 1) { s = { ...resolve(alts[0], root), ...rest }; continue; }
    if (alts.length > 1) return { ...rest, type: alts.map((a) => resolve(a, root).type).flat().filter(Boolean) };
    if (allOf && allOf.length === 1) { s = { ...resolve(allOf[0], root), ...rest }; continue; }
    return s;
  }
  return s;
}

function types(s) { return Array.isArray(s.type) ? s.type : s.type ? [s.type] : []; }

// "enum" | "boolean" | "text" (strings and numbers) | "object" (known properties) | "json"
export function kindOf(s) {
  if (s.enum) return "enum";
  const t = types(s);
  if (t.length === 1 && t[0] === "boolean") return "boolean";
  if (t.length && t.every((x) => ["string", "number", "integer"].includes(x))) return "text";
  if (t.length === 1 && t[0] === "object" && s.properties) return "object";
  return "json";
}

// The kind of "configurable by user" field an input becomes (FieldSpec.type).
export function fieldType(s) {
  if (s.enum || s.options) return "select";
  const t = types(s);
  if (t.length === 1 && t[0] === "boolean") return "boolean";
  if (t.length === 1 && ["number", "integer"].includes(t[0])) return "number";
  if (s.format === "uri") return "url";
  if (s.format === "email") return "email";
  return "string";
}

const NUMBER = /^-?\d+(\.\d+)?$/;

export function shown(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// Reads a text control back: numbers become numbers where the schema allows them.
function readText(s, text) {
  if (text === "") return undefined;
  const t = types(s);
  if (NUMBER.test(text.trim()) && (t.includes("number") || t.includes("integer")) && !t.includes("string")) {
    return Number(text.trim());
  }
  return text;
}

// Reads a JSON textarea back: JSON when it parses; otherwise the text itself when the schema
// accepts text (a mapping, a condition); {error} when it must be JSON and is not.
function readJson(s, text) {
  if (text.trim() === "") return { value: undefined };
  try { return { value: JSON.parse(text) }; } catch { /* not JSON */ }
  if (/^\s*[[{]/.test(text) && !/^\s*\{\{/.test(text)) return { error: "This is not valid JSON." }; // meant as JSON
  const t = types(s);
  if (!t.length || t.includes("string") || /^\s*\{\{[\s\S]*\}\}\s*$/.test(text)) return { value: text };
  return { error: "This is not valid JSON." };
}

function problemsOf(id, messages) {
  return h("p", { id: `${id}-error`, class: "error-text field-problem", hidden: !messages.length }, messages.join(" "));
}

function invalid(el, id, messages) {
  if (!messages.length) return el;
  el.setAttribute("aria-invalid", "true");
  el.setAttribute("aria-describedby", `${id}-error`);
  return el;
}

// One control for one value. set(value) stores it (undefined removes it).
function control(id, s, value, set, opts) {
  const kind = kindOf(s);
  if (kind === "enum") {
    return h("select", { id, onchange: (e) => set(e.target.value === "" ? undefined : s.enum[Number(e.target.value)]) },
      h("option", { value: "" }, "—"),
      s.enum.map((v, i) => h("option", { value: String(i), selected: v === value }, String(v))));
  }
  if (kind === "boolean") {
    return h("select", { id, onchange: (e) => set(e.target.value === "" ? undefined : e.target.value === "true") },
      ["", "true", "false"].map((v) => h("option", { value: v, selected: v !== "" && String(value) === v }, v || "—")));
  }
  if (kind === "text") {
    return h("input", { id, type: "text", value: shown(value), size: 48, autocomplete: "off",
      oninput: (e) => set(readText(s, e.target.value)) });
  }
  const box = h("textarea", { id, rows: opts.rows || 4, cols: 60, spellcheck: "false", value: shown(value),
    oninput: (e) => {
      const got = readJson(s, e.target.value);
      const note = document.getElementById(`${id}-json`);
      if (got.error) { e.target.setAttribute("aria-invalid", "true"); if (note) note.textContent = got.error; return; }
      e.target.removeAttribute("aria-invalid");
      if (note) note.textContent = "";
      set(got.value);
    } });
  return box;
}

// The form of an object schema over `values` (mutated in place).
// opts: {id, root, problems: {name: [message]}, pick(el, label), user: {get(name), set(name, on)} | null}
// At the top level, optional inputs left empty wait behind "More inputs" to keep blocks short.
export function objectForm(schema, values, opts) {
  const required = new Set(schema.required || []);
  const rows = inputRows(schema, values, opts, required);
  if (!opts.user) return rows.map(([, row]) => row);
  const shown = (name) => required.has(name) || values[name] !== undefined || opts.user.get(name)
    || (opts.problems && opts.problems[name]);
  const first = rows.filter(([name]) => shown(name));
  const more = rows.filter(([name]) => !shown(name));
  return [first.map(([, row]) => row),
    more.length ? h("details", { class: "more" },
      h("summary", {}, `More inputs: ${more.map(([name]) => name).join(", ")}`), more.map(([, row]) => row)) : null];
}

function inputRows(schema, values, opts, required) {
  const root = opts.root || schema;
  const props = Object.entries(schema.properties || {});
  return props.map(([name, raw]) => [name, inputRow(name, raw, root, values, opts, required)]);
}

function inputRow(name, raw, root, values, opts, required) {
  {
    const s = resolve(raw, root);
    const id = `${opts.id}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const messages = (opts.problems && opts.problems[name]) || [];
    const label = `${name}${required.has(name) ? " (required)" : ""}`;
    const set = (v) => { if (v === undefined) delete values[name]; else values[name] = v; if (opts.changed) opts.changed(); };
    if (kindOf(s) === "object") {
      const sub = values[name] && typeof values[name] === "object" ? values[name] : {};
      const kept = () => { // the object is in the inputs only once something is in it
        if (Object.keys(sub).length) values[name] = sub; else delete values[name];
        if (opts.changed) opts.changed();
      };
      return h("fieldset", { class: "nested" }, h("legend", {}, label),
        s.description ? h("p", { class: "muted" }, s.description) : null,
        objectForm(s, sub, { ...opts, id, problems: {}, user: null, root, changed: kept }),
        problemsOf(id, messages));
    }
    const userField = opts.user ? opts.user.get(name) : null;
    const el = invalid(control(id, s, values[name], set, {}), id, messages);
    if (s.description) { // the help text is read with the field
      el.setAttribute("aria-describedby", [`${id}-help`, el.getAttribute("aria-describedby")].filter(Boolean).join(" "));
    }
    if (userField) el.disabled = true;
    const canPick = ["text", "json"].includes(kindOf(s));
    return h("div", { class: "input-row", "data-input": name },
      h("label", { for: id }, label),
      h("div", { class: "row tight" }, el,
        canPick ? h("button", { type: "button", class: "secondary small", disabled: !!userField,
          "aria-label": `Insert a variable into ${name}`, onclick: () => opts.pick(el, name) }, "{{ }}") : null),
      kindOf(s) === "json" ? h("p", { id: `${id}-json`, class: "error-text", "aria-live": "polite" }) : null,
      s.description ? h("p", { class: "muted", id: `${id}-help` }, s.description) : null,
      opts.user ? userSwitch(id, name, s, userField, opts) : null,
      problemsOf(id, messages));
  }
}

// "Configurable by user": the input becomes a field the end user fills in when installing.
function userSwitch(id, name, s, field, opts) {
  const box = h("input", { type: "checkbox", id: `${id}-user`, checked: !!field,
    onchange: (e) => opts.user.set(name, e.target.checked, s) });
  const row = h("div", { class: "user-field" },
    h("label", { class: "inline", for: `${id}-user` }, box, `Configurable by user`));
  if (!field) return row;
  const text = (key, title) => h("div", { class: "field" },
    h("label", { for: `${id}-${key}` }, title),
    h("input", { id: `${id}-${key}`, type: "text", size: 40, value: field[key] || "",
      oninput: (e) => { if (e.target.value) field[key] = e.target.value; else delete field[key]; if (opts.changed) opts.changed(); } }));
  return h("div", { class: "user-field on" }, row.firstChild,
    h("div", { class: "row tight" },
      text("displayName", `Label shown to the user for ${name}`),
      text("description", `Help text for ${name}`),
      h("label", { class: "inline", for: `${id}-required` },
        h("input", { type: "checkbox", id: `${id}-required`, checked: field.required !== false,
          onchange: (e) => { if (e.target.checked) delete field.required; else field.required = false; if (opts.changed) opts.changed(); } }),
        "Required")));
}

// A whole free-form inputs object (a code block's input, an app action without a schema).
export function jsonForm(values, opts) {
  const id = `${opts.id}-inputs`;
  const messages = Object.values(opts.problems || {}).flat();
  const box = invalid(h("textarea", { id, rows: 5, cols: 60, spellcheck: "false",
    value: Object.keys(values).length ? JSON.stringify(values, null, 2) : "",
    oninput: (e) => {
      const note = document.getElementById(`${id}-json`);
      let parsed = {};
      try { parsed = e.target.value.trim() ? JSON.parse(e.target.value) : {}; } catch { parsed = null; }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        e.target.setAttribute("aria-invalid", "true");
        note.textContent = "Inputs are a JSON object.";
        return;
      }
      e.target.removeAttribute("aria-invalid");
      note.textContent = "";
      for (const k of Object.keys(values)) delete values[k];
      Object.assign(values, parsed);
      if (opts.changed) opts.changed();
    } }), id, messages);
  return h("div", { class: "input-row" },
    h("label", { for: id }, "Inputs (a JSON object)"),
    h("div", { class: "row tight" }, box,
      h("button", { type: "button", class: "secondary small", "aria-label": "Insert a variable into the inputs",
        onclick: () => opts.pick(box, "inputs") }, "{{ }}")),
    h("p", { id: `${id}-json`, class: "error-text", "aria-live": "polite" }),
    problemsOf(id, messages));
}
