// #/diff/{from}/{to} : per data instance, what changed between two versions (the console
// helper GET /api/console/diff/{from}/{to}, computed from the delta index).

import { getJSON, repoOfNode } from './api.js';
import { h, hashUrl, message, short } from './util.js';

const KINDS = ['added', 'changed', 'deleted'];
const BODY_KINDS = ['merged', 'split', 'created', 'deleted'];

function bodyText(kind, b) {
  if (kind === 'merged') return `${b.body} ← ${b.from.join(', ')} (${b.voxels} voxels)`;
  if (kind === 'split') return `${b.body} → ${b.into.join(', ')} (${b.voxels} voxels)`;
  return `${b.body} (${b.voxels} voxels)`;
}

// A labelmap's bodies: what the label-aware diff found (dvidctl diff --labels).
function bodiesBlock(name, bodies) {
  if (!bodies) return null;
  const kinds = BODY_KINDS.filter((k) => bodies[k]);
  return h('div', { class: 'diff-bodies', 'data-name': name },
    h('p', {}, `bodies: ${bodies.voxels_changed} voxels changed label`,
      bodies.exact ? '' : ' (judged from the changed blocks only)'),
    kinds.length ? kinds.map((k) => h('details', { class: `bodies-${k}`, 'data-count': bodies[k] },
      h('summary', {}, `${k} bodies (${bodies[k]})`),
      h('ul', {}, bodies[`${k}_bodies`].map((b) => h('li', { 'data-body': b.body }, bodyText(k, b))))))
      : h('p', { class: 'muted' }, 'no body merged, split, created or deleted'));
}

function keysBlock(entry, kind) {
  const keys = entry[`${kind}_keys`];
  if (!keys.length) return null;
  const more = entry[kind] - keys.length;
  return h('details', { class: `keys-${kind}` },
    h('summary', {}, `${kind} (${entry[kind]})`),
    h('ul', { class: 'diff-keys' }, keys.map((k) => h('li', {}, k))),
    more > 0 ? h('p', { class: 'muted' }, `… and ${more} more`) : null);
}

export async function render(main, route, ctx) {
  const [, from, to] = route.parts;
  const [d, repo] = await Promise.all([getJSON(`/api/console/diff/${from}/${to}`), repoOfNode(from)]);
  if (repo) ctx.crumbs([[repo.Alias || short(repo.Root), hashUrl(['repo', repo.Root], { node: d.to })], ['diff', null]]);
  main.append(h('h1', {}, 'Changes from ', h('code', {}, short(d.from)), ' to ', h('code', {}, short(d.to))));
  const names = Object.keys(d.instances).sort();
  if (!names.length) {
    main.append(message('No data differs between these versions.'));
    return;
  }
  main.append(h('table', { class: 'grid', id: 'diff' },
    h('thead', {}, h('tr', {}, ...['instance', 'type', ...KINDS, 'keys'].map((t) => h('th', {}, t)))),
    h('tbody', {}, names.map((name) => {
      const e = d.instances[name];
      return h('tr', { class: 'diff-row', 'data-name': name },
        h('td', {}, h('strong', {}, name)), h('td', {}, e.type),
        ...KINDS.map((k) => h('td', { class: 'num', 'data-kind': k }, e[k])),
        h('td', {}, ...KINDS.map((k) => keysBlock(e, k)), bodiesBlock(name, e.bodies)));
    }))));
}
