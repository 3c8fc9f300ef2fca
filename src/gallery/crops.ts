// Aligned face crops of templates, <dir>/faces/<identityId>/<templateId>.jpg: kept to re-embed the
// gallery for a new model and to fine-tune on site. Names are checked before they become paths.
import { mkdir, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { atomicWrite, writeError, type FileIo } from './atomic-file.js';
import { GalleryError } from './errors.js';
import { assertId, childPath, isId } from './ids.js';
import { CROP_FILE } from './schema.js';
import { listDir } from '../util/list-dir.js';

const MAX_JPEG_BYTES = 10 * 1024 * 1024;

export function checkJpeg(b: unknown, what: string): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new GalleryError('INVALID_INPUT', `${what}: crop must be JPEG bytes (Buffer)`);
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) throw new GalleryError('INVALID_INPUT', `${what}: crop is not a JPEG`);
  if (b.length > MAX_JPEG_BYTES) throw new GalleryError('INVALID_INPUT', `${what}: crop larger than ${MAX_JPEG_BYTES} bytes`);
  return b;
}

export class CropStore {
  constructor(
    readonly dir: string,
    private readonly io: FileIo,
  ) {}

  /** Absolute path of a crop; INVALID_ID for names that are not the gallery's own. */
  path(identityId: string, crop: string): string {
    assertId('identity', identityId);
    if (!CROP_FILE.test(crop)) throw new GalleryError('INVALID_ID', `invalid crop name ${JSON.stringify(crop)}`);
    return childPath(childPath(this.dir, identityId), crop);
  }

  /** The folder of one person's crops. */
  folder(identityId: string): string {
    return childPath(this.dir, identityId);
  }

  /** Writes a template's crop; its path goes into `written` so a failed commit can undo it. Returns the file name. */
  async write(identityId: string, templateId: string, jpeg: Uint8Array, written: string[]): Promise<string> {
    const dir = this.folder(identityId);
    const name = `${templateId}.jpg`;
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw writeError(dir, e);
    }
    const file = childPath(dir, name);
    await atomicWrite(file, jpeg, this.io);
    written.push(file);
    return name;
  }

  /** Removes crops written by a failed operation, and the folders it left empty. */
  async undo(written: readonly string[], identityIds: Iterable<string>): Promise<void> {
    for (const f of written) await this.io.remove(f).catch(() => {});
    // rmdir fails on non-empty folders, which is what we want.
    for (const id of new Set(identityIds)) await rmdir(this.folder(id)).catch(() => {});
    await rmdir(this.dir).catch(() => {});
  }

  async remove(identityId: string, crop: string): Promise<void> {
    await this.io.remove(this.path(identityId, crop));
  }

  /**
   * Folders of people who no longer exist, and crops no template names ("<id>/<file>" in
   * `live`). `removeStaleTemp` removes a writer's abandoned temp file and says whether it did.
   */
  async sweep(liveIdentities: ReadonlySet<string>, liveCrops: ReadonlySet<string>, removeStaleTemp: (dir: string, name: string) => Promise<boolean>): Promise<string[]> {
    const removed: string[] = [];
    for (const e of await listDir(this.dir)) {
      if (!e.isDirectory() || !isId('identity', e.name)) continue;
      const dir = path.join(this.dir, e.name);
      if (!liveIdentities.has(e.name)) {
        await this.io.remove(dir);
        removed.push(dir);
        continue;
      }
      for (const f of await listDir(dir)) {
        if (!f.isFile()) continue;
        if (await removeStaleTemp(dir, f.name)) removed.push(path.join(dir, f.name));
        else if (CROP_FILE.test(f.name) && !liveCrops.has(`${e.name}/${f.name}`)) {
          await this.io.remove(path.join(dir, f.name));
          removed.push(path.join(dir, f.name));
        }
      }
    }
    return removed;
  }
}
