// The server's node flags (SERVER_NODE_FLAGS, src/http/node-flags.ts) are what `npm start` and the
// systemd unit run it with, and under them the inference workers and the main thread's WASM
// threads start and answer (a worker thread refuses --single-threaded-gc in its execArgv, so
// util/worker.ts leaves it out: without that, the pool would quietly fall back to in-process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SERVER_NODE_FLAGS } from '../src/http/node-flags.js';
import { PROJECT_ROOT } from '../src/config/load.js';
import { shippedModelExists } from './fixtures/web/harness.js';

test('npm start and the systemd unit run the server with SERVER_NODE_FLAGS', async () => {
  const pkg = JSON.parse(await readFile(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const unit = await readFile(path.join(PROJECT_ROOT, 'systemd/facegate.service'), 'utf8');
  const execStart = unit.split('\n').find((l) => l.startsWith('ExecStart=') && l.includes(' serve'));
  assert.ok(execStart, 'the unit starts facegate serve');
  for (const flag of SERVER_NODE_FLAGS) {
    assert.match(pkg.scripts.start!, new RegExp(`^node ${flag} `), `npm start: ${pkg.scripts.start}`);
    assert.ok(execStart.includes(` ${flag} `), `systemd: ${execStart}`);
  }
});

test('under SERVER_NODE_FLAGS a lone request runs on the main thread, concurrent ones on the worker, with one score', { skip: shippedModelExists() ? false : 'models/facegate-default is missing' }, async () => {
  const child = path.join(PROJECT_ROOT, 'test/fixtures/server-flags-child.ts');
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', child], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d));
  proc.stderr.on('data', (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    execArgv: string[];
    inference: string;
    lone: { servedHere: number; servedByWorkers: number };
    out: { decision: string; score: number }[];
  };
  for (const flag of SERVER_NODE_FLAGS) assert.ok(r.execArgv.includes(flag), `the child ran with ${flag}`);
  assert.equal(r.inference, "1 inference worker; a lone request on this thread's 2 WASM threads", 'the worker started (no fallback to in-process)');
  assert.ok(r.lone.servedHere >= 1 && r.lone.servedByWorkers >= 1, `both routes served: ${JSON.stringify(r.lone)}`);
  assert.equal(r.out.length, 11);
  for (const v of r.out) assert.deepEqual(v, r.out[0], 'every route gives the same decision and score');
  assert.equal(r.out[0]!.decision, 'granted');
});
