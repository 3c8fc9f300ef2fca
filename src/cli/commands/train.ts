// `facegate train`: flags or a JSON config file; Ctrl-C saves a checkpoint and exits cleanly.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { VARIANTS } from '../../model/config.js';

const int = (v: string) => Number.parseInt(v, 10);

export function register(program: Command): void {
  program
    .command('train')
    .description('train the face embedder (ArcFace) on identity-per-folder face crops')
    .option('--data <dirs...>', 'dataset folders (identity-per-folder or VGGFace2 layout)')
    .option('--run <dir>', 'run folder for checkpoints, history and curves', `runs/${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`)
    .option('--config <file>', 'JSON file with any of the training options')
    .option('--resume <dir>', 'continue a run folder or a checkpoint folder')
    .option('--variant <name>', `backbone: ${VARIANTS.join(' | ')}`)
    .option('--input-size <px>', 'input size (112 standard, 224 as the seed)', int)
    .option('--epochs <n>', 'epochs', int)
    .option('--batch <n>', 'batch size', int)
    .option('--micro-batch <n>', 'images per forward/backward (BN batch; WASM heap bound)', int)
    .option('--lr <x>', 'Adam learning rate (with --resume: the rate from here on, a manual step decay)', Number)
    .option('--weight-decay <x>', 'decoupled weight decay', Number)
    .option('--warmup <epochs>', 'linear warm-up epochs', Number)
    .option('-s, --scale <s>', 'ArcFace scale s', Number)
    .option('-m, --margin <m>', 'ArcFace angular margin m (radians)', Number)
    .option('--workers <n>', 'data-parallel gradient workers (0 = in this thread; default: cores)', int)
    .option('--loader-workers <n>', 'decode/augment threads', int)
    .option('--seed <n>', 'random seed', int)
    .option('--checkpoint-every <n>', 'checkpoint every n epochs', int)
    .option('--val-identities <n>', 'hold n identities out of training; pairs over them select the best epoch', int)
    .option('--val-pairs <file>', 'verification pairs for per-epoch 10-fold accuracy (selects the best model)')
    .option('--val-root <dir>', 'folder the pairs paths are relative to (prepared crops)')
    .option('--teacher <file>', 'teacher embedding cache for distillation (facegate teacher)')
    .option('--distill-mode <mode>', 'projection | similarity | direct')
    .option('--distill-weight <w>', 'weight of the distillation loss', Number)
    .option('--max-batches <n>', 'stop each epoch after n batches (quick experiments)', int)
    .option('--export <dir>', 'export the best model to this folder (e.g. models/my-model)')
    .option('--name <name>', 'model name written to meta.json')
    .action(async (o) => {
      const { train } = await import('../../train/trainer.js');
      const fromFile = o.config ? JSON.parse(await readFile(o.config, 'utf8')) : {};
      const flags = Object.fromEntries(
        Object.entries({
          data: o.data?.map((d: string) => path.resolve(d)),
          runDir: o.run,
          variant: o.variant,
          inputSize: o.inputSize,
          epochs: o.epochs,
          batchSize: o.batch,
          microBatch: o.microBatch,
          lr: o.lr,
          weightDecay: o.weightDecay,
          warmupEpochs: o.warmup,
          s: o.scale,
          m: o.margin,
          workers: o.workers,
          loaderWorkers: o.loaderWorkers,
          seed: o.seed,
          checkpointEvery: o.checkpointEvery,
          valIdentities: o.valIdentities,
          valPairs: o.valPairs,
          valRoot: o.valRoot,
          maxBatchesPerEpoch: o.maxBatches,
          teacher: o.teacher,
          distillMode: o.distillMode,
          distillWeight: o.distillWeight,
          name: o.name,
        }).filter(([, v]) => v !== undefined),
      );
      const cfg = { ...fromFile, ...flags };
      if (!o.resume && !cfg.data) throw new Error('--data (or a config file with "data") is required');
      const ac = new AbortController();
      process.once('SIGINT', () => {
        console.error('\n[train] stopping after this batch and saving a checkpoint (Ctrl-C again to abort)');
        ac.abort();
        process.once('SIGINT', () => process.exit(130));
      });
      const r = await train(cfg, { resume: o.resume, epochs: o.resume ? o.epochs : undefined, lr: o.resume ? o.lr : undefined, exportDir: o.export, signal: ac.signal });
      console.log(JSON.stringify({ runDir: r.runDir, best: r.best, interrupted: r.interrupted, model: r.modelDir }, null, 2));
    });
}
