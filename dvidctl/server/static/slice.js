// #/slice/{uuid}?gray=G&labels=L&plane=xy&x=&y=&z=&zoom=&scale=auto&mode=overlay&opacity=0.5
//
// Orthogonal slices of a uint8blk (grayscale, as PNG from raw/{plane}/...) and a labelmap
// (raw uint64 voxels from raw/0_1_2/..., drawn in stable pseudo-colours), overlaid or side by
// side. The wheel scrolls through the third axis (shift: 10 voxels), ctrl+wheel zooms, a drag
// pans; the readout gives the voxel and the label under the pointer; a click picks that label
// for the 3D view. Only the visible region is fetched, at the scale the zoom needs (or the
// chosen one), so the viewer is also a live check of the server's image endpoints.

import { getBytes, get, getJSON, nodeUrl, repoOfNode } from './api.js';
import { LabelColors } from './colors.js';
import { clear, h, hashUrl, replaceQuery, short } from './util.js';

export const SIZE = 512; // css px of each canvas
/** Per plane: the volume axes (0=x, 1=y, 2=z) along the image's columns, rows, and depth. */
export const AXES = { xy: [0, 1, 2], xz: [0, 2, 1], yz: [1, 2, 0] };
const NAMES = 'xyz';
const MAX_SIDE = 2048;

function levels(info) {
  return info ? Number(info.Extended.MaxDownresLevel || 0) : 99;
}

function bounds(infos) {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const info of infos) {
    const e = info && info.Extended;
    if (!e || !e.MinPoint || !e.MaxPoint) continue;
    for (let i = 0; i < 3; i++) {
      lo[i] = Math.min(lo[i], e.MinPoint[i]);
      hi[i] = Math.max(hi[i], e.MaxPoint[i]);
    }
  }
  return Number.isFinite(lo[0]) ? { lo, hi } : null;
}

/** The label (decimal string) at index i of a uint64 image held as two uint32 per voxel. */
function labelAt(u32, i) {
  const lo = u32[2 * i];
  const hi = u32[2 * i + 1];
  return hi === 0 ? String(lo) : ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

class SliceViewer {
  constructor(root, uuid, layers, box, query) {
    this.root = root;
    this.uuid = uuid;
    this.layers = layers; // {gray: {name, info} | null, labels: {name, info} | null}
    this.box = box; // {lo, hi} scale-0 voxels, inclusive
    this.maxScale = Math.min(levels(layers.gray && layers.gray.info), levels(layers.labels && layers.labels.info));
    if (this.maxScale === 99) this.maxScale = 0;
    const num = (k, d) => (query.has(k) && query.get(k) !== '' && Number.isFinite(Number(query.get(k))) ? Number(query.get(k)) : d);
    this.plane = AXES[query.get('plane')] ? query.get('plane') : 'xy';
    const mid = [0, 1, 2].map((i) => Math.floor((box.lo[i] + box.hi[i]) / 2));
    this.center = [0, 1, 2].map((i) => num(NAMES[i], mid[i]) + 0.5);
    this.zoom = num('zoom', 0) > 0 ? num('zoom', 1) : this.fitZoom();
    const sc = query.get('scale');
    this.scaleChoice = sc === null || sc === 'auto' || sc === '' ? 'auto' : Math.max(0, Math.min(this.maxScale, Number(sc) | 0));
    this.mode = query.get('mode') === 'beside' ? 'beside' : 'overlay';
    this.opacity = Math.max(0, Math.min(1, num('opacity', 0.5)));
    this.picked = query.get('body') || '';
    this.colors = new LabelColors();
    this.images = { gray: null, labels: null };
    this.generation = 0;
    this.timer = null;
    this.pending = 0;
    this.build();
  }

  // ------------------------------------------------------------- geometry
  axes() { return AXES[this.plane]; }

  fitZoom() {
    const [u, v] = AXES[this.plane || 'xy'];
    const span = Math.max(this.box.hi[u] - this.box.lo[u] + 1, this.box.hi[v] - this.box.lo[v] + 1);
    return Math.max(1 / 64, Math.min(16, (SIZE * 0.95) / span));
  }

  scale() {
    if (this.scaleChoice !== 'auto') return this.scaleChoice;
    return Math.max(0, Math.min(this.maxScale, Math.floor(Math.log2(1 / this.zoom) + 1e-9)));
  }

  depth() { return Math.floor(this.center[this.axes()[2]]); }

  /** Scale-0 (u, v) under a canvas point. */
  toVoxel(sx, sy) {
    const [u, v] = this.axes();
    return [this.center[u] + (sx - SIZE / 2) / this.zoom, this.center[v] + (sy - SIZE / 2) / this.zoom];
  }

  /** The region to fetch at scale s: {s, f, u0, v0, w, h, depth, plane} in scale-s voxels. */
  region() {
    const s = this.scale();
    const f = 2 ** s;
    const [u, v, w] = this.axes();
    const half = SIZE / 2 / this.zoom;
    const clip = (ax) => [
      Math.max(Math.floor((this.center[ax] - half) / f), Math.floor(this.box.lo[ax] / f)),
      Math.min(Math.ceil((this.center[ax] + half) / f), Math.floor(this.box.hi[ax] / f) + 1),
    ];
    const [u0, u1] = clip(u);
    const [v0, v1] = clip(v);
    return {
      s, f, u0, v0, w: Math.min(u1 - u0, MAX_SIDE), h: Math.min(v1 - v0, MAX_SIDE),
      depth: Math.floor(this.depth() / f), plane: this.plane,
    };
  }

  // --------------------------------------------------------------- layout
  build() {
    const canvas = (id) => h('canvas', { id, class: 'slice-canvas', width: SIZE, height: SIZE, style: { width: `${SIZE}px`, height: `${SIZE}px` } });
    this.canvasMain = canvas('slice-main');
    this.canvasSide = canvas('slice-labels');
    this.readout = h('p', { class: 'readout', id: 'readout' }, ' ');
    this.status = h('span', { class: 'muted', id: 'slice-status' });
    const radio = (p) => h('label', {}, h('input', {
      type: 'radio', name: 'plane', value: p, id: `plane-${p}`, checked: p === this.plane,
      onchange: () => { this.plane = p; this.images = { gray: null, labels: null }; this.syncControls(); this.update(); },
    }), p);
    this.posInputs = [0, 1, 2].map((i) => h('input', {
      type: 'number', id: `pos-${NAMES[i]}`, size: 6, step: 1,
      onchange: () => { this.center[i] = Number(this.posInputs[i].value) + 0.5; this.update(); },
    }));
    this.depthSlider = h('input', {
      type: 'range', id: 'slice-depth', oninput: () => {
        this.center[this.axes()[2]] = Number(this.depthSlider.value) + 0.5;
        this.update();
      },
    });
    this.scaleSelect = h('select', {
      id: 'scale', onchange: () => {
        const v = this.scaleSelect.value;
        this.scaleChoice = v === 'auto' ? 'auto' : Number(v);
        this.update();
      },
    }, h('option', { value: 'auto' }, 'auto'),
    ...Array.from({ length: this.maxScale + 1 }, (_, i) => h('option', { value: i }, String(i))));
    this.scaleSelect.value = String(this.scaleChoice);
    this.zoomText = h('span', { id: 'zoom-text', class: 'muted' });
    this.modeSelect = h('select', {
      id: 'mode', onchange: () => { this.mode = this.modeSelect.value; this.relayout(); this.update(); },
    }, h('option', { value: 'overlay' }, 'labels over grayscale'), h('option', { value: 'beside' }, 'labels beside grayscale'));
    this.modeSelect.value = this.mode;
    this.opacityInput = h('input', {
      type: 'range', id: 'opacity', min: 0, max: 1, step: 0.05, value: this.opacity,
      oninput: () => { this.opacity = Number(this.opacityInput.value); this.draw(); this.saveQuery(); },
    });
    this.link3d = h('a', { class: 'button', id: 'open-3d' }, '3D view here');
    const both = this.layers.gray && this.layers.labels;
    const controls = h('div', { class: 'slice-controls' },
      h('span', { class: 'group' }, 'plane ', ...['xy', 'xz', 'yz'].map(radio)),
      h('span', { class: 'group' }, ...[0, 1, 2].flatMap((i) => [`${NAMES[i]} `, this.posInputs[i]])),
      h('span', { class: 'group' }, 'scale ', this.scaleSelect),
      h('span', { class: 'group' },
        h('button', { type: 'button', id: 'zoom-out', onclick: () => this.zoomBy(0.5) }, '−'),
        h('button', { type: 'button', id: 'zoom-in', onclick: () => this.zoomBy(2) }, '+'),
        h('button', { type: 'button', id: 'zoom-fit', onclick: () => { this.zoom = this.fitZoom(); this.update(); } }, 'fit'),
        this.zoomText),
      both ? h('span', { class: 'group' }, this.modeSelect, ' opacity ', this.opacityInput) : null,
      this.link3d);
    this.canvases = h('div', { class: 'canvases' }, this.canvasMain);
    this.root.append(controls, h('div', { class: 'depth-row' }, h('span', { id: 'depth-name' }), this.depthSlider, this.status),
      this.canvases, this.readout);
    for (const c of [this.canvasMain, this.canvasSide]) this.bindPointer(c);
    this.relayout();
    this.syncControls();
  }

  relayout() {
    const beside = this.mode === 'beside' && this.layers.gray && this.layers.labels;
    this.canvasSide.remove();
    if (beside) this.canvases.append(this.canvasSide);
    this.canvases.dataset.mode = beside ? 'beside' : 'overlay';
  }

  syncControls() {
    const [, , w] = this.axes();
    for (let i = 0; i < 3; i++) this.posInputs[i].value = Math.floor(this.center[i]);
    this.depthSlider.min = this.box.lo[w];
    this.depthSlider.max = this.box.hi[w];
    this.depthSlider.value = this.depth();
    this.root.querySelector('#depth-name').textContent = `${NAMES[w]} = ${this.depth()} `;
    this.zoomText.textContent = ` ${this.zoom >= 1 ? this.zoom.toFixed(this.zoom % 1 ? 2 : 0) : `1/${(1 / this.zoom).toFixed(1)}`}× · scale ${this.scale()}`;
    const q = this.query();
    this.link3d.href = hashUrl(['3d', this.uuid], {
      gray: q.gray, labels: q.labels, x: q.x, y: q.y, z: q.z, bodies: this.picked,
    });
  }

  query() {
    return {
      gray: this.layers.gray ? this.layers.gray.name : '',
      labels: this.layers.labels ? this.layers.labels.name : '',
      plane: this.plane, x: Math.floor(this.center[0]), y: Math.floor(this.center[1]), z: Math.floor(this.center[2]),
      zoom: +this.zoom.toFixed(4), scale: this.scaleChoice, mode: this.mode, opacity: this.opacity,
      body: this.picked,
    };
  }

  saveQuery() { replaceQuery(this.query()); }

  // ----------------------------------------------------------- interaction
  zoomBy(factor, sx = SIZE / 2, sy = SIZE / 2) {
    const [u, v] = this.axes();
    const [pu, pv] = this.toVoxel(sx, sy);
    this.zoom = Math.max(1 / 256, Math.min(64, this.zoom * factor));
    this.center[u] = pu - (sx - SIZE / 2) / this.zoom;
    this.center[v] = pv - (sy - SIZE / 2) / this.zoom;
    this.update();
  }

  step(n) {
    const w = this.axes()[2];
    const f = 2 ** this.scale();
    const d = Math.max(this.box.lo[w], Math.min(this.box.hi[w], this.depth() + n * f));
    this.center[w] = d + 0.5;
    this.update();
  }

  bindPointer(canvas) {
    let drag = null;
    canvas.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const r = canvas.getBoundingClientRect();
      if (ev.ctrlKey || ev.metaKey) this.zoomBy(ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - r.left, ev.clientY - r.top);
      else this.step((ev.deltaY > 0 ? 1 : -1) * (ev.shiftKey ? 10 : 1));
    }, { passive: false });
    canvas.addEventListener('pointerdown', (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, moved: false, c: [...this.center] };
      canvas.setPointerCapture(ev.pointerId);
    });
    canvas.addEventListener('pointermove', (ev) => {
      const r = canvas.getBoundingClientRect();
      this.readAt(ev.clientX - r.left, ev.clientY - r.top);
      if (!drag) return;
      const dx = ev.clientX - drag.x;
      const dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      const [u, v] = this.axes();
      this.center[u] = drag.c[u] - dx / this.zoom;
      this.center[v] = drag.c[v] - dy / this.zoom;
      this.update();
    });
    canvas.addEventListener('pointerup', (ev) => {
      if (drag && !drag.moved) {
        const r = canvas.getBoundingClientRect();
        const got = this.readAt(ev.clientX - r.left, ev.clientY - r.top);
        if (got && got.label && got.label !== '0') {
          this.picked = got.label;
          this.syncControls();
          this.saveQuery();
        }
      }
      drag = null;
    });
    canvas.addEventListener('pointerleave', () => { this.readout.textContent = ' '; });
  }

  /** Show (and return) the voxel, gray value and label under a canvas point. */
  readAt(sx, sy) {
    const [u, v, w] = this.axes();
    const [pu, pv] = this.toVoxel(sx, sy);
    const p = [0, 0, 0];
    p[u] = Math.floor(pu);
    p[v] = Math.floor(pv);
    p[w] = this.depth();
    const out = { point: p, label: null, gray: null };
    const look = (img) => {
      if (!img || img.region.plane !== this.plane) return -1;
      const g = img.region;
      const col = Math.floor(pu / g.f) - g.u0;
      const row = Math.floor(pv / g.f) - g.v0;
      return col >= 0 && row >= 0 && col < g.w && row < g.h ? row * g.w + col : -1;
    };
    const li = look(this.images.labels);
    if (li >= 0) out.label = labelAt(this.images.labels.u32, li);
    const gi = look(this.images.gray);
    if (gi >= 0) out.gray = this.images.gray.pixels[4 * gi];
    const parts = [`x ${p[0]}  y ${p[1]}  z ${p[2]}`];
    if (out.gray !== null) parts.push(`gray ${out.gray}`);
    if (out.label !== null) parts.push(`label ${out.label}`);
    if (this.picked) parts.push(`picked ${this.picked}`);
    this.readout.textContent = parts.join('   ');
    this.readout.dataset.label = out.label ?? '';
    this.readout.dataset.point = p.join(',');
    return out;
  }

  // --------------------------------------------------------------- fetching
  update() {
    this.syncControls();
    this.draw();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.fetch(); this.saveQuery(); }, 40);
  }

  async fetch() {
    const my = ++this.generation;
    const g = this.region();
    const root = this.root;
    if (g.w <= 0 || g.h <= 0) {
      this.images = { gray: null, labels: null };
      this.draw();
      this.ready(my);
      return;
    }
    const [u, v, w] = this.axes();
    const off = [0, 0, 0];
    off[u] = g.u0;
    off[v] = g.v0;
    off[w] = g.depth;
    const size = [1, 1, 1];
    size[u] = g.w;
    size[v] = g.h;
    this.pending++;
    root.dataset.loading = 'true';
    this.status.textContent = 'loading…';
    try {
      const jobs = [];
      if (this.layers.gray) {
        const url = nodeUrl(this.uuid, this.layers.gray.name, `raw/${g.plane}/${g.w}_${g.h}/${off.join('_')}/png?scale=${g.s}`);
        jobs.push(get(url).then((r) => r.blob()).then((b) => createImageBitmap(b)).then((bitmap) => {
          const c = new OffscreenCanvas(g.w, g.h);
          const cx = c.getContext('2d');
          cx.drawImage(bitmap, 0, 0);
          return { region: g, bitmap, pixels: cx.getImageData(0, 0, g.w, g.h).data };
        }));
      } else jobs.push(null);
      if (this.layers.labels) {
        const url = nodeUrl(this.uuid, this.layers.labels.name, `raw/0_1_2/${size.join('_')}/${off.join('_')}?scale=${g.s}`);
        jobs.push(getBytes(url).then((buf) => this.paintLabels(g, buf)));
      } else jobs.push(null);
      const [gray, labels] = await Promise.all(jobs);
      if (my !== this.generation) return;
      this.images = { gray, labels };
      this.status.textContent = '';
      this.draw();
    } catch (err) {
      if (my === this.generation) this.status.textContent = `error: ${err.message}`;
      console.error(err);
    } finally {
      this.pending--;
      this.ready(my);
    }
  }

  ready(my) {
    if (my !== this.generation) return;
    this.root.dataset.loading = 'false';
    this.root.dataset.rendered = String(my);
  }

  paintLabels(g, buf) {
    const n = g.w * g.h;
    if (buf.byteLength !== n * 8) throw new Error(`labels: ${buf.byteLength} bytes for ${n} voxels`);
    const u32 = new Uint32Array(buf);
    const img = new ImageData(g.w, g.h);
    const px = img.data;
    for (let i = 0; i < n; i++) {
      const lo = u32[2 * i];
      const hi = u32[2 * i + 1];
      if (lo === 0 && hi === 0) continue; // transparent
      const [r, gg, b] = this.colors.get(lo, hi);
      px[4 * i] = r;
      px[4 * i + 1] = gg;
      px[4 * i + 2] = b;
      px[4 * i + 3] = 255;
    }
    const canvas = new OffscreenCanvas(g.w, g.h);
    canvas.getContext('2d').putImageData(img, 0, 0);
    return { region: g, canvas, u32 };
  }

  // ---------------------------------------------------------------- drawing
  place(img) {
    const g = img.region;
    const [u, v] = this.axes();
    const x = SIZE / 2 + (g.u0 * g.f - this.center[u]) * this.zoom;
    const y = SIZE / 2 + (g.v0 * g.f - this.center[v]) * this.zoom;
    return [x, y, g.w * g.f * this.zoom, g.h * g.f * this.zoom];
  }

  usable(img) { return img && img.region.plane === this.plane && img.region.depth === Math.floor(this.depth() / img.region.f); }

  draw() {
    const beside = this.canvases.dataset.mode === 'beside';
    const prep = (canvas) => {
      const dpr = window.devicePixelRatio || 1;
      if (canvas.width !== SIZE * dpr) { canvas.width = SIZE * dpr; canvas.height = SIZE * dpr; }
      const cx = canvas.getContext('2d');
      cx.setTransform(dpr, 0, 0, dpr, 0, 0);
      cx.imageSmoothingEnabled = false;
      cx.globalAlpha = 1;
      cx.fillStyle = '#000';
      cx.fillRect(0, 0, SIZE, SIZE);
      return cx;
    };
    const main = prep(this.canvasMain);
    const { gray, labels } = this.images;
    if (this.usable(gray)) main.drawImage(gray.bitmap, ...this.place(gray));
    if (this.usable(labels)) {
      if (beside) {
        prep(this.canvasSide).drawImage(labels.canvas, ...this.place(labels));
      } else {
        main.globalAlpha = this.layers.gray ? this.opacity : 1;
        main.drawImage(labels.canvas, ...this.place(labels));
        main.globalAlpha = 1;
      }
    } else if (beside) prep(this.canvasSide);
  }
}

export async function render(main, route, ctx) {
  const uuid = route.parts[1];
  const q = route.query;
  const repo = await repoOfNode(uuid);
  if (!repo) throw new Error(`no served repository has a node ${uuid}`);
  ctx.crumbs([[repo.Alias || short(repo.Root), hashUrl(['repo', repo.Root], { node: uuid })],
    [short(uuid), hashUrl(['node', uuid])], ['slices', null]]);
  const insts = repo.DataInstances || {};
  const ofType = (t) => Object.keys(insts).filter((n) => insts[n].Base.TypeName === t).sort();
  const load = async (name, type) => {
    if (!name) return null;
    if (!insts[name] || insts[name].Base.TypeName !== type) throw new Error(`${name} is not a ${type} instance`);
    return { name, info: await getJSON(nodeUrl(uuid, name, 'info')) };
  };
  const layers = { gray: await load(q.get('gray'), 'uint8blk'), labels: await load(q.get('labels'), 'labelmap') };
  const pick = (id, type, current) => h('select', {
    id, onchange: (ev) => {
      const next = Object.fromEntries(q.entries());
      next[id === 'gray-layer' ? 'gray' : 'labels'] = ev.target.value;
      location.hash = hashUrl(['slice', uuid], next);
    },
  }, h('option', { value: '' }, '(none)'), ofType(type).map((n) => h('option', { value: n, selected: n === current }, n)));
  main.append(h('h1', {}, 'Slices at ', h('code', {}, short(uuid))),
    h('p', { class: 'layers' }, 'grayscale ', pick('gray-layer', 'uint8blk', q.get('gray')),
      '  labels ', pick('labels-layer', 'labelmap', q.get('labels'))));
  if (!layers.gray && !layers.labels) {
    main.append(h('p', { class: 'msg msg-note' }, 'Choose a grayscale or a labels instance.'));
    return undefined;
  }
  const box = bounds([layers.gray && layers.gray.info, layers.labels && layers.labels.info]);
  if (!box) {
    main.append(h('p', { class: 'msg msg-note' }, 'No voxels have been written yet.'));
    return undefined;
  }
  const root = h('section', { class: 'slice-viewer', id: 'slice-viewer' });
  main.append(root);
  const viewer = new SliceViewer(root, uuid, layers, box, q);
  await viewer.fetch();
  return () => { clearTimeout(viewer.timer); viewer.generation = -1; clear(root); };
}
