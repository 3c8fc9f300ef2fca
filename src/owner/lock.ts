// The gallery's owner lock: <gallery>/owner.lock names the one process that may write the
// gallery right now (a server for its whole life, or a CLI command while it runs), with what a
// command line needs to reach that server. JSON, mode 0600 (it carries the server's local admin
// token), created atomically (a temp file hard-linked into place, so it never exists half
// written) and removed when its holder stops.
//
// A lock whose process is gone (kill -9, a crash, a power cut) is stale and is taken over:
// "gone" means no such pid, or a pid that now belongs to another process (its start time
// differs) or to an earlier boot.
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { nodeIo, writeFileAtomic } from '../util/atomic-write.js';
import { pidRunning } from '../util/pid.js';

export const LOCK_FILE = 'owner.lock';

const OwnerRecordSchema = z.object({
  /** Random, per take: tells this holder's record from a later one of the same process. */
  claim: z.string(),
  pid: z.int().positive(),
  kind: z.enum(['server', 'cli']),
  /** What holds it, for messages: "facegate serve", "facegate enroll". Never arguments (names). */
  command: z.string().max(200),
  since: z.string(),
  /** Linux boot id and the process's start time (/proc): a pid reused after a reboot or a crash is not the holder. */
  boot: z.string().nullable(),
  startTicks: z.string().nullable(),
  /** A server's loopback address, once it listens (null while it starts, and for CLI holders). */
  url: z.string().nullable(),
  /** A server's local admin token (random, never logged). */
  token: z.string().nullable(),
});

export type OwnerRecord = z.output<typeof OwnerRecordSchema>;

export const lockPath = (galleryDir: string) => path.join(path.resolve(galleryDir), LOCK_FILE);

function readProc(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

const BOOT_ID = readProc('/proc/sys/kernel/random/boot_id')?.trim() || null;

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), null where /proc is absent. */
function startTicks(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/** Is the process that wrote this record still running? */
export function isAlive(r: OwnerRecord): boolean {
  if (r.boot && BOOT_ID && r.boot !== BOOT_ID) return false;
  if (!pidRunning(r.pid)) return false;
  const now = startTicks(r.pid);
  return !(r.startTicks && now && r.startTicks !== now);
}

/** The record in the lock file; null when there is none; 'garbage' when it does not parse (treated as stale). */
async function readRecord(file: string): Promise<OwnerRecord | null | 'garbage'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const r = OwnerRecordSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : 'garbage';
  } catch {
    return 'garbage';
  }
}

/** The live holder of the gallery's lock, or null (none, or a stale one). */
export async function currentOwner(galleryDir: string): Promise<OwnerRecord | null> {
  const r = await readRecord(lockPath(galleryDir));
  return r === null || r === 'garbage' || !isAlive(r) ? null : r;
}

/** Is this gallery held by another live process? Unreadable (another user's 0600 file) counts as yes. */
export async function ownedByAnotherProcess(galleryDir: string): Promise<boolean> {
  try {
    const r = await currentOwner(galleryDir);
    return r !== null && r.pid !== process.pid;
  } catch {
    return true;
  }
}

const serialise = (r: OwnerRecord) => JSON.stringify(r, null, 2) + '\n';
const sameRecord = (a: OwnerRecord | 'garbage', b: OwnerRecord | 'garbage') => (a === 'garbage' || b === 'garbage' ? a === b : a.claim === b.claim);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

/** Creates `file` with `data` only if it does not exist, never visible half written. */
async function createExclusive(file: string, data: string): Promise<boolean> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${seq++}.tmp`);
  await nodeIo.writeSynced(tmp, data, 0o600);
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Removes a stale lock, unless it changed since it was judged stale. Two processes breaking the
 * same stale lock take turns through <lock>.break, so the slower one cannot remove the lock the
 * faster one has just created. (Exported for tests.)
 */
export async function breakStale(file: string, judged: OwnerRecord | 'garbage'): Promise<void> {
  const guard = `${file}.break`;
  for (;;) {
    if (await createExclusive(guard, String(process.pid))) break;
    // Breaking takes microseconds: a guard older than a few seconds was left by a process that died in between.
    const age = await stat(guard).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > 5000) await rm(guard, { force: true });
    else await sleep(20);
  }
  try {
    const now = await readRecord(file);
    if (now !== null && sameRecord(now, judged)) await rm(file, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}

/** A held lock. */
export class OwnerLock {
  #record: OwnerRecord;
  #held = true;
  readonly #onExit: () => void;

  private constructor(
    readonly file: string,
    record: OwnerRecord,
  ) {
    this.#record = record;
    // Exiting without release() (process.exit, an uncaught error): take the lock along when still ours.
    this.#onExit = () => {
      try {
        const now = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<OwnerRecord>;
        if (now.claim === this.#record.claim) unlinkSync(this.file);
      } catch {
        // Already gone, or not ours any more.
      }
    };
    process.once('exit', this.#onExit);
  }

  /** Takes the gallery's lock, or says who holds it (a live process). A stale lock is taken over. */
  static async tryTake(galleryDir: string, who: { kind: OwnerRecord['kind']; command: string }): Promise<{ lock: OwnerLock } | { holder: OwnerRecord }> {
    const file = lockPath(galleryDir);
    const record: OwnerRecord = {
      claim: randomBytes(8).toString('hex'),
      pid: process.pid,
      kind: who.kind,
      command: who.command,
      since: new Date().toISOString(),
      boot: BOOT_ID,
      startTicks: startTicks(process.pid),
      url: null,
      token: null,
    };
    for (;;) {
      if (await createExclusive(file, serialise(record))) return { lock: new OwnerLock(file, record) };
      const holder = await readRecord(file);
      if (holder === null) continue; // released meanwhile
      if (holder !== 'garbage' && isAlive(holder)) return { holder };
      await breakStale(file, holder);
    }
  }

  get record(): OwnerRecord {
    return { ...this.#record };
  }

  /** Rewrites the record (a server's address and token once it listens), atomically. */
  async update(patch: Partial<Pick<OwnerRecord, 'url' | 'token'>>): Promise<void> {
    if (!this.#held) throw new Error(`${this.file} is no longer held`);
    const next = { ...this.#record, ...patch };
    await writeFileAtomic(this.file, serialise(next), { mode: 0o600 });
    this.#record = next;
  }

  /** Removes the lock file if it is still this holder's. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    process.removeListener('exit', this.#onExit);
    const now = await readRecord(this.file).catch(() => null);
    if (now !== null && now !== 'garbage' && sameRecord(now, this.#record)) await rm(this.file, { force: true });
  }
}
