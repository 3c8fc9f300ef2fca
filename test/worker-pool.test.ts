// WorkerPool with real worker threads (test/fixtures/pool-worker.ts): concurrency up to the pool
// size, queueing, results matched to tasks, worker failures confined to their task, and close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../src/util/worker.js';
import { WorkerPool, type WorkerPoolOptions } from '../src/util/worker-pool.js';
import { GATE, MAX_RUNNING, RUNNING, STARTED, type PoolTestResult, type PoolTestTask } from './fixtures/pool-worker.js';

const FIXTURE = new URL('./fixtures/pool-worker.ts', import.meta.url);

function open(size: number, { failFirst = false, ...extra }: Partial<WorkerPoolOptions> & { failFirst?: boolean } = {}) {
  const counters = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  const exits: number[] = [];
  let spawned = 0;
  const spawn = (): Worker => {
    const w = startWorker(FIXTURE, { workerData: { counters: counters.buffer, failStart: failFirst && spawned++ === 0 } });
    w.once('exit', (code) => exits.push(code));
    return w;
  };
  const pool = new WorkerPool<PoolTestTask, PoolTestResult>({ name: 'test', size, spawn, ...extra });
  return { pool, counters, exits };
}

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('runs at most N tasks at once, queues the rest, and gives each task its own result', async () => {
  const { pool, counters } = open(2);
  try {
    await pool.ready;
    const held = [1, 2, 3, 4, 5].map((value) => pool.run({ op: 'hold', value }));
    await until('two tasks to start', () => Atomics.load(counters, STARTED) === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(Atomics.load(counters, STARTED), 2, 'tasks beyond the pool size wait for a free worker');
    Atomics.store(counters, GATE, 1);
    const results = await Promise.all(held);
    assert.deepEqual(results.map((r) => r.value), [2, 4, 6, 8, 10]);
    assert.equal(Atomics.load(counters, MAX_RUNNING), 2);
    assert.equal(Atomics.load(counters, RUNNING), 0);
    assert.equal(new Set(results.map((r) => r.threadId)).size, 2, 'both workers were used');

    // Finishing out of order still maps each result to its task.
    const echoes = await Promise.all([6, 5, 4, 3, 2, 1].map((value) => pool.run({ op: 'echo', value, ms: value * 20 })));
    assert.deepEqual(echoes.map((r) => r.value), [12, 10, 8, 6, 4, 2]);
  } finally {
    await pool.close();
  }
});

test('a task that throws rejects alone; a worker that crashes or exits fails only its task', async () => {
  const { pool, exits } = open(2);
  try {
    await pool.ready;
    await assert.rejects(pool.run({ op: 'throw', message: 'bad photo' }), /bad photo/);
    assert.equal((await pool.run({ op: 'echo', value: 1 })).value, 2, 'the worker that reported an error keeps serving');

    const [crashed, ...others] = await Promise.allSettled([
      pool.run({ op: 'crash', message: 'boom' }),
      ...[1, 2, 3].map((value) => pool.run({ op: 'echo', value, ms: 50 })),
    ]);
    assert.equal(crashed!.status, 'rejected');
    assert.match((crashed as PromiseRejectedResult).reason.message, /boom/);
    assert.deepEqual(others.map((r) => (r.status === 'fulfilled' ? r.value.value : r.reason)), [2, 4, 6], 'the surviving worker served the rest');
    await until('the crashed worker to exit', () => exits.length === 1);

    // The last worker exits mid-task: its task and the one queued behind it are rejected.
    const last = pool.run({ op: 'exit', code: 7 });
    const queued = pool.run({ op: 'echo', value: 1 });
    await assert.rejects(last, /^Error: test worker exited with code 7$/);
    await assert.rejects(queued, /^Error: test: every worker has exited$/);
    await assert.rejects(pool.run({ op: 'echo', value: 1 }), /every worker has exited/);
  } finally {
    await pool.close();
  }
});

test('close() lets the task in flight answer, terminates a stuck worker, and refuses later runs', async () => {
  const { pool, counters, exits } = open(2, { stopTimeoutMs: 500 });
  await pool.ready;
  const stuck = pool.run({ op: 'hang' });
  const held = pool.run({ op: 'hold', value: 21 });
  const queued = pool.run({ op: 'echo', value: 1 });
  await until('the held task to start', () => Atomics.load(counters, STARTED) === 1);
  const closing = pool.close();
  await assert.rejects(queued, /^Error: test: the worker pool is closed$/);
  await assert.rejects(pool.run({ op: 'echo', value: 1 }), /^Error: test: the worker pool is closed$/);
  Atomics.store(counters, GATE, 1);
  assert.equal((await held).value, 42);
  await assert.rejects(stuck, /^Error: test worker exited with code 1$/);
  await closing;
  assert.equal(exits.length, 2, 'every worker has exited once close() resolves');
  assert.equal(pool.close(), closing, 'close() is idempotent');
});

test('ready rejects when a worker cannot start; the others still serve until terminated', async () => {
  assert.throws(() => open(0), /test: worker pool size must be an integer >= 1, got 0/);
  const { pool, exits } = open(2, { failFirst: true });
  try {
    await assert.rejects(pool.ready, /cannot start/);
    assert.equal((await pool.run({ op: 'echo', value: 5 })).value, 10);
  } finally {
    await pool.terminate();
  }
  assert.equal(exits.length, 2);
  await assert.rejects(pool.run({ op: 'echo', value: 1 }), /the worker pool is closed/);
});
