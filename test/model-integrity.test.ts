// Model folders stay whole. model.json records the sha256 of weights.bin, so another export's
// weights of the same size under it (an interrupted save or copy) are refused instead of loaded
// under the old model id; and saveModel replaces an existing folder as a whole, keeping the other
// files a caller put there. Small random-weight models: what is compared is bytes, not faces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { FaceNet } from '../src/model/facenet.js';
import { defaultMeta, loadModel, saveModel } from '../src/model/io.js';
import { nodeIo, type FileIo } from '../src/util/atomic-write.js';
import { writeDirAtomic } from '../src/util/atomic-dir.js';

await initBackend({ quiet: true });

const tiny = (seed: number) => FaceNet.create({ variant: 'mobilefacenet', width: 0.25, inputSize: 64, embeddingSize: 32 }, seed);
let tmp: string;
let netA: FaceNet;
let netB: FaceNet;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-integrity-'));
  netA = tiny(1);
  netB = tiny(2);
});

after(async () => {
  netA.dispose();
  netB.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** Whether `net` holds exactly the weights of `ref` (float32 storage: bit for bit). */
function sameWeights(net: FaceNet, ref: FaceNet): boolean {
  const want = new Map(ref.params.all());
  return net.params.all().every(([name, v]) => {
    const a = v.dataSync();
    const b = want.get(name)!.dataSync();
    return a.length === b.length && a.every((x, i) => x === b[i]);
  });
}

async function loadsAs(dir: string): Promise<{ name: string; weightsOf: 'A' | 'B' | 'neither' }> {
  const { net, meta } = await loadModel(dir);
  try {
    return { name: meta.name, weightsOf: sameWeights(net, netA) ? 'A' : sameWeights(net, netB) ? 'B' : 'neither' };
  } finally {
    net.dispose();
  }
}

/** Entries beside `dir` that an interrupted save leaves (`.<name>.saving-*`, `.<name>.replaced-*`). */
const leftovers = async (dir: string) => (await readdir(path.dirname(dir))).filter((n) => n.startsWith(`.${path.basename(dir)}.`));

test('a saved folder loads back with the same weights and meta, and model.json records the hash of weights.bin', async () => {
  const dir = path.join(tmp, 'roundtrip');
  await saveModel(dir, netA, defaultMeta(netA, 'model-a', '1'));
  assert.deepEqual(await loadsAs(dir), { name: 'model-a', weightsOf: 'A' });
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as { weightsSha256?: string };
  assert.match(json.weightsSha256 ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual((await readdir(dir)).sort(), ['meta.json', 'model.json', 'weights.bin']);
});

test("another model's weights.bin of the same size under this model.json is refused, naming the folder", async () => {
  // uint8, as shipped: the manifest's per-tensor scale/min belong to its own weights.
  const a = path.join(tmp, 'torn-a');
  const b = path.join(tmp, 'torn-b');
  await saveModel(a, netA, defaultMeta(netA, 'model-a', '1'), { quantize: 'uint8' });
  await saveModel(b, netB, defaultMeta(netB, 'model-b', '1'), { quantize: 'uint8' });
  const [wa, wb] = await Promise.all([readFile(path.join(a, 'weights.bin')), readFile(path.join(b, 'weights.bin'))]);
  assert.equal(wa.length, wb.length, 'same architecture: the byte length check cannot tell them apart');
  assert.notDeepEqual(wa, wb);
  // What a kill -9 after the weights.bin rename of a file-by-file save left behind.
  await copyFile(path.join(b, 'weights.bin'), path.join(a, 'weights.bin'));
  await assert.rejects(loadModel(a), (err: Error) => {
    assert.ok(err.message.includes(a), err.message);
    assert.match(err.message, /weights\.bin does not match model\.json/);
    assert.match(err.message, /copy the model folder again or re-export it/);
    return true;
  });
});

test('a folder saved before the hash was recorded (no weightsSha256) still loads', async () => {
  const dir = path.join(tmp, 'legacy');
  await saveModel(dir, netA, defaultMeta(netA, 'model-a', '1'));
  const file = path.join(dir, 'model.json');
  const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  delete json.weightsSha256;
  await writeFile(file, JSON.stringify(json, null, 1) + '\n');
  assert.deepEqual(await loadsAs(dir), { name: 'model-a', weightsOf: 'A' });
});

/** A folder holding model A plus files its caller put there (a run's curves and checkpoints). */
async function folderWithExtras(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await saveModel(dir, netA, defaultMeta(netA, 'model-a', '1'));
  await writeFile(path.join(dir, 'curves.svg'), '<svg/>');
  await mkdir(path.join(dir, 'checkpoints', 'best'), { recursive: true });
  await writeFile(path.join(dir, 'checkpoints', 'best', 'state.json'), '{"epoch":3}');
}

async function assertExtras(dir: string): Promise<void> {
  assert.equal(await readFile(path.join(dir, 'curves.svg'), 'utf8'), '<svg/>');
  assert.equal(await readFile(path.join(dir, 'checkpoints', 'best', 'state.json'), 'utf8'), '{"epoch":3}');
}

test("saving over an existing folder leaves the new model, the caller's other files, and no leftovers", async () => {
  const dir = path.join(tmp, 'over');
  await folderWithExtras(dir);
  await saveModel(dir, netB, defaultMeta(netB, 'model-b', '2'));
  assert.deepEqual(await loadsAs(dir), { name: 'model-b', weightsOf: 'B' });
  await assertExtras(dir);
  assert.deepEqual(await leftovers(dir), []);
});

test('a save killed at any step leaves a whole model; the next save clears what it left', async () => {
  const dir = path.join(tmp, 'killed');
  const staged = path.join(tmp, 'killed-staged');
  await saveModel(staged, netB, defaultMeta(netB, 'model-b', '2'));
  const files = await Promise.all(['weights.bin', 'meta.json', 'model.json'].map(async (f) => [f, await readFile(path.join(staged, f))] as const));
  // A pid that no longer runs: what the killed process's leftovers are named after.
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
  const seen = new Set<string>();
  let finished = false;
  for (let step = 0; !finished; step++) {
    await folderWithExtras(dir);
    // The `step`-th file operation never returns: the process is as good as killed there.
    let calls = 0;
    let killed!: () => void;
    const dead = new Promise<'killed'>((resolve) => (killed = () => resolve('killed')));
    const at = <A extends unknown[]>(op: (...args: A) => Promise<void>) => (...args: A): Promise<void> => {
      if (calls++ === step) {
        killed();
        return new Promise(() => {});
      }
      return op(...args);
    };
    const io: FileIo = { writeSynced: at(nodeIo.writeSynced), rename: at(nodeIo.rename), remove: at(nodeIo.remove), syncDir: at(nodeIo.syncDir), link: at(nodeIo.link!) };
    finished = (await Promise.race([writeDirAtomic(dir, files, { io }).then(() => 'done' as const), dead])) === 'done';

    const left = await leftovers(dir);
    const state = await loadsAs(dir).catch(() => null);
    seen.add(state?.name ?? 'no folder');
    if (state) {
      assert.ok(state.name === 'model-a' ? state.weightsOf === 'A' : state.name === 'model-b' && state.weightsOf === 'B', `step ${step}: ${JSON.stringify(state)}`);
      await assertExtras(dir);
      if (finished) assert.equal(state.name, 'model-b');
    } else {
      // Between the two renames: the previous folder, whole, is beside the missing one.
      const prev = left.find((n) => n.includes('.replaced-'));
      assert.ok(prev, `step ${step}: no folder and no previous one beside it (${left.join(', ')})`);
      assert.deepEqual(await loadsAs(path.join(tmp, prev)), { name: 'model-a', weightsOf: 'A' });
      await assert.rejects(loadModel(dir), (err: Error) => err.message.includes(prev));
    }
    // The killed process is gone: its leftovers become stale.
    for (const n of left) await rename(path.join(tmp, n), path.join(tmp, n.replace(`-${process.pid}-`, `-${deadPid}-`)));
    await saveModel(dir, netB, defaultMeta(netB, 'model-b', '3'));
    assert.deepEqual(await loadsAs(dir), { name: 'model-b', weightsOf: 'B' }, `step ${step}`);
    await assertExtras(dir);
    assert.deepEqual(await leftovers(dir), [], `step ${step}`);
  }
  assert.deepEqual([...seen].sort(), ['model-a', 'model-b', 'no folder'], 'killed before, between and after the renames');
});

test('a folder that cannot be moved (a mount point) has its files replaced in place', async () => {
  const dir = path.join(tmp, 'mounted');
  await folderWithExtras(dir);
  const staged = path.join(tmp, 'mounted-staged');
  await saveModel(staged, netB, defaultMeta(netB, 'model-b', '2'));
  const files = await Promise.all(['weights.bin', 'meta.json', 'model.json'].map(async (f) => [f, await readFile(path.join(staged, f))] as const));
  const busy = Object.assign(new Error('EBUSY: resource busy or locked'), { code: 'EBUSY' });
  const io: FileIo = { ...nodeIo, rename: (from, to) => (from === dir ? Promise.reject(busy) : nodeIo.rename(from, to)) };
  await writeDirAtomic(dir, files, { io });
  assert.deepEqual(await loadsAs(dir), { name: 'model-b', weightsOf: 'B' });
  await assertExtras(dir);
  assert.deepEqual(await leftovers(dir), []);
});

test('`facegate model use` and rollback refuse a folder that would not load, and leave active.json as it was', async () => {
  const { ModelRegistry } = await import('../src/model/registry.js');
  const root = path.join(tmp, 'registry');
  await saveModel(path.join(root, 'facegate-default'), netA, defaultMeta(netA, 'facegate-default', '1'));
  await saveModel(path.join(root, 'good-b'), netB, defaultMeta(netB, 'good-b', '1'));
  await saveModel(path.join(root, 'torn'), netA, defaultMeta(netA, 'torn', '1'));
  // Another model's weights (same size) under torn's model.json.
  await copyFile(path.join(root, 'good-b', 'weights.bin'), path.join(root, 'torn', 'weights.bin'));
  const reg = new ModelRegistry(root);
  await assert.rejects(reg.use('torn'), /torn cannot be used: .*weights\.bin does not match model\.json/);
  assert.equal(reg.activeSync().active, 'facegate-default', 'active.json unchanged');
  assert.equal((await reg.use('good-b')).active, 'good-b', 'a good folder is used');
  // Rolling back to a folder torn since it was active: refused, good-b stays.
  await copyFile(path.join(root, 'good-b', 'weights.bin'), path.join(root, 'facegate-default', 'weights.bin'));
  await assert.rejects(reg.rollback(), /cannot roll back to facegate-default: .*does not match model\.json/);
  assert.equal(reg.activeSync().active, 'good-b');
});
