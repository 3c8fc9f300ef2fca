// Kills a writer process at random moments and checks the gallery file is always a complete
// old or new version: never truncated, never a mix of two generations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Enrolled } from '../src/enrolled/index.js';
import { Gallery } from '../src/gallery/gallery.js';
import { decodeEmbedding } from '../src/gallery/embedding-codec.js';
import { DIM, MODEL, decodeGeneration, generation } from './fixtures/gallery/crash-writer.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gallery', 'crash-writer.ts');
const TEMPLATES = 1500; // ~4 MB of JSON: a write takes long enough to be hit mid-way
const KILLS = 30;

/** Parses gallery.json and returns its single generation, failing on any inconsistency. */
async function fileGeneration(file: string): Promise<number> {
  const json = JSON.parse(await readFile(file, 'utf8')); // throws on a torn file
  const tpls = json.templates.filter((t: { modelId: string }) => t.modelId === MODEL);
  assert.equal(tpls.length, TEMPLATES);
  const gens = new Set<number>();
  tpls.forEach((t: { embedding: string; dtype: 'f32'; dim: number }, k: number) => {
    const d = decodeGeneration(decodeEmbedding(t.embedding, t.dtype, DIM));
    assert.equal(d.k, k);
    gens.add(d.gen);
  });
  assert.equal(gens.size, 1, `mixed generations ${[...gens]}`);
  return [...gens][0];
}

test('SIGKILL during writes never leaves a torn or mixed gallery file', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-crash-'));
  const g = await Gallery.open(dir);
  const ids: string[] = [];
  for (let i = 0; i < 25; i++) ids.push((await g.addIdentity({ name: `Person ${i}` })).id);
  await g.replaceTemplatesForModel(MODEL, generation(ids, TEMPLATES, 0));
  await g.close();
  const file = path.join(dir, 'gallery.json');

  let gen = 0;
  let midWrite = 0;
  let advanced = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(TEMPLATES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) ready();
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => proc.on('exit', (_code, sig) => r(sig)));
    await Promise.race([isReady, exited]);
    assert.ok(out.includes(`ready ${gen}`), `child did not start at generation ${gen}: ${JSON.stringify(out)}`);
    await new Promise((r) => setTimeout(r, Math.random() * 600));
    proc.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    // Pipes are synchronous on Linux: every ack written before the kill is in `out` by now.
    const acks = [...out.matchAll(/ack (\d+)/g)].map((m) => Number(m[1]));
    const lastAck = acks.at(-1) ?? gen;
    const now = await fileGeneration(file);
    assert.ok(now === lastAck || now === lastAck + 1, `file has generation ${now}, last acknowledged ${lastAck}`);
    if ((await readdir(dir)).some((f) => f.endsWith('.tmp'))) midWrite++;
    if (now > gen) advanced++;
    gen = now;
  }
  t.diagnostic(`${KILLS} kills, ${midWrite} left a temp file (killed mid-write), generation advanced ${advanced} times, final ${gen}`);
  // The survivor opens cleanly (schema + integrity) and the sweep removes the dead writers' temp files.
  const reopened = (await Enrolled.open(dir, { staleTempMs: 0 })).gallery;
  assert.equal(reopened.templates(MODEL).length, TEMPLATES);
  assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.tmp')));
  await rm(dir, { recursive: true, force: true });
});
