// `npm run bench` (no area): runs, in one go, every bench the side-by-side table needs, each in
// its own process (a clean WASM heap, no bench warming another's caches), and writes
// docs/BENCHMARKS.md: the date and the machine, the table (ours beside face-api where there is a
// peer), each figure's command, and every bench's full output. `--only verify,match` runs a subset;
// `--out FILE` writes elsewhere. Numbers are printed, never asserted: this is not a test.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command } from 'commander';
import type { BenchFigure, BenchSummary } from './summary.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const exec = promisify(execFile);

/** The areas of the table, in its order, with the arguments the table's figures are measured with. */
const PLAN: { area: string; args: string[]; what: string }[] = [
  { area: 'verify', args: ['--no-match'], what: 'one frame to a decision, ours and face-api\'s full pipeline (detector + recognizer)' },
  { area: 'load', args: [], what: '1,000 verifies at concurrency 8 over loopback' },
  { area: 'embedders', args: [], what: 'embeddings per second, ours and face-api\'s recognizer' },
  { area: 'match', args: ['--sizes', '10000,100000,1000000'], what: '1:N search' },
  { area: 'engine', args: ['--backends', 'wasm', '--variants', 'mobilefacenet', '--sizes', '112', '--workers', '1,2', '--quick'], what: 'training speed' },
  // The imported model names no training run of ours: a run on the same training set gives the base data.
  { area: 'finetune', args: ['--base-run', 'models/training/efficientfr-distill-mfn'], what: 'finetune on site' },
];

interface Ran {
  area: string;
  args: string[];
  figures: BenchFigure[];
  output: string;
  seconds: number;
  error?: string;
}

async function runArea(area: string, args: string[], dir: string): Promise<Ran> {
  const file = path.join(dir, `${area}.json`);
  const t0 = performance.now();
  const cmd = ['--import', 'tsx', path.join(ROOT, 'bench/main.ts'), area, ...args, '--summary-json', file];
  try {
    const { stdout } = await exec(process.execPath, cmd, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const summary = JSON.parse(await readFile(file, 'utf8')) as BenchSummary;
    return { area, args, figures: summary.figures, output: stdout, seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    // The end of what it said, without the minified library source a crash can print.
    const said = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.split('\n').filter((l) => l.trim() !== '' && l.length < 400);
    const reason = said.filter((l) => /error/i.test(l) && !/^\s+at /.test(l)).at(-1) ?? e.message.split('\n')[0]!;
    return { area, args, figures: [], output: said.slice(-25).join('\n'), seconds: (performance.now() - t0) / 1000, error: reason.trim() };
  }
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} x ${cpus.length} cores (${os.availableParallelism()} available), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, load average at the start ${os.loadavg()[0]!.toFixed(2)}`;
}

function markdown(ran: Ran[], started: Date): string {
  const lines = [
    '# FaceGate benchmarks',
    '',
    `Written by \`npm run bench\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    '',
    `Machine: ${machine()}. TensorFlow.js on WASM (tfjs-node cannot be installed here). Verify and load run inference as \`npm start\` does: inference workers (one per core, one WASM thread each) for concurrent requests, and a lone request on the main thread's WASM threads when that is measured faster (README, "Where inference runs"); the load bench's server runs with node's SERVER_NODE_FLAGS (--single-threaded-gc). Embedders, engine and finetune: one thread per process unless a figure says workers.`,
    'Figures are wall time on this machine; a busy machine moves them, so each bench alternates ours and face-api\'s where it compares them.',
    '',
    '| what | ours | face-api (same run) | command |',
    '| --- | ---: | ---: | --- |',
  ];
  for (const r of ran) {
    if (r.error) lines.push(`| ${r.area}: failed (${r.error.replace(/\|/g, '/')}) | - | - | \`npm run bench -- ${[r.area, ...r.args].join(' ')}\` |`);
    for (const f of r.figures) lines.push(`| ${f.what} | ${f.ours} | ${f.peer ?? ''} | \`${f.command}\` |`);
  }
  lines.push('', '## Full output', '');
  for (const r of ran) {
    lines.push(`### \`npm run bench -- ${[r.area, ...r.args].join(' ')}\` (${r.seconds.toFixed(0)} s)`, '', '```', r.output.trim(), '```', '');
  }
  return lines.join('\n');
}

export async function run(args: string[]): Promise<BenchSummary> {
  const o = new Command()
    .option('--only <areas>', 'comma-separated areas of the plan', PLAN.map((p) => p.area).join(','))
    .option('--out <file>', 'where to write', path.join(ROOT, 'docs/BENCHMARKS.md'))
    .parse(args, { from: 'user' })
    .opts<{ only: string; out: string }>();
  const only = new Set(o.only.split(','));
  const started = new Date();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-report-'));
  const ran: Ran[] = [];
  try {
    for (const p of PLAN.filter((x) => only.has(x.area))) {
      console.error(`[bench report] ${p.area}: ${p.what}...`);
      const r = await runArea(p.area, p.args, dir);
      console.error(`[bench report] ${p.area}: ${r.error ? `failed: ${r.error}` : `${r.figures.length} figures`} in ${r.seconds.toFixed(0)} s`);
      ran.push(r);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const text = markdown(ran, started);
  await writeFile(o.out, text + '\n');
  console.log(text.split('\n## Full output')[0]);
  console.log(`written to ${path.relative(ROOT, o.out)}`);
  return { figures: ran.flatMap((r) => r.figures) };
}
