// The epoch loop, in the shape of arcface_torch's train_v2.py: batches -> step -> callbacks.
// Everything else a run does (progress, validation, the learning-rate schedule, checkpoints,
// history) is a callback (src/train/callbacks/), so the loop is the same for `facegate train`
// and the finetune's tail.
import type { GradientSums } from './gradients.js';
import type { EpochRecord } from './history.js';

export interface EpochContext {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Batches in this epoch. */
  batches: number;
}

export interface StepContext extends EpochContext {
  /** 0-based index of the batch in the epoch. */
  batch: number;
}

/**
 * Hooks run in the order the callbacks are listed, so each sees what the ones before it did: at
 * an epoch's end validation adds its metrics to the record before the schedule and the
 * checkpoints read them.
 */
export interface Callback {
  epochBegin?(e: EpochContext): void;
  beforeStep?(s: StepContext): void;
  afterStep?(s: StepContext, meter: EpochMeter): void;
  /** The record is already in the history and the position at the epoch's end. */
  epochEnd?(rec: EpochRecord, e: EpochContext): void | Promise<void>;
  /** Stopped by the signal part-way through an epoch; the position says where. */
  interrupted?(e: EpochContext): void | Promise<void>;
}

/** Where a run is: what checkpoints save and a resume continues from. */
export interface LoopState {
  /** Epochs fully completed. */
  epoch: number;
  /** Batches already done in epoch `epoch + 1` (non-zero only after an interruption). */
  batch: number;
  history: EpochRecord[];
}

export interface FitOptions<B extends { index: number }> {
  state: LoopState;
  epochs: number;
  batchesPerEpoch(epoch: number): number;
  /** The batches of `epoch` from index `from` on (a generator may skip an index). */
  batches(epoch: number, from: number): AsyncIterable<B> | Iterable<B>;
  /** One optimisation step on the batch (trainStep). */
  step(batch: B): Promise<GradientSums>;
  /** The learning rate the epoch record reports (the last step's). */
  optimizer: { lr: number };
  /** Record the distillation term (runs with a teacher). */
  distill?: boolean;
  callbacks: Callback[];
  signal?: AbortSignal;
}

/** Running sums over an epoch's steps. */
export class EpochMeter {
  seen = 0;
  lossSum = 0;
  distillSum = 0;
  correct = 0;
  private readonly t0 = performance.now();

  add(s: GradientSums): void {
    this.seen += s.count;
    this.lossSum += s.lossSum;
    this.distillSum += s.distillSum;
    this.correct += s.correct;
  }
  get loss(): number {
    return this.lossSum / Math.max(1, this.seen);
  }
  get accuracy(): number {
    return this.correct / Math.max(1, this.seen);
  }
  get seconds(): number {
    return (performance.now() - this.t0) / 1000;
  }
  get imagesPerSecond(): number {
    return this.seen / this.seconds;
  }
}

/** Trains from `state` to `epochs`; returns whether the signal stopped it. */
export async function fit<B extends { index: number }>(o: FitOptions<B>): Promise<{ interrupted: boolean }> {
  const { state, callbacks } = o;
  let interrupted = o.signal?.aborted ?? false;
  const onAbort = () => (interrupted = true);
  o.signal?.addEventListener('abort', onAbort);
  try {
    for (let epoch = state.epoch + 1; epoch <= o.epochs && !interrupted; epoch++) {
      const e: EpochContext = { epoch, epochs: o.epochs, batches: o.batchesPerEpoch(epoch) };
      const meter = new EpochMeter();
      for (const cb of callbacks) cb.epochBegin?.(e);
      for await (const batch of o.batches(epoch, state.batch)) {
        if (batch.index >= e.batches) break;
        const s: StepContext = { ...e, batch: batch.index };
        for (const cb of callbacks) cb.beforeStep?.(s);
        meter.add(await o.step(batch));
        state.batch = batch.index + 1;
        for (const cb of callbacks) cb.afterStep?.(s, meter);
        // Let Ctrl-C, status writes and other requests in between steps.
        await new Promise((r) => setImmediate(r));
        if (interrupted) break;
      }
      if (interrupted && state.batch < e.batches) {
        for (const cb of callbacks) await cb.interrupted?.(e);
        break;
      }
      const seconds = meter.seconds;
      const rec: EpochRecord = { epoch, trainLoss: meter.loss, trainAcc: meter.accuracy, lr: o.optimizer.lr, seconds, imagesPerSecond: meter.seen / seconds };
      if (o.distill) rec.distillLoss = meter.distillSum / Math.max(1, meter.seen);
      state.history.push(rec);
      state.epoch = epoch;
      state.batch = 0;
      for (const cb of callbacks) await cb.epochEnd?.(rec, e);
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return { interrupted };
}
