// Plane-to-plane maps (3x3 homographies, row-major, h[8] = 1) fitted to point correspondences by
// the normalised direct linear transform (Hartley & Zisserman, ch. 4.4), least squares with h33
// fixed to 1. A printed photo or a phone screen is a plane: every landmark of a face on it moves
// by one homography between two frames, whatever the hand does.

export type Homography = [number, number, number, number, number, number, number, number, number];

export const IDENTITY_H: Homography = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function applyH(h: Homography, x: number, y: number): [number, number] {
  const w = h[6] * x + h[7] * y + h[8];
  return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w];
}

export function multiplyH(a: Homography, b: Homography): Homography {
  const out = new Array<number>(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) out[r * 3 + c] = a[r * 3]! * b[c]! + a[r * 3 + 1]! * b[3 + c]! + a[r * 3 + 2]! * b[6 + c]!;
  }
  return normalise(out as Homography);
}

export function invertH(h: Homography): Homography {
  const [a, b, c, d, e, f, g, i, j] = h;
  const A = e * j - f * i, B = -(d * j - f * g), C = d * i - e * g;
  const det = a * A + b * B + c * C;
  if (Math.abs(det) < 1e-15) throw new Error('homography is singular');
  const inv: Homography = [
    A / det, -(b * j - c * i) / det, (b * f - c * e) / det,
    B / det, (a * j - c * g) / det, -(a * f - c * d) / det,
    C / det, -(a * i - b * g) / det, (a * e - b * d) / det,
  ];
  return normalise(inv);
}

function normalise(h: Homography): Homography {
  const s = h[8];
  return Math.abs(s) > 1e-15 ? (h.map((v) => v / s) as Homography) : h;
}

/** Similarity that moves the points' centroid to 0 and their mean distance from it to sqrt(2). */
function conditioner(xs: Float64Array, ys: Float64Array): { t: Homography; ok: boolean } {
  const n = xs.length;
  let mx = 0, my = 0;
  for (let k = 0; k < n; k++) {
    mx += xs[k]!;
    my += ys[k]!;
  }
  mx /= n;
  my /= n;
  let d = 0;
  for (let k = 0; k < n; k++) d += Math.hypot(xs[k]! - mx, ys[k]! - my);
  d /= n;
  if (!(d > 1e-9)) return { t: IDENTITY_H, ok: false };
  const s = Math.SQRT2 / d;
  return { t: [s, 0, -s * mx, 0, s, -s * my, 0, 0, 1], ok: true };
}

/** Solves the n x n system a x = b in place (Gaussian elimination, partial pivoting). */
function solve(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (Math.abs(a[p * n + c]!) < 1e-12) return null;
    if (p !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[p * n + k]] = [a[p * n + k]!, a[c * n + k]!];
      [b[c], b[p]] = [b[p]!, b[c]!];
    }
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c]! / a[c * n + c]!;
      if (f === 0) continue;
      for (let k = c; k < n; k++) a[r * n + k] = a[r * n + k]! - f * a[c * n + k]!;
      b[r] = b[r]! - f * b[c]!;
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r * n + k]! * x[k]!;
    x[r] = s / a[r * n + r]!;
  }
  return x;
}

export type PlaneModel = 'homography' | 'affine';

/**
 * Least-squares map taking (x1, y1) to (x2, y2): a homography (8 dof, needs >= 4 points) or an
 * affine map (6 dof, >= 3). Null when the points are degenerate.
 */
export function fitPlaneMap(x1: Float64Array, y1: Float64Array, x2: Float64Array, y2: Float64Array, model: PlaneModel = 'homography'): Homography | null {
  const n = x1.length;
  const dof = model === 'homography' ? 8 : 6;
  if (n < dof / 2) return null;
  const c1 = conditioner(x1, y1), c2 = conditioner(x2, y2);
  if (!c1.ok || !c2.ok) return null;
  const [s1, , tx1, , , ty1] = c1.t;
  const [s2, , tx2, , , ty2] = c2.t;
  // Normal equations of the linearised residuals:
  //   u' = h0 u + h1 v + h2 - h6 u u' - h7 v u'
  //   v' = h3 u + h4 v + h5 - h6 u v' - h7 v v'
  const ata = new Float64Array(dof * dof);
  const atb = new Float64Array(dof);
  const row = new Float64Array(dof);
  const add = (rhs: number) => {
    for (let i = 0; i < dof; i++) {
      const ri = row[i]!;
      if (ri === 0) continue;
      atb[i] = atb[i]! + ri * rhs;
      for (let j = 0; j < dof; j++) ata[i * dof + j] = ata[i * dof + j]! + ri * row[j]!;
    }
  };
  for (let k = 0; k < n; k++) {
    const u = s1 * x1[k]! + tx1, v = s1 * y1[k]! + ty1;
    const u2 = s2 * x2[k]! + tx2, v2 = s2 * y2[k]! + ty2;
    row.fill(0);
    row[0] = u; row[1] = v; row[2] = 1;
    if (dof === 8) { row[6] = -u * u2; row[7] = -v * u2; }
    add(u2);
    row.fill(0);
    row[3] = u; row[4] = v; row[5] = 1;
    if (dof === 8) { row[6] = -u * v2; row[7] = -v * v2; }
    add(v2);
  }
  const h = solve(ata, atb, dof);
  if (!h) return null;
  const hn: Homography = [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!, dof === 8 ? h[6]! : 0, dof === 8 ? h[7]! : 0, 1];
  // Undo the conditioning: H = T2^-1 * Hn * T1.
  return multiplyH(multiplyH(invertH(c2.t), hn), c1.t);
}

/** Root-mean-square distance between h(x1, y1) and (x2, y2). */
export function rmsResidual(h: Homography, x1: Float64Array, y1: Float64Array, x2: Float64Array, y2: Float64Array): number {
  let s = 0;
  for (let k = 0; k < x1.length; k++) {
    const [px, py] = applyH(h, x1[k]!, y1[k]!);
    s += (px - x2[k]!) ** 2 + (py - y2[k]!) ** 2;
  }
  return Math.sqrt(s / x1.length);
}
