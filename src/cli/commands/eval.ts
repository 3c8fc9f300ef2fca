// `facegate eval --pairs FILE --root DIR`: 10-fold accuracy, AUC, EER, TAR@FAR of a model on a
// pairs file, optionally beside face-api on the same pairs.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';

interface EvalCliOptions {
  pairs: string;
  root: string;
  model?: string;
  json?: string;
  aligned?: boolean;
  flip?: boolean;
  peer?: string;
  detector: string;
  roc?: string;
  workers?: number;
  peerMinConfidence?: number;
  record?: string;
}

/** One bar per side on a TTY; otherwise a plain line every ~10%. */
function progress(): { update: (side: string, done: number, total: number) => void; stop: () => void } {
  if (process.stderr.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    let current = '';
    return {
      update(side, done, total) {
        if (side !== current) {
          bar?.stop();
          current = side;
          bar = new cliProgress.SingleBar({ format: `${side.padEnd(8)} [{bar}] {value}/{total} | ETA {eta_formatted}`, etaBuffer: 50, hideCursor: true }, cliProgress.Presets.shades_classic);
          bar.start(total, 0);
        }
        bar!.update(done);
      },
      stop: () => bar?.stop(),
    };
  }
  let last = new Map<string, number>();
  return {
    update(side, done, total) {
      const step = Math.max(1, Math.round(total / 10));
      if (done === total || done - (last.get(side) ?? 0) >= step) {
        last.set(side, done);
        console.error(`[eval] ${side} ${done}/${total}`);
      }
    },
    stop: () => (last = new Map()),
  };
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('face-verification accuracy on a pairs file (our TSV or LFW pairs.txt), optionally beside face-api')
    .requiredOption('--pairs <file>', 'pairs file')
    .requiredOption('--root <dir>', 'folder the pair paths are relative to')
    .option('--model <dir>', 'model folder', 'models/facegate-default')
    .option('--json <file>', 'write the summary as JSON (the peer\'s goes to <file>.<peer>.json); ROC plot beside it')
    .option('--aligned', 'images are already aligned face crops: no detection')
    .option('--flip', 'test-time augmentation: embedding of the image plus its mirror')
    .option('--peer <name>', 'also evaluate a reference embedder on the same pairs: face-api')
    .option('--detector <kind>', 'our face detector: fast | accurate', 'accurate')
    .option('--roc <base>', 'ROC plot path without extension (.svg and .png)')
    .option('--peer-min-confidence <score>', "face-api's SSD detection threshold (default 0.1, as its Node demos; the library's own default is 0.5)", Number.parseFloat)
    .option('--workers <n>', 'threads for the peer (default one per core)', (v) => Number.parseInt(v, 10))
    .option('--record <key>', "store our summary (and the peer's) in the model's meta.json under metrics.<key>, e.g. dev")
    .action(async (o: EvalCliOptions) => {
      if (o.detector !== 'fast' && o.detector !== 'accurate') throw new Error(`--detector must be fast or accurate, got ${o.detector}`);
      if (o.peer !== undefined && o.peer !== 'face-api') throw new Error(`--peer must be face-api, got ${o.peer}`);
      const { evaluate, formatEvaluation, writeEvaluation } = await import('../../eval/evaluate.js');
      const bar = progress();
      let ev;
      try {
        ev = await evaluate({
          pairs: o.pairs,
          root: o.root,
          model: o.model,
          aligned: o.aligned,
          flip: o.flip,
          peer: o.peer as 'face-api' | undefined,
          detector: o.detector,
          peerWorkers: o.workers,
          peerMinConfidence: o.peerMinConfidence,
          onProgress: bar.update,
        });
      } finally {
        bar.stop();
      }
      console.log(formatEvaluation(ev));
      for (const s of [ev.ours, ...(ev.peer ? [ev.peer] : [])]) {
        if (s.failed.length) console.log(`${s.name}: ${s.failed.length} images failed, e.g. ${s.failed.slice(0, 3).map((f) => `${f.file} (${f.reason})`).join(', ')}`);
      }
      const written = await writeEvaluation(ev, { json: o.json, roc: o.roc });
      for (const f of Object.values(written)) console.log(`wrote ${f}`);
      if (o.record) {
        const { recordEvaluation } = await import('../../eval/record.js');
        console.log(`recorded in ${await recordEvaluation(o.model ?? "models/facegate-default", o.record, ev, o.pairs)}`);
      }
    });
}
