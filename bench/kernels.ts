// `npm run bench -- kernels [--batch 16] [--reps 5] [--only kernels|step] [--steps 3]`
// Per-kernel ms of the wasm training kernels on MobileFaceNet shapes (112 px), against the stock
// kernel they replace where one exists, then a whole MobileFaceNet training step (forward +
// backward) in img/s with the stock replacements and with ours.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { batchNormTraining, useStockReplacements } from '../src/engine/wasm-kernels/index.js';
import { BatchNorm, ForwardContext, ParamStore } from '../src/model/layers.js';
import { MobileFaceNet } from '../src/model/mobilefacenet.js';
import { modelConfig } from '../src/model/config.js';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : dflt;
}

/**
 * Median wall ms of `reps` calls after one warm-up (wasm kernels run synchronously). Each call
 * gets fresh copies of the inputs, as in training: XNNPACK caches packed weights per tensor.
 */
function time(reps: number, inputs: tf.Tensor[], fn: (xs: tf.Tensor[]) => tf.TensorContainer): number {
  const ms: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const xs = inputs.map((t) => tf.mul(t, 1));
    const t0 = performance.now();
    const out = fn(xs);
    if (i > 0) ms.push(performance.now() - t0);
    tf.dispose([out, ...xs]);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
}

interface Case {
  kernel: string;
  label: string;
  /** Builds the inputs once and returns the call to time on (fresh copies of) them. */
  make: () => { run: (xs: tf.Tensor[]) => tf.TensorContainer; inputs: tf.Tensor[] };
  /** A stock wasm kernel exists for this (then it is timed too). */
  stock: boolean;
}

const rnd = (shape: number[]) => tf.randomNormal(shape);
/** Runs kernel `name` with the timed inputs bound to `names` in order. */
const kernel = (name: string, names: string[], attrs: object) => (xs: tf.Tensor[]) =>
  tf.engine().runKernel(name, Object.fromEntries(names.map((n, i) => [n, xs[i]!])), attrs as tf.NamedAttrMap) as tf.TensorContainer;

function convCases(b: number): Case[] {
  const filterGrad = (label: string, x: number[], k: number, co: number, s: number): Case => ({
    kernel: 'Conv2DBackpropFilter', label, stock: false,
    make: () => {
      const xi = rnd([b, ...x]);
      const y = tf.tidy(() => tf.conv2d(xi as tf.Tensor4D, tf.zeros([k, k, x[2]!, co]) as tf.Tensor4D, s, 'same'));
      const dy = rnd(y.shape);
      y.dispose();
      return { inputs: [xi, dy], run: kernel('Conv2DBackpropFilter', ['x', 'dy'], { strides: [s, s], pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, x[2], co] }) };
    },
  });
  const inputGrad = (label: string, x: number[], k: number, co: number, s: number): Case => ({
    kernel: 'Conv2DBackpropInput', label, stock: true,
    make: () => {
      const w = rnd([k, k, x[2]!, co]);
      const dy = rnd([b, Math.ceil(x[0]! / s), Math.ceil(x[1]! / s), co]);
      return { inputs: [dy, w], run: kernel('Conv2DBackpropInput', ['dy', 'filter'], { strides: [s, s], pad: 'same', dataFormat: 'NHWC', inputShape: [b, ...x] }) };
    },
  });
  const dw = (name: string, label: string, x: number[], k: number, s: number, pad: 'same' | 'valid'): Case => ({
    kernel: name, label, stock: false,
    make: () => {
      const xi = rnd([b, ...x]);
      const w = rnd([k, k, x[2]!, 1]);
      const y = tf.depthwiseConv2d(xi as tf.Tensor4D, w as tf.Tensor4D, s, pad);
      const dy = rnd(y.shape);
      y.dispose();
      const attrs = { strides: [s, s], pad, dilations: [1, 1] };
      if (name === 'DepthwiseConv2dNativeBackpropFilter') {
        w.dispose();
        return { inputs: [xi, dy], run: kernel(name, ['x', 'dy'], { ...attrs, filterShape: [k, k, x[2], 1] }) };
      }
      xi.dispose();
      return { inputs: [dy, w], run: kernel(name, ['dy', 'filter'], { ...attrs, inputShape: [b, ...x] }) };
    },
  });
  const mm = (label: string, a: number[], bb: number[], ta: boolean, tb: boolean): Case => ({
    kernel: 'BatchMatMul', label, stock: true,
    make: () => {
      const [x, y] = [rnd(a), rnd(bb)];
      return { inputs: [x, y], run: kernel('BatchMatMul', ['a', 'b'], { transposeA: ta, transposeB: tb }) };
    },
  });
  const bnGrad = (label: string, shape: number[]): Case => ({
    kernel: 'FusedBatchNorm fwd+grad', label, stock: true,
    make: () => {
      const x = rnd(shape), c = shape[shape.length - 1]!;
      const [mean, variance, offset, scale] = [tf.zeros([c]), tf.ones([c]), tf.zeros([c]), tf.ones([c])];
      const r = rnd(shape);
      const f = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 1e-5), r)));
      return { inputs: [x, mean, variance, offset, scale, r], run: (xs) => f(xs.slice(0, 5)) };
    },
  });
  const reduce = (op: 'Sum' | 'Mean', label: string, shape: number[]): Case => ({
    kernel: op, label, stock: true,
    make: () => {
      const x = rnd(shape);
      return { inputs: [x], run: kernel(op, ['x'], { axis: [0, 1, 2], keepDims: false }) };
    },
  });
  return [
    filterGrad('stem 3x3/2 [112,112,3]->64', [112, 112, 3], 3, 64, 2),
    filterGrad('pw 64->128 [56,56,64]', [56, 56, 64], 1, 128, 1),
    filterGrad('pw 128->64 [28,28,128]', [28, 28, 128], 1, 64, 1),
    filterGrad('pw 256->128 [14,14,256]', [14, 14, 256], 1, 128, 1),
    inputGrad('pw 64->128 [56,56,64]', [56, 56, 64], 1, 128, 1),
    inputGrad('pw 128->64 [28,28,128]', [28, 28, 128], 1, 64, 1),
    inputGrad('pw 256->128 [14,14,256]', [14, 14, 256], 1, 128, 1),
    inputGrad('3x3/2 64->64 [56,56,64]', [56, 56, 64], 3, 64, 2),
    dw('DepthwiseConv2dNativeBackpropFilter', '3x3/1 [56,56,64]', [56, 56, 64], 3, 1, 'same'),
    dw('DepthwiseConv2dNativeBackpropFilter', '3x3/2 [56,56,128]', [56, 56, 128], 3, 2, 'same'),
    dw('DepthwiseConv2dNativeBackpropFilter', '3x3/1 [14,14,256]', [14, 14, 256], 3, 1, 'same'),
    dw('DepthwiseConv2dNativeBackpropFilter', 'GDC 7x7 valid [7,7,512]', [7, 7, 512], 7, 1, 'valid'),
    dw('DepthwiseConv2dNativeBackpropInput', '3x3/1 [56,56,64]', [56, 56, 64], 3, 1, 'same'),
    dw('DepthwiseConv2dNativeBackpropInput', '3x3/2 [56,56,128]', [56, 56, 128], 3, 2, 'same'),
    dw('DepthwiseConv2dNativeBackpropInput', '3x3/1 [14,14,256]', [14, 14, 256], 3, 1, 'same'),
    dw('DepthwiseConv2dNativeBackpropInput', 'GDC 7x7 valid [7,7,512]', [7, 7, 512], 7, 1, 'valid'),
    mm('x^T dy: [50176,64]^T [50176,128]', [b * 3136, 64], [b * 3136, 128], true, false),
    mm('dy W^T: [16,512] [1000,512]^T', [b, 512], [1000, 512], false, true),
    mm('x^T dy: [16,512]^T [16,1000]', [b, 512], [b, 1000], true, false),
    bnGrad('x [16,56,56,128], all inputs', [b, 56, 56, 128]),
    reduce('Sum', 'axes 0,1,2 of [16,56,56,64]', [b, 56, 56, 64]),
    reduce('Mean', 'axes 0,1,2 of [16,28,28,128]', [b, 28, 28, 128]),
  ];
}

async function kernels(b: number, reps: number): Promise<void> {
  console.log(`per-kernel wasm ms (median of ${reps}), batch ${b}`);
  console.log(`${'kernel'.padEnd(38)}${'shape'.padEnd(38)}${'ours'.padStart(9)}${'stock'.padStart(9)}`);
  for (const c of convCases(b)) {
    const { run, inputs } = c.make();
    useStockReplacements(false);
    const ours = time(reps, inputs, run);
    let stock = '-';
    if (c.stock) {
      useStockReplacements(true);
      stock = time(reps, inputs, run).toFixed(1);
      useStockReplacements(false);
    }
    console.log(`${c.kernel.padEnd(38)}${c.label.padEnd(38)}${ours.toFixed(1).padStart(9)}${stock.padStart(9)}`);
    tf.dispose(inputs);
  }
}

/** MobileFaceNet forward + backward with a normalised-softmax head (ArcFace-like, 1000 ids). */
async function step(b: number, steps: number): Promise<void> {
  const ps = new ParamStore(1);
  const net = new MobileFaceNet(ps, modelConfig({ embeddingSize: 128 }));
  const head = tf.variable(tf.randomNormal([128, 1000], 0, 0.05));
  const vars = [...ps.trainable.values(), head];
  const x = tf.randomNormal([b, 112, 112, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => i), 'int32'), 1000);
  const once = () => {
    const { value, grads } = tf.variableGrads(() => {
      const e = net.forward(x, { training: true, bnStats: new Map() });
      const en = tf.div(e, tf.norm(e, 2, 1, true));
      const wn = tf.div(head, tf.norm(head, 2, 0, true));
      return tf.losses.softmaxCrossEntropy(labels, tf.mul(tf.matMul(en, wn), 30)) as tf.Scalar;
    }, vars);
    tf.dispose([value, ...Object.values(grads)]);
  };
  console.log(`MobileFaceNet (${ps.countTrainable()} params) training step, batch ${b} at 112 px, 1 thread`);
  const modelForward = BatchNorm.prototype.forward;
  // The model's BatchNorm (tf.moments + tf.batchNorm) as the fused batchNormTraining would do it.
  const fusedForward = function (this: BatchNorm, x: tf.Tensor, ctx: ForwardContext) {
    if (!ctx.training) return modelForward.call(this, x, ctx);
    const { y, mean, variance } = batchNormTraining(x, this.gamma, this.beta, this.eps);
    ctx.bnStats?.set(this.name, [mean, variance]);
    return y;
  };
  // Stock last: it grows the wasm heap past 2 GB (which never shrinks).
  const configs = [
    ['all wasm-kernels', false, false],
    ['all wasm-kernels + batchNormTraining in BatchNorm', false, true],
    ['stock kernels + the 3 added gradient kernels', true, false],
  ] as const;
  const heapMB = () => ((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20).toFixed(0);
  for (const [label, stock, fusedBn] of configs) {
    useStockReplacements(stock);
    BatchNorm.prototype.forward = (fusedBn ? fusedForward : modelForward) as typeof modelForward;
    once();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) once();
    const ms = (performance.now() - t0) / steps;
    console.log(`  ${label}: ${ms.toFixed(0)} ms/step, ${((b * 1000) / ms).toFixed(2)} img/s (wasm heap ${heapMB()} MB)`);
  }
  BatchNorm.prototype.forward = modelForward;
  useStockReplacements(false);
  tf.dispose([x, labels, head]);
  ps.dispose();
}

export async function run(args: string[]): Promise<void> {
  const b = Number(arg(args, 'batch', '16'));
  const reps = Number(arg(args, 'reps', '5'));
  const only = arg(args, 'only', '');
  await initBackend({ prefer: 'wasm', quiet: true });
  if (only !== 'step') await kernels(b, reps);
  if (only !== 'kernels') await step(b, Number(arg(args, 'steps', '3')));
}
