// `facegate finetune` (`npm run finetune`): retrain the active model's tail on the enrolled
// people's stored crops, print the before/after table, and promote the result only if it is better.
import type { Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';

interface Flags extends ConfigFlags {
  epochs: string;
  lr: string;
  replay: string;
  basePairs: string;
  minCrops: string;
  tolerance: string;
  anchorWeight: string;
  baseRun?: string;
  baseRawRoot?: string;
  dryRun?: boolean;
  allowReenroll?: boolean;
  shuffleLabels?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('finetune')
      .description('adapt the active model to the enrolled people; promoted only if it is better on held-out data')
      .option('--epochs <n>', 'training epochs over cached features', '6')
      .option('--lr <x>', 'Adam learning rate of the tail and head', '1e-4')
      .option('--replay <n>', 'base training images replayed against forgetting', '600')
      .option('--base-pairs <n>', 'base validation pairs for the no-worse check', '1000')
      .option('--min-crops <n>', 'people with fewer stored crops are skipped', '3')
      .option('--anchor-weight <w>', 'weight of the pull toward the old embeddings on replay images', '16')
      .option('--tolerance <x>', 'largest drop in base verification accuracy still promoted (0.01 = 1 point)', '0.01')
      .option('--base-run <dir>', "the base model's training run (default: from its meta.json)")
      .option('--base-raw-root <dir>', 'raw photos of the base training data, when its prepared crops are not on this machine (or FACEGATE_BASE_DATA)', process.env.FACEGATE_BASE_DATA || undefined)
      .option('--dry-run', 'measure and train, but do not promote')
      .option('--allow-reenroll', 'promote even if people without stored face crops (keepCrops off) would have to enroll again')
      .option('--shuffle-labels', 'sanity check of the guard: train on shuffled site labels (must be refused)')
      .option('--json', 'print the report as JSON'),
  ).action(async (o: Flags) => {
    const { EXIT, runCommand } = await import('../../service/cli-run.js');
    const { runFinetune, FinetuneError } = await import('../../finetune/finetune.js');
    const { BaseDataError } = await import('../../finetune/base-data.js');
    const num = (name: string, v: string, min: number, max: number) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < min || n > max) throw new FinetuneError(`--${name} must be a number in [${min}, ${max}], got "${v}"`);
      return n;
    };
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    await runCommand(!!o.json, async () => {
      try {
        const report = await runFinetune(configFromFlags(o), {
          epochs: num('epochs', o.epochs, 1, 1000),
          lr: num('lr', o.lr, 1e-7, 1),
          replaySize: num('replay', o.replay, 0, 100_000),
          maxBasePairs: num('base-pairs', o.basePairs, 20, 1_000_000),
          minCrops: num('min-crops', o.minCrops, 2, 100),
          tolerance: num('tolerance', o.tolerance, 0, 1),
          preserveWeight: num('anchor-weight', o.anchorWeight, 0, 1000),
          baseRun: o.baseRun,
          baseRawRoot: o.baseRawRoot,
          dryRun: !!o.dryRun,
          allowReenroll: !!o.allowReenroll,
          shuffleLabels: !!o.shuffleLabels,
          progress: process.stderr.isTTY && !o.json,
          signal: ac.signal,
        });
        if (o.json) console.log(JSON.stringify(report, null, 2));
        else {
          console.log(report.table);
          console.log('');
          for (const r of report.reasons) console.log(`- ${r}`);
          console.log(`${report.promoted ? 'PROMOTED' : 'KEPT the current model'} (${report.seconds.toFixed(0)} s)`);
        }
        return report.promoted || o.dryRun ? EXIT.ok : EXIT.denied;
      } catch (err) {
        if (err instanceof FinetuneError || err instanceof BaseDataError) {
          if (o.json) console.log(JSON.stringify({ error: { code: 'finetune', message: err.message } }, null, 2));
          else console.error(`error: ${err.message}`);
          return EXIT.refused;
        }
        throw err;
      }
    });
  });
}
