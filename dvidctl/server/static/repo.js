// #/repo/{root}?node={uuid} : the version DAG, the selected node's details and log, a diff
// picker, and (with writes unlocked) note, commit and branch.

import { getJSON, postJSON, repoRefs } from './api.js';
import { dagNodes, renderDag } from './dag.js';
import { clear, fmtTime, h, hashUrl, message, replaceQuery, short } from './util.js';

function nodePanel(node, byVid, refs, ctx, { select, refresh }) {
  const tags = Object.entries(refs.tags || {}).filter(([, u]) => u === node.uuid).map(([t]) => t);
  const leaves = Object.entries(refs.branches || {}).filter(([, u]) => u === node.uuid).map(([b]) => b);
  const linkTo = (vid) => {
    const n = byVid.get(vid);
    return n ? h('a', { href: '#', 'data-uuid': n.uuid, onclick: (ev) => { ev.preventDefault(); select(n.uuid); } },
      short(n.uuid)) : String(vid);
  };
  const list = (vids) => (vids.length ? vids.flatMap((v, i) => (i ? [', ', linkTo(v)] : [linkTo(v)])) : ['—']);
  const panel = h('section', { class: 'node-panel', id: 'node-panel', 'data-uuid': node.uuid },
    h('h2', {}, h('code', {}, node.uuid)),
    h('dl', { class: 'props' },
      h('dt', {}, 'branch'), h('dd', {}, node.branch || 'master', leaves.length ? ' (leaf)' : ''),
      h('dt', {}, 'state'), h('dd', { id: 'node-state' }, node.locked ? 'committed (locked)' : 'open'),
      h('dt', {}, 'note'), h('dd', { id: 'node-note' }, node.note || '—'),
      h('dt', {}, 'tags'), h('dd', {}, tags.join(', ') || '—'),
      h('dt', {}, 'parents'), h('dd', {}, ...list(node.parents)),
      h('dt', {}, 'children'), h('dd', {}, ...list(node.children)),
      h('dt', {}, 'created'), h('dd', {}, fmtTime(node.created)),
      h('dt', {}, 'updated'), h('dd', {}, fmtTime(node.updated))),
    h('p', { class: 'actions' },
      h('a', { href: hashUrl(['node', node.uuid]), class: 'button', id: 'open-instances' }, 'Data instances'),
      node.parents.length ? h('a', {
        href: hashUrl(['diff', byVid.get(node.parents[0]).uuid, node.uuid]), class: 'button',
      }, 'Diff with parent') : null),
    h('h3', {}, 'Log'),
    node.log.length
      ? h('ol', { class: 'log', id: 'node-log' }, node.log.map((line) => h('li', {}, line)))
      : h('p', { class: 'muted', id: 'node-log' }, 'no log lines'));
  if (ctx.writes) panel.append(writeActions(node, refresh));
  return panel;
}

function writeActions(node, reload) {
  const status = h('p', { class: 'write-status', role: 'status' });
  const run = async (what, fn) => {
    status.textContent = `${what}…`;
    try {
      const next = await fn();
      reload(next || node.uuid);
    } catch (err) {
      status.textContent = `${what} failed: ${err.message}`;
    }
  };
  const noteIn = h('input', { name: 'note', value: node.note, size: 30, id: 'note-input' });
  const box = h('section', { class: 'writes' }, h('h3', {}, 'Change'),
    h('form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        run('saving note', () => postJSON(`/api/node/${node.uuid}/note`, { note: noteIn.value }));
      },
    }, noteIn, h('button', { type: 'submit', id: 'set-note' }, 'Set note')));
  if (!node.locked) {
    const msg = h('input', { name: 'message', placeholder: 'commit note', size: 30, id: 'commit-input' });
    box.append(h('form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        run('committing', () => postJSON(`/api/node/${node.uuid}/commit`, { note: msg.value }));
      },
    }, msg, h('button', { type: 'submit', id: 'commit' }, 'Commit')));
  } else {
    const name = h('input', { name: 'branch', placeholder: 'new branch name', size: 20, id: 'branch-input' });
    box.append(h('form', {
      onsubmit: (ev) => {
        ev.preventDefault();
        run('branching', async () => (await postJSON(`/api/node/${node.uuid}/branch`, { branch: name.value.trim() })).child);
      },
    }, name, h('button', { type: 'submit', id: 'branch' }, 'Branch from here')));
  }
  box.append(status);
  return box;
}

function diffPicker(nodes, selected) {
  const opts = (sel) => nodes.map((n) => h('option', { value: n.uuid, selected: n.uuid === sel },
    `${short(n.uuid)}  ${n.branch || 'master'}${n.note ? `  ${n.note.slice(0, 40)}` : ''}`));
  const first = nodes.find((n) => n.uuid === selected);
  const parent = first && first.parents.length ? nodes.find((n) => n.vid === first.parents[0]) : null;
  const from = h('select', { id: 'diff-from' }, opts(parent ? parent.uuid : selected));
  const to = h('select', { id: 'diff-to' }, opts(selected));
  return h('form', {
    class: 'diff-picker', onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = hashUrl(['diff', from.value, to.value]);
    },
  }, h('h3', {}, 'Compare two versions'), from, ' → ', to, h('button', { type: 'submit', id: 'diff-go' }, 'Diff'));
}

export async function render(main, route, ctx) {
  const root = route.parts[1];
  const [info, refs] = await Promise.all([getJSON(`/api/repo/${root}/info`), repoRefs(root)]);
  ctx.crumbs([[info.Alias || short(info.Root), null]]);
  const nodes = dagNodes(info);
  const byVid = new Map(nodes.map((n) => [n.vid, n]));
  const byUuid = new Map(nodes.map((n) => [n.uuid, n]));
  const masterLeaf = refs.branches.master;
  let selected = route.query.get('node');
  if (!byUuid.has(selected)) selected = masterLeaf || info.Root;

  const dagBox = h('div', { class: 'dag-box', id: 'dag' });
  const side = h('div', { class: 'side' });
  main.append(
    h('h1', {}, info.Alias || short(info.Root), h('span', { class: 'muted' }, ` ${info.Description || ''}`)),
    h('p', { class: 'muted' }, `${nodes.length} nodes, ${Object.keys(refs.branches).length} branches, `
      + `${Object.keys(info.DataInstances || {}).length} data instances; root `, h('code', {}, info.Root)),
    h('div', { class: 'legend' },
      h('span', { class: 'key locked' }, 'committed'), h('span', { class: 'key open' }, 'open'),
      h('span', { class: 'key leaf' }, 'branch leaf'), h('span', { class: 'key merge' }, 'merge'),
      h('span', {}, '◆ tag')),
    h('div', { class: 'repo-layout' }, dagBox, side),
  );

  const select = (uuid) => {
    selected = uuid;
    replaceQuery({ node: uuid });
    for (const el of dagBox.querySelectorAll('.dag-row')) {
      el.classList.toggle('selected', el.dataset.uuid === uuid);
    }
    clear(side).append(
      nodePanel(byUuid.get(uuid), byVid, refs, ctx, {
        select,
        refresh: (next) => { replaceQuery({ node: next }); ctx.rerender(); },
      }),
      diffPicker(nodes, uuid),
    );
  };
  const { svg } = renderDag(nodes, refs, { onSelect: (n) => select(n.uuid), selected });
  dagBox.append(svg);
  select(selected);
  if (!nodes.length) main.append(message('empty DAG'));
}
