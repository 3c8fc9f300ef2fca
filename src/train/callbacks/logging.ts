// Logging callbacks (arcface_torch's CallBackLogging): a progress bar or periodic lines during an
// epoch, and one summary line per epoch once validation has added its metrics.
import cliProgress from 'cli-progress';
import type { Callback } from '../loop.js';
import type { EpochRecord } from '../history.js';

type Log = (line: string) => void;

interface Bar {
  update(n: number, payload: Record<string, string>): void;
  stop(): void;
}

/** A bar on a TTY; otherwise (CI, the systemd journal) a line every ~10% of the epoch. */
export function progress(opts: { tty: boolean; log: Log }): Callback {
  let bar: Bar | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    epochBegin: (e) => {
      bar = makeBar(opts.tty, e.batches, e.epoch, e.epochs, opts.log);
    },
    afterStep: (s, m) => bar?.update(s.batch + 1, { loss: m.loss.toFixed(3), acc: m.accuracy.toFixed(3), ips: m.imagesPerSecond.toFixed(1) }),
    // Listed first, so the bar is gone before validation and the epoch's log lines.
    epochEnd: stop,
    interrupted: stop,
  };
}

function makeBar(tty: boolean, total: number, epoch: number, epochs: number, log: Log): Bar {
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: `epoch ${epoch}/${epochs} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { loss: '-', acc: '-', ips: '-' });
    return bar;
  }
  const every = Math.max(1, Math.round(total / 10));
  return {
    update(n, p) {
      if (n % every === 0 || n === total) log(`[train] epoch ${epoch}/${epochs} batch ${n}/${total} loss ${p.loss} acc ${p.acc} ${p.ips} img/s`);
    },
    stop() {},
  };
}

/** The epoch's summary line: training, validation and verification figures, rate and speed. */
export function epochSummary(log: Log): Callback {
  return {
    epochEnd: (r: EpochRecord, e) => {
      log(`[train] epoch ${r.epoch}/${e.epochs} loss ${r.trainLoss.toFixed(4)} acc ${fmt(r.trainAcc)} | val loss ${fmt(r.valLoss)} acc ${fmt(r.valAcc)} | verif ${fmt(r.verifAcc)} | lr ${r.lr.toExponential(2)} | ${r.imagesPerSecond.toFixed(1)} img/s, ${r.seconds.toFixed(0)} s`);
    },
  };
}

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(4);
}
