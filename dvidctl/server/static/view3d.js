// #/3d/{uuid}?gray=G&labels=L&x=&y=&z=&bodies=17,23
//
// 3D inspection in WebGL2: the three orthogonal planes through a point (grayscale with the
// labels over it, from the same image endpoints as the slice viewer) and surface meshes of
// chosen label bodies, in nanometres. A body's mesh is the stored {label}.ngmesh of
// L_meshes when it is up to date (neuroglancer reads the same key), else one computed now by
// the server and not stored; with writes unlocked, "Store meshes" saves them (dvidctl mesh).
// Drag rotates, the wheel zooms.

import { get, getBytes, getJSON, nodeUrl, postJSON, repoOfNode } from './api.js';
import { cssColor, labelColor, labelRGB } from './colors.js';
import { buffer, mat4, parseNgmesh, program, texture, vertexNormals } from './gl.js';
import { clear, h, hashUrl, replaceQuery, short } from './util.js';

const W = 640;
const H = 480;
const PLANE_SIDE = 512; // longest side of a plane's image
const MAX_SIDE = 1024;
const BACKGROUND = [0.13, 0.14, 0.16];

const PLANE_VS = `#version 300 es
in vec3 aPos; in vec2 aUV; uniform mat4 uMVP; out vec2 vUV;
void main() { vUV = aUV; gl_Position = uMVP * vec4(aPos, 1.0); }`;
const PLANE_FS = `#version 300 es
precision mediump float; in vec2 vUV; uniform sampler2D uGray; uniform sampler2D uLabels;
uniform float uOpacity; out vec4 color;
void main() {
  vec3 g = texture(uGray, vUV).rgb; vec4 l = texture(uLabels, vUV);
  color = vec4(mix(g, l.rgb, l.a * uOpacity), 1.0);
}`;
const MESH_VS = `#version 300 es
in vec3 aPos; in vec3 aNormal; uniform mat4 uMVP; out vec3 vNormal;
void main() { vNormal = aNormal; gl_Position = uMVP * vec4(aPos, 1.0); }`;
const MESH_FS = `#version 300 es
precision mediump float; in vec3 vNormal; uniform vec3 uColor; uniform vec3 uLight; out vec4 color;
void main() {
  float d = abs(dot(normalize(vNormal), uLight));
  color = vec4(uColor * (0.35 + 0.65 * d), 1.0);
}`;

function boxOf(infos) {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  let vs = null;
  for (const info of infos) {
    const e = info && info.Extended;
    if (!e) continue;
    vs = vs || e.VoxelSize;
    if (!e.MinPoint) continue;
    for (let i = 0; i < 3; i++) { lo[i] = Math.min(lo[i], e.MinPoint[i]); hi[i] = Math.max(hi[i], e.MaxPoint[i]); }
  }
  return Number.isFinite(lo[0]) ? { lo, hi, vs: vs || [1, 1, 1] } : null;
}

class View3D {
  constructor(root, uuid, layers, box, query, ctx) {
    this.root = root;
    this.uuid = uuid;
    this.layers = layers;
    this.box = box;
    this.ctx = ctx;
    const num = (k, d) => (query.has(k) && query.get(k) !== '' && Number.isFinite(Number(query.get(k))) ? Number(query.get(k)) : d);
    this.point = [0, 1, 2].map((i) => num('xyz'[i], Math.floor((box.lo[i] + box.hi[i]) / 2)));
    this.bodies = (query.get('bodies') || '').split(',').map((t) => t.trim()).filter((t) => /^\d+$/.test(t) && t !== '0');
    this.showPlanes = query.get('planes') !== '0';
    this.showMeshes = true;
    const nm = [0, 1, 2].map((i) => [box.lo[i] * box.vs[i], (box.hi[i] + 1) * box.vs[i]]);
    this.target = nm.map(([a, b]) => (a + b) / 2);
    this.radius = Math.hypot(...nm.map(([a, b]) => b - a)) / 2 || 1;
    this.reset();
    this.planes = [];
    this.meshes = [];
    this.build();
  }

  reset() {
    this.yaw = 0.7;
    this.pitch = 0.45;
    this.dist = this.radius * 2.6;
  }

  build() {
    this.canvas = h('canvas', { id: 'view3d', width: W, height: H, style: { width: `${W}px`, height: `${H}px` } });
    const gl = this.canvas.getContext('webgl2', { antialias: true, preserveDrawingBuffer: true });
    if (!gl) throw new Error('this browser has no WebGL2: the 3D view needs it');
    this.gl = gl;
    this.planeProg = program(gl, PLANE_VS, PLANE_FS);
    this.meshProg = program(gl, MESH_VS, MESH_FS);
    this.blank = texture(gl, new Uint8Array(4), 1, 1);
    this.pointInputs = [0, 1, 2].map((i) => h('input', { type: 'number', id: `p3-${'xyz'[i]}`, value: this.point[i], size: 6 }));
    this.bodyInput = h('input', { id: 'bodies', value: this.bodies.join(','), size: 24, placeholder: 'label ids, e.g. 17,23' });
    this.list = h('ul', { class: 'bodies', id: 'body-list' });
    this.status = h('span', { class: 'muted', id: 'view3d-status' });
    const check = (id, label, get, set) => h('label', {}, h('input', {
      type: 'checkbox', id, checked: get(), onchange: (ev) => { set(ev.target.checked); this.draw(); },
    }), label);
    const controls = h('form', {
      class: 'view3d-controls', onsubmit: (ev) => {
        ev.preventDefault();
        this.point = this.pointInputs.map((el) => Number(el.value) | 0);
        this.bodies = this.bodyInput.value.split(',').map((t) => t.trim()).filter((t) => /^\d+$/.test(t) && t !== '0');
        this.save();
        this.load();
      },
    },
    h('span', { class: 'group' }, 'point ', ...[0, 1, 2].flatMap((i) => [`${'xyz'[i]} `, this.pointInputs[i]])),
    this.layers.labels ? h('span', { class: 'group' }, 'bodies ', this.bodyInput) : null,
    h('button', { type: 'submit', id: 'load3d' }, 'Show'),
    check('show-planes', ' planes', () => this.showPlanes, (v) => { this.showPlanes = v; }),
    check('show-meshes', ' meshes', () => this.showMeshes, (v) => { this.showMeshes = v; }),
    h('button', { type: 'button', id: 'reset-view', onclick: () => { this.reset(); this.draw(); } }, 'Reset view'),
    this.ctx.writes && this.layers.labels ? h('button', {
      type: 'button', id: 'store-meshes', onclick: () => this.store(),
    }, 'Store meshes') : null,
    this.status);
    this.root.append(controls, h('div', { class: 'view3d-layout' }, this.canvas, this.list));
    this.bindPointer();
  }

  save() {
    replaceQuery({
      gray: this.layers.gray && this.layers.gray.name, labels: this.layers.labels && this.layers.labels.name,
      x: this.point[0], y: this.point[1], z: this.point[2], bodies: this.bodies.join(','),
      planes: this.showPlanes ? '' : '0',
    });
  }

  bindPointer() {
    let drag = null;
    this.canvas.addEventListener('pointerdown', (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, yaw: this.yaw, pitch: this.pitch };
      this.canvas.setPointerCapture(ev.pointerId);
    });
    this.canvas.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      this.yaw = drag.yaw + (ev.clientX - drag.x) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, drag.pitch + (ev.clientY - drag.y) * 0.01));
      this.requestDraw();
    });
    this.canvas.addEventListener('pointerup', () => { drag = null; });
    this.canvas.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      this.dist = Math.max(this.radius * 0.2, Math.min(this.radius * 20, this.dist * (ev.deltaY > 0 ? 1.15 : 1 / 1.15)));
      this.requestDraw();
    }, { passive: false });
  }

  requestDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.draw(); });
  }

  // -------------------------------------------------------------- loading
  async load() {
    this.root.dataset.state = 'loading';
    this.status.textContent = 'loading…';
    try {
      await Promise.all([this.loadPlanes(), this.loadMeshes()]);
      this.status.textContent = '';
    } catch (err) {
      this.status.textContent = `error: ${err.message}`;
      console.error(err);
    }
    this.draw();
    this.root.dataset.state = 'drawn';
  }

  /** Scale and scale-s region of the plane spanning axes (u, v) through the point. */
  planeRegion(u, v, w) {
    const maxScale = Math.min(...['gray', 'labels'].filter((k) => this.layers[k])
      .map((k) => Number(this.layers[k].info.Extended.MaxDownresLevel || 0)));
    const span = Math.max(this.box.hi[u] - this.box.lo[u] + 1, this.box.hi[v] - this.box.lo[v] + 1);
    let s = 0;
    while (s < maxScale && span / 2 ** s > PLANE_SIDE) s++;
    const f = 2 ** s;
    const range = (ax) => {
      let a = Math.floor(this.box.lo[ax] / f);
      let b = Math.floor(this.box.hi[ax] / f) + 1;
      if (b - a > MAX_SIDE) { // too large even at the coarsest level: a window around the point
        a = Math.max(a, Math.floor(this.point[ax] / f) - MAX_SIDE / 2);
        b = a + MAX_SIDE;
      }
      return [a, b];
    };
    const [u0, u1] = range(u);
    const [v0, v1] = range(v);
    return { s, f, u0, v0, w: u1 - u0, h: v1 - v0, depth: Math.floor(this.point[w] / f) };
  }

  async loadPlane(plane, [u, v, w]) {
    const g = this.planeRegion(u, v, w);
    const off = [0, 0, 0];
    off[u] = g.u0; off[v] = g.v0; off[w] = g.depth;
    const size = [1, 1, 1];
    size[u] = g.w; size[v] = g.h;
    const gl = this.gl;
    let gray = this.blank;
    let labels = this.blank;
    const jobs = [];
    if (this.layers.gray) {
      jobs.push(get(nodeUrl(this.uuid, this.layers.gray.name, `raw/${plane}/${g.w}_${g.h}/${off.join('_')}/png?scale=${g.s}`))
        .then((r) => r.blob()).then((b) => createImageBitmap(b)).then((bm) => { gray = texture(gl, bm); }));
    }
    if (this.layers.labels) {
      jobs.push(getBytes(nodeUrl(this.uuid, this.layers.labels.name, `raw/0_1_2/${size.join('_')}/${off.join('_')}?scale=${g.s}`))
        .then((buf) => {
          const u32 = new Uint32Array(buf);
          const px = new Uint8Array(g.w * g.h * 4);
          const cache = new Map();
          for (let i = 0; i < g.w * g.h; i++) {
            const lo = u32[2 * i];
            const hi = u32[2 * i + 1];
            if (!lo && !hi) continue;
            const key = hi ? `${hi}:${lo}` : lo;
            let c = cache.get(key);
            if (!c) { c = labelRGB(lo, hi); cache.set(key, c); }
            px.set([c[0], c[1], c[2], 255], 4 * i);
          }
          labels = texture(gl, px, g.w, g.h);
        }));
    }
    await Promise.all(jobs);
    const vs = this.box.vs;
    const cu = [g.u0 * g.f * vs[u], (g.u0 + g.w) * g.f * vs[u]];
    const cv = [g.v0 * g.f * vs[v], (g.v0 + g.h) * g.f * vs[v]];
    const cw = (this.point[w] + 0.5) * vs[w];
    const corner = (a, b) => { const p = [0, 0, 0]; p[u] = a; p[v] = b; p[w] = cw; return p; };
    const pos = new Float32Array([...corner(cu[0], cv[0]), ...corner(cu[1], cv[0]), ...corner(cu[0], cv[1]), ...corner(cu[1], cv[1])]);
    const uv = new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]);
    return { plane, pos: buffer(gl, pos), uv: buffer(gl, uv), gray, labels };
  }

  async loadPlanes() {
    this.planes = await Promise.all([['xy', [0, 1, 2]], ['xz', [0, 2, 1]], ['yz', [1, 2, 0]]]
      .map(([p, axes]) => this.loadPlane(p, axes)));
    this.root.dataset.planes = String(this.planes.length);
  }

  async loadMeshes() {
    clear(this.list);
    this.meshes = [];
    const seg = this.layers.labels && this.layers.labels.name;
    if (!seg || !this.bodies.length) { this.root.dataset.meshes = '0'; return; }
    const status = await getJSON(`/api/console/node/${this.uuid}/${encodeURIComponent(seg)}/meshes`);
    const loaded = await Promise.all(this.bodies.map(async (id) => {
      const known = status.labels[id];
      const stored = known && !known.stale;
      const item = h('li', { 'data-body': id },
        h('span', { class: 'swatch', style: { background: cssColor(labelColor(id)) } }), ` ${id} `);
      this.list.append(item);
      try {
        const buf = stored
          ? await getBytes(nodeUrl(this.uuid, status.meshes, `key/${id}.ngmesh`))
          : await getBytes(`/api/console/node/${this.uuid}/${encodeURIComponent(seg)}/mesh/${id}`);
        const m = parseNgmesh(buf);
        item.append(h('span', { class: 'muted', 'data-source': stored ? 'stored' : 'computed' },
          `${stored ? 'stored' : 'computed now'}, ${m.indices.length / 3} triangles`));
        return { id, ...m };
      } catch (err) {
        item.append(h('span', { class: 'msg-error' }, err.message));
        return null;
      }
    }));
    const gl = this.gl;
    for (const m of loaded) {
      if (!m || !m.indices.length) continue;
      const [r, g, b] = labelColor(m.id);
      this.meshes.push({
        id: m.id, count: m.indices.length, color: [r / 255, g / 255, b / 255],
        pos: buffer(gl, m.positions), normal: buffer(gl, vertexNormals(m.positions, m.indices)),
        index: buffer(gl, m.indices, gl.ELEMENT_ARRAY_BUFFER),
      });
    }
    this.root.dataset.meshes = String(this.meshes.length);
  }

  async store() {
    const seg = this.layers.labels.name;
    this.status.textContent = 'storing meshes…';
    try {
      const r = await postJSON(`/api/console/node/${this.uuid}/${encodeURIComponent(seg)}/meshes`, { labels: this.bodies });
      this.status.textContent = `stored ${Object.keys(r.built).length} mesh(es) in ${r.meshes}`;
      await this.loadMeshes();
      this.draw();
    } catch (err) {
      this.status.textContent = `storing failed: ${err.message}`;
    }
  }

  // --------------------------------------------------------------- drawing
  draw() {
    const gl = this.gl;
    const eye = [
      this.target[0] + this.dist * Math.cos(this.pitch) * Math.sin(this.yaw),
      this.target[1] - this.dist * Math.sin(this.pitch),
      this.target[2] - this.dist * Math.cos(this.pitch) * Math.cos(this.yaw),
    ];
    const view = mat4.lookAt(eye, this.target, [0, -1, 0]);
    const proj = mat4.perspective(0.7, W / H, this.dist * 0.01, this.dist + this.radius * 4);
    const mvp = mat4.multiply(proj, view);
    const toEye = [0, 1, 2].map((i) => eye[i] - this.target[i]);
    const len = Math.hypot(...toEye);
    gl.viewport(0, 0, W, H);
    gl.clearColor(...BACKGROUND, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    if (this.showPlanes) {
      const { p, u, a } = this.planeProg;
      gl.useProgram(p);
      gl.uniformMatrix4fv(u.uMVP, false, mvp);
      gl.uniform1f(u.uOpacity, this.layers.gray ? 0.45 : 1);
      gl.uniform1i(u.uGray, 0);
      gl.uniform1i(u.uLabels, 1);
      for (const pl of this.planes) {
        gl.bindBuffer(gl.ARRAY_BUFFER, pl.pos);
        gl.enableVertexAttribArray(a.aPos);
        gl.vertexAttribPointer(a.aPos, 3, gl.FLOAT, false, 0, 0);
        gl.bindBuffer(gl.ARRAY_BUFFER, pl.uv);
        gl.enableVertexAttribArray(a.aUV);
        gl.vertexAttribPointer(a.aUV, 2, gl.FLOAT, false, 0, 0);
        gl.activeTexture(gl.TEXTURE0);
        gl.bindTexture(gl.TEXTURE_2D, pl.gray);
        gl.activeTexture(gl.TEXTURE1);
        gl.bindTexture(gl.TEXTURE_2D, pl.labels);
        gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      }
      gl.disableVertexAttribArray(a.aUV);
    }
    if (this.showMeshes) {
      const { p, u, a } = this.meshProg;
      gl.useProgram(p);
      gl.uniformMatrix4fv(u.uMVP, false, mvp);
      gl.uniform3fv(u.uLight, toEye.map((x) => x / len));
      for (const m of this.meshes) {
        gl.bindBuffer(gl.ARRAY_BUFFER, m.pos);
        gl.enableVertexAttribArray(a.aPos);
        gl.vertexAttribPointer(a.aPos, 3, gl.FLOAT, false, 0, 0);
        gl.bindBuffer(gl.ARRAY_BUFFER, m.normal);
        gl.enableVertexAttribArray(a.aNormal);
        gl.vertexAttribPointer(a.aNormal, 3, gl.FLOAT, false, 0, 0);
        gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, m.index);
        gl.uniform3fv(u.uColor, m.color);
        gl.drawElements(gl.TRIANGLES, m.count, gl.UNSIGNED_INT, 0);
      }
    }
    this.root.dataset.frames = String(Number(this.root.dataset.frames || 0) + 1);
  }
}

export async function render(main, route, ctx) {
  const uuid = route.parts[1];
  const q = route.query;
  const repo = await repoOfNode(uuid);
  if (!repo) throw new Error(`no served repository has a node ${uuid}`);
  ctx.crumbs([[repo.Alias || short(repo.Root), hashUrl(['repo', repo.Root], { node: uuid })],
    [short(uuid), hashUrl(['node', uuid])], ['3D', null]]);
  const insts = repo.DataInstances || {};
  const load = async (name, type) => {
    if (!name) return null;
    if (!insts[name] || insts[name].Base.TypeName !== type) throw new Error(`${name} is not a ${type} instance`);
    return { name, info: await getJSON(nodeUrl(uuid, name, 'info')) };
  };
  const layers = { gray: await load(q.get('gray'), 'uint8blk'), labels: await load(q.get('labels'), 'labelmap') };
  main.append(h('h1', {}, '3D at ', h('code', {}, short(uuid)), h('span', { class: 'muted' },
    ` ${[layers.gray && layers.gray.name, layers.labels && layers.labels.name].filter(Boolean).join(' + ')}`)));
  const box = boxOf([layers.gray && layers.gray.info, layers.labels && layers.labels.info]);
  if (!box) {
    main.append(h('p', { class: 'msg msg-note' }, 'Choose instances with voxels (gray=, labels= in the address).'));
    return undefined;
  }
  const root = h('section', { class: 'view3d', id: 'view3d-root', 'data-state': 'loading' });
  main.append(root);
  const view = new View3D(root, uuid, layers, box, q, ctx);
  await view.load();
  return () => { view.gl.getExtension('WEBGL_lose_context')?.loseContext(); };
}
