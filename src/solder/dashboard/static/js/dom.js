// Builds elements from data without ever parsing data as HTML.
// h("a", {href: "#/x", class: "y", onclick: fn}, "text", child) -> HTMLAnchorElement

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" || name === "checked" || name === "disabled") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function duration(start, stop) {
  if (!start || !stop) return "—";
  const ms = new Date(stop) - new Date(start);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function json(value) {
  return h("pre", {}, value === undefined ? "—" : JSON.stringify(value, null, 2));
}

export function table(headers, rows, caption) {
  return h("table", {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "Nothing here yet."))));
}

export function pager(page, go) {
  // page: {totalItems, currentPage, totalPages, pageSize}; go(skip) loads another page
  const skip = (page.currentPage - 1) * page.pageSize;
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { class: "secondary", disabled: page.currentPage <= 1, onclick: () => go(skip - page.pageSize) }, "Previous"),
    h("span", {}, `Page ${page.currentPage} of ${Math.max(page.totalPages, 1)} · ${page.totalItems} in all`),
    h("button", { class: "secondary", disabled: page.currentPage >= page.totalPages, onclick: () => go(skip + page.pageSize) }, "Next"));
}

export function say(message, bad = false) {
  const box = document.getElementById("status");
  box.textContent = message;
  box.className = bad ? "toast bad" : "toast";
  box.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.hidden = true; }, 5000);
}
