// #/ : the repositories the server holds (DVID's /api/repos/info).

import { reposInfo } from './api.js';
import { fmtTime, h, hashUrl, message, short } from './util.js';

export async function render(main, route, ctx) {
  ctx.crumbs([['repositories']]);
  const repos = Object.values(await reposInfo());
  main.append(h('h1', {}, 'Repositories'));
  if (!repos.length) {
    main.append(message('This server holds no repository yet (POST /api/repos creates one).'));
    return;
  }
  repos.sort((a, b) => (a.Alias || a.Root).localeCompare(b.Alias || b.Root));
  const rows = repos.map((r) => {
    const nodes = Object.keys(r.DAG.Nodes).length;
    const instances = Object.keys(r.DataInstances || {}).length;
    return h('tr', { class: 'repo', 'data-root': r.Root },
      h('td', {}, h('a', { href: hashUrl(['repo', r.Root]), class: 'repo-alias' }, r.Alias || '(no alias)')),
      h('td', { class: 'desc' }, r.Description || ''),
      h('td', {}, h('code', { title: r.Root }, short(r.Root))),
      h('td', { class: 'num', 'data-col': 'nodes' }, nodes),
      h('td', { class: 'num', 'data-col': 'instances' }, instances),
      h('td', {}, fmtTime(r.Updated)));
  });
  main.append(h('table', { class: 'grid', id: 'repos' },
    h('thead', {}, h('tr', {},
      ...['alias', 'description', 'root', 'nodes', 'instances', 'updated'].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows)));
}
