// `npm run bench -- finetune`: end-to-end time of `facegate finetune` for 10 people x 5 photos with
// the default settings (replay, epochs, base pairs), on a copy of the active model in a temporary
// models folder, so nothing of the real box changes. Prints per-phase seconds and the before/after
// table. Needs the base model's data (prepared crops or the raw photos under ../shared/data/train).
//   npm run bench -- finetune [--model DIR] [--epochs N] [--replay N]
import { fmt, type BenchSummary } from './summary.js';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/engine/backend.js';
import { loadConfig } from '../src/config/index.js';
import { ModelRegistry } from '../src/model/registry.js';
import { MODELS_ROOT } from '../src/config/load.js';
import { FaceService } from '../src/service/index.js';
import { runFinetune } from '../src/finetune/finetune.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data');

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** The eight TV characters (in no training set), then people from train/google until there are ten. */
async function candidates(): Promise<{ name: string; files: string[] }[]> {
  const bbt = path.join(DATA, 'small/bbt');
  const out: { name: string; files: string[] }[] = [];
  for (const who of ['amy', 'bernadette', 'howard', 'leonard', 'penny', 'raj', 'sheldon', 'stuart']) {
    out.push({ name: who, files: (await readdir(path.join(bbt, who))).sort().slice(0, 5).map((f) => path.join(bbt, who, f)) });
  }
  const google = path.join(DATA, 'train/google');
  for (const who of (await readdir(google)).sort()) {
    out.push({ name: who, files: (await readdir(path.join(google, who))).sort().slice(0, 5).map((f) => path.join(google, who, f)) });
  }
  return out;
}

export async function run(args: string[]): Promise<BenchSummary | void> {
  const backend = await initBackend();
  const source = path.resolve(arg(args, 'model') ?? new ModelRegistry(MODELS_ROOT).activeDir());
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-finetune-'));
  try {
    const modelsDir = path.join(tmp, 'models');
    await cp(source, path.join(modelsDir, path.basename(source)), { recursive: true });
    await new ModelRegistry(modelsDir).use(path.basename(source)).catch(() => {});
    const config = loadConfig({ env: {}, overrides: { modelsDir, galleryDir: path.join(tmp, 'enrolled') } });
    const t0 = performance.now();
    const service = await FaceService.open(config, { quiet: true });
    let enrolled = 0;
    try {
      for (const p of await candidates()) {
        if (enrolled === 10) break;
        const images = await Promise.all(p.files.map(async (f) => ({ bytes: await readFile(f), file: f })));
        await service.enroll({ name: p.name, images, confirmDuplicate: true }).then(() => enrolled++, () => {}); // photos that fail the quality gate: next person
      }
    } finally {
      await service.close();
    }
    const enrollSeconds = (performance.now() - t0) / 1000;
    const epochs = arg(args, 'epochs');
    const replay = arg(args, 'replay');
    // The shipped model was imported, not trained here: its base data (replay identities, held-out
    // pairs) comes from a run on the same training set, named with --base-run.
    const baseRun = arg(args, 'base-run');
    const report = await runFinetune(config, { ...(epochs && { epochs: Number(epochs) }), ...(replay && { replaySize: Number(replay) }), ...(baseRun && { baseRun: path.resolve(baseRun) }), log: () => {} });
    console.log(`finetune benchmark (${backend.name}, model ${path.basename(source)}): ${enrolled} people x 5 photos, ${report.images.siteTrain} training crops, ${report.images.replay} replay images, ${report.images.basePairs} base pairs`);
    console.table({
      ...Object.fromEntries(Object.entries(report.phaseSeconds).map(([k, v]) => [k, { seconds: Number(v.toFixed(1)) }])),
      'finetune total': { seconds: Number(report.seconds.toFixed(1)) },
      'enrollment (before, not counted)': { seconds: Number(enrollSeconds.toFixed(1)) },
    });
    console.log(`tail training: ${report.trainSamplesPerSecond.toFixed(0)} samples/s on one thread (compare full-network training in \`npm run bench -- engine\`)`);
    console.log(report.table);
    for (const r of report.reasons) console.log(`- ${r}`);
    console.log(`target <= 600 s end to end: ${report.seconds <= 600 ? 'met' : 'NOT met'} (${report.seconds.toFixed(0)} s)`);
    return {
      figures: [
        { what: `finetune on site, end to end, minutes (${enrolled} people x 5 photos)`, ours: fmt(report.seconds / 60), command: `npm run bench -- finetune ${args.join(' ')}`.trim() },
        { what: 'finetune tail training, samples/s (one thread)', ours: fmt(report.trainSamplesPerSecond, 0), command: `npm run bench -- finetune ${args.join(' ')}`.trim() },
      ],
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
