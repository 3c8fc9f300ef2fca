// Backend-level building blocks for composite wasm kernels: calls wasm kernel functions
// directly (no engine, no tape) and frees every intermediate when the composite finishes.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TI = tf.TensorInfo;
type KernelFn = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => TI | TI[];

/** Top, bottom, left, right; may be negative (then the input is cropped instead). */
export type Pads = [number, number, number, number];

// The stock kernels as registered by tfjs-backend-wasm, captured before any of ours replace them.
const stock = new Map<string, KernelFn>();

export function captureStock(name: string): void {
  if (stock.has(name)) return;
  const cfg = tf.getKernel(name, 'wasm');
  if (!cfg) throw new Error(`wasm kernel ${name} is not registered`);
  stock.set(name, cfg.kernelFunc as unknown as KernelFn);
}

export function stockKernel(name: string): KernelFn {
  captureStock(name);
  return stock.get(name)!;
}

/**
 * A scratch scope: every tensor made through it is freed by `done()` except the one returned.
 * Use as `const s = new Scratch(backend); try { ...; return s.keep(out); } finally { s.done(); }`.
 */
export class Scratch {
  private temps: TI[] = [];
  constructor(readonly backend: BackendWasm) {}

  /** Runs the wasm kernel currently registered under `name` (ours where we replaced it). */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TI {
    const fn = tf.getKernel(name, 'wasm').kernelFunc as unknown as KernelFn;
    const out = fn({ inputs, backend: this.backend, attrs }) as TI;
    this.temps.push(out);
    return out;
  }

  /** Runs tfjs-backend-wasm's own kernel `name`. */
  runStock(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TI {
    const out = stockKernel(name)({ inputs, backend: this.backend, attrs }) as TI;
    this.temps.push(out);
    return out;
  }

  /** A new, uninitialised float32 tensor freed by done() unless kept. */
  output(shape: number[]): TI {
    const out = this.backend.makeOutput(shape, 'float32');
    this.temps.push(out);
    return out;
  }

  /** A view with another shape: shares the buffer, costs a reference count, no copy. */
  reshape(x: TI, shape: number[]): TI {
    this.backend.incRef(x.dataId);
    const out = { dataId: x.dataId, shape, dtype: x.dtype };
    this.temps.push(out);
    return out;
  }

  transpose(x: TI, perm: number[]): TI {
    return this.run('Transpose', { x }, { perm });
  }

  reverse(x: TI, dims: number[]): TI {
    return this.run('Reverse', { x }, { dims });
  }

  pad(x: TI, paddings: [number, number][]): TI {
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: TI, begin: number[], size: number[]): TI {
    return this.run('Slice', { x }, { begin, size });
  }

  sum(x: TI, axis: number[]): TI {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  /** 2-D a[M,K] @ b[K,N] with no transposes: the only case wasm hands to XNNPACK's GEMM. */
  matMul(a: TI, b: TI): TI {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /**
   * Stride-1 NHWC convolution with explicit pads; negative pads crop the input first, since
   * XNNPACK only pads. `dilations` spreads the filter taps.
   */
  conv(x: TI, filter: TI, pads: Pads, dilations: [number, number], depthwise: boolean): TI {
    const [t, b, l, r] = pads;
    if (t < 0 || b < 0 || l < 0 || r < 0) {
      const [n, h, w, c] = x.shape;
      const top = Math.max(0, -t), left = Math.max(0, -l);
      x = this.slice(x, [0, top, left, 0], [n, h - top - Math.max(0, -b), w - left - Math.max(0, -r), c]);
    }
    const pad = [[0, 0], [Math.max(0, t), Math.max(0, b)], [Math.max(0, l), Math.max(0, r)], [0, 0]];
    const attrs = { strides: [1, 1], pad, dilations, dimRoundingMode: undefined, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    return this.run(depthwise ? 'DepthwiseConv2dNative' : 'Conv2D', { x, filter }, attrs);
  }

  /**
   * Spreads x [N,H,W,C] by the strides with zeros in between, as the gradient of a strided
   * conv needs. Returns [N, H*sh, W*sw, C]: the trailing (s-1) zero rows/cols are left on, the
   * caller subtracts them from its bottom/right padding.
   */
  dilate(x: TI, sh: number, sw: number): TI {
    if (sh === 1 && sw === 1) return x;
    const [n, h, w, c] = x.shape;
    const spread = this.pad(this.reshape(x, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    return this.reshape(spread, [n, h * sh, w * sw, c]);
  }

  /** Hands `out` to the caller: it survives done(). */
  keep(out: TI): TI {
    const i = this.temps.lastIndexOf(out);
    if (i >= 0) this.temps.splice(i, 1);
    else this.backend.incRef(out.dataId); // an input passed straight through
    return out;
  }

  done(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps = [];
  }
}

/** Runs `body` with a Scratch whose intermediates are freed afterwards, keeping the result. */
export function composite(backend: unknown, body: (s: Scratch) => TI): TI {
  const s = new Scratch(backend as BackendWasm);
  try {
    return s.keep(body(s));
  } finally {
    s.done();
  }
}
