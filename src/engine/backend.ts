// Picks the TensorFlow.js backend once per process (or worker thread).
// Order: CUDA (tfjs-node-gpu) > native CPU (tfjs-node) > WASM (SIMD) > pure-JS CPU.
// The native packages are optionalDependencies: their install downloads libtensorflow,
// which fails on machines without that network, so we import them guardedly and fall back.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { registerAllGradients } from './tfjs-core-extras.js';
import { withWasmThreads } from './wasm-threads.js';

export type BackendName = 'gpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['gpu', 'node', 'wasm', 'cpu'];

export interface BackendChoice {
  name: BackendName;
  /** Name TF.js registered the backend under ('tensorflow', 'wasm', 'cpu'). */
  tfName: string;
  /** Why each earlier choice was skipped. */
  skipped: { name: BackendName; reason: string }[];
  /** Threads one kernel may use: the WASM backend's XNNPACK pool (1: this thread only); 0 where the backend decides (native). */
  threads: number;
}

const require = createRequire(import.meta.url);
let chosen: Promise<BackendChoice> | undefined;
let wasmThreadsInUse = 1;

/** Directory of the WASM binaries inside node_modules, with a trailing slash. */
export function wasmDistDir(): string {
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  // main resolves to .../dist/tf-backend-wasm.node.js (or similar) inside dist/
  return path.dirname(main) + path.sep;
}

function parseOverride(value: string | undefined): BackendName | undefined {
  if (!value) return undefined;
  const v = value.trim().toLowerCase();
  if ((BACKEND_ORDER as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(`FACEGATE_BACKEND must be one of ${BACKEND_ORDER.join('|')}, got "${value}"`);
}

async function tryBackend(name: BackendName, wasmThreads: number): Promise<string> {
  switch (name) {
    case 'gpu':
    case 'node': {
      const pkg = name === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      await import(pkg);
      if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but its backend failed to start`);
      return 'tensorflow';
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDistDir());
      let ok = await withWasmThreads(wasmThreads, wasm.setThreadsCount, () => tf.setBackend('wasm')).catch((err: Error) => {
        if (wasmThreads <= 1) throw err;
        return false;
      });
      // The threaded build could not start: WASM on this thread alone still beats the CPU backend.
      if (!ok && wasmThreads > 1) {
        console.error(`[facegate] WASM with ${wasmThreads} threads failed to start; using one thread`);
        ok = await tf.setBackend('wasm');
      }
      if (!ok) throw new Error('WASM backend failed to initialise');
      wasmThreadsInUse = wasm.getThreadsCount();
      const { registerWasmTrainingKernels } = await import('./wasm-kernels/index.js');
      registerWasmTrainingKernels();
      return 'wasm';
    }
    case 'cpu': {
      await import('@tensorflow/tfjs-backend-cpu');
      if (!(await tf.setBackend('cpu'))) throw new Error('CPU backend failed to initialise');
      return 'cpu';
    }
  }
}

function shortReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Cannot find (module|package)/.test(msg)) return 'package not installed';
  return msg.split('\n')[0]!.slice(0, 160);
}

/**
 * Initialise the backend. `FACEGATE_BACKEND=gpu|node|wasm|cpu` (or `prefer`) forces one;
 * a forced backend that fails is an error rather than a silent fallback. `wasmThreads` (default
 * 1): threads of the WASM backend's kernels (wasm-threads.ts), for a process whose inference runs
 * one request at a time on this thread; worker replicas (training, inference pools) keep 1, as
 * several multi-threaded replicas on the same cores slow each other down. The first call decides.
 */
export function initBackend(opts: { prefer?: BackendName; quiet?: boolean; wasmThreads?: number } = {}): Promise<BackendChoice> {
  chosen ??= (async () => {
    const forced = opts.prefer ?? parseOverride(process.env.FACEGATE_BACKEND);
    const candidates = forced ? [forced] : BACKEND_ORDER;
    const skipped: BackendChoice['skipped'] = [];
    await registerAllGradients();
    for (const name of candidates) {
      try {
        const tfName = await tryBackend(name, Math.max(1, Math.floor(opts.wasmThreads ?? 1)));
        await tf.ready();
        const choice = { name, tfName, skipped, threads: name === 'wasm' ? wasmThreadsInUse : name === 'cpu' ? 1 : 0 };
        if (!opts.quiet && !process.env.FACEGATE_QUIET) logChoice(choice, forced !== undefined);
        return choice;
      } catch (err) {
        if (forced) throw new Error(`FACEGATE_BACKEND=${forced} requested but unavailable: ${shortReason(err)}`);
        skipped.push({ name, reason: shortReason(err) });
      }
    }
    throw new Error('no TensorFlow.js backend could be initialised');
  })();
  return chosen;
}

export function describeChoice(c: BackendChoice): string {
  const skips = c.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  const threads = c.threads > 1 ? `, ${c.threads} threads` : '';
  return `backend ${c.name} (tfjs '${c.tfName}'${threads})` + (skips ? `; skipped ${skips}` : '');
}

function logChoice(c: BackendChoice, forced: boolean): void {
  console.error(`[facegate] ${describeChoice(c)}${forced ? ' [forced by FACEGATE_BACKEND]' : ''}`);
}
