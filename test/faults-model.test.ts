// A missing or corrupt model folder: the error names the path at fault and what is wrong with it,
// wherever it surfaces: loadEmbedder (what the service loads), a server that starts without a
// model and says why on /api/health, and `facegate verify --model` (exit code 3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.js';
import { loadConfig } from '../src/config/index.js';
import { loadEmbedder } from '../src/service/embedder.js';
import { startServer } from '../src/http/start.js';
import { BBT, randomModel } from './fixtures/web/harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let tmp: string;
let good: string;

/** Each broken model folder: where it is, what the error must name, and what it must say. */
interface Case {
  what: string;
  dir: string;
  names: string;
  says: RegExp;
}
const cases: Case[] = [];

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-faults-model-'));
  good = await randomModel(path.join(tmp, 'good'), 'fault-model');
  const broken = async (name: string, damage: (dir: string) => Promise<void>) => {
    const dir = path.join(tmp, name);
    await cp(good, dir, { recursive: true });
    await damage(dir);
    return dir;
  };
  const missing = path.join(tmp, 'no-such-folder');
  cases.push({ what: 'missing folder', dir: missing, names: missing, says: /the folder does not exist/ });
  const empty = path.join(tmp, 'empty-folder');
  await mkdir(empty);
  cases.push({ what: 'folder without model.json', dir: empty, names: empty, says: /has no model\.json/ });
  const notJson = await broken('not-json', (d) => writeFile(path.join(d, 'model.json'), '{"format": "facegate-embedder/1", "config": {'));
  cases.push({ what: 'model.json that is not JSON', dir: notJson, names: path.join(notJson, 'model.json'), says: /is not valid JSON/ });
  const emptyJson = await broken('empty-json', (d) => writeFile(path.join(d, 'model.json'), ''));
  cases.push({ what: 'empty model.json', dir: emptyJson, names: path.join(emptyJson, 'model.json'), says: /is not valid JSON \(the file is empty\)/ });
  const truncated = await broken('truncated', async (d) => {
    const w = await readFile(path.join(d, 'weights.bin'));
    await writeFile(path.join(d, 'weights.bin'), w.subarray(0, Math.floor(w.length / 2)));
  });
  cases.push({ what: 'truncated weights.bin', dir: truncated, names: path.join(truncated, 'weights.bin'), says: /is truncated: \d+ bytes, model\.json lists \d+/ });
  const noWeights = await broken('no-weights', (d) => rm(path.join(d, 'weights.bin')));
  cases.push({ what: 'missing weights.bin', dir: noWeights, names: path.join(noWeights, 'weights.bin'), says: /could not be read: no such file/ });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('loadEmbedder: each broken model folder gives a reason naming the path at fault and what is wrong', async () => {
  assert.equal((await loadEmbedder(good)).loaded, true, 'the intact folder loads');
  for (const c of cases) {
    const slot = await loadEmbedder(c.dir);
    assert.equal(slot.loaded, false, c.what);
    if (slot.loaded) continue;
    assert.ok(slot.reason.includes(c.names), `${c.what}: names ${c.names}: ${slot.reason}`);
    assert.match(slot.reason, c.says, c.what);
    assert.doesNotMatch(slot.reason, /Based on the provided shape|\n/, `${c.what}: no raw tfjs/zod text`);
  }
});

test('the server starts without a model and says why on /api/health (path and problem)', { timeout: 120_000 }, async () => {
  for (const c of cases.filter((c) => ['missing folder', 'model.json that is not JSON', 'truncated weights.bin'].includes(c.what))) {
    const config = loadConfig({ env: {}, overrides: { modelDir: c.dir, galleryDir: path.join(tmp, `gallery-${path.basename(c.dir)}`), port: 0, host: '127.0.0.1' } });
    const server = await startServer(config, { quiet: true });
    try {
      const res = await fetch(`${server.localUrl}/api/health`);
      assert.equal(res.status, 200);
      const h = (await res.json()) as { status: string; model: { loaded: boolean; error: string | null } };
      assert.equal(h.status, 'no_model', c.what);
      assert.equal(h.model.loaded, false);
      assert.ok(h.model.error?.includes(c.names), `${c.what}: health names ${c.names}: ${h.model.error}`);
      assert.match(h.model.error!, c.says);
      // Recognition says the same, with 503.
      const form = new FormData();
      form.append('image', new File([await readFile(path.join(BBT, 'amy', 'amy2.png'))], 'amy2.png'));
      const verify = await fetch(`${server.localUrl}/api/verify`, { method: 'POST', body: form });
      assert.equal(verify.status, 503, c.what);
      assert.ok(((await verify.json()) as { error: { message: string } }).error.message.includes(c.names));
    } finally {
      await server.close();
    }
  }
});

/** `facegate <args>` as an operator runs it: exit code and output. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

test('`facegate verify --model` on a missing or corrupt folder: a clear message naming the path, exit code 3', { timeout: 300_000 }, async () => {
  const photo = path.join(BBT, 'amy', 'amy2.png');
  for (const c of cases.filter((c) => ['missing folder', 'model.json that is not JSON', 'truncated weights.bin'].includes(c.what))) {
    const r = await cli(['verify', photo, '--model', c.dir, '--gallery', path.join(tmp, `cli-gallery-${path.basename(c.dir)}`)]);
    assert.equal(r.code, 3, `${c.what}: exit code (stderr: ${r.stderr})`);
    assert.ok(r.stderr.includes(c.names), `${c.what}: names ${c.names}: ${r.stderr}`);
    assert.match(r.stderr, c.says, c.what);
    assert.doesNotMatch(r.stderr, /^\s+at /m, `${c.what}: no stack trace`);
  }
});
