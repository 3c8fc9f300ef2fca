// `facegate eval --record KEY`: the measured figures go into the model's meta.json (metrics.KEY),
// so the model folder says what it scored, on what, and when, next to the weights that scored it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { Evaluation, SideResult } from './evaluate.js';

const KEY = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a short lowercase key such as dev');

function summary(s: SideResult) {
  const { accuracy, accuracy_std, auc, eer, tar_at_far, threshold_cosine, threshold_euclidean, failed_images } = s.summary;
  return { name: s.name, accuracy, accuracy_std, auc, eer, tar_at_far, threshold_cosine, threshold_euclidean, failed_images };
}

export async function recordEvaluation(modelDir: string, key: string, ev: Evaluation, pairsFile: string): Promise<string> {
  KEY.parse(key);
  const file = path.join(modelDir, 'meta.json');
  const meta = JSON.parse(await readFile(file, 'utf8')) as { metrics?: Record<string, unknown> };
  meta.metrics = {
    ...(meta.metrics ?? {}),
    [key]: {
      pairs: path.basename(pairsFile),
      count: ev.pairs.length,
      measured: new Date().toISOString().slice(0, 10),
      ours: summary(ev.ours),
      ...(ev.peer && { peer: summary(ev.peer) }),
    },
  };
  await writeFileAtomic(file, JSON.stringify(meta, null, 2) + '\n');
  return file;
}
