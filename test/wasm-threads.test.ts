// The WASM backend's threaded build under Node (src/engine/wasm-threads.ts, initBackend's
// wasmThreads): with the shipped model and the face detector on real photos from
// ../shared/data/small/bbt, 2 threads must report 2 threads, give the same embeddings (and
// landmarks) as 1 thread, leak no tensors, print no errors, and let the process exit by itself
// (XNNPACK's pthread workers live as long as the backend and must not hold the event loop open).
// initBackend decides once per process, so each thread count runs in its own child process
// (test/fixtures/wasm-threads-child.ts). Skipped, never faked, without the model or the photos.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildReport } from './fixtures/wasm-threads-child.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BBT = fileURLToPath(new URL('../../shared/data/small/bbt/', import.meta.url));
const SHIPPED = fileURLToPath(new URL('../models/facegate-default/', import.meta.url));
/** Photos with one clear face each (ones service-recognition.test.ts enrols and probes). */
const PHOTOS = ['amy/amy2', 'amy/amy5', 'howard/howard1', 'howard/howard4', 'raj/raj1', 'raj/raj4'];
const CHILD = fileURLToPath(new URL('./fixtures/wasm-threads-child.ts', import.meta.url));
/** The child is killed after this long; a child that had to be killed fails the test. */
const KILL_AFTER_MS = 60_000;

const skip = !existsSync(path.join(SHIPPED, 'model.json'))
  ? 'no shipped model: models/facegate-default/model.json is missing'
  : !PHOTOS.every((p) => existsSync(path.join(BBT, `${p}.png`)))
    ? `needs the photos of ../shared/data/small/bbt (${BBT})`
    : false;

interface Run {
  report: ChildReport;
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  stderr: string;
  /** From spawn to exit. */
  wallMs: number;
  /** From the report arriving on stdout to the process's exit: what anything left alive costs. */
  exitLagMs: number;
}

function runChild(threads: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, String(threads)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let reportAt: number | undefined;
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, KILL_AFTER_MS);
    proc.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (reportAt === undefined && stdout.includes('\n')) reportAt = performance.now();
    });
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const end = performance.now();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (!line) {
        reject(new Error(`child (${threads} threads) printed no report: code ${code}, signal ${signal}${killed ? ' (killed)' : ''}\nstdout: ${stdout}\nstderr: ${stderr}`));
        return;
      }
      resolve({ report: JSON.parse(line) as ChildReport, code, signal, killed, stderr, wallMs: end - t0, exitLagMs: end - (reportAt ?? end) });
    });
  });
}

// One child per thread count, shared by the tests below (run one after the other so neither
// slows the other down on a small machine).
const runs = new Map<number, Promise<Run>>();
function run(threads: number): Promise<Run> {
  let r = runs.get(threads);
  if (!r) {
    const prev = [...runs.values()].at(-1);
    r = (prev ? prev.catch(() => undefined) : Promise.resolve()).then(() => runChild(threads));
    runs.set(threads, r);
  }
  return r;
}

/** Largest absolute difference between two equally shaped lists of vectors. */
function maxAbsDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length);
  let max = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i]!.length);
    row.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i]![j]!))));
  });
  return max;
}

const timings = (r: Run) =>
  `wall ${r.wallMs.toFixed(0)} ms, exit ${r.exitLagMs.toFixed(0)} ms after the report; ` +
  Object.entries(r.report.ms).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ') + ' ms';

test('initBackend({ wasmThreads: 2 }) runs the WASM backend on 2 threads and says so; 1 stays 1', { skip, timeout: 150_000 }, async (t) => {
  const [one, two] = [await run(1), await run(2)];
  assert.equal(one.report.backend, 'wasm');
  assert.equal(one.report.threads, 1);
  assert.doesNotMatch(one.report.description, /threads/, one.report.description);
  assert.equal(two.report.backend, 'wasm');
  assert.equal(two.report.threads, 2);
  assert.match(two.report.description, /\b2 threads\b/, two.report.description);
  // The pthread pool really exists: its workers are OS threads of the 2-thread process (the
  // Emscripten pool starts 8; measured 13 OS threads with 1 thread, 21 with 2).
  if (one.report.osThreads !== null && two.report.osThreads !== null) {
    assert.ok(two.report.osThreads > one.report.osThreads, `OS threads: ${two.report.osThreads} with 2 threads, ${one.report.osThreads} with 1`);
  }
  t.diagnostic(`1 thread: ${one.report.description}; ${timings(one)}`);
  t.diagnostic(`2 threads: ${two.report.description}; ${timings(two)}`);
  t.diagnostic(`OS threads: ${one.report.osThreads} with 1 thread, ${two.report.osThreads} with 2`);
});

test('2 threads give bit-identical embeddings and landmarks to 1 thread', { skip, timeout: 150_000 }, async () => {
  const [one, two] = [await run(1), await run(2)];
  assert.equal(one.report.batched.length, PHOTOS.length);
  assert.equal(one.report.batched[0]!.length, 128);
  // Measured: bit-identical (max abs diff 0) for the detector's landmarks and for the embeddings,
  // both as one batch of 6 and one crop at a time, so exact equality is asserted. (JSON carries
  // float32 values exactly: each widens to a double that prints and parses back unchanged.)
  assert.deepEqual(two.report.landmarks, one.report.landmarks, `landmarks differ by up to ${maxAbsDiff(two.report.landmarks, one.report.landmarks)}`);
  assert.deepEqual(two.report.batched, one.report.batched, `batched embeddings differ by up to ${maxAbsDiff(two.report.batched, one.report.batched)}`);
  assert.deepEqual(two.report.single, one.report.single, `single embeddings differ by up to ${maxAbsDiff(two.report.single, one.report.single)}`);
  // Real embeddings, not zeros or NaN: unit length, and different people are not the same vector.
  for (const e of two.report.batched) assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-4, `norm ${Math.hypot(...e)}`);
  assert.ok(maxAbsDiff([two.report.batched[0]!], [two.report.batched[2]!]) > 0.01, 'amy and howard embed alike');
});

test('the child exits by itself promptly after its work (pthread workers do not hold it open)', { skip, timeout: 150_000 }, async (t) => {
  for (const threads of [1, 2]) {
    const r = await run(threads);
    assert.equal(r.killed, false, `${threads} threads: still running ${KILL_AFTER_MS / 1000} s after start, killed`);
    assert.equal(r.signal, null, `${threads} threads: ended by ${r.signal}`);
    assert.equal(r.code, 0, `${threads} threads: exit code ${r.code}\n${r.stderr}`);
    t.diagnostic(`${threads} thread(s): exited ${r.exitLagMs.toFixed(0)} ms after printing its report`);
  }
});

test('no tensors leak over detection and embedding calls', { skip, timeout: 150_000 }, async () => {
  for (const threads of [1, 2]) {
    const { tensors } = (await run(threads)).report;
    assert.equal(tensors.afterDetect, tensors.beforeDetect, `${threads} threads: detection leaked ${tensors.afterDetect - tensors.beforeDetect} tensors`);
    // The first embedding call folds BatchNorm into the convolutions and keeps those copies (a
    // one-time cache of the model, 100 tensors for the shipped one); after it, nothing may be left.
    assert.equal(tensors.afterEmbed, tensors.afterWarmup, `${threads} threads: embedding leaked ${tensors.afterEmbed - tensors.afterWarmup} tensors`);
  }
  assert.deepEqual((await run(2)).report.tensors, (await run(1)).report.tensors, 'the same tensors live with 1 and 2 threads');
});

test('nothing prints an error on stderr, also with a 2-thread child running alongside another', { skip, timeout: 150_000 }, async (t) => {
  await run(1);
  await run(2);
  // A 2-thread child and a 1-thread child at the same time: on a 2-core machine the pool's threads
  // compete for the cores; the results must not change and nothing may complain.
  const [two, one] = await Promise.all([runChild(2), runChild(1)]);
  for (const r of [await run(1), await run(2), one, two]) {
    const who = `${r.report.threads} thread(s)`;
    assert.doesNotMatch(r.stderr, /error/i, `${who} stderr:\n${r.stderr}`);
    assert.equal(r.code, 0, `${who}: exit code ${r.code}, signal ${r.signal}`);
  }
  assert.deepEqual(two.report.batched, (await run(1)).report.batched, 'concurrent 2-thread embeddings');
  assert.deepEqual(one.report.batched, (await run(1)).report.batched, 'concurrent 1-thread embeddings');
  t.diagnostic(`side by side: 2 threads ${timings(two)}; 1 thread ${timings(one)}`);
});
