// `facegate model info | export | import | list | use FOLDER | rollback`: parameters and multiply-adds per
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

  model
    .command('import')
    .description('build our own trainable network from an ONNX face embedder (MobileFaceNet), as a model folder')
    .argument('<onnx>', 'the .onnx file')
    .requiredOption('--out <dir>', 'model folder to write (e.g. models/mobilefacenet-import)')
    // ONNX does not record the input convention: the publisher's documentation does, so it is stated here.
    .requiredOption('--channels <order>', 'channel order the network expects: RGB | BGR')
    .requiredOption('--mean <v>', 'input is (pixel - mean) / std', Number.parseFloat)
    .requiredOption('--std <v>', 'input is (pixel - mean) / std', Number.parseFloat)
    .option('--name <name>', 'model name in meta.json (default: the folder name)')
    .option('--calibrate <dirs...>', 'aligned training crops (identity-per-folder): measure BatchNorm statistics so training can continue from the import')
    .option('--calibrate-images <n>', 'crops for the BatchNorm statistics', (v) => Number.parseInt(v, 10), 2048)
    .option('--val-pairs <file>', 'validation pairs (fold, same, path1, path2) for the thresholds; never the dev pairs')
    .option('--val-root <dir>', 'folder the validation pair paths are relative to')
    .option('--quantize <mode>', 'weights as none | float16 | uint8', 'none')
    .option('--provenance <json>', 'JSON file: where the weights came from, training data, licence notes (copied into meta.json)')
    .action(async (file: string, o: { out: string; channels: string; mean: number; std: number; name?: string; calibrate?: string[]; calibrateImages: number; valPairs?: string; valRoot?: string; quantize: string; provenance?: string }) => {
      const { z } = await import('zod');
      const { PixelsSchema } = await import('../../model/config.js');
      const { OnnxImportError } = await import('../../model/import/onnx-graph.js');
      const pixels = PixelsSchema.safeParse({ channels: o.channels.toUpperCase(), mean: o.mean, std: o.std });
      const quantize = z.enum(['none', 'float16', 'uint8']).safeParse(o.quantize);
      const problems = [
        !pixels.success && '--channels must be RGB or BGR, and --mean/--std numbers (std > 0)',
        !quantize.success && '--quantize must be none, float16 or uint8',
        Boolean(o.valPairs) !== Boolean(o.valRoot) && '--val-pairs and --val-root go together',
      ].filter(Boolean);
      if (problems.length || !pixels.success || !quantize.success) {
        console.error(`error: ${problems.join('; ')}`);
        process.exitCode = 2;
        return;
      }
      const { readFile } = await import('node:fs/promises');
      const path = await import('node:path');
      const { initBackend } = await import('../../engine/backend.js');
      const { importOnnxModel } = await import('../../model/import/import-model.js');
      await initBackend();
      try {
        const r = await importOnnxModel({
          file,
          out: o.out,
          name: o.name ?? path.basename(path.resolve(o.out)),
          pixels: pixels.data,
          calibrate: o.calibrate ? { data: o.calibrate, images: o.calibrateImages } : undefined,
          valPairs: o.valPairs && o.valRoot ? { file: o.valPairs, root: o.valRoot } : undefined,
          quantize: quantize.data,
          provenance: o.provenance ? (JSON.parse(await readFile(o.provenance, 'utf8')) as Record<string, unknown>) : undefined,
          log: (l) => console.error(l),
        });
        const t = r.meta.thresholds?.cosine?.far1e3;
        console.log(`${r.dir}: ${r.meta.name} ${r.meta.version}, ${r.report.embeddingSize}-d, ${(r.report.parameters / 1e6).toFixed(2)}M parameters` + (t !== undefined ? `, cosine threshold ${t.toFixed(3)} at FAR 1e-3 on the validation pairs` : ''));
      } catch (err) {
        if (!(err instanceof OnnxImportError)) throw err;
        console.error(`error: ${file}: ${err.message}`);
        process.exitCode = 2;
      }
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
