// `facegate teacher --data DIR... --out FILE`: face-api descriptors of every training image, the
// cache that distillation (`facegate train --teacher-cache`) reads. Resumable; Ctrl-C saves.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { CropFraming } from '../../eval/peer-faceapi.js';

const FRAMINGS = ['crop', 'dlib'];

function parseFraming(v: string): CropFraming {
  if (!FRAMINGS.includes(v)) throw new Error(`--framing must be one of ${FRAMINGS.join('|')}, got ${v}`);
  return v as CropFraming;
}

export function register(program: Command): void {
  program
    .command('teacher')
    .description("cache a teacher's embeddings (face-api's 128-d descriptors, or one of our models with --model) of identity-per-folder datasets for distillation (resumable)")
    .requiredOption('--data <dirs...>', 'dataset roots, as given to `facegate train --data`')
    .option('--out <file>', 'cache file (a .bin is written beside it)')
    .option('--aligned', 'inputs are ArcFace-aligned crops (from `facegate prepare`): no detection')
    .option('--model <dir>', 'teacher: one of our model folders (e.g. an imported network) instead of face-api; needs --aligned')
    .option('--framing <how>', 'crop framing for face-api: crop (whole crop resized) | dlib (face-api\'s own box)', parseFraming)
    .option('--workers <n>', 'worker threads (0 = this thread; default one per core)', (v) => Number.parseInt(v, 10))
    .option('--measure-framing', 'only compare the framings on pairs of sampled training identities (AUC) and exit')
    .option('--identities <n>', 'with --measure-framing: identities to sample', (v) => Number.parseInt(v, 10), 40)
    .option('--per-identity <n>', 'with --measure-framing: crops per identity', (v) => Number.parseInt(v, 10), 8)
    .action(async (o: { data: string[]; out?: string; aligned?: boolean; model?: string; framing?: CropFraming; workers?: number; measureFraming?: boolean; identities: number; perIdentity: number }) => {
      if (o.measureFraming) {
        const { measureFramings } = await import('../../teacher/framing.js');
        const t0 = performance.now();
        const m = await measureFramings({ data: o.data, identities: o.identities, perIdentity: o.perIdentity, workers: o.workers });
        console.log(`${m.crops} crops of ${m.identities} identities (${m.failed} unreadable), ${m.genuinePairs} genuine / ${m.impostorPairs} impostor pairs; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
        console.table(
          m.results.map((r) => ({
            framing: r.framing,
            AUC: r.auc.toFixed(4),
            'TAR@FAR=1e-2': r.tarAtFar1e2.toFixed(3),
            'best acc': r.bestAccuracy.toFixed(4),
            'mean cos same': r.meanGenuine.toFixed(3),
            'mean cos diff': r.meanImpostor.toFixed(3),
          })),
        );
        console.log(`best: ${m.best}`);
        return;
      }
      if (!o.out) throw new Error('--out <file> is required');
      const { buildTeacherCache } = await import('../../teacher/build-cache.js');
      const tty = Boolean(process.stderr.isTTY);
      const bar = tty
        ? new cliProgress.SingleBar({ format: 'teacher [{bar}] {percentage}% {value}/{total} | failed {failed} | ETA {eta_formatted}', etaBuffer: 100, hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      const abort = new AbortController();
      const onSigint = () => {
        console.error('\n[teacher] stopping after the images in flight; the cache keeps what is done');
        abort.abort();
      };
      process.once('SIGINT', onSigint);
      let started = false;
      let lastLine = 0;
      const t0 = performance.now();
      try {
        const s = await buildTeacherCache({
          data: o.data,
          out: o.out,
          aligned: Boolean(o.aligned),
          model: o.model,
          framing: o.framing,
          workers: o.workers,
          signal: abort.signal,
          onProgress: (p) => {
            if (bar) {
              if (!started) bar.start(p.total, 0, { failed: 0 });
              started = true;
              bar.update(p.done, { failed: p.failed });
              return;
            }
            // Non-interactive: a line every ~5% with a plain ETA.
            const step = Math.max(1, Math.round(p.total / 20));
            if (p.done === p.total || p.done - lastLine >= step) {
              lastLine = p.done;
              const secs = (performance.now() - t0) / 1000;
              const eta = p.done ? (secs / p.done) * (p.total - p.done) : NaN;
              console.error(`[teacher] ${p.done}/${p.total} failed ${p.failed} | ${secs.toFixed(0)} s | ETA ${Number.isFinite(eta) ? eta.toFixed(0) + ' s' : '-'}`);
            }
          },
        });
        bar?.stop();
        console.log(
          `${s.found} images; ${s.resumed} already cached, ${s.added} added, ${s.failed.length} failed; ${s.total} rows in ${s.out}; ${s.seconds.toFixed(1)} s` +
            (s.interrupted ? ' (interrupted: run again to continue)' : ''),
        );
        for (const f of s.failed.slice(0, 10)) console.log(`  failed: ${f.path}: ${f.reason}`);
        if (s.failed.length > 10) console.log(`  ... and ${s.failed.length - 10} more`);
      } finally {
        bar?.stop();
        process.off('SIGINT', onSigint);
      }
    });
}
