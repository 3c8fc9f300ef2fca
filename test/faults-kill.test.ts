// kill -9 during enrollment. A child process enrolls people through the real service
// (FaceService.enroll on real photos: decode, detect, photo gate, embed, crops, gallery writes)
// and prints "ack <seq> <identityId> <templates>" after each enrollment returns. The parent kills
// it with SIGKILL and restarts it, and after every kill checks the folder as the next start
// finds it:
//   - it opens (Enrolled.open: schema and integrity of gallery.json, settings.json, the activity log);
//   - every acknowledged enrollment is there, with its templates and their crop files (JPEGs);
//   - nobody is half-enrolled: every identity has its templates (an identity without templates
//     would also keep its badge taken, so the person could not be enrolled again);
//   - the only identity not acknowledged is the one in flight at the kill, and only complete.
// Test 1 kills at 100 random moments (two children at a time, on two folders), spread over the
// first enrollment or two of each start; test 2 kills at every file operation of one enrollment
// in turn (the child kills itself just before its k-th write, rename, link, remove or fsync), so
// the moments between two writes are all hit whatever the timing.
//
// The model is a small random-weight one (what it recognises does not matter here), loaded once
// per child start. The child is bundled with esbuild first (one file instead of ~150 modules
// through tsx), and the one module it swaps is the gradient registration (training only), which
// otherwise bundles tfjs-core's gradients with esbuild at every start: here that bundle is built
// once. Without both, each of the ~115 starts costs more than twice the CPU (1.2 s instead of 0.5 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { initBackend } from '../src/engine/backend.js';
import { Enrolled } from '../src/enrolled/index.js';
import { BBT, randomModel } from './fixtures/web/harness.js';
import { badgeOf, nameOf } from './fixtures/faults/enroll-child.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD_SRC = path.join(ROOT, 'test', 'fixtures', 'faults', 'enroll-child.ts');
const KILLS = 100;

let tmp: string;
let bundleDir: string;
let child: string;
let model: string;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-faults-kill-'));
  model = await randomModel(path.join(tmp, 'model'), 'kill-test');
  // Two levels under the project root, like src/<folder>/: paths derived from import.meta.url
  // (PROJECT_ROOT, packages resolved from node_modules) come out as in the sources.
  bundleDir = path.join(ROOT, 'test-artifacts', `faults-kill-${process.pid}`);
  await mkdir(bundleDir, { recursive: true });
  const require = createRequire(import.meta.url);
  const gradients = path.join(bundleDir, 'gradients.mjs');
  await build({ entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')], bundle: true, format: 'esm', platform: 'node', outfile: gradients, logLevel: 'silent', legalComments: 'none' });
  child = path.join(bundleDir, 'enroll-child.mjs');
  await build({
    entryPoints: [CHILD_SRC],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outfile: child,
    logLevel: 'silent',
    plugins: [
      {
        name: 'prebuilt-gradients',
        setup(b) {
          b.onLoad({ filter: /[\\/]src[\\/]engine[\\/]tfjs-core-extras\.ts$/ }, () => ({
            loader: 'ts',
            contents: `export async function registerAllGradients(): Promise<void> { await import(${JSON.stringify(pathToFileURL(gradients).href)}); }
export async function registerChainedOps(): Promise<void> { throw new Error('not bundled for this test'); }`,
          }));
        },
      },
    ],
  });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
  await rm(bundleDir, { recursive: true, force: true });
});

interface Run {
  out: string;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

/**
 * Starts the child enrolling from person `seq`. `onReady` hears once it printed "ready", `onLine`
 * every line it prints, each with a way to SIGKILL it. Resolves after it exited and its output
 * is read to the end.
 */
function runChild(
  dir: string,
  seq: number,
  opts: { onReady?: (kill: () => void) => void; onLine?: (line: string, kill: () => void) => void; env?: Record<string, string> },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, model, String(seq), BBT], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let out = '';
    let partial = '';
    let stderr = '';
    const kill = () => void proc.kill('SIGKILL');
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('ready ')) opts.onReady?.(kill);
        opts.onLine?.(line, kill);
      }
    });
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    proc.on('error', reject);
    // 'close': the process exited and its pipes are drained (every ack it wrote is in `out`).
    proc.on('close', (code, signal) => resolve({ out, signal, code, stderr }));
  });
}

const acksOf = (out: string) => [...out.matchAll(/^ack (\d+) (i_\w+) (\d+)$/gm)].map((m) => ({ seq: Number(m[1]), id: m[2]!, templates: Number(m[3]) }));

type Acked = Map<number, { id: string; templates: number }>;

/**
 * The checks after a kill (see the top of the file). `acked`: the enrollments known to be done
 * (acknowledged, or found committed after an earlier kill). `inFlight` is the person the child was
 * enrolling when it died (the first not acknowledged). Returns the person to enrol next, whether
 * the in-flight one was committed (killed after its write, before its ack), and the crops and
 * temp files gallery.json does not name (writes in progress; the next start's sweep removes them).
 */
async function checkAfterKill(dir: string, acked: Acked, inFlight: number, what: string): Promise<{ next: number; committed: { id: string; templates: number } | null; leftovers: string[] }> {
  // As a restart finds the folder, before its sweep tidies anything.
  const e = await Enrolled.open(dir, { sweepOnOpen: false });
  let committed: { id: string; templates: number } | null = null;
  const referenced = new Set<string>();
  try {
    const g = e.gallery;
    for (const i of g.listIdentities()) {
      const m = /^Person (\d+)$/.exec(i.name);
      assert.ok(m, `${what}: unexpected identity ${i.name}`);
      const seq = Number(m[1]);
      assert.equal(i.badge, badgeOf(seq), `${what}: ${i.name}'s badge`);
      assert.ok(i.templateCount > 0, `${what}: ${i.name} (${i.id}) is half-enrolled: an identity without templates${acked.has(seq) ? ' (acknowledged!)' : ''}`);
      if (acked.has(seq)) assert.equal(i.id, acked.get(seq)!.id, `${what}: ${i.name} is another identity than the one acknowledged`);
      else {
        assert.equal(seq, inFlight, `${what}: ${i.name} was neither acknowledged nor in flight`);
        committed = { id: i.id, templates: i.templateCount };
      }
      for (const t of g.templates().filter((t) => t.identityId === i.id)) {
        const crop = g.cropPath(t);
        assert.ok(crop, `${what}: template ${t.id} of ${i.name} has no crop`);
        const bytes = await readFile(crop).catch(() => null);
        assert.ok(bytes && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes.length > 100, `${what}: crop ${crop} of ${i.name} is missing or not a JPEG`);
        referenced.add(crop);
      }
    }
    for (const [seq, a] of acked) {
      const i = g.getIdentity(a.id);
      assert.ok(i, `${what}: acknowledged enrollment of ${nameOf(seq)} (${a.id}) is lost`);
      assert.equal(i.templateCount, a.templates, `${what}: ${nameOf(seq)} has ${i.templateCount} templates, ${a.templates} acknowledged`);
    }
  } finally {
    await e.close();
  }
  const files = await listFiles(dir);
  const leftovers = files.filter((f) => (f.includes(`${path.sep}faces${path.sep}`) && !referenced.has(f)) || f.endsWith('.tmp'));
  return { next: committed ? inFlight + 1 : inFlight, committed, leftovers };
}

async function listFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { withFileTypes: true, recursive: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** After the last kill, a restart's sweep leaves nothing behind: no temp file, no crop gallery.json does not name. */
async function assertSweptClean(dir: string): Promise<number> {
  const e = await Enrolled.open(dir, { staleTempMs: 0 });
  try {
    const named = new Set(e.gallery.templates().map((t) => e.gallery.cropPath(t)));
    const stray = (await listFiles(dir)).filter((f) => f.endsWith('.tmp') || (f.includes(`${path.sep}faces${path.sep}`) && !named.has(f)));
    assert.deepEqual(stray, [], 'the sweep on open removes what killed writers left');
    return e.gallery.listIdentities().length;
  } finally {
    await e.close();
  }
}

/** Kills a child enrolling into `dir` at `kills` random moments, checking the folder after each. */
async function killStream(dir: string, kills: number) {
  const acked: Acked = new Map();
  let next = 0;
  const stats = { kills, beforeFirstAck: 0, committedUnacked: 0, leftWrites: 0, acked: 0, people: 0, firstAckMs: 0 };
  let seen = new Set<string>();
  // How long a child takes from "ready" to its first ack: the first child is killed right after
  // that ack (so it is known), the others at a random moment within 1.5 times it (an estimate
  // kept up to date), so that kills fall in all phases of the first enrollment or two whatever
  // the machine's speed and load.
  let firstAckMs: number | null = null;
  for (let k = 0; k < kills; k++) {
    const delay: number | null = firstAckMs === null ? null : Math.random() * 1.5 * firstAckMs;
    let readyAt = 0;
    let tookMs = null as number | null;
    const run = await runChild(dir, next, {
      onReady: (kill) => {
        readyAt = performance.now();
        if (delay !== null) setTimeout(kill, delay);
      },
      onLine: (line, kill) => {
        if (!line.startsWith('ack ') || tookMs !== null) return;
        tookMs = performance.now() - readyAt;
        if (delay === null) kill();
      },
    });
    if (tookMs !== null) firstAckMs = firstAckMs === null ? tookMs : 0.7 * firstAckMs + 0.3 * tookMs;
    const what: string = `${path.basename(dir)} kill ${k} (${delay === null ? 'after the first ack' : `after ${delay.toFixed(0)} ms`}`;
    assert.equal(run.signal, 'SIGKILL', `${what}): the child ended by itself (code ${run.code}):\n${run.stderr.slice(-3000)}`);
    const acks = acksOf(run.out);
    if (acks.length === 0) stats.beforeFirstAck++;
    for (const [i, a] of acks.entries()) {
      assert.equal(a.seq, next + i, `${what}): acknowledgements in order`);
      acked.set(a.seq, { id: a.id, templates: a.templates });
    }
    const r = await checkAfterKill(dir, acked, next + acks.length, `${what}, ${acks.length} acks)`);
    if (r.committed) {
      // Committed before the kill, not acknowledged: from now on it must stay as it is.
      stats.committedUnacked++;
      acked.set(next + acks.length, r.committed);
    }
    if (r.leftovers.some((f) => !seen.has(f))) stats.leftWrites++;
    seen = new Set(r.leftovers);
    next = r.next;
  }
  stats.people = await assertSweptClean(dir);
  assert.equal(stats.people, acked.size, 'everyone enrolled was acknowledged or found committed');
  stats.acked = acked.size - stats.committedUnacked;
  stats.firstAckMs = Math.round(firstAckMs ?? 0);
  assert.ok(stats.acked > 0, 'some enrollments were acknowledged');
  return stats;
}

test(`SIGKILL at ${KILLS} random moments of enrollments: no acknowledged enrollment lost, nobody half-enrolled`, { timeout: 600_000 }, async (t) => {
  // Two children at a time, each on its own folder (two cores: half the time).
  const streams = await Promise.all([killStream(path.join(tmp, 'random-a'), KILLS / 2), killStream(path.join(tmp, 'random-b'), KILLS - KILLS / 2)]);
  const sum = (k: keyof (typeof streams)[number]) => streams.reduce((n, s) => n + s[k], 0);
  assert.equal(sum('kills'), KILLS);
  t.diagnostic(
    `${sum('kills')} kills: ${sum('acked')} enrollments acknowledged, ${sum('people')} people enrolled; ${sum('beforeFirstAck')} kills before a child's first ack, ` +
      `${sum('committedUnacked')} after an enrollment's write but before its ack, ${sum('leftWrites')} left crops or temp files of a write in progress; ` +
      `ready to first ack ~${streams.map((s) => s.firstAckMs).join(' / ')} ms`,
  );
});

test('SIGKILL at every file operation of an enrollment: each leaves the enrollment complete or absent', { timeout: 600_000 }, async (t) => {
  // The folder each crash starts from: two people enrolled (so gallery.json has backups to rotate).
  const base = path.join(tmp, 'points-base');
  const acked: Acked = new Map();
  const first = await runChild(base, 0, { onLine: (line, kill) => line.startsWith('ack 1 ') && kill() });
  for (const a of acksOf(first.out)) acked.set(a.seq, { id: a.id, templates: a.templates });
  assert.equal(acked.size, 2, `the base folder has two people:\n${first.stderr.slice(-3000)}`);
  const points: string[] = [];
  for (let k = 1; ; k++) {
    const dir = path.join(tmp, `points-${k}`);
    await cp(base, dir, { recursive: true });
    // The child kills itself just before its k-th file operation after "ready"; when the
    // enrollment completes first (an ack), k is past its last one.
    const run = await runChild(dir, 2, { env: { FACEGATE_TEST_CRASH_AT: String(k) }, onLine: (line, kill) => line.startsWith('ack ') && kill() });
    assert.equal(run.signal, 'SIGKILL', `crash point ${k}: the child ended by itself (code ${run.code}):\n${run.stderr.slice(-3000)}`);
    const acks = acksOf(run.out);
    const crash = /^crash (\w+) (\S+)$/m.exec(run.out);
    const mine = new Map(acked);
    for (const a of acks) mine.set(a.seq, { id: a.id, templates: a.templates });
    const r = await checkAfterKill(dir, mine, 2 + acks.length, `crash point ${k} (${crash ? `${crash[1]} ${crash[2]}` : 'after the enrollment'})`);
    await rm(dir, { recursive: true, force: true });
    if (!crash || acks.length > 0) break;
    points.push(`${crash[1]} ${crash[2]!.replace(/[it]_\w+/g, '<id>').replace(/\.\d+\.\d+\.tmp$/, '.<tmp>')}${r.next === 3 ? ' (committed)' : ''}`);
  }
  // Crops, then gallery.json with its backups rotated: at least the six steps of writing two crops and one file.
  assert.ok(points.length >= 9, `crash points: ${points.join(', ')}`);
  assert.ok(points.some((p) => p.startsWith('syncDir ') && p.endsWith('(committed)')), `a crash after gallery.json was renamed finds the enrollment committed: ${points.join(', ')}`);
  t.diagnostic(`${points.length} crash points: ${points.join(', ')}`);
});
