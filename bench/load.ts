// Load on a real server: POST /api/verify over loopback HTTP at a fixed concurrency against a
// started server (src/http/start.ts) with a real gallery (people enrolled through POST
// /api/enroll), with 640x480 JPEG camera-like frames made from real photos. Reports latency
// p50/p95/p99, decisions per second, errors, and the server's memory (RSS, V8 heap, external,
// WASM heap, tensors) before and after, and its peak RSS.
//   npm run bench -- load [--requests 1000] [--concurrency 8] [--model DIR] [--workers auto|N]
//                         [--threads auto|N] [--parallel-gc]
// The server runs as `npm start` runs it: --workers auto (inference workers, one per core; 0 =
// in-process), --threads auto (main-thread WASM threads for a lone request), and node's
// SERVER_NODE_FLAGS (--parallel-gc leaves out --single-threaded-gc, to compare).
// Soak (not run in CI): the same load for N minutes, one line of memory figures per interval, so
// that flat (or not) can be seen; the summary gives the RSS slope in MB per 1,000 verifies.
//   npm run bench -- load --soak --minutes 10 [--interval 30]
// The server runs in a child process (this file with --child), so the client's own memory and
// work never count in the server's figures; the child reports its memory over the IPC channel.
// The client shares the cores with the server, so its hot loop is lean: the verifies go over
// node:http on a keep-alive agent with the frames encoded once as Buffers (global fetch, undici,
// took about twice the client CPU when this was changed; the client's share is printed). What each side
// spent is printed as CPU ms per verify: the client, and the server by thread (main, inference
// workers, the rest).
// Figures are printed, never asserted.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import sharp from 'sharp';
import { SERVER_NODE_FLAGS } from '../src/http/node-flags.js';
import { fmt, type BenchSummary } from './summary.js';

const HERE = fileURLToPath(import.meta.url);
const DATA = path.resolve(path.dirname(HERE), '../../shared/data');
const CELEBA = path.join(DATA, 'dev/celeba');
const PASSWORD = 'load bench admin password';
const MB = 1024 * 1024;

/** What the server process reports about itself. */
export interface ServerSample {
  rss: number;
  /** Peak RSS since the process started (VmHWM). */
  peakRss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** The TF.js WASM backend's linear memory (it grows, never shrinks). */
  wasm: number;
  tensors: number;
  sharpCache: { memory: number; items: number; files: number };
  /** CPU time of the whole server process (every thread), ms since it started. */
  cpuMs: number;
  /** CPU ms of every live thread (Linux /proc: thread id -> ms; the main thread's id is the pid). */
  threadCpuMs: Record<string, number>;
}

type ToChild = { cmd: 'start'; galleryDir: string; modelDir?: string; workers: number | 'auto'; threads: number | 'auto'; password: string; clockTicks: number } | { cmd: 'sample'; id: number } | { cmd: 'stop' };
/** `workers`: the server's inference worker threads (0: inference in-process, on its main thread). */
type FromChild = { type: 'started'; url: string; inference: string; workers: number } | { type: 'sample'; id: number; sample: ServerSample } | { type: 'error'; message: string };

// ---- CPU time from /proc (Linux) -----------------------------------------------------------------

/** Clock ticks per second of /proc's utime and stime (`getconf CLK_TCK`, asked once; NaN where it cannot be asked). */
let clockTicksPerS: number | undefined;
function clockTicks(): number {
  if (clockTicksPerS === undefined) {
    let n = NaN;
    try {
      n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    } catch {
      // no getconf (not Linux, or a bare system): the /proc figures are NaN rather than guessed.
    }
    clockTicksPerS = n > 0 ? n : NaN;
  }
  return clockTicksPerS;
}

/** utime + stime in ms from a /proc/.../stat line (fields 14 and 15, counted after the command name, which may hold spaces), or NaN. */
function statCpuMs(stat: string, ticksPerS: number): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return f.length > 13 ? ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerS : NaN;
}

/** CPU ms per verify over the timed window, the client's and the server's by thread (NaN where /proc cannot be read), and the server's cores busy. */
interface CpuPerVerify {
  client: number;
  server: number;
  main: number;
  /** The inference workers together, and each (busiest first). */
  workers: number;
  eachWorker: number[];
  /** libuv's pool, libvips, V8's platform and GC helpers, threads that ended in the window. */
  other: number;
  cores: number;
}

/**
 * Splits the server's CPU over the window. Which threads are the inference workers: Node names no
 * thread (every one is "node" in /proc/.../comm) and JS cannot learn its thread id, so they are told
 * apart by CPU: the `workers` busiest threads other than the main thread (whose id is the pid).
 * Each worker runs a whole frame's model work (detect, landmarks, embed): many times the CPU of any
 * libuv, libvips or V8 helper thread, so the busiest are the workers (the line's worker figures,
 * about 18-20 ms each with two workers here, against an "other" of 4-8 ms over all the rest).
 * A worker restarted in the window counts as two threads and splits its time with "other"; the
 * main thread's WASM pthreads (--threads auto, as npm start: engine/wasm-threads.ts) are
 * worker_threads too, busy only on a lone request, so under load they fall in "other".
 * "Other" is the process total less main and workers, so threads that ended in the window count there.
 * The figures are the server's own samples (ServerSample) at the window's edges.
 */
function cpuPerVerify(pid: number, workers: number, n: number, wallS: number, client: NodeJS.CpuUsage, start: ServerSample, end: ServerSample): CpuPerVerify {
  const clientMs = (client.user + client.system) / 1000 / n;
  const self = String(pid);
  const spent = Object.entries(end.threadCpuMs).map(([tid, ms]) => [tid, ms - (start.threadCpuMs[tid] ?? 0)] as const);
  const main = spent.find(([tid]) => tid === self)?.[1] ?? NaN;
  const eachWorker = spent
    .filter(([tid]) => tid !== self)
    .map(([, ms]) => ms)
    .sort((a, b) => b - a)
    .slice(0, workers);
  const server = end.cpuMs - start.cpuMs;
  const inWorkers = eachWorker.reduce((a, b) => a + b, 0);
  return { client: clientMs, server: server / n, main: main / n, workers: inWorkers / n, eachWorker: eachWorker.map((ms) => ms / n), other: (server - main - inWorkers) / n, cores: server / 1000 / wallS };
}

function cpuLine(c: CpuPerVerify, workers: number): string {
  const f = (v: number) => fmt(v);
  const server = Number.isFinite(c.server)
    ? `server ${f(c.server)} ms (main ${f(c.main)}, ${workers > 0 ? `inference workers ${f(c.workers)}${workers > 1 ? ` (${c.eachWorker.map(f).join(' + ')})` : ''}` : 'inference in-process: on main'}, other threads ${f(c.other)}; ${c.cores.toFixed(2)} cores busy)`
    : 'server n/a (no /proc)';
  return `cpu per verify: client ${f(c.client)} ms; ${server}`;
}

// ---- the server child ----------------------------------------------------------------------------

async function childMain(): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  const tf = await import('@tensorflow/tfjs-core');
  const { AdminStore, adminFilePath, loadConfig } = await import('../src/config/index.js');
  const { startServer } = await import('../src/http/start.js');
  let running: Awaited<ReturnType<typeof startServer>> | undefined;

  const peakRss = async () => {
    const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  };
  // Clock ticks per second of /proc's figures: the client's `getconf CLK_TCK`, in the start message.
  let ticksPerS = NaN;
  // utime + stime of a thread of this process (the main thread's id is the pid).
  const threadCpuMs = async (tid: string | number) => statCpuMs(await readFile(`/proc/self/task/${tid}/stat`, 'utf8').catch(() => ''), ticksPerS);
  const allThreadsCpuMs = async () => {
    const tids = await readdir('/proc/self/task').catch(() => [] as string[]);
    return Object.fromEntries(await Promise.all(tids.map(async (t) => [t, await threadCpuMs(t)] as const)));
  };
  const sample = async (): Promise<ServerSample> => {
    const m = process.memoryUsage();
    const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength ?? 0;
    const c = sharp.cache();
    return {
      rss: m.rss,
      peakRss: await peakRss(),
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      wasm,
      tensors: tf.memory().numTensors,
      sharpCache: { memory: c.memory.current * MB, items: c.items.current, files: c.files.current },
      cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      threadCpuMs: await allThreadsCpuMs(),
    };
  };

  process.on('message', (msg: ToChild) => {
    void (async () => {
      try {
        if (msg.cmd === 'start') {
          ticksPerS = msg.clockTicks;
          const overrides = { port: 0, host: '127.0.0.1', galleryDir: msg.galleryDir, workers: msg.workers, threads: msg.threads, ...(msg.modelDir ? { modelDir: msg.modelDir } : {}) };
          const config = loadConfig({ env: {}, overrides });
          await (await AdminStore.open(adminFilePath(config))).setPassword(msg.password);
          running = await startServer(config, { quiet: true });
          send({ type: 'started', url: running.url, inference: running.service.inference, workers: running.service.workerPool?.size ?? 0 });
        } else if (msg.cmd === 'sample') {
          send({ type: 'sample', id: msg.id, sample: await sample() });
        } else if (msg.cmd === 'stop') {
          await running?.close();
          process.disconnect();
        }
      } catch (err) {
        send({ type: 'error', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
}

type Started = { url: string; inference: string; workers: number };

class ServerChild {
  #nextId = 0;
  #waiting = new Map<number, (s: ServerSample) => void>();
  #started?: { resolve: (s: Started) => void; reject: (e: Error) => void };
  /** Rejects when the server process ends: nothing waits on a dead server. */
  readonly #exited: Promise<never>;

  private constructor(readonly proc: ChildProcess) {
    this.#exited = new Promise<never>((_, reject) => proc.once('exit', (code, signal) => reject(new Error(`server child exited (${signal ?? code})`))));
    this.#exited.catch(() => {});
    proc.on('message', (m: FromChild) => {
      if (m.type === 'started') this.#started?.resolve({ url: m.url, inference: m.inference, workers: m.workers });
      else if (m.type === 'sample') this.#waiting.get(m.id)?.(m.sample);
      else if (m.type === 'error') {
        const err = new Error(`server child: ${m.message}`);
        if (this.#started) this.#started.reject(err);
        else console.error(err.message);
      }
    });
  }

  static async start(galleryDir: string, modelDir: string | undefined, inference: { workers: number | 'auto'; threads: number | 'auto'; parallelGc: boolean }): Promise<{ child: ServerChild } & Started> {
    const { workers, threads } = inference;
    // The server's node flags, as npm start and the systemd unit run it (SERVER_NODE_FLAGS).
    const flags = inference.parallelGc ? [] : SERVER_NODE_FLAGS;
    const proc = fork(HERE, ['--child'], { execArgv: [...flags, '--import', 'tsx'], env: { ...process.env, FACEGATE_QUIET: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const child = new ServerChild(proc);
    const started = await Promise.race([
      new Promise<Started>((resolve, reject) => {
        child.#started = { resolve, reject };
        child.send({ cmd: 'start', galleryDir, modelDir, workers, threads, password: PASSWORD, clockTicks: clockTicks() });
      }),
      child.#exited,
    ]);
    child.#started = undefined;
    return { child, ...started };
  }

  send(m: ToChild): void {
    this.proc.send(m);
  }

  sample(): Promise<ServerSample> {
    const id = this.#nextId++;
    const sampled = new Promise<ServerSample>((resolve) => {
      this.#waiting.set(id, (s) => {
        this.#waiting.delete(id);
        resolve(s);
      });
      this.send({ cmd: 'sample', id });
    });
    return Promise.race([sampled, this.#exited]);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = this.#exited.catch(() => {});
    this.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---- the gallery and the frames ------------------------------------------------------------------

/** CelebA dev identities (folders of one person's photos), in a fixed order. */
async function people(): Promise<{ id: string; photos: string[] }[]> {
  const ids = (await readdir(CELEBA)).sort();
  return Promise.all(ids.map(async (id) => ({ id, photos: (await readdir(path.join(CELEBA, id))).filter((f) => f.endsWith('.jpg')).sort().map((f) => path.join(CELEBA, id, f)) })));
}

/** An encoded frame, a request body made once and sent as is. */
type Frame = Buffer;

/** A 640x480 JPEG camera-like frame: the photo at the frame's height, on a grey background. */
async function frameOf(file: string): Promise<Frame> {
  const scaled = await sharp(file).resize({ height: 480 }).toBuffer();
  return sharp(scaled).resize(640, 480, { fit: 'contain', background: '#7f7f7f' }).jpeg({ quality: 85 }).toBuffer();
}

async function login(url: string): Promise<string> {
  const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  if (!res.ok) throw new Error(`login: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Photos offered per enrollment: the upload gate refuses some CelebA photos (small or turned faces), 3 must pass. */
const ENROLL_PHOTOS = 6;

/** Enrolls people through POST /api/enroll (ENROLL_PHOTOS photos each); returns how many got in. */
async function enrollPeople(url: string, token: string, who: { id: string; photos: string[] }[]): Promise<number> {
  let ok = 0;
  for (const p of who) {
    const form = new FormData();
    form.set('name', `celeba ${p.id}`);
    form.set('confirmDuplicate', 'true');
    for (const f of p.photos.slice(0, ENROLL_PHOTOS)) form.append('images', new Blob([await readFile(f)], { type: 'image/jpeg' }), path.basename(f));
    const res = await fetch(`${url}/api/enroll`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
    if (res.ok) ok++;
    else console.log(`  enroll ${p.id}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  }
  return ok;
}

/** Entries in the activity log (the admin CSV export, up to 5,000), or NaN if it cannot be read. */
async function activityEntries(url: string, token: string): Promise<number> {
  try {
    const res = await fetch(`${url}/admin/activity.csv?limit=5000`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) return NaN;
    return (await res.text()).split('\n').filter((l) => l.trim() !== '').length - 1;
  } catch {
    return NaN;
  }
}

// ---- the load ------------------------------------------------------------------------------------

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};
const mb = (n: number) => (n / MB).toFixed(0);
const ms = (n: number) => n.toFixed(0);

interface Tally {
  latencies: number[];
  decisions: Map<string, number>;
  errors: Map<string, number>;
  /** Why frames were not decided on (poor_quality etc.): the answer's message. */
  reasons: Map<string, number>;
}

const newTally = (): Tally => ({ latencies: [], decisions: new Map(), errors: new Map(), reasons: new Map() });
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Where the verifies go: the server's address and a keep-alive agent with a socket per client (maxSockets = concurrency). */
interface Target {
  host: string;
  port: number;
  agent: http.Agent;
}

function targetOf(url: string, concurrency: number): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), agent: new http.Agent({ keepAlive: true, maxSockets: concurrency }) };
}

/** POST /api/verify with node:http: the status and the whole answer's text. */
function postFrame(to: Target, frame: Frame): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: to.host, port: to.port, agent: to.agent, method: 'POST', path: '/api/verify', headers: { 'content-type': 'image/jpeg', 'content-length': frame.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('the answer was cut off'));
        });
      },
    );
    req.on('error', reject);
    req.end(frame);
  });
}

/** One POST /api/verify, tallied; returns the decision, if there was one. */
async function verifyOnce(to: Target, frame: Frame, t: Tally): Promise<string | undefined> {
  const t0 = performance.now();
  try {
    const res = await postFrame(to, frame);
    const body = JSON.parse(res.text) as { decision?: string; message?: string; error?: { code?: string } };
    t.latencies.push(performance.now() - t0);
    if (res.status >= 200 && res.status < 300 && body.decision) {
      bump(t.decisions, body.decision);
      if (body.decision !== 'granted' && body.decision !== 'denied') bump(t.reasons, body.message ?? body.decision);
      return body.decision;
    }
    else bump(t.errors, `HTTP ${res.status}${body.error?.code ? ` ${body.error.code}` : ''}`);
  } catch (err) {
    t.latencies.push(performance.now() - t0);
    bump(t.errors, (err as Error).message);
  }
  return undefined;
}

/** `concurrency` clients, each sending its next frame when the last answer came, until `more()` says stop. */
async function drive(to: Target, frames: Frame[], concurrency: number, more: (sent: number) => boolean, t: Tally): Promise<number> {
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (more(sent)) await verifyOnce(to, frames[sent++ % frames.length]!, t);
    }),
  );
  return sent;
}

const fmtMap = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

function memLine(s: ServerSample): string {
  return `rss ${mb(s.rss)} MB, heap ${mb(s.heapUsed)}/${mb(s.heapTotal)} MB used/total, external ${mb(s.external)} MB (arrayBuffers ${mb(s.arrayBuffers)}), wasm ${mb(s.wasm)} MB, tensors ${s.tensors}`;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive whole number');
  return n;
};
const positive = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('a positive number');
  return n;
};

const workersArg = (v: string): number | 'auto' => {
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('auto or a whole number (0: in-process)');
  return n;
};

const threadsArg = (v: string): number | 'auto' => {
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new InvalidArgumentError('auto or a whole number from 1 to 8');
  return n;
};

export async function run(args: string[]): Promise<BenchSummary | void> {
  const opts = new Command('bench load')
    .description('POST /api/verify at a fixed concurrency against a started server with a real gallery')
    .option('--requests <n>', 'verifies to time (not in soak mode)', positiveInt, 1000)
    .option('--concurrency <n>', 'clients sending at once', positiveInt, 8)
    .option('--people <n>', `CelebA dev identities to enroll (${ENROLL_PHOTOS} photos offered each)`, positiveInt, 6)
    .option('--warmup <n>', 'verifies before the figures (not counted)', positiveInt, 32)
    .option('--model <dir>', 'model folder (default: the active model)')
    .option('--workers <n>', "the server's inference workers: auto (one per core) or a number (0: in-process)", workersArg, 'auto' as number | 'auto')
    .option('--threads <n>', "the server's main-thread WASM threads: auto (one per core) or 1-8", threadsArg, 'auto' as number | 'auto')
    .option('--parallel-gc', "run the server without SERVER_NODE_FLAGS' --single-threaded-gc (V8's parallel GC helpers)")
    .option('--soak', 'run for --minutes and print memory every --interval seconds')
    .option('--minutes <n>', 'soak duration', positive, 10)
    .option('--interval <s>', 'soak sampling interval in seconds', positive, 30)
    .parse(args, { from: 'user' })
    .opts<{ requests: number; concurrency: number; people: number; warmup: number; model?: string; workers: number | 'auto'; threads: number | 'auto'; parallelGc?: boolean; soak?: boolean; minutes: number; interval: number }>();

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-load-'));
  let child: ServerChild | undefined;
  let target: Target | undefined;
  try {
    const everyone = await people();
    const enrolled = everyone.slice(0, opts.people);
    const strangers = everyone.slice(opts.people, opts.people * 2);
    // Enrolled people's other photos (granted), and people never enrolled (denied).
    const framePhotos = [...enrolled.flatMap((p) => p.photos.slice(ENROLL_PHOTOS, ENROLL_PHOTOS + 6)), ...strangers.flatMap((p) => p.photos.slice(0, 6))];
    const candidates = await Promise.all(framePhotos.map(frameOf));

    const startedAt = performance.now();
    const started = await ServerChild.start(path.join(tmp, 'gallery'), opts.model, { workers: opts.workers, threads: opts.threads, parallelGc: opts.parallelGc === true });
    const startMs = performance.now() - startedAt;
    child = started.child;
    const { url } = started;
    const to = (target = targetOf(url, opts.concurrency));
    const token = await login(url);
    const nEnrolled = await enrollPeople(url, token, enrolled);
    const health = (await (await fetch(`${url}/api/health`)).json()) as { backend?: string; model?: { id?: string; variant?: string }; gallery?: { identities?: number; templates?: number } };
    console.log(`${new Date().toISOString()}  ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, node ${process.version}`);
    console.log(`server: ${url} (pid ${child.proc.pid}), model ${health.model?.id} ${health.model?.variant ?? ''}, ${health.backend}; inference: ${started.inference} (--workers ${opts.workers} --threads ${opts.threads}); node ${opts.parallelGc ? 'parallel GC' : SERVER_NODE_FLAGS.join(' ')}; started in ${(startMs / 1000).toFixed(1)} s`);
    console.log(`gallery: ${health.gallery?.identities} identities (${nEnrolled}/${enrolled.length} enrolled by POST /api/enroll), ${health.gallery?.templates} templates`);
    const atStart = await child.sample();
    // Warm-up, and the frame set: each candidate once; the timed load sends the frames that get a
    // decision (granted or denied), so that every request runs the whole pipeline (decode, detect,
    // align, quality, embed, match) and is written to the activity log, as a person at the door is.
    const frames: Frame[] = [];
    const warm = newTally();
    for (const f of candidates) {
      const decision = await verifyOnce(to, f, warm);
      if (decision === 'granted' || decision === 'denied') frames.push(f);
    }
    if (frames.length < opts.concurrency) throw new Error(`only ${frames.length} of ${candidates.length} frames got a decision (${fmtMap(warm.decisions)})`);
    await drive(to, frames, opts.concurrency, (n) => n < opts.warmup, newTally());
    const before = await child.sample();
    const loggedBefore = await activityEntries(url, token);
    console.log(`frames: ${frames.length} distinct 640x480 JPEGs (${(frames.reduce((n, f) => n + f.length, 0) / frames.length / 1024).toFixed(0)} KB average) from CelebA dev, of ${candidates.length} candidates (${fmtMap(warm.decisions)}); concurrency ${opts.concurrency}`);
    console.log(`server after start+enroll: ${memLine(atStart)}`);
    console.log(`before (after ${candidates.length} + ${opts.warmup} warm-up verifies): ${memLine(before)}`);

    const total = newTally();
    // The client's CPU over the timed window; the server's comes from its samples before and after.
    const clientCpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (!opts.soak) {
      await drive(to, frames, opts.concurrency, (n) => n < opts.requests, total);
    } else {
      const end = t0 + opts.minutes * 60_000;
      const xs: number[] = [];
      const ys: number[] = [];
      let done = 0;
      console.log(`soak: ${opts.minutes} min, a line every ${opts.interval} s`);
      console.log('   min  verifies  dec/s  p95 ms   rss MB  peak MB  heap MB (used/total)  ext MB  ab MB  wasm MB  tensors  errors');
      while (performance.now() < end) {
        const slice = newTally();
        const ts = performance.now();
        const until = Math.min(end, ts + opts.interval * 1000);
        done += await drive(to, frames, opts.concurrency, () => performance.now() < until, slice);
        const s = await child.sample();
        total.latencies.push(...slice.latencies);
        for (const [k, v] of slice.decisions) total.decisions.set(k, (total.decisions.get(k) ?? 0) + v);
        for (const [k, v] of slice.errors) total.errors.set(k, (total.errors.get(k) ?? 0) + v);
        for (const [k, v] of slice.reasons) total.reasons.set(k, (total.reasons.get(k) ?? 0) + v);
        xs.push(done);
        ys.push(s.rss);
        const decided = [...slice.decisions.values()].reduce((a, b) => a + b, 0);
        const errs = [...slice.errors.values()].reduce((a, b) => a + b, 0);
        console.log(
          [
            ((performance.now() - t0) / 60_000).toFixed(1).padStart(6),
            String(done).padStart(9),
            (decided / ((performance.now() - ts) / 1000)).toFixed(1).padStart(6),
            ms(pct(slice.latencies, 0.95)).padStart(7),
            mb(s.rss).padStart(8),
            mb(s.peakRss).padStart(8),
            `${mb(s.heapUsed)}/${mb(s.heapTotal)}`.padStart(20),
            mb(s.external).padStart(7),
            mb(s.arrayBuffers).padStart(6),
            mb(s.wasm).padStart(8),
            String(s.tensors).padStart(8),
            String(errs).padStart(7),
          ].join(' '),
        );
      }
      // The first interval holds the growth of warming up (JIT, arenas, caches); the trend is after it.
      const from = xs.length > 3 ? 1 : 0;
      const half = Math.floor(xs.length / 2);
      const perK = (a: number) => ((slope(xs.slice(a), ys.slice(a)) * 1000) / MB).toFixed(2);
      console.log(`RSS over the soak: first ${mb(ys[0]!)} MB, last ${mb(ys.at(-1)!)} MB, min ${mb(Math.min(...ys))} MB, max ${mb(Math.max(...ys))} MB`);
      // Warm-up and the audit trail's in-memory window (its newest 1,000 records) filling: the second half shows the trend after them.
      console.log(`RSS slope: ${perK(from)} MB per 1,000 verifies (samples ${from + 1}..${xs.length}), ${xs.length - half >= 3 ? perK(half) : 'n/a'} over the second half (samples ${half + 1}..${xs.length})`);
    }
    const clientCpu = process.cpuUsage(clientCpu0);
    const wall = (performance.now() - t0) / 1000;
    const after = await child.sample();
    // The decision log writes in the background: what is left once the load stops.
    await new Promise((r) => setTimeout(r, 2000));
    const idle = await child.sample();
    const loggedAfter = await activityEntries(url, token);
    const n = total.latencies.length;
    const decided = [...total.decisions.values()].reduce((a, b) => a + b, 0);
    console.log(`verifies: ${n} in ${wall.toFixed(1)} s at concurrency ${opts.concurrency}: ${(decided / wall).toFixed(1)} decisions/s`);
    console.log(`latency ms: p50 ${ms(pct(total.latencies, 0.5))}, p95 ${ms(pct(total.latencies, 0.95))}, p99 ${ms(pct(total.latencies, 0.99))}, max ${ms(Math.max(...total.latencies))}`);
    console.log(`decisions: ${fmtMap(total.decisions)}; errors: ${fmtMap(total.errors)}`);
    // Where the time went, client and server, by thread.
    const cpu = cpuPerVerify(child.proc.pid!, started.workers, n, wall, clientCpu, before, after);
    console.log(cpuLine(cpu, started.workers));
    if (total.reasons.size) console.log(`  not decided on: ${fmtMap(total.reasons)}`);
    console.log(`activity log: ${loggedBefore} entries before, ${loggedAfter} after 2 s idle (granted and denied are logged; the newest 1,000 are read)`);
    console.log(`after: ${memLine(after)}`);
    console.log(`after 2 s idle: ${memLine(idle)}`);
    console.log(`RSS MB: before ${mb(before.rss)}, after ${mb(after.rss)}, peak ${mb(idle.peakRss)} (since the server started); tensors before ${before.tensors}, after ${after.tensors}; sharp cache ${idle.sharpCache.items} items, ${mb(idle.sharpCache.memory)} MB`);
    const command = `npm run bench -- load ${args.join(' ')}`.trim();
    return {
      figures: [
        { what: `decisions per second, ${n} verifies at concurrency ${opts.concurrency} over loopback`, ours: (decided / wall).toFixed(1), command },
        { what: 'latency under that load, p50 / p95 / p99 ms', ours: [0.5, 0.95, 0.99].map((q) => ms(pct(total.latencies, q))).join(' / '), command },
        { what: 'server RSS before / after / peak, MB', ours: [before.rss, after.rss, idle.peakRss].map(mb).join(' / '), command },
        {
          what: `CPU ms per verify under that load: client / server (main / inference workers (${started.workers}) / other threads)`,
          ours: `${fmt(cpu.client)} / ${fmt(cpu.server)} (${fmt(cpu.main)} / ${started.workers > 0 ? fmt(cpu.workers) : '-'} / ${fmt(cpu.other)})`,
          command,
        },
      ],
    };
  } finally {
    target?.agent.destroy();
    await child?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url && process.argv.includes('--child')) await childMain();
