// Checkpoints (arcface_torch's CallBackModelCheckpoint): the best epoch by the selection metric,
// every `every` epochs (the newest few kept), the last epoch, and where an interrupted epoch
// stopped. Each but `best` becomes the one `--resume` continues from.
import path from 'node:path';
import { markLatest, prunePeriodic, saveCheckpoint, type Checkpoint, type TrainState } from '../checkpoint.js';
import { selectionMetric } from '../history.js';
import type { Callback } from '../loop.js';

export function checkpoints(o: { runDir: string; every: number; snapshot: () => Checkpoint; state: TrainState; log: (line: string) => void }): Callback {
  const save = async (name: string, latest = true) => {
    await saveCheckpoint(path.join(o.runDir, 'checkpoints', name), o.snapshot());
    if (latest) await markLatest(o.runDir, name);
  };
  return {
    epochEnd: async (rec, e) => {
      const metric = selectionMetric(rec);
      if (!o.state.best || metric > o.state.best.metric) {
        o.state.best = { metric, epoch: e.epoch };
        await save('best', false);
      }
      if (e.epoch % o.every === 0) {
        await save(`epoch-${String(e.epoch).padStart(4, '0')}`);
        await prunePeriodic(o.runDir);
      }
      await save('last');
    },
    interrupted: async (e) => {
      await save('interrupted');
      o.log(`[train] interrupted in epoch ${e.epoch} at batch ${o.state.batch}/${e.batches}; checkpoint saved. Resume with --resume ${o.runDir}`);
    },
  };
}
