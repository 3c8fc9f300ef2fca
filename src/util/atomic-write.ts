// Crash-safe file replacement: a uniquely named temp file beside the target, fsync'd, renamed
// over it, then the directory fsync'd so the rename itself survives a power cut. A crash or a
// full disk at any point leaves the previous file, never a torn one.
//
// Rotating backups (opts.backups = n): just before the rename, the file as it is becomes
// <file>.bak.1 and older backups move up to <file>.bak.<n> (the oldest goes). <file>.bak.1 is a
// hard link to the old file, which the rename then unlinks from <file>: no copy is written, so
// a backup costs a few renames even on a full disk. Best effort: a backup that cannot be made
// never stops the write.
import { link, open, rename, rm, stat } from 'node:fs/promises';
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
  /** Hard link `newPath` to `existing` (rotating backups); fs.link when absent. */
  link?(existing: string, newPath: string): Promise<void>;
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
  link,
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

/** The n-th rotating backup of `file` (1 = the newest). */
export const backupPath = (file: string, n: number): string => `${file}.bak.${n}`;

/**
 * Replaces `file` with `data` atomically and durably; on failure the old file is untouched.
 * `mode` applies from creation (a chmod afterwards would leave a readable moment for secrets).
 * `backups`: how many previous versions to keep (see the top of the file); default none.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, opts: { mode?: number; io?: FileIo; backups?: number } = {}): Promise<void> {
  const io = opts.io ?? nodeIo;
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${seq++}.tmp`);
  try {
    await io.writeSynced(tmp, data, opts.mode);
    if (opts.backups) await rotateBackups(file, opts.backups, io);
    await io.rename(tmp, file);
  } catch (e) {
    await io.remove(tmp).catch(() => {});
    throw e;
  }
  await io.syncDir(dir);
}

/** `file` as it is now becomes backup 1, backup k becomes k + 1, up to `count`. Never throws. */
async function rotateBackups(file: string, count: number, io: FileIo): Promise<void> {
  try {
    const now = await stat(file);
    const newest = await stat(backupPath(file, 1)).catch(() => null);
    // Already kept: a write that died between rotating and renaming left it so.
    if (newest && newest.ino === now.ino && newest.dev === now.dev) return;
    for (let n = count - 1; n >= 1; n--) {
      await io.rename(backupPath(file, n), backupPath(file, n + 1)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
    if (count === 1) await io.remove(backupPath(file, 1));
    await (io.link ?? link)(file, backupPath(file, 1));
  } catch {
    // No file yet (ENOENT), or the backups could not be made: the write itself goes on.
  }
}
