// Crash-safe folder replacement, for folders whose files only make sense together (a model's
// weights and the manifest that describes them). The new files go into a fresh sibling
// `.<name>.saving-<pid>-<hex>`, fsync'd; then the old folder is renamed aside to
// `.<name>.replaced-<pid>-<hex>`, the new one renamed into place, the parent fsync'd, and the old
// one removed. A crash at any point leaves the old folder or the new one whole, at most with such a
// leftover beside it. The next replacement of the same folder removes leftovers whose process is
// gone, after putting the old folder back if the crash fell between the two renames.
//
// Other entries of the old folder (a training run exported into itself, curves or a README put next
// to a model) are carried into the new one as hard links (copies where links are refused): nothing
// of theirs is rewritten, and until the swap they stay untouched in the old folder.
//
// A folder that cannot be moved (a mount point, a parent we may not write to, Windows with the
// folder open) has its files replaced one by one in place instead, in the order given, as before:
// callers must make a torn folder detectable (model.json records the hash of weights.bin).
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, lstat, mkdir, open, readdir, readlink, realpath, symlink } from 'node:fs/promises';
import path from 'node:path';
import { nodeIo, TEMP_FILE, writeFileAtomic, type FileIo } from './atomic-write.js';
import { listDir } from './list-dir.js';
import { pidRunning } from './pid.js';

export interface Leftover {
  path: string;
  /** saving: a new folder never put in place; replaced: the folder it replaced. */
  kind: 'saving' | 'replaced';
  pid: number;
  mtimeMs: number;
}

const LEFTOVER = /^(saving|replaced)-(\d+)-[0-9a-f]+$/;
/** Errors of a folder that cannot be moved or given a sibling: fall back to in-place writes. */
const CANNOT_MOVE = new Set(['EBUSY', 'EXDEV', 'EPERM', 'EACCES']);
/** Temp and aside folders of replacements running in this process (never stale). */
const inFlight = new Set<string>();

/** Leftovers of interrupted replacements of `dir`, beside it. */
export async function leftoversOf(dir: string): Promise<Leftover[]> {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  const prefix = `.${path.basename(target)}.`;
  const out: Leftover[] = [];
  for (const e of await listDir(parent)) {
    const m = e.name.startsWith(prefix) && e.isDirectory() ? LEFTOVER.exec(e.name.slice(prefix.length)) : null;
    if (!m) continue;
    const p = path.join(parent, e.name);
    const st = await lstat(p).catch(() => null);
    if (st) out.push({ path: p, kind: m[1] as Leftover['kind'], pid: Number(m[2]), mtimeMs: st.mtimeMs });
  }
  return out;
}

/**
 * Replaces folder `dir` with one holding `files` (written in the order given) plus the other
 * entries the old folder had; atomically and durably where the folder can be moved. A symlink to a
 * folder has the folder it points to replaced, as writing into it did.
 */
export async function writeDirAtomic(dir: string, files: readonly (readonly [string, string | Uint8Array])[], opts: { io?: FileIo } = {}): Promise<void> {
  const io = opts.io ?? nodeIo;
  const target = await realpath(dir).catch(() => path.resolve(dir));
  const parent = path.dirname(target);
  const base = path.basename(target);
  await mkdir(parent, { recursive: true });
  const exists = await clearLeftovers(target, io);
  const tag = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const tmp = path.join(parent, `.${base}.saving-${tag}`);
  const aside = path.join(parent, `.${base}.replaced-${tag}`);
  try {
    await mkdir(tmp);
  } catch (e) {
    if (exists && CANNOT_MOVE.has((e as NodeJS.ErrnoException).code ?? '')) return writeInPlace(target, files, io);
    throw e;
  }
  inFlight.add(tmp).add(aside);
  try {
    try {
      if (exists) await carryOver(target, tmp, new Set(files.map(([name]) => name)), io);
      for (const [name, data] of files) await io.writeSynced(path.join(tmp, name), data);
      if (exists) await chmod(tmp, (await lstat(target)).mode & 0o7777);
      await io.syncDir(tmp);
      if (exists) {
        try {
          await io.rename(target, aside);
        } catch (e) {
          if (!CANNOT_MOVE.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
          await io.remove(tmp);
          return await writeInPlace(target, files, io);
        }
        try {
          await io.rename(tmp, target);
        } catch (e) {
          await io.rename(aside, target).catch(() => {});
          throw e;
        }
      } else {
        await io.rename(tmp, target);
      }
    } catch (e) {
      await io.remove(tmp).catch(() => {});
      throw e;
    }
    await io.syncDir(parent);
    // Left behind if this fails or the process dies first: the next replacement removes it.
    if (exists) await io.remove(aside).catch(() => {});
  } finally {
    inFlight.delete(tmp);
    inFlight.delete(aside);
  }
}

/** Whether the folder exists; a file at its place is an error (it is never moved aside). */
async function isFolder(p: string): Promise<boolean> {
  const st = await lstat(p).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (st && !st.isDirectory()) throw new Error(`${p} exists and is not a folder`);
  return st !== null;
}

/**
 * Removes leftovers of earlier replacements whose process is gone. With `target` missing (a crash
 * between the two renames), the newest folder it had replaced goes back first: it holds the other
 * files that were carried over. Returns whether `target` exists now.
 */
async function clearLeftovers(target: string, io: FileIo): Promise<boolean> {
  let stale = (await leftoversOf(target)).filter((l) => (l.pid === process.pid ? !inFlight.has(l.path) : !pidRunning(l.pid)));
  let exists = await isFolder(target);
  const back = exists ? undefined : stale.filter((l) => l.kind === 'replaced').sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
  if (back) {
    await io.rename(back.path, target);
    await io.syncDir(path.dirname(target));
    stale = stale.filter((l) => l !== back);
    exists = true;
  }
  for (const l of stale) await io.remove(l.path);
  return exists;
}

/** Links (or copies) every entry of `from` not in `skip` into `to`; temp files of writeFileAtomic stay behind. */
async function carryOver(from: string, to: string, skip: ReadonlySet<string>, io: FileIo): Promise<void> {
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (skip.has(e.name) || TEMP_FILE.test(e.name)) continue;
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) {
      await mkdir(dst);
      await carryOver(src, dst, new Set(), io);
      await chmod(dst, (await lstat(src)).mode & 0o7777);
      await io.syncDir(dst);
    } else if (e.isSymbolicLink()) {
      await symlink(await readlink(src), dst);
    } else if (e.isFile()) {
      await (io.link ?? link)(src, dst).catch(async () => {
        await copyFile(src, dst);
        const fh = await open(dst, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      });
    }
  }
}

async function writeInPlace(dir: string, files: readonly (readonly [string, string | Uint8Array])[], io: FileIo): Promise<void> {
  for (const [name, data] of files) await writeFileAtomic(path.join(dir, name), data, { io });
}
