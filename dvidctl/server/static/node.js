// #/node/{uuid} : the data instances at a version, with their info (type, block size, extents,
// scales, voxel size) and the views each one opens.

import { getJSON, nodeUrl, repoOfNode } from './api.js';
import { extentsText, h, hashUrl, message, short } from './util.js';

const VOXEL_TYPES = new Set(['uint8blk', 'labelmap']);

function typeOf(info) {
  return (info.Base && info.Base.TypeName) || '?';
}

function row(uuid, name, info, labelmaps, grays) {
  const type = typeOf(info);
  const ext = info.Extended || {};
  const links = [];
  if (VOXEL_TYPES.has(type)) {
    const q = type === 'labelmap'
      ? { labels: name, gray: grays[0] || '' }
      : { gray: name, labels: labelmaps[0] || '' };
    links.push(h('a', { href: hashUrl(['slice', uuid], q), class: 'button', 'data-action': 'slice' }, 'Slices'));
    links.push(h('a', { href: hashUrl(['3d', uuid], q), class: 'button', 'data-action': '3d' }, '3D'));
  }
  if (type === 'keyvalue') {
    links.push(h('a', { href: hashUrl(['kv', uuid, name]), class: 'button', 'data-action': 'keys' }, 'Keys'));
  }
  const levels = ext.MaxDownresLevel !== undefined ? `0–${ext.MaxDownresLevel}` : '';
  return h('tr', { class: 'instance', 'data-name': name, 'data-type': type },
    h('td', {}, h('strong', {}, name)),
    h('td', {}, type),
    h('td', {}, ext.BlockSize ? ext.BlockSize.join('×') : ''),
    h('td', { class: 'extents' }, VOXEL_TYPES.has(type) ? extentsText(ext) : ''),
    h('td', {}, levels),
    h('td', {}, ext.VoxelSize ? `${ext.VoxelSize.join('×')} ${(ext.VoxelUnits || [''])[0]}` : ''),
    h('td', {}, (info.Base && info.Base.Compression) || ''),
    h('td', { class: 'actions' }, links));
}

export async function render(main, route, ctx) {
  const uuid = route.parts[1];
  const repo = await repoOfNode(uuid);
  if (!repo) throw new Error(`no served repository has a node ${uuid}`);
  const node = repo.DAG.Nodes[uuid];
  ctx.crumbs([[repo.Alias || short(repo.Root), hashUrl(['repo', repo.Root], { node: uuid })], [short(uuid), null]]);
  const names = Object.keys(repo.DataInstances || {}).sort();
  main.append(h('h1', {}, 'Data at ', h('code', {}, short(uuid)),
    h('span', { class: 'muted' }, ` ${node.Branch || 'master'}, ${node.Locked ? 'committed' : 'open'}`)));
  if (node.Note) main.append(h('p', {}, node.Note));
  if (!names.length) {
    main.append(message('No data instances in this repository.'));
    return;
  }
  const infos = await Promise.all(names.map((n) => getJSON(nodeUrl(uuid, n, 'info'))));
  const labelmaps = names.filter((n, i) => typeOf(infos[i]) === 'labelmap');
  const grays = names.filter((n, i) => typeOf(infos[i]) === 'uint8blk');
  main.append(h('table', { class: 'grid', id: 'instances' },
    h('thead', {}, h('tr', {}, ...['name', 'type', 'block size', 'extents (voxels)', 'scales', 'voxel size',
      'compression', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, names.map((n, i) => row(uuid, n, infos[i], labelmaps, grays)))));
}
