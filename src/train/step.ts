// One optimisation step, the same for `facegate train` and the finetune's tail: the batch's
// summed gradients (from replicas, or from the tail over cached features) -> their mean -> Adam on
// the flat parameter vector -> the BatchNorm batch moments folded into the moving averages.
import type { TrainableFaceNet } from '../model/facenet.js';
import type { Adam } from './adam.js';
import { bnLayers, type GradientSums } from './gradients.js';

export async function trainStep(
  params: Float32Array,
  optimizer: Adam,
  gradients: (params: Float32Array) => Promise<GradientSums> | GradientSums,
  movingStats?: BnMovingStats,
): Promise<GradientSums> {
  const sums = await gradients(params);
  const inv = 1 / sums.count;
  for (let i = 0; i < sums.grads.length; i++) sums.grads[i]! *= inv;
  optimizer.update(params, sums.grads);
  movingStats?.fold(sums.bnStats, inv);
  return sums;
}

const BN_MOMENTUM = 0.9;

/** moving = 0.9 * moving + 0.1 * (mean over micro-batches of the batch moments), on the flat buffers. */
export class BnMovingStats {
  private layers: { channels: number; mean: number; variance: number }[];

  constructor(tm: TrainableFaceNet, readonly buffers: Float32Array) {
    const offsets = new Map<string, number>();
    let o = 0;
    for (const [name, v] of tm.bufferVariables()) {
      offsets.set(name, o);
      o += v.size;
    }
    this.layers = bnLayers(tm).map((l) => ({ channels: l.channels, mean: offsets.get(`${l.name}.moving_mean`)!, variance: offsets.get(`${l.name}.moving_var`)! }));
  }

  /** `stats` as GradientSums.bnStats (size-weighted sums); `inv` = 1 / images in the batch. */
  fold(stats: Float32Array, inv: number): void {
    const buffers = this.buffers;
    const half = stats.length / 2;
    let b = 0;
    for (const l of this.layers) {
      for (let i = 0; i < l.channels; i++) {
        buffers[l.mean + i] = BN_MOMENTUM * buffers[l.mean + i]! + (1 - BN_MOMENTUM) * stats[b + i]! * inv;
        buffers[l.variance + i] = BN_MOMENTUM * buffers[l.variance + i]! + (1 - BN_MOMENTUM) * stats[half + b + i]! * inv;
      }
      b += l.channels;
    }
  }
}
