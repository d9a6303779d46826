// Colours: stable pseudo-colours for uint64 labels, and the branch palette of the DAG.
//
// A label's colour depends on its id alone (a 64-bit integer hash of the id's two 32-bit
// halves, then HSV), so label 17 has the same colour in every view, session and browser.

/** Mix the two 32-bit halves of a label id into one well-spread 32-bit hash. */
export function labelHash(lo, hi) {
  let x = Math.imul((lo ^ 0x3c6ef372) >>> 0, 0x85ebca6b) ^ Math.imul((hi ^ 0xa54ff53a) >>> 0, 0xc2b2ae35);
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function hsvToRgb(hue, sat, val) {
  const i = Math.floor(hue * 6);
  const f = hue * 6 - i;
  const p = val * (1 - sat);
  const q = val * (1 - f * sat);
  const t = val * (1 - (1 - f) * sat);
  const [r, g, b] = [[val, t, p], [q, val, p], [p, val, t], [p, q, val], [t, p, val], [val, p, q]][i % 6];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

/** [r, g, b] (0..255) of the label whose id is hi * 2^32 + lo (label 0 is black). */
export function labelRGB(lo, hi = 0) {
  if (lo === 0 && hi === 0) return [0, 0, 0];
  const x = labelHash(lo >>> 0, hi >>> 0);
  const hue = (x & 0xffff) / 65536;
  const sat = 0.6 + (((x >>> 16) & 0xff) / 255) * 0.4;
  const val = 0.75 + (((x >>> 24) & 0xff) / 255) * 0.25;
  return hsvToRgb(hue, sat, val);
}

/** Split a label id (number, BigInt or decimal string) into its 32-bit halves. */
export function splitLabel(id) {
  const v = BigInt(id);
  return [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];
}

/** [r, g, b] of a label id given as a number, BigInt or decimal string. */
export function labelColor(id) {
  const [lo, hi] = splitLabel(id);
  return labelRGB(lo, hi);
}

export const cssColor = ([r, g, b]) => `rgb(${r}, ${g}, ${b})`;

/** Colours of the DAG's branches, in lane order (Tableau 10, readable on white). */
export const BRANCH_PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1',
  '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#bab0ac',
];

/** A cache of label colours: get(lo, hi) -> [r, g, b]. */
export class LabelColors {
  constructor() {
    this.map = new Map();
  }

  get(lo, hi) {
    const key = hi === 0 ? lo : `${hi}:${lo}`;
    let c = this.map.get(key);
    if (c === undefined) {
      c = labelRGB(lo, hi);
      this.map.set(key, c);
    }
    return c;
  }
}
