// `facegate model info`: parameters and multiply-adds per variant and input size.
import type { Command } from 'commander';
import { VARIANTS } from '../../model/config.js';

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
}
