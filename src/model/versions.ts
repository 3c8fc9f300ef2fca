// Model versions on disk, as ModelManager and the Model page read them: the model folders beside
// the active one, their meta.json, and the training curves (curves.svg/png in the model folder or
// its training run folder).
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelMeta } from './io.js';

export interface ModelVersion {
  /** Folder name under the models folder. */
  folder: string;
  dir: string;
  meta: ModelMeta | null;
  error: string | null;
}

export async function readMeta(dir: string): Promise<ModelMeta | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as ModelMeta;
  } catch {
    return null;
  }
}

/** Every folder with a model.json next to the configured model (its siblings are the versions). */
export async function listModelVersions(modelDir: string): Promise<ModelVersion[]> {
  const root = path.dirname(path.resolve(modelDir));
  let names: string[] = [];
  try {
    // Dot folders are an interrupted save's leftovers (util/atomic-dir.ts), not versions.
    names = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  } catch {
    return [];
  }
  const out: ModelVersion[] = [];
  for (const folder of names.sort()) {
    const dir = path.join(root, folder);
    const hasModel = await access(path.join(dir, 'model.json')).then(() => true, () => false);
    if (!hasModel) continue;
    const meta = await readMeta(dir);
    out.push({ folder, dir, meta, error: meta ? null : 'meta.json missing or unreadable' });
  }
  return out;
}

export const CURVE_FILES = ['curves.svg', 'curves.png'] as const;
export type CurveFile = (typeof CURVE_FILES)[number];

/** The training curves of a model: its own folder first, then the run it was exported from. */
export async function findCurves(modelDir: string, meta: ModelMeta | null): Promise<Partial<Record<CurveFile, string>>> {
  const run = (meta?.training as { run?: unknown } | undefined)?.run;
  const dirs = [modelDir, typeof run === 'string' ? run : null].filter((d): d is string => d !== null);
  const found: Partial<Record<CurveFile, string>> = {};
  for (const f of CURVE_FILES) {
    for (const d of dirs) {
      const p = path.join(d, f);
      if (await access(p).then(() => true, () => false)) {
        found[f] = p;
        break;
      }
    }
  }
  return found;
}
