// `facegate prepare --data DIR --out DIR`: photos -> aligned 112x112 face crops + manifest.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { formatPrepareSummary, prepareDataset } from '../../data/prepare.js';
import type { DetectorKind } from '../../vision/index.js';

export function register(program: Command): void {
  program
    .command('prepare')
    .description('detect, align and quality-check every photo of an identity-per-folder dataset into 112x112 JPEG crops (resumable)')
    .requiredOption('--data <dir>', 'dataset root: <id>/*.jpg, train|test/<id>/*.jpg, or folders of such sets')
    .requiredOption('--out <dir>', 'output root (same layout) with manifest.jsonl')
    .option('--aligned', 'sources are already ArcFace-aligned crops: only normalise to 112x112 RGB JPEG')
    .option('--workers <n>', 'worker threads (0 = this thread)', (v) => Number.parseInt(v, 10))
    .option('--detector <kind>', 'fast | accurate', 'accurate')
    .option('--size <px>', 'crop side', (v) => Number.parseInt(v, 10), 112)
    .option('--limit <n>', 'process at most n photos not yet done', (v) => Number.parseInt(v, 10))
    .option('--keep-all', 'keep the best face of every photo even when it fails quality (for evaluation sets); reasons go to the manifest as warnings')
    .action(async (o: { data: string; out: string; aligned?: boolean; workers?: number; detector: string; size: number; limit?: number; keepAll?: boolean }) => {
      if (o.detector !== 'fast' && o.detector !== 'accurate') throw new Error(`--detector must be fast or accurate, got ${o.detector}`);
      const bar = new cliProgress.SingleBar(
        { format: 'prepare [{bar}] {percentage}% {value}/{total} | kept {kept} skipped {skipped} | ETA {eta_formatted}', etaBuffer: 200, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      const summary = await prepareDataset({
        data: o.data,
        out: o.out,
        aligned: o.aligned ? true : 'auto',
        workers: o.workers,
        detector: o.detector as DetectorKind,
        size: o.size,
        limit: o.limit,
        keepAll: o.keepAll,
        onProgress: (p) => {
          if (!started) {
            bar.start(p.total, 0, { kept: 0, skipped: 0 });
            started = true;
          }
          bar.update(p.done, { kept: p.kept, skipped: p.skipped });
        },
      });
      bar.stop();
      console.log(formatPrepareSummary(summary));
      if (summary.errors.length) process.exitCode = 1;
    });
}
