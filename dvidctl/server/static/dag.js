// The version DAG as SVG: one row per node, newest on top (as `git log --graph`), one lane per
// branch. Rows are unique, so no two nodes ever overlap, whatever the DAG; lanes are reused by
// branches whose rows do not meet, so 10 branches over 200 nodes stay a few lanes wide.
//
// A branch's lane is held from its first node's parent (where it forks) to its last node: the
// fork curve leaves the parent and runs up the branch's lane. A merge edge runs up its
// parent's lane when no later node of that branch is in the way (its lane is then held up to
// the merge node), else up a lane of its own; it curves into the merge node at the top.

import { BRANCH_PALETTE } from './colors.js';
import { s, short } from './util.js';

export const ROW = 26; // px between rows
export const LANE = 22; // px between lanes
export const RADIUS = 6; // node circle radius
const PAD = 14;

/**
 * Lay a DAG out. `nodes`: [{vid, uuid, branch, parents: [vid], locked, ...}] (DVID's repo JSON
 * gives VersionID, Parents, Branch). Returns {rows, pos: Map(vid -> {x, y, row, lane}),
 * branches: Map(name -> {name, lane, color, first, lo, hi}), lanes, edges, width, textX, height}.
 */
export function layoutDag(nodes) {
  const byVid = new Map(nodes.map((n) => [n.vid, n]));
  const rows = [...nodes].sort((a, b) => b.vid - a.vid);
  const rowOf = new Map(rows.map((n, i) => [n.vid, i]));
  const branches = new Map();
  for (const n of [...nodes].sort((a, b) => a.vid - b.vid)) {
    const r = rowOf.get(n.vid);
    const b = branches.get(n.branch);
    if (b) {
      b.lo = Math.min(b.lo, r);
      b.hi = Math.max(b.hi, r);
    } else {
      branches.set(n.branch, { name: n.branch, first: n.vid, lo: r, hi: r });
    }
  }
  const hold = (name, r) => {
    const b = branches.get(name);
    b.lo = Math.min(b.lo, r);
    b.hi = Math.max(b.hi, r);
  };
  const rowsOf = new Map(); // branch -> rows of its nodes
  for (const n of nodes) rowsOf.set(n.branch, [...(rowsOf.get(n.branch) || []), rowOf.get(n.vid)]);
  const channels = []; // merge edges that need a lane of their own
  for (const n of nodes) {
    n.parents.forEach((p, i) => {
      const pn = byVid.get(p);
      if (!pn || pn.branch === n.branch) return;
      const rp = rowOf.get(p);
      const rc = rowOf.get(n.vid);
      if (i === 0) hold(n.branch, rp); // a fork: the child's lane reaches down to the parent
      else if (rowsOf.get(pn.branch).some((r) => r > rc && r < rp)) {
        channels.push({ from: p, to: n.vid, lo: rc, hi: rp }); // the parent's lane is in use
      } else hold(pn.branch, rc); // a merge from a branch's last node: its lane reaches the child
    });
  }
  // master ("") first, then branches in the order they were made, then merge channels
  const order = [...branches.values()].sort((a, b) =>
    a.name === '' ? -1 : b.name === '' ? 1 : a.first - b.first);
  order.forEach((b, i) => { b.color = BRANCH_PALETTE[i % BRANCH_PALETTE.length]; });
  const lanes = [];
  for (const item of [...order, ...channels]) {
    let k = 0;
    while (k < lanes.length && lanes[k].some(([lo, hi]) => item.lo <= hi + 1 && item.hi >= lo - 1)) k++;
    if (k === lanes.length) lanes.push([]);
    lanes[k].push([item.lo, item.hi]);
    item.lane = k;
  }
  const pos = new Map();
  for (const n of rows) {
    const lane = branches.get(n.branch).lane;
    const row = rowOf.get(n.vid);
    pos.set(n.vid, { x: PAD + lane * LANE, y: PAD + row * ROW, row, lane });
  }
  const channelOf = new Map(channels.map((c) => [`${c.from}>${c.to}`, PAD + c.lane * LANE]));
  const edges = [];
  for (const n of nodes) {
    n.parents.forEach((p, i) => {
      if (!pos.has(p)) return;
      const a = pos.get(p); // parent: lower on the page
      const c = pos.get(n.vid);
      const kind = i > 0 ? 'merge' : a.lane === c.lane ? 'line' : 'fork';
      const ch = channelOf.get(`${p}>${n.vid}`);
      const up = (x0, y0, x1) => `C${x0},${y0 - ROW * 0.6} ${x1},${y0 - ROW * 0.4} ${x1},${y0 - ROW}`;
      const into = (x0, x1, y1) => `C${x0},${y1 + ROW * 0.4} ${x1},${y1 + ROW * 0.6} ${x1},${y1}`;
      // d: the SVG path; run: its vertical stretch {x, top, bottom} (what must pass no node)
      let d;
      let run;
      if (ch !== undefined) {
        d = `M${a.x},${a.y} ${up(a.x, a.y, ch)} L${ch},${c.y + ROW} ${into(ch, c.x, c.y)}`;
        run = { x: ch, top: c.y + ROW, bottom: a.y - ROW };
      } else if (a.x === c.x) {
        d = `M${a.x},${a.y} L${c.x},${c.y}`;
        run = { x: a.x, top: c.y, bottom: a.y };
      } else if (kind === 'fork') {
        d = `M${a.x},${a.y} ${up(a.x, a.y, c.x)} L${c.x},${c.y}`;
        run = { x: c.x, top: c.y, bottom: a.y - ROW };
      } else {
        d = `M${a.x},${a.y} L${a.x},${c.y + ROW} ${into(a.x, c.x, c.y)}`;
        run = { x: a.x, top: c.y + ROW, bottom: a.y };
      }
      const owner = kind === 'merge' ? byVid.get(p).branch : n.branch;
      edges.push({ from: p, to: n.vid, kind, d, run, color: branches.get(owner).color });
    });
  }
  const width = PAD + Math.max(lanes.length - 1, 0) * LANE + PAD;
  return {
    rows, pos, branches, lanes: lanes.length, edges, width,
    textX: width + 4, height: PAD * 2 + Math.max(rows.length - 1, 0) * ROW,
  };
}

/** The nodes of DVID's repo JSON (its DAG.Nodes) in the form layoutDag takes. */
export function dagNodes(repoInfo) {
  return Object.values(repoInfo.DAG.Nodes).map((n) => ({
    vid: n.VersionID, uuid: n.UUID, branch: n.Branch || '', parents: n.Parents || [],
    children: n.Children || [], locked: n.Locked, note: n.Note || '', log: n.Log || [],
    created: n.Created, updated: n.Updated,
  }));
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/**
 * Draw the DAG into a new <svg>. `refs`: {branches: {name: uuid}, tags: {name: uuid}} (leaves
 * and tags to mark); `onSelect(node)` runs on a click; `selected` is a UUID to highlight.
 */
export function renderDag(nodes, refs, { onSelect, selected } = {}) {
  const lay = layoutDag(nodes);
  const leafOf = new Map();
  for (const [name, uuid] of Object.entries(refs.branches || {})) {
    leafOf.set(uuid, [...(leafOf.get(uuid) || []), name]);
  }
  const tagsOf = new Map();
  for (const [name, uuid] of Object.entries(refs.tags || {})) {
    tagsOf.set(uuid, [...(tagsOf.get(uuid) || []), name]);
  }
  const width = lay.textX + 640;
  const svg = s('svg', {
    class: 'dag', width, height: lay.height, viewBox: `0 0 ${width} ${lay.height}`,
    'data-nodes': nodes.length, 'data-lanes': lay.lanes, role: 'img',
    'aria-label': `version graph of ${nodes.length} nodes`,
  });
  const rowsG = s('g', { class: 'dag-rows' });
  const edgesG = s('g', { class: 'dag-edges' });
  const nodesG = s('g', { class: 'dag-nodes' });
  svg.append(rowsG, edgesG, nodesG);
  for (const e of lay.edges) {
    edgesG.append(s('path', {
      d: e.d, class: `dag-edge dag-edge-${e.kind}`, stroke: e.color,
      'data-from': e.from, 'data-to': e.to,
    }));
  }
  for (const n of lay.rows) {
    const p = lay.pos.get(n.vid);
    const b = lay.branches.get(n.branch);
    const leaves = leafOf.get(n.uuid) || [];
    const tags = tagsOf.get(n.uuid) || [];
    const merge = n.parents.length > 1;
    const select = () => onSelect && onSelect(n);
    const row = s('g', {
      class: `dag-row${n.uuid === selected ? ' selected' : ''}`, 'data-uuid': n.uuid,
      onclick: select,
    });
    row.append(s('rect', {
      class: 'dag-row-bg', x: 0, y: p.y - ROW / 2, width, height: ROW,
    }));
    const label = s('text', { class: 'dag-text', x: lay.textX, y: p.y + 4 });
    label.append(s('tspan', { class: 'dag-uuid' }, short(n.uuid)));
    for (const name of leaves) {
      label.append(s('tspan', { class: 'dag-branch', fill: b.color, dx: 8 }, `⎇ ${name}`));
    }
    for (const name of tags) label.append(s('tspan', { class: 'dag-tag', dx: 8 }, `◆ ${name}`));
    if (!n.locked) label.append(s('tspan', { class: 'dag-open', dx: 8 }, 'open'));
    if (n.note) label.append(s('tspan', { class: 'dag-note', dx: 8 }, truncate(n.note, 72)));
    row.append(label);
    rowsG.append(row);
    const g = s('g', {
      class: `dag-node ${n.locked ? 'locked' : 'open'}${merge ? ' merge' : ''}`
        + `${leaves.length ? ' leaf' : ''}`,
      'data-uuid': n.uuid, 'data-branch': n.branch || 'master', 'data-lane': p.lane,
      'data-locked': n.locked ? 'true' : 'false', onclick: select,
    });
    g.append(s('title', {}, `${n.uuid}\n${n.branch || 'master'}${n.note ? `\n${n.note}` : ''}`));
    if (leaves.length) {
      g.append(s('circle', { class: 'dag-leaf-ring', cx: p.x, cy: p.y, r: RADIUS + 3.5, stroke: b.color }));
    }
    g.append(s('circle', {
      class: 'dag-dot', cx: p.x, cy: p.y, r: RADIUS, stroke: b.color,
      fill: n.locked ? b.color : '#fff',
    }));
    if (merge) {
      g.append(s('circle', { class: 'dag-merge-dot', cx: p.x, cy: p.y, r: 2.4, fill: n.locked ? '#fff' : b.color }));
    }
    nodesG.append(g);
  }
  return { svg, layout: lay };
}
