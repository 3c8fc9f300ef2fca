// The activity log: every decision with its time, person, score and model, an optional snapshot
// of the frame, and each person's last accepted time.
//
//   <dir>/activity.json               entries + lastSeen (written per batch of decisions, so a pass
//                                     through the door never rewrites the gallery's templates)
//   <dir>/snapshots/<activityId>.jpg  frames of logged decisions, when settings.keepSnapshots is on
//
// Writes go through one queue; memory changes only after the file write succeeded.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { AtomicJsonFile, atomicWrite, nodeIo, writeError, type FileIo } from '../gallery/atomic-file.js';
import { GalleryError } from '../gallery/errors.js';
import { assertId, childPath, newId } from '../gallery/ids.js';
import { parseFile, parseWith } from '../gallery/validate.js';
import type { Settings } from '../settings/schema.js';
import { listDir } from '../util/list-dir.js';
import { ActivityEntrySchema, ActivityFileSchema, SNAPSHOT_FILE, type ActivityEntry, type ActivityFile } from './schema.js';

export interface LogDecisionInput {
  /** 'match', 'unknown', 'verify-accept', 'verify-reject', ... (lower-case word). */
  decision: string;
  identityId?: string | null;
  score?: number | null;
  metric?: 'cosine' | 'euclidean' | null;
  modelId?: string | null;
  /** Frame of the decision (JPEG); kept only when settings.keepSnapshots is on. */
  snapshotJpeg?: Uint8Array;
  detail?: string | null;
  time?: Date;
}

export interface ActivityQuery {
  /** Newest first; default 100. */
  limit?: number;
  filter?: {
    identityId?: string;
    decision?: string | readonly string[];
    since?: Date | string;
    until?: Date | string;
  };
}

export interface ActivityOptions {
  io?: FileIo;
  /** The settings the log follows (read on each write). */
  settings: () => Pick<Settings, 'activityCap' | 'keepSnapshots'>;
  /** Whether an identity exists: a deleted person must not come back through the log (erasure). */
  identityExists: (id: string) => boolean;
}

/** Decisions that update an identity's lastSeen. */
export const ACCEPT_DECISIONS: readonly string[] = ['match', 'verify-accept', 'accept'];

const MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024;

function checkJpeg(b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) throw new GalleryError('INVALID_INPUT', 'snapshot is not a JPEG');
  if (b.length > MAX_SNAPSHOT_BYTES) throw new GalleryError('INVALID_INPUT', `snapshot larger than ${MAX_SNAPSHOT_BYTES} bytes`);
  return b;
}

const empty = (): ActivityFile => ({ format: 'facegate-activity', version: 1, entries: [], lastSeen: {} });

export class ActivityLog {
  readonly file: string;
  readonly snapshotsDir: string;
  readonly #io: FileIo;
  readonly #db: Low<ActivityFile>;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(
    dir: string,
    private readonly opts: ActivityOptions,
  ) {
    this.file = path.join(dir, 'activity.json');
    this.snapshotsDir = path.join(dir, 'snapshots');
    this.#io = opts.io ?? nodeIo;
    this.#db = new Low(new AtomicJsonFile(this.file, (raw) => parseFile(ActivityFileSchema, raw, this.file, 'activity log'), this.#io), empty());
  }

  /** Opens (creating if needed) activity.json in `dir`. CORRUPT on an invalid file, never overwritten. */
  static async open(dir: string, opts: ActivityOptions): Promise<ActivityLog> {
    const log = new ActivityLog(dir, opts);
    await log.#load();
    return log;
  }

  async #load(): Promise<void> {
    const found = await this.#db.adapter.read();
    if (found) this.#db.data = found;
    else await this.#commit(empty());
  }

  reload(): Promise<void> {
    return this.#exclusive(() => this.#load());
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.catch(() => {});
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new GalleryError('WRITE_FAILED', `activity log ${this.file} is closed`));
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #commit(next: ActivityFile): Promise<void> {
    await this.#db.adapter.write(next);
    this.#db.data = next;
  }

  /** Time of the identity's last accepted decision, or null. */
  lastSeen(identityId: string): string | null {
    return this.#db.data.lastSeen[identityId] ?? null;
  }

  /**
   * Appends a decision. Accepted decisions update the identity's lastSeen. Beyond
   * settings.activityCap the oldest entries (and their snapshots) are dropped.
   */
  async record(input: LogDecisionInput): Promise<ActivityEntry> {
    const [r] = await this.recordMany([input]);
    if (r instanceof GalleryError) throw r;
    return r!;
  }

  /**
   * Appends decisions in one write of activity.json, however many: the door's decision log hands
   * over everything that arrived while the last write ran, so a busy door cannot outrun its log.
   * Each result is that input's entry, or the GalleryError that refused it alone (NOT_FOUND: the
   * person was erased meanwhile; INVALID_INPUT); a failed write rejects the batch and keeps none.
   */
  recordMany(inputs: readonly LogDecisionInput[]): Promise<(ActivityEntry | GalleryError)[]> {
    return this.#exclusive(async () => {
      const settings = this.opts.settings();
      const act = this.#db.data;
      const results: (ActivityEntry | GalleryError)[] = [];
      const added: ActivityEntry[] = [];
      const snapFiles: string[] = [];
      let lastSeen = act.lastSeen;
      try {
        for (const input of inputs) {
          let entry: ActivityEntry;
          let jpeg: Uint8Array | undefined;
          try {
            entry = this.#entry(input);
            if (input.snapshotJpeg !== undefined && settings.keepSnapshots) jpeg = checkJpeg(input.snapshotJpeg);
          } catch (e) {
            if (!(e instanceof GalleryError)) throw e;
            results.push(e);
            continue;
          }
          if (jpeg) {
            entry.snapshot = `${entry.id}.jpg`;
            const snapFile = childPath(this.snapshotsDir, entry.snapshot);
            try {
              await mkdir(this.snapshotsDir, { recursive: true });
            } catch (e) {
              throw writeError(this.snapshotsDir, e);
            }
            snapFiles.push(snapFile);
            await atomicWrite(snapFile, jpeg, this.#io);
          }
          added.push(entry);
          results.push(entry);
          if (entry.identityId !== null && ACCEPT_DECISIONS.includes(entry.decision)) lastSeen = { ...lastSeen, [entry.identityId]: entry.time };
        }
        if (added.length === 0) return results;
        const all = [...act.entries, ...added];
        const evicted = all.length > settings.activityCap ? all.slice(0, all.length - settings.activityCap) : [];
        await this.#commit({ ...act, entries: all.slice(evicted.length), lastSeen });
        for (const e of evicted) if (e.snapshot) await this.#io.remove(childPath(this.snapshotsDir, e.snapshot)).catch(() => {});
      } catch (e) {
        for (const f of snapFiles) await this.#io.remove(f).catch(() => {});
        throw e;
      }
      return results.map((r) => (r instanceof GalleryError ? r : { ...r }));
    });
  }

  /** The validated entry for `input`, without its snapshot; throws GalleryError. */
  #entry(input: LogDecisionInput): ActivityEntry {
    const identityId = input.identityId ?? null;
    if (identityId !== null) {
      assertId('identity', identityId);
      if (!this.opts.identityExists(identityId)) throw new GalleryError('NOT_FOUND', `no identity ${identityId}`);
    }
    const draft = {
      id: newId('activity'),
      time: (input.time ?? new Date()).toISOString(),
      decision: input.decision,
      identityId,
      score: input.score ?? null,
      metric: input.metric ?? null,
      modelId: input.modelId ?? null,
      snapshot: null as string | null,
      detail: input.detail ?? null,
    };
    const entry = parseWith(ActivityEntrySchema, draft, 'activity entry');
    if (entry.score !== null && !Number.isFinite(entry.score)) throw new GalleryError('INVALID_INPUT', 'score must be finite');
    return entry;
  }

  /** Newest first. */
  query(query: ActivityQuery = {}): ActivityEntry[] {
    const limit = Math.max(0, query.limit ?? 100);
    const f = query.filter ?? {};
    if (f.identityId !== undefined) assertId('identity', f.identityId);
    const decisions = f.decision === undefined ? undefined : new Set(typeof f.decision === 'string' ? [f.decision] : f.decision);
    const time = (v: Date | string | undefined, what: string) => {
      if (v === undefined) return undefined;
      const t = new Date(v).getTime();
      if (Number.isNaN(t)) throw new GalleryError('INVALID_INPUT', `activity filter: invalid ${what} time`);
      return t;
    };
    const since = time(f.since, 'since');
    const until = time(f.until, 'until');
    const out: ActivityEntry[] = [];
    const entries = [...this.#db.data.entries].sort((a, b) => b.time.localeCompare(a.time));
    for (const e of entries) {
      if (out.length >= limit) break;
      if (f.identityId !== undefined && e.identityId !== f.identityId) continue;
      if (decisions && !decisions.has(e.decision)) continue;
      const t = Date.parse(e.time);
      if (since !== undefined && t < since) continue;
      if (until !== undefined && t > until) continue;
      out.push({ ...e });
    }
    return out;
  }

  snapshotPath(entry: Pick<ActivityEntry, 'snapshot'>): string | null {
    if (entry.snapshot === null) return null;
    if (!SNAPSHOT_FILE.test(entry.snapshot)) throw new GalleryError('INVALID_ID', `invalid snapshot name ${JSON.stringify(entry.snapshot)}`);
    return childPath(this.snapshotsDir, entry.snapshot);
  }

  /**
   * Erasure of one person: their entries, last-seen time and snapshots. The file is committed
   * first; snapshots that cannot be removed then are named in the error (the sweep retries).
   */
  erase(identityId: string): Promise<{ entries: number; removedPaths: string[] }> {
    return this.#exclusive(async () => {
      const act = this.#db.data;
      const gone = act.entries.filter((e) => e.identityId === identityId);
      if (gone.length > 0 || identityId in act.lastSeen) {
        const lastSeen = { ...act.lastSeen };
        delete lastSeen[identityId];
        await this.#commit({ ...act, entries: act.entries.filter((e) => e.identityId !== identityId), lastSeen });
      }
      const removedPaths = gone.filter((e) => e.snapshot !== null).map((e) => childPath(this.snapshotsDir, e.snapshot as string));
      try {
        for (const p of removedPaths) await this.#io.remove(p);
        if (removedPaths.length) await this.#io.syncDir(this.snapshotsDir).catch(() => {});
      } catch (e) {
        throw writeError(removedPaths.join(', '), e, `belong to deleted identity ${identityId} but could not all be removed (the next sweep retries)`);
      }
      return { entries: gone.length, removedPaths };
    });
  }

  /**
   * What an interrupted erasure or write can leave: entries and last-seen times of people who no
   * longer exist, and snapshot files no entry names. `removeStaleTemp` removes a writer's temp
   * file once it is old enough to be abandoned, and says whether it did.
   */
  sweep(liveIdentities: ReadonlySet<string>, removeStaleTemp: (dir: string, name: string) => Promise<boolean>): Promise<{ entries: number; removedPaths: string[] }> {
    return this.#exclusive(async () => {
      const act = this.#db.data;
      const orphans = act.entries.filter((e) => e.identityId !== null && !liveIdentities.has(e.identityId));
      const orphanSeen = Object.keys(act.lastSeen).filter((k) => !liveIdentities.has(k));
      if (orphans.length > 0 || orphanSeen.length > 0) {
        const lastSeen = Object.fromEntries(Object.entries(act.lastSeen).filter(([k]) => liveIdentities.has(k)));
        await this.#commit({ ...act, entries: act.entries.filter((e) => !orphans.includes(e)), lastSeen });
      }
      const removedPaths: string[] = [];
      const snaps = new Set(this.#db.data.entries.map((e) => e.snapshot).filter((s) => s !== null));
      for (const f of await listDir(this.snapshotsDir)) {
        if (!f.isFile()) continue;
        const p = path.join(this.snapshotsDir, f.name);
        if (await removeStaleTemp(this.snapshotsDir, f.name)) removedPaths.push(p);
        else if (SNAPSHOT_FILE.test(f.name) && !snaps.has(f.name)) {
          await this.#io.remove(p);
          removedPaths.push(p);
        }
      }
      return { entries: orphans.length, removedPaths };
    });
  }
}
