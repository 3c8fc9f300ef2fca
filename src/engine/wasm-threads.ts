// TensorFlow.js's WASM backend ships a threaded build (XNNPACK on a pthread pool), but switches it
// off under Node (tfjs issue #3830): its pthreads are web workers made from Blob URLs, which
// worker_threads cannot load. Three shims, active only while the backend initialises, make the
// same binary run its pthreads on worker_threads:
//   1. the global Worker that Emscripten's pthread pool constructs: ours evaluates the worker
//      script's text and, when the pool sends a worker the module to import, gives it the
//      module's file instead of a Blob;
//   2. the flag WASM_HAS_MULTITHREAD_SUPPORT, which tfjs hard-codes to false under Node;
//   3. os.cpus(), read by the backend's C++ to cap its pool at half the logical cores (it assumes
//      two hyper-threads per core): on a two-core machine that cap is one thread.
// The Emscripten pool starts 8 pthread workers (compiled in); XNNPACK uses `threads - 1` of them.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { perCore } from '../util/cores.js';
import { workerExecArgv } from '../util/worker.js';

const require = createRequire(import.meta.url);

function wasmOutDir(): string {
  // The package's "main" is dist/tf-backend-wasm.node.js; the Emscripten outputs sit in wasm-out/.
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..', 'wasm-out');
}

/** A pthread worker on worker_threads, speaking the web-worker protocol Emscripten expects. */
function pthreadWorkerClass(): typeof NodeWorker {
  const dir = wasmOutDir();
  const script = (require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string }).wasmWorkerContents;
  // The text is a template literal whose "\n" escapes became real newlines inside string
  // literals; tfjs re-escapes them the same way before making its Blob.
  const source = script.replace(/\n/g, '\\n');
  const moduleFile = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  return class PthreadWorker extends NodeWorker {
    constructor(_url: string | URL, opts?: WorkerOptions) {
      super(source, { ...opts, eval: true, execArgv: workerExecArgv() });
    }
    // Emscripten refs a worker while its pthread runs; XNNPACK's threads run for the life of the
    // backend, waiting for work, and must not keep the process alive after the main thread is done.
    override ref(): void {}
    override postMessage(msg: unknown, transfer?: readonly import('node:worker_threads').TransferListItem[]): void {
      const m = msg as { cmd?: string; urlOrBlob?: unknown } | null;
      // The pool hands each worker the module to import as a Blob; worker_threads imports files.
      super.postMessage(m?.cmd === 'load' && typeof m.urlOrBlob !== 'string' ? { ...m, urlOrBlob: moduleFile } : msg, transfer);
    }
  };
}

/**
 * Runs `init` (which must call tf.setBackend('wasm') for the first time in this thread) with the
 * threaded build on `threads` threads (the calling thread included). threads <= 1: unchanged.
 */
export async function withWasmThreads<T>(threads: number, setThreadsCount: (n: number) => void, init: () => Promise<T>): Promise<T> {
  if (threads <= 1) return init();
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  const cpus = os.cpus;
  const Pthread = pthreadWorkerClass();
  // Emscripten assigns worker_threads.Worker to the global first; the setter keeps ours.
  Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => Pthread, set: () => {} });
  const one = cpus()[0]!;
  os.cpus = () => Array.from({ length: threads * 2 }, () => one);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  try {
    const out = await init();
    if (out === false) undo(setThreadsCount);
    return out;
  } catch (err) {
    undo(setThreadsCount);
    throw err;
  } finally {
    os.cpus = cpus;
    if (saved) Object.defineProperty(globalThis, 'Worker', saved);
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
}

/** After a failed threaded start: the next attempt loads the single-threaded build. */
function undo(setThreadsCount: (n: number) => void): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
}

/** Threads for a setting: a number as is, 'auto' one per core (at most `max`). */
export function resolveThreads(setting: number | 'auto', max = 4): number {
  return setting === 'auto' ? perCore(max) : Math.max(1, setting);
}
