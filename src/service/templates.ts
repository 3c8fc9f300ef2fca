// Which enrollment samples become templates: a quality score to rank them, then a greedy
// farthest-point pick so the kept templates cover different poses and lighting instead of
// several copies of the best frame.
import type { QualityReport } from '../vision/quality.js';
import { dot } from '../match/vector.js';

/**
 * Heuristic sample quality in [0, 1] from the quality gate's measurements: larger, frontal,
 * sharp, well-exposed faces score higher. Only used to rank samples of one person.
 */
export function qualityScore(q: QualityReport): number {
  const m = q.metrics;
  const size = Math.min(1, m.faceSize / 160);
  const pose = Math.max(0, 1 - Math.max(Math.abs(m.yawDeg) / 45, Math.abs(m.rollDeg) / 45));
  const sharp = Math.min(1, m.sharpness / 400);
  const light = Math.max(0, 1 - Math.abs(m.brightness - 128) / 128);
  const s = (size + pose + sharp + light) / 4;
  return Math.round(Math.min(1, Math.max(0, s)) * 1000) / 1000;
}

/** Samples this close (cosine) to a kept one add nothing: two frames of the same instant. */
export const NEAR_DUPLICATE_COS = 0.995;

/**
 * Indices of up to `max` samples: the best-quality one first, then repeatedly the one farthest
 * (lowest max-cosine) from those kept, skipping near-duplicates. Embeddings are unit vectors.
 */
export function selectDiverse(embeddings: readonly Float32Array[], quality: readonly number[], max: number): number[] {
  if (embeddings.length === 0 || max <= 0) return [];
  const order = embeddings.map((_, i) => i).sort((a, b) => quality[b]! - quality[a]! || a - b);
  const kept = [order[0]!];
  // closest[i] = highest cosine of sample i to any kept sample
  const closest = embeddings.map((e) => dot(e, embeddings[kept[0]!]!));
  while (kept.length < max) {
    let pick = -1;
    for (const i of order) {
      if (kept.includes(i) || closest[i]! >= NEAR_DUPLICATE_COS) continue;
      if (pick < 0 || closest[i]! < closest[pick]!) pick = i;
    }
    if (pick < 0) break;
    kept.push(pick);
    for (let i = 0; i < embeddings.length; i++) closest[i] = Math.max(closest[i]!, dot(embeddings[i]!, embeddings[pick]!));
  }
  return kept;
}
