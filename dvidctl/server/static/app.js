// The console's entry point: the hash router, the breadcrumbs, and the token that unlocks
// writes. Each view is a module whose render(main, route, ctx) fills <main> and may return a
// cleanup function; <main data-state> is "loading", then "ready" (or "error").

import { ApiError, consoleServer, postJSON, setToken, token } from './api.js';
import { h, clear, message, parseHash } from './util.js';

const VIEWS = {
  '': () => import('./repos.js'),
  repo: () => import('./repo.js'),
  node: () => import('./node.js'),
  slice: () => import('./slice.js'),
  '3d': () => import('./view3d.js'),
  kv: () => import('./kv.js'),
  diff: () => import('./diff.js'),
};

/** What every view may read: the server's settings and whether writes are unlocked. */
export const ctx = {
  server: { token_required: false, read_only: true },
  writes: false,
  crumbs: (items) => setCrumbs(items),
  rerender: () => route(),
};

let cleanup = null;
let generation = 0;

function setCrumbs(items) {
  const nav = clear(document.getElementById('crumbs'));
  for (const [text, href] of items) {
    nav.append(h('span', { class: 'sep' }, '/'));
    nav.append(href ? h('a', { href }, text) : h('span', {}, text));
  }
}

async function route() {
  const my = ++generation;
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
  const main = clear(document.getElementById('main'));
  main.dataset.state = 'loading';
  const r = parseHash();
  const name = r.parts[0] || '';
  document.body.dataset.view = name || 'repos';
  setCrumbs([]);
  const load = VIEWS[name];
  try {
    if (!load) throw new Error(`no such page: #/${r.parts.join('/')}`);
    const view = await load();
    const done = await view.render(main, r, ctx);
    if (my !== generation) { if (typeof done === 'function') done(); return; }
    cleanup = typeof done === 'function' ? done : null;
    main.dataset.state = 'ready';
  } catch (err) {
    if (my !== generation) return;
    console.error(err);
    main.append(message(err instanceof ApiError ? `The server said ${err.message}` : String(err.message || err), 'error'));
    main.dataset.state = 'error';
  }
}

// ------------------------------------------------------------------ writes
async function unlock(value) {
  await postJSON('/api/console/token', {}, value);
  setToken(value);
  ctx.writes = true;
}

function renderAuth() {
  const box = clear(document.getElementById('auth'));
  const s = ctx.server;
  if (s.read_only) {
    box.append(h('span', { class: 'mode', title: 'the server refuses every write' }, 'read-only server'));
    return;
  }
  if (!s.token_required) {
    box.append(h('span', {
      class: 'mode',
      title: 'write actions appear when the server runs with --token and you give the token here',
    }, 'read-only console'));
    return;
  }
  if (ctx.writes) {
    box.append(
      h('span', { class: 'mode writes', id: 'writes-on' }, 'writes enabled'),
      h('button', {
        type: 'button', class: 'link', onclick: () => {
          setToken('');
          ctx.writes = false;
          renderAuth();
          route();
        },
      }, 'lock'),
    );
    return;
  }
  const input = h('input', {
    type: 'password', id: 'token', placeholder: 'server token', autocomplete: 'off', size: 14,
  });
  const status = h('span', { class: 'auth-status' });
  const form = h('form', {
    class: 'auth', onsubmit: async (ev) => {
      ev.preventDefault();
      status.textContent = '';
      try {
        await unlock(input.value.trim());
        renderAuth();
        route();
      } catch (err) {
        status.textContent = err.status === 403 ? 'wrong token' : err.message;
      }
    },
  }, input, h('button', { type: 'submit', id: 'unlock' }, 'Enable writes'), status);
  box.append(form);
}

async function start() {
  try {
    ctx.server = await consoleServer();
  } catch (err) {
    console.error(err);
  }
  if (ctx.server.token_required && token()) {
    try { await unlock(token()); } catch { setToken(''); }
  }
  renderAuth();
  window.addEventListener('hashchange', route);
  await route();
}

start();
