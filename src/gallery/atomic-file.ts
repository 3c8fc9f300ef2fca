// Crash-safe file replacement, and a lowdb adapter built on it.
//
// lowdb's own JSONFile goes through steno, which writes `.<name>.tmp` and renames it over the
// target: readers never see a half-written file, but it never fsyncs (after a power cut the
// renamed file can come back empty or truncated) and every writer, in any process, shares one
// temp name. So the adapter writes through util/atomic-write (unique temp, fsync, rename, dir fsync).
import { open } from 'node:fs/promises';
import type { Adapter } from 'lowdb';
import { GalleryError } from './errors.js';
import { type FileIo, nodeIo, writeFileAtomic } from '../util/atomic-write.js';

export { type FileIo, nodeIo, TEMP_FILE } from '../util/atomic-write.js';

/** Replaces `file` with `data` atomically and durably; failures become WRITE_FAILED gallery errors. */
export async function atomicWrite(file: string, data: string | Uint8Array, io: FileIo = nodeIo): Promise<void> {
  try {
    await writeFileAtomic(file, data, { io });
  } catch (e) {
    throw writeError(file, e);
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
