// DOM helpers shared by the console's views: element builders, formatting, the hash route.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h('a', {href: '#/', class: 'x', onclick: f}, 'text', child, ...). */
export function h(tag, attrs, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** An SVG element, as h(). */
export function s(tag, attrs, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** The first 8 hex digits of a UUID, as the console shows node ids. */
export const short = (uuid) => String(uuid || '').slice(0, 8);

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').slice(0, 19);
}

/** The route in location.hash: {parts: ['repo', uuid], query: URLSearchParams}. */
export function parseHash(hash = location.hash) {
  const body = hash.replace(/^#\/?/, '');
  const [path, q = ''] = body.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(q) };
}

/** A hash URL from path parts and query parameters (undefined/'' values are left out). */
export function hashUrl(parts, query = {}) {
  const path = parts.map((p) => encodeURIComponent(p)).join('/');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const qs = q.toString();
  return `#/${path}${qs ? `?${qs}` : ''}`;
}

/** Replace the hash without a new history entry or a re-render. */
export function replaceQuery(query) {
  const { parts } = parseHash();
  history.replaceState(null, '', hashUrl(parts, query));
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** A message box (kind: 'error' or 'note'). */
export function message(text, kind = 'note') {
  return h('div', { class: `msg msg-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** An instance's extents as text, "x0,y0,z0 – x1,y1,z1", or "empty". */
export function extentsText(ext) {
  if (!ext || !ext.MinPoint || !ext.MaxPoint) return 'empty';
  return `${ext.MinPoint.join(',')} – ${ext.MaxPoint.join(',')}`;
}
