// Crash-safe file replacement: a uniquely named temp file beside the target, fsync'd, renamed
// over it, then the directory fsync'd so the rename itself survives a power cut. A crash or a
// full disk at any point leaves the previous file, never a torn one.
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** The file operations used for writing; replaceable to inject faults (disk full) in tests. */
export interface FileIo {
  /** Creates `file` (must not exist) with `mode`, writes data and fsyncs it. */
  writeSynced(file: string, data: string | Uint8Array, mode?: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or folder tree; no error if missing. */
  remove(target: string): Promise<void>;
  /** fsync of a directory, so renames and unlinks in it survive a crash. */
  syncDir(dir: string): Promise<void>;
}

export const nodeIo: FileIo = {
  async writeSynced(file, data, mode = 0o644) {
    const fh = await open(file, 'wx', mode);
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

/**
 * Replaces `file` with `data` atomically and durably; on failure the old file is untouched.
 * `mode` applies from creation (a chmod afterwards would leave a readable moment for secrets).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { mode?: number; io?: FileIo } = {}): Promise<void> {
  const io = opts.io ?? nodeIo;
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${seq++}.tmp`);
  try {
    await io.writeSynced(tmp, data, opts.mode);
    await io.rename(tmp, file);
  } catch (e) {
    await io.remove(tmp).catch(() => {});
    throw e;
  }
  await io.syncDir(dir);
}
