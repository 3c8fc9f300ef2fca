// The face embedder the service runs: a model folder loaded once, or the reason it could not be,
// so the server can start (and say why on /api/health) before a model has been trained.
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FaceNet } from '../model/facenet.js';
import { loadModel, type ModelMeta } from '../model/io.js';
import { ModelIdSchema } from '../gallery/schema.js';

export interface Embedder {
  net: FaceNet;
  meta: ModelMeta;
  /** name@version: templates are stored and compared only under this id. */
  modelId: string;
  dir: string;
}

/** Not loaded: `missing` when the folder holds no model.json, else it failed to load (corrupt, wrong format). */
export type EmbedderSlot = { loaded: true; embedder: Embedder } | { loaded: false; dir: string; reason: string; missing?: boolean };

/** A model id the gallery accepts, from meta name and version. */
export function modelIdOf(meta: Pick<ModelMeta, 'name' | 'version'>): string {
  const safe = (s: string, max: number) => String(s).replace(/[^A-Za-z0-9._+-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, max) || 'model';
  const id = `${safe(meta.name, 64)}@${safe(meta.version, 32)}`;
  return ModelIdSchema.parse(id);
}

/** Recommended thresholds of a model (its FAR 1e-3 operating point, else best accuracy), if it ships any. */
export function recommendedThresholds(meta: ModelMeta): { cosine?: number; euclidean?: number } {
  const t = meta.thresholds;
  const out: { cosine?: number; euclidean?: number } = {};
  const c = t?.cosine?.far1e3 ?? t?.cosine?.bestAccuracy;
  const e = t?.euclidean?.far1e3 ?? t?.euclidean?.bestAccuracy;
  if (typeof c === 'number' && c >= -1 && c <= 1) out.cosine = c;
  if (typeof e === 'number' && e >= 0 && e <= 2) out.euclidean = e;
  return out;
}

export async function loadEmbedder(dir: string): Promise<EmbedderSlot> {
  const abs = path.resolve(dir);
  try {
    await access(path.join(abs, 'model.json'));
  } catch {
    const kind = await stat(abs).then((s) => (s.isDirectory() ? 'folder' : 'file'), () => 'none');
    const why = kind === 'none' ? 'the folder does not exist' : kind === 'file' ? 'it is a file, not a folder' : 'the folder has no model.json';
    return { loaded: false, dir: abs, missing: true, reason: `no model at ${abs} (model.json not found: ${why}): train or copy one there, or pass --model DIR / FACEGATE_MODEL_DIR` };
  }
  try {
    const { net, meta } = await loadModel(abs);
    return { loaded: true, embedder: { net, meta, modelId: modelIdOf(meta), dir: abs } };
  } catch (err) {
    return { loaded: false, dir: abs, reason: `model at ${abs} could not be loaded: ${(err as Error).message}` };
  }
}
