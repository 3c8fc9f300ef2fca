import { readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';

/** A folder's entries; none when it does not exist (sweeps run before anything was written). */
export async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}
