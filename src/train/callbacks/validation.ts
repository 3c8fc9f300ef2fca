// Per-epoch validation (arcface_torch's CallBackVerification): closed-set loss and accuracy on the
// held-out images of the training identities, and 10-fold verification on face pairs.
import type { TrainableFaceNet } from '../../model/facenet.js';
import type { BatchLoader } from '../../data/loader.js';
import { writeFlat } from '../flat.js';
import { closedSetBatch, type PairValidator } from '../validate.js';
import type { Callback } from '../loop.js';

export function validation(o: { tm: TrainableFaceNet; params: Float32Array; buffers: Float32Array; valLoader?: BatchLoader; pairs?: PairValidator }): Callback {
  return {
    epochEnd: async (rec) => {
      // The weights live in the flat vectors; the in-thread model is synchronised from them.
      writeFlat(o.tm.trainableVariables(), o.params);
      writeFlat(o.tm.bufferVariables(), o.buffers);
      if (o.valLoader) {
        let loss = 0, correct = 0, n = 0;
        for await (const b of o.valLoader.batches(0)) {
          const r = closedSetBatch(o.tm, b.images, b.labels);
          loss += r.lossSum;
          correct += r.correct;
          n += b.labels.length;
        }
        rec.valLoss = loss / Math.max(1, n);
        rec.valAcc = correct / Math.max(1, n);
      }
      if (o.pairs) {
        const v = await o.pairs.evaluate(o.tm);
        rec.verifAcc = v.mean;
        rec.verifStd = v.std;
      }
    },
  };
}
