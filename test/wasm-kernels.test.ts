// The wasm training kernels against the CPU backend's reference gradients.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { registerAllGradients } from '../src/engine/tfjs-core-extras.js';
import { batchNormTraining } from '../src/engine/wasm-kernels/index.js';

// tfjs-core's own BatchNorm gradient, captured before ours replaces it.
let coreBatchNormGrad: tf.GradConfig;

before(async () => {
  await registerAllGradients();
  coreBatchNormGrad = tf.getGradient(tf.FusedBatchNorm);
  await initBackend({ prefer: 'wasm', quiet: true });
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('wasm');
});

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

type Spec = { shape: number[]; seed: number };

/**
 * Gradients of sum(f(inputs) * r) with respect to every input, on one backend, as plain arrays
 * (r random, so every output element matters with its own weight).
 */
async function gradsOn(backend: string, specs: Spec[], f: (...xs: tf.Tensor[]) => tf.Tensor): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const xs = specs.map((s) => tf.tensor(values(tf.util.sizeFromShape(s.shape), s.seed), s.shape));
  const y = f(...xs);
  const r = tf.tensor(values(y.size, 999), y.shape);
  const gs = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs);
  // The forward values last, so callers index gradients as inputs.
  const out = [...gs, y].map((g) => g.dataSync() as Float32Array);
  tf.dispose([...xs, y, r, ...gs]);
  await tf.setBackend('wasm');
  return out;
}

/** max |a - b| relative to max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

async function compare(label: string, specs: Spec[], f: (...xs: tf.Tensor[]) => tf.Tensor): Promise<void> {
  const ref = await gradsOn('cpu', specs, f);
  const got = await gradsOn('wasm', specs, f);
  ref.forEach((r, i) => {
    const e = relErr(got[i], r);
    const what = i < specs.length ? `gradient ${i}` : 'forward value';
    assert.ok(e <= 1e-4, `${label}: ${what} relative error ${e.toExponential(2)}`);
  });
}

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
const PADS: Pad[] = ['same', 'valid'];

test('conv2d gradients match CPU (1x1 and 3x3, odd/even, stride 1/2, same/valid)', async () => {
  for (const size of [7, 8]) for (const stride of [1, 2]) for (const pad of PADS) for (const k of [1, 3]) {
    await compare(`conv2d k${k} ${size}px s${stride} ${pad}`,
      [{ shape: [2, size, size, 3], seed: 1 }, { shape: [k, k, 3, 4], seed: 2 }],
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad));
  }
});

test('conv2d gradients match CPU for a 2x2 kernel, wide 3x3 (no im2col), non-square input and explicit pads', async () => {
  await compare('conv2d k2 9x6 s2 same', [{ shape: [2, 9, 6, 2], seed: 3 }, { shape: [2, 2, 2, 3], seed: 4 }],
    (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'));
  // 3x3x8 = 72 > 64 patch columns: the transposed-convolution path rather than im2col.
  for (const [stride, pad] of [[2, 'same'], [1, 'valid'], [2, 'valid']] as const) {
    await compare(`conv2d k3 c8 s${stride} ${pad}`, [{ shape: [2, 9, 8, 8], seed: 17 }, { shape: [3, 3, 8, 5], seed: 18 }],
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad));
  }
  const explicit: Pad = [[0, 0], [1, 2], [2, 0], [0, 0]];
  await compare('conv2d k3 explicit pads', [{ shape: [1, 8, 7, 2], seed: 5 }, { shape: [3, 3, 2, 3], seed: 6 }],
    (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 1], explicit));
});

test('depthwise conv gradients match CPU (multiplier 1 and 2, odd/even, stride 1/2, same/valid)', async () => {
  // 8 channels take the SIMD filter-gradient path, 3 the XNNPACK composite.
  for (const size of [7, 8]) for (const stride of [1, 2]) for (const pad of PADS) for (const [ch, m] of [[8, 1], [3, 1], [3, 2]]) {
    await compare(`depthwise c${ch} m${m} ${size}px s${stride} ${pad}`,
      [{ shape: [2, size, size, ch], seed: 7 }, { shape: [3, 3, ch, m], seed: 8 }],
      (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad));
  }
  // A global depthwise conv (the kernel covers the whole map), as MobileFaceNet's GDC.
  for (const m of [1, 2]) {
    await compare(`depthwise 7x7 global valid m${m}`, [{ shape: [2, 7, 7, 4], seed: 9 }, { shape: [7, 7, 4, m], seed: 10 }],
      (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'));
  }
});

test('matMul with every transpose combination, and its gradient, match CPU', async () => {
  const [m, k, n] = [5, 7, 3];
  for (const ta of [false, true]) for (const tb of [false, true]) {
    const aShape = ta ? [k, m] : [m, k], bShape = tb ? [n, k] : [k, n];
    await compare(`matMul ta=${ta} tb=${tb}`, [{ shape: aShape, seed: 11 }, { shape: bShape, seed: 12 }],
      (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb));
    // Rank 3 with batch 1 takes the same fast path.
    await compare(`matMul 3d ta=${ta} tb=${tb}`, [{ shape: [1, ...aShape], seed: 13 }, { shape: [1, ...bShape], seed: 14 }],
      (a, b) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb));
  }
  await compare('batched matMul (stock path)', [{ shape: [2, k, m], seed: 15 }, { shape: [2, n, k], seed: 16 }],
    (a, b) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, true, true));
});

test('Sum and Mean over leading axes match CPU (SIMD and scalar widths, keepDims)', async () => {
  const cases: [number[], number[], boolean][] = [
    [[3, 5, 7, 16], [0, 1, 2], false], [[3, 5, 7, 6], [0, 1, 2], true], [[600, 24], [0], false],
    [[2, 3, 4, 5], [0, 1], false], [[4, 6], [1], false], [[2, 3, 4], [0, 2], true],
  ];
  for (const [shape, axes, keepDims] of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(tf.util.sizeFromShape(shape), 50), shape);
      const s = tf.sum(x, axes, keepDims), m = tf.mean(x, axes, keepDims);
      const out = [s.shape, m.shape, s.dataSync() as Float32Array, m.dataSync() as Float32Array] as const;
      tf.dispose([x, s, m]);
      await tf.setBackend('wasm');
      return out;
    };
    const [ref, got] = [await run('cpu'), await run('wasm')];
    assert.deepEqual(got[0], ref[0]);
    assert.deepEqual(got[1], ref[1]);
    assert.ok(relErr(got[2], ref[2]) <= 1e-5, `sum ${shape} over ${axes}`);
    assert.ok(relErr(got[3], ref[3]) <= 1e-5, `mean ${shape} over ${axes}`);
  }
});

test('PReLU, BatchNorm, moments and reductions: values and gradients match CPU (fused and fallback widths)', async () => {
  for (const ch of [8, 3]) {
    const x = { shape: [2, 5, 6, ch], seed: 60 };
    await compare(`prelu c${ch}`, [x, { shape: [ch], seed: 61 }], (a, al) => tf.prelu(a, al));
    await compare(`prelu c${ch} alpha [1,1,c]`, [x, { shape: [1, 1, ch], seed: 62 }], (a, al) => tf.prelu(a, al));
    await compare(`moments + batchNorm c${ch}`, [x, { shape: [ch], seed: 63 }, { shape: [ch], seed: 64 }], (a, o, s) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.batchNorm(a, mean, variance, o, s, 1e-3);
    });
    await compare(`sum/mean grads c${ch}`, [x], (a) => tf.add(tf.sum(a, [0, 1, 2]), tf.mean(tf.square(a), [0, 1, 2], true)));
  }
  await compare('batchNorm 2-D x', [{ shape: [12, 8], seed: 65 }, { shape: [8], seed: 66 }], (a, s) =>
    tf.batchNorm(a, tf.mean(a, 0), tf.add(tf.abs(tf.mean(a, 0)), 0.5), tf.mul(s, 0.5), s, 1e-3));
});

test('Transpose (block swaps by SIMD tiles, others stock) matches CPU, ragged sizes included', async () => {
  const cases: [number[], number[]][] = [
    [[8, 12], [1, 0]], [[7, 10], [1, 0]], [[5, 3], [1, 0]], [[2, 3, 5, 8], [3, 0, 1, 2]],
    [[2, 3, 5, 6], [2, 3, 0, 1]], [[2, 3, 5, 8], [1, 2, 3, 0]], [[2, 3, 5, 8], [0, 2, 1, 3]],
  ];
  for (const [shape, perm] of cases) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(values(tf.util.sizeFromShape(shape), 70), shape);
      const y = tf.transpose(x, perm);
      const out = [y.shape, y.dataSync() as Float32Array] as const;
      tf.dispose([x, y]);
      await tf.setBackend('wasm');
      return out;
    };
    const [ref, got] = [await run('cpu'), await run('wasm')];
    assert.deepEqual(got[0], ref[0]);
    assert.deepEqual(got[1], ref[1], `transpose ${shape} by ${perm}`);
  }
});

test('batchNormTraining (fused on wasm) matches tf.moments + tf.batchNorm on CPU, stats and their gradients included', async () => {
  for (const [shape, seed] of [[[4, 5, 6, 8], 80], [[2, 3, 3, 6], 81], [[10, 12], 82]] as [number[], number][]) {
    const c = shape[shape.length - 1]!;
    const specs = [{ shape, seed }, { shape: [c], seed: seed + 1 }, { shape: [c], seed: seed + 2 }];
    const r = [tf.tensor(values(c, 5)), tf.tensor(values(c, 6))];
    // The loss also reads the statistics, so their gradient paths are checked too.
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { y, mean, variance } = batchNormTraining(x, g, b, 1e-3);
      return tf.add(y, tf.add(tf.sum(tf.mul(mean, r[0]!)), tf.sum(tf.mul(variance, r[1]!))));
    };
    await tf.setBackend('cpu');
    const rc = r.map((t) => tf.tensor(t.dataSync(), t.shape));
    const fc = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, x.shape.map((_, i) => i).slice(0, -1));
      const y = tf.batchNorm(x, mean, variance, b, g, 1e-3);
      return tf.add(y, tf.add(tf.sum(tf.mul(mean, rc[0]!)), tf.sum(tf.mul(variance, rc[1]!))));
    };
    const ref = await gradsOn('cpu', specs, fc);
    const got = await gradsOn('wasm', specs, f);
    ref.forEach((want, i) => assert.ok(relErr(got[i]!, want) <= 1e-4, `batchNormTraining ${shape}: output ${i} rel err ${relErr(got[i]!, want)}`));
    tf.dispose([...r, ...rc]);
  }
});

/** BatchNorm written with elementary ops: an independent reference for its gradient. */
function batchNormByOps(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-3))), scale), offset);
}

const bn = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor) =>
  tf.batchNorm(x, mean, tf.abs(variance), offset, scale, 1e-3);
const bnRef = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor) =>
  batchNormByOps(x, mean, tf.abs(variance), offset, scale);

test('BatchNorm gradient (all five inputs) matches elementary ops, on CPU and wasm, for 4-D and 2-D x', async () => {
  for (const xShape of [[3, 5, 4, 6], [8, 6]]) {
    const specs = [xShape, [6], [6], [6], [6]].map((shape, i) => ({ shape, seed: 20 + i }));
    const ref = await gradsOn('cpu', specs, bnRef);
    for (const backend of ['cpu', 'wasm']) {
      const got = await gradsOn(backend, specs, bn);
      ref.forEach((r, i) => {
        const e = relErr(got[i], r);
        assert.ok(e <= 1e-4, `batchNorm ${xShape} on ${backend}: gradient ${i} relative error ${e.toExponential(2)}`);
      });
    }
  }
});

test("BatchNorm gradient matches tfjs-core's original (4-D x, on CPU)", async () => {
  const ours = tf.getGradient(tf.FusedBatchNorm);
  assert.notEqual(ours, coreBatchNormGrad, 'our gradient is registered');
  const specs = [[2, 5, 3, 4], [4], [4], [4], [4]].map((shape, i) => ({ shape, seed: 30 + i }));
  const got = await gradsOn('cpu', specs, bn);
  tf.registerGradient(coreBatchNormGrad);
  try {
    const ref = await gradsOn('cpu', specs, bn);
    ref.forEach((r, i) => assert.ok(relErr(got[i], r) <= 1e-4, `input ${i}`));
  } finally {
    tf.registerGradient(ours);
  }
});

test('no leaks: tensors and wasm buffers are the same before and after a gradient step', async () => {
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const x = tf.tensor(values(2 * 9 * 9 * 4, 40), [2, 9, 9, 4]) as tf.Tensor4D;
  const w = tf.tensor(values(3 * 3 * 4 * 8, 41), [3, 3, 4, 8]) as tf.Tensor4D;
  const dw = tf.tensor(values(3 * 3 * 8 * 2, 42), [3, 3, 8, 2]) as tf.Tensor4D;
  const pw = tf.tensor(values(16 * 5, 43), [1, 1, 16, 5]) as tf.Tensor4D;
  const gamma = tf.ones([8]), beta = tf.zeros([8]);
  const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
    let h = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    h = tf.prelu(tf.batchNorm(h, mean, variance, beta, gamma, 1e-5), tf.mul(gamma, 0.25)) as tf.Tensor4D;
    h = batchNormTraining(h, gamma, beta, 1e-5).y as tf.Tensor4D; // the fused op (8 channels)
    h = tf.depthwiseConv2d(h, c as tf.Tensor4D, 2, 'same');
    h = tf.conv2d(h, d as tf.Tensor4D, 1, 'valid');
    return tf.sum(tf.matMul(tf.reshape(h, [-1, 5]), tf.reshape(h, [-1, 5]), true, false));
  };
  const step = () => tf.dispose(tf.grads(loss)([x, w, dw, pw]));
  step(); // warm-up: first-use allocations are not leaks
  const tensors = tf.memory().numTensors, buffers = backend.numDataIds();
  step();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(backend.numDataIds(), buffers);
  tf.dispose([x, w, dw, pw, gamma, beta]);
});
