// Crash-safe file replacement, and a lowdb adapter built on it.
//
// lowdb's own JSONFile goes through steno, which writes `.<name>.tmp` and renames it over the
// target: readers never see a half-written file, but it never fsyncs (after a power cut the
// renamed file can come back empty or truncated) and every writer, in any process, shares one
// temp name. This writes a uniquely named temp file, fsyncs it, renames it, then fsyncs the
// directory so the rename itself is durable.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { GalleryError } from './errors.js';

/** The file operations used for writing; replaceable to inject faults (disk full) in tests. */
export interface FileIo {
  /** Creates `file` (must not exist), writes data and fsyncs it. */
  writeSynced(file: string, data: string | Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or folder tree; no error if missing. */
  remove(target: string): Promise<void>;
  /** fsync of a directory, so renames and unlinks in it survive a crash. */
  syncDir(dir: string): Promise<void>;
}

export const nodeIo: FileIo = {
  async writeSynced(file, data) {
    const fh = await open(file, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  rename,
  async remove(target) {
    await rm(target, { recursive: true, force: true });
  },
  async syncDir(dir) {
    let fh;
    try {
      fh = await open(dir, 'r');
      await fh.sync();
    } catch (e) {
      // Some filesystems refuse fsync on directories; the data itself is already synced.
      if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP', 'EBADF'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    } finally {
      await fh?.close();
    }
  },
};

let seq = 0;
/** Temp files: `.<name>.<pid>.<n>.tmp` beside the target (same filesystem, so rename is atomic). */
export const TEMP_FILE = /^\..+\.\d+\.\d+\.tmp$/;

/** Replaces `file` with `data` atomically and durably; on failure the old file is untouched. */
export async function atomicWrite(file: string, data: string | Uint8Array, io: FileIo = nodeIo): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${seq++}.tmp`);
  try {
    await io.writeSynced(tmp, data);
    await io.rename(tmp, file);
  } catch (e) {
    await io.remove(tmp).catch(() => {});
    throw writeError(file, e);
  }
  try {
    await io.syncDir(dir);
  } catch (e) {
    throw writeError(file, e, 'was replaced but the directory could not be synced');
  }
}

export function writeError(file: string, e: unknown, what = 'could not be written; the previous version is unchanged'): GalleryError {
  const err = e as NodeJS.ErrnoException;
  const hint = err?.code === 'ENOSPC' ? ' (disk full)' : err?.code === 'EROFS' ? ' (read-only filesystem)' : '';
  return new GalleryError('WRITE_FAILED', `${file} ${what}: ${err?.code ?? ''}${hint} ${err?.message ?? String(e)}`.trim(), { cause: e });
}

/**
 * lowdb Adapter for one JSON file: pretty-printed, validated on read by `parse`, written with
 * atomicWrite. Writes are not queued here; the Gallery serialises them.
 */
export class AtomicJsonFile<T> implements Adapter<T> {
  constructor(
    readonly file: string,
    private readonly parse: (raw: unknown) => T,
    private readonly io: FileIo = nodeIo,
  ) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      const fh = await open(this.file, 'r');
      try {
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new GalleryError('CORRUPT', `${this.file} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    return this.parse(raw);
  }

  async write(data: T): Promise<void> {
    await atomicWrite(this.file, JSON.stringify(data, null, 2) + '\n', this.io);
  }
}
