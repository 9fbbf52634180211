// DOM helpers. Text from the exchange or the API only ever goes in through textContent
// (never as HTML source), so nothing it contains is parsed as markup.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "href") node.setAttribute("href", value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`no element #${id}`);
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function setText(node, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

// Key/value rows for a small table: [[label, value, class?], ...]
export function fillKv(table, rows) {
  clear(table);
  for (const [label, value, cls] of rows) {
    table.append(el("tr", {}, el("th", { text: label }), el("td", { text: value, class: cls })));
  }
}
