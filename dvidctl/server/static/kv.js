// #/kv/{uuid}/{name}?key=K : a keyvalue instance's keys, and a preview of one value (JSON
// pretty-printed, text as text, binary as its size and first bytes in hex). Values are read
// with a Range request, so a large value costs its first 64 KiB only.

import { get, getJSON, nodeUrl, repoOfNode } from './api.js';
import { clear, fmtBytes, h, hashUrl, replaceQuery, short } from './util.js';

const PREVIEW = 64 * 1024;

function looksText(bytes) {
  let bad = 0;
  for (const b of bytes.subarray(0, 4096)) {
    if (b === 0) return false;
    if (b < 9 || (b > 13 && b < 32)) bad++;
  }
  return bad === 0;
}

function hexDump(bytes) {
  const lines = [];
  for (let i = 0; i < Math.min(bytes.length, 256); i += 16) {
    const row = [...bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${i.toString(16).padStart(6, '0')}  ${row}`);
  }
  return lines.join('\n');
}

/** {size, kind: 'json'|'text'|'binary', text} for the first bytes of a value. */
export function describeValue(bytes, size) {
  const partial = bytes.length < size;
  if (looksText(bytes)) {
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    if (!partial) {
      try {
        return { size, kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2) };
      } catch { /* not JSON */ }
    }
    return { size, kind: 'text', text: partial ? `${text}\n…` : text };
  }
  return { size, kind: 'binary', text: hexDump(bytes) };
}

async function showValue(box, uuid, name, key) {
  clear(box).append(h('p', { class: 'muted' }, 'loading…'));
  const r = await get(nodeUrl(uuid, name, `key/${encodeURIComponent(key)}`), {
    headers: { Range: `bytes=0-${PREVIEW - 1}` },
  });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const range = r.headers.get('Content-Range');
  const size = range && range.includes('/') ? Number(range.split('/')[1]) : bytes.length;
  const v = describeValue(bytes, size);
  clear(box).append(
    h('h2', {}, h('code', {}, key)),
    h('p', { class: 'value-meta', id: 'value-meta', 'data-kind': v.kind, 'data-size': size },
      `${v.kind}, ${fmtBytes(size)}${size >= 1024 ? ` (${size} bytes)` : ''}`),
    h('pre', { class: `value value-${v.kind}`, id: 'value' }, v.text),
  );
}

export async function render(main, route, ctx) {
  const [, uuid, name] = route.parts;
  const repo = await repoOfNode(uuid);
  ctx.crumbs([
    [repo ? repo.Alias || short(repo.Root) : '?', repo ? hashUrl(['repo', repo.Root], { node: uuid }) : null],
    [short(uuid), hashUrl(['node', uuid])], [name, null]]);
  const keys = await getJSON(nodeUrl(uuid, name, 'keys'));
  keys.sort();
  const filter = h('input', { type: 'search', placeholder: `filter ${keys.length} keys`, id: 'key-filter' });
  const list = h('ul', { class: 'keys', id: 'keys' });
  const valueBox = h('section', { class: 'value-box', id: 'value-box' });
  const show = (key) => {
    replaceQuery({ key });
    for (const li of list.children) li.classList.toggle('selected', li.dataset.key === key);
    showValue(valueBox, uuid, name, key).catch((err) => {
      clear(valueBox).append(h('p', { class: 'msg msg-error' }, err.message));
    });
  };
  const fill = () => {
    const f = filter.value.toLowerCase();
    clear(list);
    for (const k of keys.filter((x) => x.toLowerCase().includes(f)).slice(0, 2000)) {
      list.append(h('li', { 'data-key': k, onclick: () => show(k) }, k));
    }
  };
  filter.addEventListener('input', fill);
  fill();
  main.append(h('h1', {}, name, h('span', { class: 'muted' }, ` keyvalue at ${short(uuid)}`)),
    h('div', { class: 'kv-layout' }, h('div', { class: 'key-list' }, filter, list), valueBox));
  const want = route.query.get('key');
  if (want !== null && keys.includes(want)) show(want);
  else if (!keys.length) valueBox.append(h('p', { class: 'muted' }, 'no keys'));
}
