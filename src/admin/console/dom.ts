/**
 * Building the page from DOM nodes. Every piece of data (a body, a header, an error text) goes in as a text node or
 * an attribute value, never as markup: there is no innerHTML in the console, so whatever a message carries is shown,
 * never run. Attributes that could run code (on*, style, srcdoc) are refused; listeners are functions.
 */

export type Child = Node | string | number | boolean | null | undefined;
type Listener = (event: Event) => void;
export type Attrs = Record<string, string | number | boolean | Listener | null | undefined>;

const FORBIDDEN_ATTR = /^(on|style$|srcdoc$|formaction$)/i;

/** An element with attributes and children; `onclick: fn` style keys add listeners, booleans toggle attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') {
      if (!/^on[a-z]+$/.test(name)) throw new Error(`listener attribute ${name}`);
      el.addEventListener(name.slice(2), value);
      continue;
    }
    if (FORBIDDEN_ATTR.test(name)) throw new Error(`the console never sets ${name}`);
    if (name === 'value' && (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)) {
      el.value = String(value);
      continue;
    }
    el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false || c === true) continue;
    parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces everything inside `el`. */
export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A link inside the console: `#/path?query`. */
export function link(path: string, query: Record<string, string | undefined> = {}, ...children: (Child | Child[])[]): HTMLAnchorElement {
  return h('a', { href: route(path, query) }, ...children);
}

export function route(path: string, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

/** A timestamp as ISO (seconds, UTC), the whole value in its title. */
export function time(iso: string | undefined): HTMLElement | string {
  if (!iso) return '';
  return h('time', { datetime: iso, title: iso }, iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));
}

export function badge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status.replace(/[^a-z-]/g, '')}` }, status);
}

/** A table from a header row and body rows. */
export function table(head: string[], rows: (Child | Child[])[][], attrs: Attrs = {}): HTMLTableElement {
  return h('table', { class: 'grid', ...attrs }, h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

/** A problem box: what went wrong, from the API's problem answer. */
export function problemBox(message: string, errors: { path?: string; message: string }[] = []): HTMLElement {
  return h('div', { class: 'problem', role: 'alert' }, h('p', {}, message), errors.length ? h('ul', { class: 'problem-errors' }, errors.map((e) => h('li', {}, e.path ? h('code', {}, e.path) : null, e.path ? ' ' : null, e.message))) : null);
}
