// Runs the frame analysis over every presentation of the attack set, and keeps the result beside
// the set (observations.json) so that re-running the policy does not re-run the models.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Box } from '../vision/types.js';
import type { AttackSet, Presentation } from './attack-set.js';
import { ATTACK_SET_VERSION } from './attack-set.js';
import { toRaw } from './attack-render.js';
import type { FrameAnalyzer, FrameObservation } from './frame-analysis.js';

/** Bumped when the analysis changes (mesh passes, crop, models). */
export const OBSERVATION_VERSION = 1;

interface StoredFrame {
  t: number;
  face: { points: string; box: Box; score: number } | null;
  passive?: FrameObservation['passive'];
}

const b64 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const f32 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

export async function observePresentation(set: AttackSet, p: Presentation, analyzer: FrameAnalyzer): Promise<FrameObservation[]> {
  const out: FrameObservation[] = [];
  for (let k = 0; k < p.frames.length; k++) {
    const img = await toRaw(path.join(set.root, p.frames[k]!));
    out.push(analyzer.analyze(img, (k * 1000) / p.fps));
  }
  return out;
}

/**
 * Observations of every presentation, from the cache when it matches the set and `key` (a
 * description of the analyzer), else computed (and cached).
 */
export async function observeSet(
  set: AttackSet,
  analyzer: () => Promise<FrameAnalyzer>,
  opts: { key: string; log?: (line: string) => void; reuse?: boolean },
): Promise<Map<string, FrameObservation[]>> {
  const file = path.join(set.root, 'observations.json');
  const stamp = JSON.stringify({ set: ATTACK_SET_VERSION, options: set.options, obs: OBSERVATION_VERSION, key: opts.key });
  if (opts.reuse !== false && existsSync(file)) {
    const stored = JSON.parse(await readFile(file, 'utf8')) as { stamp: string; items: Record<string, StoredFrame[]> };
    if (stored.stamp === stamp && set.presentations.every((p) => stored.items[p.id])) {
      return new Map(Object.entries(stored.items).map(([id, frames]) => [id, frames.map((f) => ({ ...f, face: f.face && { ...f.face, points: f32(f.face.points) } }))]));
    }
  }
  const a = await analyzer();
  const result = new Map<string, FrameObservation[]>();
  let done = 0;
  for (const p of set.presentations) {
    result.set(p.id, await observePresentation(set, p, a));
    if (++done % 10 === 0) opts.log?.(`analysed ${done}/${set.presentations.length} presentations`);
  }
  const items: Record<string, StoredFrame[]> = {};
  for (const [id, frames] of result) items[id] = frames.map((f) => ({ t: f.t, passive: f.passive, face: f.face && { ...f.face, points: b64(f.face.points) } }));
  await writeFile(file, JSON.stringify({ stamp, items }));
  return result;
}
