// `facegate model info | export | list | use FOLDER | rollback`: parameters and multiply-adds per
// variant, exporting a checkpoint, and the versions under models/ (which one is active). `use` and
// `rollback` only rewrite models/active.json: a server following it switches within a second.
import type { Command } from 'commander';
import { VARIANTS } from '../../model/config.js';

interface RegistryFlags {
  config?: string;
  models?: string;
}

/** The models folder: --models, else the configuration's (FACEGATE_MODELS_DIR, config file), else models/. */
async function registryOf(o: RegistryFlags) {
  const { ModelRegistry } = await import('../../model/registry.js');
  const { loadConfig, MODELS_ROOT } = await import('../../config/load.js');
  if (o.models) return { registry: new ModelRegistry(o.models), pinned: null };
  // A pinned model (FACEGATE_MODEL_DIR) leaves modelsDir null: the registry is then the default one,
  // and the server will not follow it.
  const config = loadConfig({ file: o.config });
  const root = config.modelsDir ?? process.env.FACEGATE_MODELS_DIR?.trim() ?? MODELS_ROOT;
  return { registry: new ModelRegistry(root || MODELS_ROOT), pinned: config.modelsDir === null ? config.modelDir : null };
}

const pct = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '');

/** Plain aligned columns (console.table's index column and quotes get in the way of reading). */
function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
}

/** Registry and configuration refusals as one line and exit code 2, not a stack trace. */
async function friendly(body: () => Promise<void>): Promise<void> {
  const { ModelRegistryError } = await import('../../model/registry.js');
  const { ConfigError } = await import('../../config/load.js');
  try {
    await body();
  } catch (err) {
    if (!(err instanceof ModelRegistryError || err instanceof ConfigError)) throw err;
    console.error(`error: ${err.message}`);
    process.exitCode = 2;
  }
}

function withRegistryOptions(cmd: Command): Command {
  return cmd.option('--models <dir>', 'models folder (default: the configuration\'s, else models/)').option('--config <file>', 'JSON config file (or FACEGATE_CONFIG)');
}

export function register(program: Command): void {
  const model = program.command('model').description('inspect and manage embedder models');
  model
    .command('info')
    .description('parameters and multiply-adds of each backbone variant')
    .option('--sizes <px...>', 'input sizes', ['112', '224'])
    .action(async (o: { sizes: string[] }) => {
      const { initBackend } = await import('../../engine/backend.js');
      const { FaceNet } = await import('../../model/facenet.js');
      await initBackend({ quiet: true });
      const rows = [];
      for (const variant of VARIANTS) {
        for (const s of o.sizes.map(Number)) {
          const net = FaceNet.create({ variant, inputSize: s });
          rows.push({ variant, input: `${s}px`, params: `${(net.params.countTrainable() / 1e6).toFixed(2)}M`, MACs: `${(net.countMacs() / 1e6).toFixed(0)}M`, bytes: `${((net.params.all().reduce((n, [, v]) => n + v.size, 0) * 4) / 1e6).toFixed(1)} MB` });
          net.dispose();
        }
      }
      console.table(rows);
    });

  model
    .command('export')
    .description('export a checkpoint of a training run as a model folder (thresholds calibrated on its validation pairs)')
    .requiredOption('--run <dir>', 'training run folder')
    .requiredOption('--out <dir>', 'model folder to write (e.g. models/my-model)')
    .option('--checkpoint <name>', 'checkpoint: best, last, interrupted, epoch-0010', 'best')
    .option('--quantize <mode>', 'weights as none | float16 | uint8', 'none')
    .action(async (o: { run: string; out: string; checkpoint: string; quantize: 'none' | 'float16' | 'uint8' }) => {
      const { exportCheckpoint } = await import('../../train/trainer.js');
      console.log(await exportCheckpoint(o.run, o.out, { checkpoint: o.checkpoint, quantize: o.quantize }));
    });

  withRegistryOptions(model.command('list').description('model versions under models/, the active one marked *')).action((o: RegistryFlags) =>
    friendly(async () => {
      const { registry, pinned } = await registryOf(o);
      const entries = await registry.list();
      const { history } = registry.activeSync();
      if (entries.length === 0) {
        console.log(`no model folders (with a model.json) in ${registry.root}`);
        return;
      }
      const obj = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
      printTable(
        ['', 'folder', 'version', 'created', 'verif', 'finetuned from'],
        entries.map((e) => {
          const m = obj(e.meta);
          const metrics = obj(m.metrics);
          const verif = pct(metrics.verifAcc) + (typeof metrics.verifStd === 'number' ? ` ± ${pct(metrics.verifStd)}` : '');
          return [e.active ? '*' : '', e.folder, String(m.version ?? ''), String(m.created ?? '').replace(/\.\d+Z$/, 'Z'), verif, String(obj(m.finetune).parent ?? '')];
        }),
      );
      if (history.length) console.log(`\nrollback goes to: ${history[history.length - 1]}`);
      if (pinned) console.log(`\nnote: the configuration pins the server to ${pinned} (--model / FACEGATE_MODEL_DIR): it does not follow ${registry.activeFile}`);
    }),
  );

  withRegistryOptions(model.command('use').description('make FOLDER (under models/) the active model; a running server switches to it').argument('<folder>', 'model folder name, e.g. facegate-default')).action(
    (folder: string, o: RegistryFlags) =>
      friendly(async () => {
        const { registry, pinned } = await registryOf(o);
        const a = await registry.use(folder);
        console.log(`active model: ${a.active} (${registry.activeFile}); previous: ${a.history[a.history.length - 1] ?? 'none'}`);
        if (pinned) console.log(`note: the configuration pins the server to ${pinned}: it will not follow this`);
      }),
  );

  withRegistryOptions(model.command('rollback').description('return to the previously active model')).action((o: RegistryFlags) =>
    friendly(async () => {
      const { registry, pinned } = await registryOf(o);
      const a = await registry.rollback();
      console.log(`active model: ${a.active} (${registry.activeFile})`);
      if (pinned) console.log(`note: the configuration pins the server to ${pinned}: it will not follow this`);
    }),
  );
}
