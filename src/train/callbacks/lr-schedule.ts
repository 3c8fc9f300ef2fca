// The learning-rate schedule: a linear warm-up per step over the first `warmupEpochs`, then
// ReduceLROnPlateau on the epoch's selection metric. The scheduler's rate and state live in the
// run state, so checkpoints carry them and a resume continues the schedule.
import type { Adam } from '../adam.js';
import { ReduceLROnPlateau, type PlateauState } from '../plateau.js';
import { selectionMetric } from '../history.js';
import type { Callback } from '../loop.js';

export interface ScheduleState {
  /** The scheduler's rate (before warm-up). */
  lr: number;
  plateau: PlateauState;
}

export function lrSchedule(o: { optimizer: Adam; state: ScheduleState; warmupEpochs: number; plateau: ReduceLROnPlateau }): Callback {
  o.plateau.state = o.state.plateau;
  return {
    beforeStep: (s) => {
      o.optimizer.lr = warmupLr(o.state.lr, o.warmupEpochs, s.epoch - 1, s.batch, s.batches);
    },
    epochEnd: (rec) => {
      o.state.lr = o.plateau.step(selectionMetric(rec), o.state.lr);
      o.state.plateau = o.plateau.state;
    },
  };
}

/** `lr` scaled by the fraction of the warm-up done after this step (1 past it). */
function warmupLr(lr: number, warmupEpochs: number, epoch0: number, batch: number, perEpoch: number): number {
  if (!warmupEpochs) return lr;
  const progress = (epoch0 * perEpoch + batch + 1) / (warmupEpochs * perEpoch);
  return progress >= 1 ? lr : lr * progress;
}
