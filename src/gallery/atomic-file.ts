// Crash-safe file replacement, and a lowdb adapter built on it.
//
// lowdb's own JSONFile goes through steno, which writes `.<name>.tmp` and renames it over the
// target: readers never see a half-written file, but it never fsyncs (after a power cut the
// renamed file can come back empty or truncated) and every writer, in any process, shares one
// temp name. So the adapter writes through util/atomic-write (unique temp, fsync, rename, dir fsync).
//
// A file that does not parse or validate is never overwritten: reading it fails (CORRUPT) with
// a message naming the file, what is wrong, and what the operator can do: restore the newest
// good rotating backup (<file>.bak.1 newest .. .bak.<n>, made before each write when the store
// asks for them; see util/atomic-write) with `facegate restore`, or move the file aside.
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Adapter } from 'lowdb';
import { GalleryError } from './errors.js';
import { type FileIo, backupPath, nodeIo, writeFileAtomic } from '../util/atomic-write.js';

export { type FileIo, backupPath, nodeIo, TEMP_FILE } from '../util/atomic-write.js';

/** Replaces `file` with `data` atomically and durably; failures become WRITE_FAILED gallery errors. */
export async function atomicWrite(file: string, data: string | Uint8Array, io: FileIo = nodeIo, backups = 0): Promise<void> {
  try {
    await writeFileAtomic(file, data, { io, backups });
  } catch (e) {
    throw writeError(file, e);
  }
}

export function writeError(file: string, e: unknown, what = 'could not be written; the previous version is unchanged'): GalleryError {
  const err = e as NodeJS.ErrnoException;
  const hint = err?.code === 'ENOSPC' ? ' (disk full)' : err?.code === 'EROFS' ? ' (read-only filesystem)' : '';
  return new GalleryError('WRITE_FAILED', `${file} ${what}: ${err?.code ?? ''}${hint} ${err?.message ?? String(e)}`.trim(), { cause: e });
}

/** A path as a shell word (for commands the operator copies from a message). */
export function shellWord(p: string): string {
  return /^[\w./@%+=:,-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/** The copy `facegate restore` keeps of a file it replaced: <file>.replaced-<time>. */
export const REPLACED = (name: string) => new RegExp(`^${name.replace(/[.]/g, '\\.')}\\.replaced-[0-9TZ-]+$`);

export interface JsonFileOptions {
  /** Rotating backups to keep, made before each write (<file>.bak.1 newest .. .bak.<n>); default 0. */
  backups?: number;
  /** What starting without the file gives, for the advice on a corrupt one ("an empty gallery: ..."). */
  fresh?: string;
}

export interface BackupInfo {
  file: string;
  /** 1 = the newest. */
  n: number;
  /** When it was written (its mtime), ISO. */
  saved: string;
  /** Why it cannot be used, or null when it parses and validates. */
  problem: string | null;
}

/**
 * lowdb Adapter for one JSON file: pretty-printed, validated on read by `parse` (CORRUPT errors
 * naming `file`, the file it reads: the store's own or one of its backups), written with
 * atomicWrite. Writes are not queued here; the stores serialise them.
 */
export class AtomicJsonFile<T> implements Adapter<T> {
  readonly backups: number;
  readonly #fresh: string;

  constructor(
    readonly file: string,
    private readonly parse: (raw: unknown, file: string) => T,
    private readonly io: FileIo = nodeIo,
    opts: JsonFileOptions = {},
  ) {
    this.backups = opts.backups ?? 0;
    this.#fresh = opts.fresh ?? 'a new, empty one';
  }

  async read(): Promise<T | null> {
    try {
      return await readJsonFile(this.file, this.parse);
    } catch (e) {
      if (e instanceof GalleryError && e.code === 'NOT_FOUND') {
        // Missing beside a good backup: the file was lost (a fresh folder has no backups), and
        // starting from nothing would rotate the backups away within a few writes.
        const good = this.backups > 0 && (await this.listBackups()).find((b) => b.problem === null);
        if (!good) return null;
        const dir = path.dirname(this.file);
        throw new GalleryError(
          'CORRUPT',
          `${this.file} does not exist, but a backup of it does. FaceGate did not open ${dir}, so as not to start from nothing beside it. ` +
            `${this.#restore(good)}; or, to start with ${this.#fresh}, move the backups aside (mkdir ${shellWord(`${dir}/old`)} && mv ${shellWord(this.file)}.bak.* ${shellWord(`${dir}/old`)}/)`,
          { cause: e },
        );
      }
      if (!(e instanceof GalleryError) || e.code !== 'CORRUPT') throw e;
      throw new GalleryError('CORRUPT', `${e.message.replace(/[.\s]+$/, '')}. ${await this.#advice()}`, { cause: e });
    }
  }

  /** What to do about a corrupt file: which backup to restore and how, or how to start without it. */
  async #advice(): Promise<string> {
    const dir = path.dirname(this.file);
    const name = path.basename(this.file);
    const kept = `FaceGate did not open ${dir} and left ${name} as it is.`;
    const aside = `mv ${shellWord(this.file)} ${shellWord(`${this.file}.bad`)}`;
    if (this.backups === 0) return `${kept} No backups are kept of ${name}: move it aside (${aside}) and the next start begins with ${this.#fresh}.`;
    const good = (await this.listBackups()).find((b) => b.problem === null);
    if (!good) {
      return `${kept} No good backup of it exists (${name}.bak.1 to .bak.${this.backups} are missing or bad): restore the folder from a copy of your own, or move the file aside (${aside}) to start with ${this.#fresh}.`;
    }
    return `${kept} ${this.#restore(good)}`;
  }

  /** Which backup to restore, and the two ways to do it. */
  #restore(good: BackupInfo): string {
    const name = path.basename(this.file);
    return (
      `Newest good backup: ${good.file} (saved ${good.saved}). Restore it with ` +
      `\`facegate restore ${path.basename(good.file)} --gallery ${shellWord(path.dirname(this.file))}\` (keeps the file it replaces as ${name}.replaced-<time>), or by hand: ` +
      `cp ${shellWord(good.file)} ${shellWord(this.file)}`
    );
  }

  /** The rotating backups that exist, newest first, each checked as the file itself would be. */
  listBackups(): Promise<BackupInfo[]> {
    return listBackups(this.file, this.backups, this.parse);
  }

  /**
   * Rewrites every backup, every copy `facegate restore` kept (<file>.replaced-<time>) and the
   * <file>.bad a corrupt-file message tells the operator to move it aside to, that `mentions`
   * matches, with `edit` (right to erasure: a deleted person must not live on in them). A copy
   * that does not parse, that `edit` returns null for, or that still mentions after the edit, is
   * removed. Returns the files changed or removed.
   */
  async rewriteBackups(mentions: (text: string) => boolean, edit: (raw: unknown) => unknown): Promise<string[]> {
    const dir = path.dirname(this.file);
    const replaced = REPLACED(path.basename(this.file));
    const files = [...Array.from({ length: this.backups }, (_, i) => backupPath(this.file, i + 1)), `${this.file}.bad`];
    for (const f of await readdir(dir).catch(() => [] as string[])) if (replaced.test(f)) files.push(path.join(dir, f));
    const changed: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = await readText(file);
      } catch {
        continue; // absent
      }
      if (!mentions(text)) continue;
      changed.push(file);
      try {
        const next = edit(JSON.parse(text));
        const out = next === null || next === undefined ? null : JSON.stringify(next, null, 2) + '\n';
        if (out !== null && !mentions(out)) {
          await writeFileAtomic(file, out, { io: this.io });
          continue;
        }
      } catch {
        // Not JSON, or could not be rewritten (disk full): removed below.
      }
      try {
        await this.io.remove(file);
      } catch (e) {
        throw writeError(file, e, 'holds data that had to be erased but could neither be rewritten nor removed; remove it by hand');
      }
    }
    return changed;
  }

  async write(data: T): Promise<void> {
    await atomicWrite(this.file, JSON.stringify(data, null, 2) + '\n', this.io, this.backups);
  }
}

/**
 * Reads and checks a JSON file with `parse` (a store's parser; `file` goes into its messages).
 * GalleryError NOT_FOUND when it does not exist, CORRUPT naming the file when it cannot be read,
 * is empty, is not JSON or does not validate.
 */
export async function readJsonFile<T>(file: string, parse: (raw: unknown, file: string) => T): Promise<T> {
  let text: string;
  try {
    text = await readText(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new GalleryError('NOT_FOUND', `${file} does not exist`, { cause: e });
    throw new GalleryError('CORRUPT', `${file} could not be read: ${err.code ?? ''} ${err.message}`.trim(), { cause: e });
  }
  if (text.trim() === '') throw new GalleryError('CORRUPT', `${file} is empty (${Buffer.byteLength(text)} bytes)`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new GalleryError('CORRUPT', `${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return parse(raw, file);
}

/** The rotating backups of `file` that exist (of `count`), newest first, each checked with `parse`. */
export async function listBackups(file: string, count: number, parse: (raw: unknown, file: string) => unknown): Promise<BackupInfo[]> {
  const out: BackupInfo[] = [];
  for (let n = 1; n <= count; n++) {
    const b = backupPath(file, n);
    let saved: string;
    try {
      saved = (await stat(b)).mtime.toISOString();
    } catch {
      continue;
    }
    let problem: string | null = null;
    try {
      await readJsonFile(b, parse);
    } catch (e) {
      problem = (e as Error).message;
    }
    out.push({ file: b, n, saved, problem });
  }
  return out;
}

async function readText(file: string): Promise<string> {
  const fh = await open(file, 'r');
  try {
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}
