// `npm run bench -- engine [--quick] [--backends wasm,cpu] [--variants ...] [--sizes 112,224] [--workers 1,2]`
// Forward img/s (batch 1 and 32) and training img/s (forward + backward + Adam) per backend,
// variant, input size and worker count. Synthetic pixels: speed does not depend on content.
import type { BenchSummary } from './summary.js';
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '../src/engine/backend.js';
import { FaceNet, TrainableFaceNet } from '../src/model/facenet.js';
import { VARIANTS, type Variant } from '../src/model/config.js';
import { createGradientEngine } from '../src/train/replicas.js';
import { readFlat } from '../src/train/flat.js';
import { Adam } from '../src/train/adam.js';
import { microBatches } from '../src/train/trainer.js';

function images(n: number, size: number): Uint8Array {
  const a = new Uint8Array(n * size * size * 3);
  for (let i = 0; i < a.length; i++) a[i] = (i * 2654435761) >>> 24;
  return a;
}

async function forwardRate(net: FaceNet, batch: number, seconds: number): Promise<number> {
  const s = net.config.inputSize;
  const x = tf.tensor4d(images(batch, s), [batch, s, s, 3], 'int32');
  const once = async () => {
    const e = net.embed(x as tf.Tensor4D);
    await e.data();
    e.dispose();
  };
  await once(); // warm-up (kernel setup, allocation)
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000 || n < 2) {
    await once();
    n++;
  }
  x.dispose();
  return (n * batch) / ((performance.now() - t0) / 1000);
}

async function trainRate(variant: Variant, size: number, workers: number, backend: BackendName, batch: number, steps: number): Promise<number> {
  const tm = new TrainableFaceNet(FaceNet.create({ variant, inputSize: size }), 200);
  const engine = await createGradientEngine(tm, workers, backend);
  const params = readFlat(tm.trainableVariables());
  const adam = new Adam(params.length, { lr: 1e-3 });
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 200);
  const micro = microBatches(images(batch, size), labels, size > 112 ? 8 : 16, size);
  const step = async () => {
    const sums = await engine.compute(params, micro);
    for (let i = 0; i < sums.grads.length; i++) sums.grads[i]! /= sums.count;
    adam.update(params, sums.grads);
  };
  await step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const rate = (steps * batch) / ((performance.now() - t0) / 1000);
  await engine.close();
  tm.dispose();
  return rate;
}

export async function run(argv: string[]): Promise<BenchSummary> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      backends: { type: 'string', default: 'wasm,cpu' },
      variants: { type: 'string', default: VARIANTS.join(',') },
      sizes: { type: 'string', default: '112,224' },
      workers: { type: 'string', default: '1,2' },
    },
  });
  const seconds = values.quick ? 2 : 5;
  const rows: Record<string, string | number>[] = [];
  for (const b of values.backends.split(',') as BackendName[]) {
    let choice;
    try {
      choice = await initBackendFresh(b);
    } catch (err) {
      console.log(`${b}: unavailable (${(err as Error).message})`);
      continue;
    }
    for (const variant of values.variants.split(',') as Variant[]) {
      for (const size of values.sizes.split(',').map(Number)) {
        const net = FaceNet.create({ variant, inputSize: size });
        const slow = b === 'cpu';
        const f1 = await forwardRate(net, 1, seconds);
        // Batch 32 at 224 px overflows the 4 GiB WASM heap for MobileFaceNet; 16 there.
        const big = size > 112 ? 16 : 32;
        const f32 = slow ? NaN : await forwardRate(net, big, seconds);
        net.dispose();
        const row: Record<string, string | number> = { backend: choice, variant, size, 'fwd b1 img/s': f1.toFixed(1), 'fwd batch img/s': Number.isNaN(f32) ? '-' : `${f32.toFixed(1)} (b${big})` };
        for (const w of values.workers.split(',').map(Number)) {
          // The pure-JS CPU backend trains at ~0.02 img/s: not worth minutes of bench time.
          row[`train ${w}w img/s`] = slow ? '-' : (await trainRate(variant, size, w, b, size > 112 ? 16 : 32, values.quick ? 2 : 4)).toFixed(1);
        }
        rows.push(row);
        console.error(JSON.stringify(row));
      }
    }
  }
  console.table(rows);
  // The training speed the README quotes: MobileFaceNet at 112 px on WASM, every worker count measured.
  const mfn = rows.find((r) => r.backend === 'wasm' && r.variant === 'mobilefacenet' && r.size === 112);
  const cmd = `npm run bench -- engine ${argv.join(' ')}`.trim();
  return {
    figures: mfn
      ? Object.entries(mfn)
          .filter(([k]) => k.startsWith('train '))
          .map(([k, v]) => ({ what: `training img/s, MobileFaceNet 112 px, WASM, ${k.replace(/^train (\d+)w img\/s$/, '$1 worker(s)')}`, ours: String(v), command: cmd }))
      : [],
  };
}

/** Switches backend inside one bench process (the first init also loads gradients/kernels). */
async function initBackendFresh(b: BackendName): Promise<string> {
  await initBackend({ quiet: true, prefer: 'wasm' }).catch(() => undefined);
  if (b === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  if (b === 'gpu' || b === 'node') await import(b === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
  const tfName = b === 'gpu' || b === 'node' ? 'tensorflow' : b;
  if (!(await tf.setBackend(tfName))) throw new Error(`backend ${b} failed to start`);
  return b;
}
