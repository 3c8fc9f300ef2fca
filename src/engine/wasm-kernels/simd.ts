// f32x4 (WebAssembly SIMD) kernels working in place on the tfjs wasm heap, compiled once per
// wasm Memory: per-channel row reductions, per-channel affine maps (BatchNorm), the fused PReLU
// backward and a tiled transpose. Pointers and strides are in bytes, channel counts in floats
// (multiples of 4). The row reductions are
//   acc[c] += sum over k < count of  f(x[k*xs + c], y[k*ys + c], m[c])   for c in [c0, c1)
// with f = x (sum), x*y (dot) or y*(x-m) (centered dot); blocks of 16 channels use four
// independent accumulators.
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { compile, Fn } from './simd-asm.js';

export type RowOp = 'sum' | 'dot' | 'dotc';
type Kernel = (x: number, xs: number, y: number, ys: number, m: number, count: number, c0: number, c1: number, acc: number) => void;

function rowKernel(op: RowOp, unroll: number): Fn {
  const f = new Fn(`${op}${unroll}`, 9);
  const [x, xs, y, ys, m, count, c, c1, acc] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const off = f.i32(), px = f.i32(), py = f.i32(), k = f.i32();
  const a = Array.from({ length: unroll }, () => f.v128());
  const mv = op === 'dotc' ? Array.from({ length: unroll }, () => f.v128()) : [];
  f.loop(() => f.get(c).get(c1).geS(), () => {
    f.get(c).const(4).mul().set(off);
    a.forEach((r, u) => f.get(acc).get(off).add().load(16 * u).set(r));
    mv.forEach((r, u) => f.get(m).get(off).add().load(16 * u).set(r));
    f.get(x).get(off).add().set(px);
    f.get(y).get(off).add().set(py);
    f.get(count).set(k);
    f.loop(() => f.get(k).eqz(), () => {
      a.forEach((r, u) => {
        f.get(r);
        if (op === 'sum') f.get(px).load(16 * u);
        else if (op === 'dot') f.get(px).load(16 * u).get(py).load(16 * u).fmul();
        else f.get(py).load(16 * u).get(px).load(16 * u).get(mv[u]).fsub().fmul();
        f.fadd().set(r);
      });
      f.inc(px, () => f.get(xs)).inc(py, () => f.get(ys)).inc(k, -1);
    });
    a.forEach((r, u) => f.get(acc).get(off).add().get(r).store(16 * u));
    f.inc(c, 4 * unroll);
  });
  return f;
}

/** Loops `body(o)` over byte offsets o = 0, 16, .. < bytes (one f32x4 each). */
function lanes(f: Fn, bytes: number, body: (o: number) => void): void {
  const o = f.i32();
  f.const(0).set(o);
  f.loop(() => f.get(o).get(bytes).geS(), () => {
    body(o);
    f.inc(o, 16);
  });
}

/** y[r,c] = (x[r,c] - m[c]) * k[c] + b[c] over rows of `cols` floats (BatchNorm's forward). */
function affineKernel(): Fn {
  const f = new Fn('affine', 7);
  const [x, y, m, k, b, rows, cols] = [0, 1, 2, 3, 4, 5, 6];
  const rowBytes = f.i32();
  f.get(cols).const(4).mul().set(rowBytes);
  f.loop(() => f.get(rows).eqz(), () => {
    lanes(f, rowBytes, (o) => {
      f.get(y).get(o).add();
      f.get(x).get(o).add().load().get(m).get(o).add().load().fsub();
      f.get(k).get(o).add().load().fmul();
      f.get(b).get(o).add().load().fadd();
      f.store();
    });
    f.inc(x, () => f.get(rowBytes)).inc(y, () => f.get(rowBytes)).inc(rows, -1);
  });
  return f;
}

/** out[r,c] = a[r,c] * p[c] + b[r,c] * q[c] + t[c] (BatchNorm's input gradient). */
function affine2Kernel(): Fn {
  const f = new Fn('affine2', 8);
  const [a, b, p, q, t, out, rows, cols] = [0, 1, 2, 3, 4, 5, 6, 7];
  const rowBytes = f.i32();
  f.get(cols).const(4).mul().set(rowBytes);
  f.loop(() => f.get(rows).eqz(), () => {
    lanes(f, rowBytes, (o) => {
      f.get(out).get(o).add();
      f.get(a).get(o).add().load().get(p).get(o).add().load().fmul();
      f.get(b).get(o).add().load().get(q).get(o).add().load().fmul().fadd();
      f.get(t).get(o).add().load().fadd();
      f.store();
    });
    f.inc(a, () => f.get(rowBytes)).inc(b, () => f.get(rowBytes)).inc(out, () => f.get(rowBytes)).inc(rows, -1);
  });
  return f;
}

/**
 * PReLU backward in one pass: dx = x > 0 ? dy : dy * alpha[c], and acc[c] += x > 0 ? 0 : dy * x
 * (alpha's gradient, summed over the rows).
 */
function preluBackwardKernel(): Fn {
  const f = new Fn('preluBackward', 7);
  const [x, dy, alpha, dx, acc, rows, cols] = [0, 1, 2, 3, 4, 5, 6];
  const rowBytes = f.i32(), xv = f.v128(), dv = f.v128(), mask = f.v128();
  f.get(cols).const(4).mul().set(rowBytes);
  f.loop(() => f.get(rows).eqz(), () => {
    lanes(f, rowBytes, (o) => {
      f.get(x).get(o).add().load().set(xv);
      f.get(dy).get(o).add().load().set(dv);
      f.get(xv).zero().fgt().set(mask);
      f.get(dx).get(o).add();
      f.get(dv).get(dv).get(alpha).get(o).add().load().fmul().get(mask).bitselect();
      f.store();
      f.get(acc).get(o).add();
      f.get(acc).get(o).add().load();
      f.zero().get(dv).get(xv).fmul().get(mask).bitselect().fadd();
      f.store();
    });
    f.inc(x, () => f.get(rowBytes)).inc(dy, () => f.get(rowBytes)).inc(dx, () => f.get(rowBytes)).inc(rows, -1);
  });
  return f;
}

/**
 * dst = src^T for the top-left [rows, cols] block (both multiples of 4) of a row-major matrix
 * with row stride `srcStride` bytes, written with row stride `dstStride`: 4x4 tiles through
 * two rounds of shuffles.
 */
function transposeKernel(): Fn {
  const f = new Fn('transpose', 6);
  const [src, dst, rows, cols, srcStride, dstStride] = [0, 1, 2, 3, 4, 5];
  const c = f.i32(), ps = f.i32(), pd = f.i32();
  const [a, b, cc, d, t0, t1, t2, t3] = Array.from({ length: 8 }, () => f.v128());
  f.loop(() => f.get(rows).eqz(), () => {
    f.get(src).set(ps).get(dst).set(pd).const(0).set(c);
    f.loop(() => f.get(c).get(cols).geS(), () => {
      [a, b, cc, d].forEach((r, k) => {
        f.get(ps);
        if (k > 0) f.get(srcStride).const(k).mul().add();
        f.load().set(r);
      });
      f.get(a).get(b).shuffle([0, 4, 1, 5]).set(t0);
      f.get(a).get(b).shuffle([2, 6, 3, 7]).set(t1);
      f.get(cc).get(d).shuffle([0, 4, 1, 5]).set(t2);
      f.get(cc).get(d).shuffle([2, 6, 3, 7]).set(t3);
      const out: [number, number, [number, number, number, number]][] = [
        [t0, t2, [0, 1, 4, 5]], [t0, t2, [2, 3, 6, 7]], [t1, t3, [0, 1, 4, 5]], [t1, t3, [2, 3, 6, 7]],
      ];
      out.forEach(([u, v, lanes], k) => {
        f.get(pd);
        if (k > 0) f.get(dstStride).const(k).mul().add();
        f.get(u).get(v).shuffle(lanes).store();
      });
      f.inc(ps, 16).inc(pd, () => f.get(dstStride).const(4).mul()).inc(c, 4);
    });
    // Next 4 source rows: 4 rows down in src, 4 columns right in dst.
    f.inc(src, () => f.get(srcStride).const(4).mul()).inc(dst, 16).inc(rows, -4);
  });
  return f;
}

export interface Simd {
  /** out[r,c] = a[r,c] * p[c] + b[r,c] * q[c] + t[c]; cols a multiple of 4. */
  affine2(a: number, b: number, p: number, q: number, t: number, out: number, rows: number, cols: number): void;
  /** See transposeKernel. */
  transpose(src: number, dst: number, rows: number, cols: number, srcStride: number, dstStride: number): void;
  /** y[r,c] = (x[r,c] - m[c]) * k[c] + b[c]; cols a multiple of 4. */
  affine(x: number, y: number, m: number, k: number, b: number, rows: number, cols: number): void;
  /** See preluBackwardKernel; cols a multiple of 4. */
  preluBackward(x: number, dy: number, alpha: number, dx: number, acc: number, rows: number, cols: number): void;
  /** Runs the row kernel over channels [0, cols); cols must be a multiple of 4. */
  rows(op: RowOp, x: number, xs: number, y: number, ys: number, m: number, count: number, cols: number, acc: number): void;
}

const cache = new WeakMap<WebAssembly.Memory, Simd>();
let unsupported = false;

/** The kernels for this backend's heap, or null where WebAssembly SIMD is unavailable. */
export function simdFor(backend: BackendWasm): Simd | null {
  if (unsupported) return null;
  const memory = (backend.wasm as unknown as { asm?: { memory?: WebAssembly.Memory } }).asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  let s = cache.get(memory);
  if (s) return s;
  const ops: RowOp[] = ['sum', 'dot', 'dotc'];
  let k: Record<string, Kernel>;
  try {
    const fns = [...ops.flatMap((op) => [rowKernel(op, 4), rowKernel(op, 1)]), affineKernel(), affine2Kernel(), preluBackwardKernel(), transposeKernel()];
    k = compile(memory, fns) as unknown as Record<string, Kernel>;
  } catch {
    unsupported = true;
    return null;
  }
  const other = k as unknown as Record<string, (...a: number[]) => void>;
  s = {
    affine: other.affine!,
    affine2: other.affine2!,
    preluBackward: other.preluBackward!,
    transpose: other.transpose!,
    rows(op, x, xs, y, ys, m, count, cols, acc) {
      const wide = cols - (cols % 16);
      if (wide > 0) k[`${op}4`](x, xs, y, ys, m, count, 0, wide, acc);
      if (wide < cols) k[`${op}1`](x, xs, y, ys, m, count, wide, cols, acc);
    },
  };
  cache.set(memory, s);
  return s;
}

/**
 * Per-channel sums over `rows` rows of `cols` floats (cols % 4 == 0) of x (sum), x*y (dot) or
 * y*(x - m) (dotc; m a heap pointer to cols floats). Rows go in ~64 KB chunks whose float32
 * partial sums are folded into float64: cache-friendly, and accurate on long columns.
 */
export function channelSums(backend: BackendWasm, op: RowOp, x: number, y: number, m: number, rows: number, cols: number): Float64Array {
  const simd = simdFor(backend)!;
  const stride = cols * 4;
  const chunk = rows <= 64 ? Math.max(rows, 1) : Math.max(64, Math.floor(16384 / cols));
  const total = new Float64Array(cols);
  withScratch(backend, cols, (acc) => {
    for (let r = 0; r < rows; r += chunk) {
      heapF32(backend, acc, cols).fill(0);
      simd.rows(op, x + r * stride, stride, y + r * stride, stride, m, Math.min(chunk, rows - r), cols, acc);
      const part = heapF32(backend, acc, cols);
      for (let c = 0; c < cols; c++) total[c] += part[c]!;
    }
  });
  return total;
}

/** Heap scratch (uninitialised) for `floats` floats, freed after `body`. */
export function withScratch<T>(backend: BackendWasm, floats: number, body: (ptr: number) => T): T {
  const wasm = backend.wasm as unknown as { _malloc(n: number): number; _free(p: number): void; HEAPF32: Float32Array };
  // >>> 0: past 2 GB the heap pointer comes back as a negative int32.
  const ptr = wasm._malloc(floats * 4) >>> 0;
  try {
    return body(ptr);
  } finally {
    wasm._free(ptr);
  }
}

/** A fresh Float32Array view of the heap (views detach when the heap grows). */
export function heapF32(backend: BackendWasm, ptr: number, floats: number): Float32Array {
  return new Float32Array((backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32.buffer, ptr, floats);
}

export function offsetOf(backend: BackendWasm, t: { dataId: object }): number {
  return backend.getMemoryOffset(t.dataId) >>> 0;
}
