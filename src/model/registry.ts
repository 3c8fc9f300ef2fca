// Model versions on this box: the folders under models/ that hold a model.json, and which one is
// active. The choice lives in models/active.json ({ active, history }), written atomically, so a
// finetune can promote a new version, an operator can `facegate model use` or `rollback`, and the
// running server (which watches the file) switches without a restart. No file means the shipped
// default. Folder names are checked, never joined from user text unchecked.
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, access } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-write.js';
import { checkModelFolder } from './io.js';

export const DEFAULT_MODEL_NAME = 'facegate-default';
export const ACTIVE_FILE = 'active.json';
const FOLDER = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

const ActiveSchema = z.object({
  active: z.string().regex(FOLDER),
  /** Previously active folders, most recent last: what rollback returns to. */
  history: z.array(z.string().regex(FOLDER)).default([]),
  changed: z.string().optional(),
});
export type ActiveModel = z.output<typeof ActiveSchema>;

export interface ModelEntry {
  folder: string;
  dir: string;
  active: boolean;
  meta: Record<string, unknown> | null;
}

export class ModelRegistryError extends Error {
  override readonly name = 'ModelRegistryError';
}

export function isModelFolderName(name: string): boolean {
  return FOLDER.test(name) && name !== '.' && name !== '..';
}

export class ModelRegistry {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get activeFile(): string {
    return path.join(this.root, ACTIVE_FILE);
  }

  /** The active folder name (sync: config loading needs it before anything async runs). */
  activeSync(): ActiveModel {
    if (!existsSync(this.activeFile)) return { active: DEFAULT_MODEL_NAME, history: [] };
    try {
      return ActiveSchema.parse(JSON.parse(readFileSync(this.activeFile, 'utf8')));
    } catch (err) {
      throw new ModelRegistryError(`${this.activeFile} is unreadable (${(err as Error).message}); fix it or delete it to return to ${DEFAULT_MODEL_NAME}`);
    }
  }

  activeDir(): string {
    return this.dirOf(this.activeSync().active);
  }

  dirOf(folder: string): string {
    if (!isModelFolderName(folder)) throw new ModelRegistryError(`not a model folder name: ${JSON.stringify(folder)}`);
    return path.join(this.root, folder);
  }

  async list(): Promise<ModelEntry[]> {
    const { active } = this.activeSync();
    let names: string[] = [];
    try {
      names = (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && isModelFolderName(d.name)).map((d) => d.name);
    } catch {
      return [];
    }
    const out: ModelEntry[] = [];
    for (const folder of names.sort()) {
      const dir = path.join(this.root, folder);
      if (!(await access(path.join(dir, 'model.json')).then(() => true, () => false))) continue;
      const meta = await readFile(path.join(dir, 'meta.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => null);
      out.push({ folder, dir, active: folder === active, meta });
    }
    return out;
  }

  /** Makes `folder` the active model; the previous one goes on the rollback history. */
  async use(folder: string): Promise<ActiveModel> {
    const dir = this.dirOf(folder);
    if (!existsSync(path.join(dir, 'model.json'))) throw new ModelRegistryError(`no model in ${dir} (model.json missing)`);
    const cur = this.activeSync();
    if (cur.active === folder) return cur;
    // A folder that does not load would leave a restarted server without a model.
    await checkModelFolder(dir).catch((err: Error) => {
      throw new ModelRegistryError(`${folder} cannot be used: ${err.message}`);
    });
    const next: ActiveModel = { active: folder, history: [...cur.history, cur.active].slice(-20), changed: new Date().toISOString() };
    await this.#write(next);
    return next;
  }

  /** Returns to the previously active model (skipping versions that were deleted since). */
  async rollback(): Promise<ActiveModel> {
    const cur = this.activeSync();
    const history = [...cur.history];
    while (history.length > 0) {
      const prev = history.pop()!;
      if (existsSync(path.join(this.dirOf(prev), 'model.json'))) {
        await checkModelFolder(this.dirOf(prev)).catch((err: Error) => {
          throw new ModelRegistryError(`cannot roll back to ${prev}: ${err.message}`);
        });
        const next: ActiveModel = { active: prev, history, changed: new Date().toISOString() };
        await this.#write(next);
        return next;
      }
    }
    throw new ModelRegistryError(`nothing to roll back to: ${cur.active} is the only model that was active`);
  }

  async #write(a: ActiveModel): Promise<void> {
    await writeFileAtomic(this.activeFile, JSON.stringify(a, null, 2) + '\n');
  }
}
