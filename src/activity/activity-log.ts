// The audit trail: every decision at the door (time, door, person, score, threshold, model,
// liveness), enrollments and door-hardware outcomes, with an optional snapshot of the frame, and
// each person's last accepted time. docs/audit-trail.md describes it for operators.
//
//   <dir>/audit/audit-YYYY-MM-DD.jsonl    records of that UTC day, one JSON object a line, appended
//   <dir>/audit/audit-YYYY-MM-DD.N.jsonl  the day's next segments, once one holds segmentLines()
//   <dir>/audit/last-seen.json            identityId -> last accepted time (a pass never rewrites gallery.json)
//   <dir>/snapshots/<activityId>.jpg      frames of logged decisions, when settings.keepSnapshots is on
//
// Append-only: a batch of records is appended to its day's segment and fsync'd, in one write
// however many decisions waited (src/door/decision-log.ts); no earlier file is rewritten by a
// later record. Rotated by day (the records' UTC day) and by size (segments of at most
// segmentLines() records). Bounded twice: settings.audit.retentionDays (storage limitation: a
// day's segments and their snapshots go once the whole day is older than that, on open, when a
// new day starts, and on the timer startRetention() sets) and settings.activityCap (a disk
// guard: the oldest segments go while the trail holds more records than that).
// The one rewrite: erasing a person redacts their records (erase), each file replaced atomically.
//
// Writes go through one queue; memory changes only after the files did. Reading (read, list)
// streams the segments newest first, beside the writes; query() answers from the newest
// RECENT_WINDOW records kept in memory, synchronously.
import { mkdir, readFile, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AtomicJsonFile, atomicWrite, nodeIo, readJsonFile, writeError, type FileIo } from '../gallery/atomic-file.js';
import { GalleryError } from '../gallery/errors.js';
import { assertId, childPath, newId } from '../gallery/ids.js';
import { parseFile, parseWith } from '../gallery/validate.js';
import type { Settings } from '../settings/schema.js';
import { listDir } from '../util/list-dir.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import {
  ActivityEntrySchema,
  LastSeenFileSchema,
  LegacyActivityFileSchema,
  SNAPSHOT_FILE,
  type ActivityEntry,
  type LastSeenFile,
  type Liveness,
} from './schema.js';
import {
  appendSynced,
  bySegment,
  countLines,
  cutTornTail,
  dayOf,
  daysBefore,
  mentions,
  parseLines,
  parseSegmentName,
  recordLine,
  segmentName,
  sizeOf,
  type AppendIo,
  type Segment,
} from './segments.js';

export interface LogDecisionInput {
  /** 'match', 'unknown', 'not-live', 'verify-accept', 'verify-reject', ... (lower-case word). */
  decision: string;
  /** Where it was decided ("api", "kiosk (browser)"); none for events away from a door. */
  door?: string | null;
  identityId?: string | null;
  score?: number | null;
  threshold?: number | null;
  metric?: 'cosine' | 'euclidean' | null;
  modelId?: string | null;
  /** The presentation-attack check, when the door ran one. */
  liveness?: { passed: boolean; method?: string | null; score?: number | null } | null;
  /** Frame of the decision (JPEG); kept only when settings.keepSnapshots is on. */
  snapshotJpeg?: Uint8Array;
  detail?: string | null;
  time?: Date;
}

export interface ActivityFilter {
  identityId?: string;
  decision?: string | readonly string[];
  door?: string;
  /** true: redacted records only; false: none of them. */
  redacted?: boolean;
  since?: Date | string;
  until?: Date | string;
}

export interface ActivityQuery {
  /** Newest first; default 100. */
  limit?: number;
  filter?: ActivityFilter;
}

type AuditSettings = Pick<Settings, 'activityCap' | 'keepSnapshots'> & { audit?: Partial<Settings['audit']> };

export interface ActivityOptions {
  /** File operations (fault injection in tests); appendSynced, when present, does the appends. */
  io?: FileIo & Partial<AppendIo>;
  /** The settings the log follows (read on each write). */
  settings: () => AuditSettings;
  /** Whether an identity exists: a deleted person must not come back through the log (erasure). */
  identityExists: (id: string) => boolean;
  /** The clock (tests): records' default time, the day a retention purge counts from, redaction times. */
  now?: () => Date;
  /** Problems that reject no caller: an unreadable line skipped, a purge that failed. Default stderr. */
  onError?: (message: string) => void;
}

export interface PurgeReport {
  /** Segment files removed. */
  files: string[];
  /** Records in them. */
  entries: number;
  /** Snapshots removed with them. */
  removedPaths: string[];
}

/** Decisions that update an identity's lastSeen. */
export const ACCEPT_DECISIONS: readonly string[] = ['match', 'verify-accept', 'accept'];

/** Records query() answers from (the newest); read() and list() read the whole trail. */
export const RECENT_WINDOW = 1000;
/** Default of settings.audit.retentionDays, when the settings given have none. */
export const DEFAULT_RETENTION_DAYS = 90;
/** How often startRetention() purges by default. */
export const RETENTION_EVERY_MS = 3_600_000;

const MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024;
const LAST_SEEN = 'last-seen.json';

/** Records a segment holds before the day's next one starts: a tenth of the cap (so the cap is kept to within a tenth), at most 10,000. */
export function segmentLines(activityCap: number): number {
  return Math.min(10_000, Math.max(1, Math.ceil(activityCap / 10)));
}

function checkJpeg(b: unknown): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) throw new GalleryError('INVALID_INPUT', 'snapshot is not a JPEG');
  if (b.length > MAX_SNAPSHOT_BYTES) throw new GalleryError('INVALID_INPUT', `snapshot larger than ${MAX_SNAPSHOT_BYTES} bytes`);
  return b;
}

/** A name as a whole word in free text (a detail), and whether a file's text may hold it (as JSON escapes it). */
function nameMatcher(name: string | undefined): { inDetail: (detail: string) => boolean; inText: (text: string) => boolean } | null {
  const n = name?.trim();
  if (!n) return null;
  const re = new RegExp(`(^|[^\\p{L}\\p{N}])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}\\p{N}])`, 'u');
  const escaped = JSON.stringify(n).slice(1, -1);
  return { inDetail: (detail) => re.test(detail), inText: (text) => text.includes(n) || text.includes(escaped) };
}

/** The record without what linked it to a person. */
export function redact(e: ActivityEntry, at: string): ActivityEntry {
  return { ...e, identityId: null, score: null, liveness: null, snapshot: null, detail: null, redacted: true, redactedAt: at };
}

/** The same filter checks for the window and the files; throws GalleryError on a bad filter. */
function compileFilter(f: ActivityFilter = {}): { test: (e: ActivityEntry) => boolean; since?: number; until?: number } {
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
  return {
    since,
    until,
    test: (e) => {
      if (f.identityId !== undefined && e.identityId !== f.identityId) return false;
      if (decisions && !decisions.has(e.decision)) return false;
      if (f.door !== undefined && e.door !== f.door) return false;
      if (f.redacted !== undefined && e.redacted !== f.redacted) return false;
      const t = Date.parse(e.time);
      if (since !== undefined && t < since) return false;
      if (until !== undefined && t > until) return false;
      return true;
    },
  };
}

const byTimeDesc = (a: ActivityEntry, b: ActivityEntry) => b.time.localeCompare(a.time);
/** Newest first; records of the same time in the reverse of their order in the file (the later written first). */
const newestFirst = (inFileOrder: ActivityEntry[]): ActivityEntry[] => inFileOrder.reverse().sort(byTimeDesc);

interface Recent {
  entry: ActivityEntry;
  segment: string;
}

export class ActivityLog {
  /** The audit trail's folder (<gallery>/audit). */
  readonly dir: string;
  readonly snapshotsDir: string;
  readonly lastSeenFile: string;
  /** Where earlier versions kept the log; migrated into the trail and removed on open. */
  readonly legacyFile: string;
  readonly #io: FileIo;
  readonly #append: (file: string, data: string) => Promise<void>;
  readonly #now: () => Date;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  /** Oldest first. */
  #segments: Segment[] = [];
  /** The newest records (oldest first), at most RECENT_WINDOW. */
  #recent: Recent[] = [];
  #lastSeen: Record<string, string> = {};
  /** Segments whose end this process has checked for a torn line before appending. */
  #tailChecked = new Set<string>();
  /** Whether last-seen.json exists (it is written with the first record). */
  #lastSeenOnDisk = false;

  private constructor(
    root: string,
    private readonly opts: ActivityOptions,
  ) {
    this.dir = path.join(root, 'audit');
    this.snapshotsDir = path.join(root, 'snapshots');
    this.lastSeenFile = path.join(this.dir, LAST_SEEN);
    this.legacyFile = path.join(root, 'activity.json');
    this.#io = opts.io ?? nodeIo;
    const io = opts.io;
    this.#append = io?.appendSynced ? (f, d) => io.appendSynced!(f, d) : appendSynced;
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * Opens the trail in `root` (the gallery folder), migrating an activity.json of an earlier
   * version into it (CORRUPT when that file is invalid: it is then left as it is). Writes nothing
   * else: purges and repairs are the owner's (sweep, purge, startRetention).
   */
  static async open(root: string, opts: ActivityOptions): Promise<ActivityLog> {
    const log = new ActivityLog(root, opts);
    await log.#load();
    return log;
  }

  #report(message: string): void {
    (this.opts.onError ?? ((m) => console.error(`[facegate] audit trail: ${m}`)))(message);
  }

  #settings(): { cap: number; keepSnapshots: boolean; retentionDays: number } {
    const s = this.opts.settings();
    return { cap: s.activityCap, keepSnapshots: s.keepSnapshots, retentionDays: s.audit?.retentionDays ?? DEFAULT_RETENTION_DAYS };
  }

  /** The first day whose records are kept. */
  #keepFrom(): string {
    return daysBefore(this.#now(), this.#settings().retentionDays);
  }

  #file(seg: Pick<Segment, 'name'>): string {
    return childPath(this.dir, seg.name);
  }

  /** A segment's text; '' when it is gone (removed meanwhile). Any other failure throws: what a sweep cannot read it must not take for empty. */
  async #text(seg: Pick<Segment, 'name'>): Promise<string> {
    try {
      return await readFile(this.#file(seg), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw e;
    }
  }

  // ---- loading -----------------------------------------------------------------------------------

  async #load(): Promise<void> {
    this.#segments = [];
    this.#recent = [];
    this.#lastSeen = {};
    this.#tailChecked.clear();
    this.#lastSeenOnDisk = false;
    for (const f of await listDir(this.dir)) {
      const seg = f.isFile() ? parseSegmentName(f.name) : null;
      if (!seg) continue;
      const buf = await readFile(this.#file(seg));
      this.#segments.push({ ...seg, lines: countLines(buf) });
    }
    this.#segments.sort(bySegment);
    const legacy = await new AtomicJsonFile(this.legacyFile, (raw, file) => parseFile(LegacyActivityFileSchema, raw, file, 'activity log'), this.#io, {
      fresh: 'an empty activity log',
    }).read();
    let derive = false;
    try {
      this.#lastSeen = (await readJsonFile(this.lastSeenFile, (raw, file) => parseFile(LastSeenFileSchema, raw, file, 'last-seen times'))).lastSeen;
      this.#lastSeenOnDisk = true;
    } catch (e) {
      if (!(e instanceof GalleryError)) throw e;
      // A cache of the trail: missing (a crash before the first write) or unreadable, it is derived again.
      derive = this.#segments.length > 0;
      if (e.code !== 'NOT_FOUND') this.#report(`${e.message}; derived again from the records`);
    }
    if (legacy) await this.#migrate(legacy.entries, legacy.lastSeen);
    await this.#fillRecent(derive);
  }

  /** The newest records into memory; with `all`, every segment is read to derive the last-seen times. */
  async #fillRecent(all: boolean): Promise<void> {
    const recent: Recent[] = [];
    let bad = 0;
    for (let i = this.#segments.length - 1; i >= 0 && (all || recent.length < RECENT_WINDOW); i--) {
      const seg = this.#segments[i]!;
      const { lines } = parseLines(await this.#text(seg));
      const entries: ActivityEntry[] = [];
      for (const l of lines) {
        if (l.entry) entries.push(l.entry);
        else if (l.text.trim() !== '') bad++;
      }
      for (const entry of newestFirst(entries)) {
        if (recent.length < RECENT_WINDOW) recent.push({ entry, segment: seg.name });
        this.#noteSeen(entry);
      }
    }
    this.#recent = recent.reverse();
    if (bad > 0) this.#report(`${bad} line(s) in ${this.dir} are not records: skipped (left as they are)`);
  }

  /** An accepted decision moves the identity's last-seen time forward; returns whether it did. */
  #noteSeen(e: ActivityEntry): boolean {
    if (e.identityId === null || !ACCEPT_DECISIONS.includes(e.decision)) return false;
    const cur = this.#lastSeen[e.identityId];
    if (cur !== undefined && cur >= e.time) return false;
    this.#lastSeen[e.identityId] = e.time;
    return true;
  }

  /**
   * activity.json of an earlier version into the trail: each entry not yet in it (a migration cut
   * short is done again without duplicates), the last-seen times merged, then the file removed.
   */
  async #migrate(entries: ActivityEntry[], lastSeen: Record<string, string>): Promise<void> {
    const have = new Set<string>();
    for (const seg of this.#segments) {
      for (const m of (await readFile(this.#file(seg), 'utf8')).matchAll(/"id"\s*:\s*"(a_[0-9a-hjkmnp-tv-z]{20})"/g)) have.add(m[1]!);
    }
    const todo = entries
      .filter((e) => !have.has(e.id))
      .map((e): ActivityEntry => {
        // The door was written into the detail: "kiosk (browser): 2 of the last 3 frames".
        const m = e.door === null && e.detail ? /^((?:kiosk|camera) \([^)]*\))(?:: (.*))?$/s.exec(e.detail) : null;
        return m ? { ...e, door: m[1]!, detail: m[2] || null } : e;
      })
      .sort((a, b) => a.time.localeCompare(b.time));
    if (todo.length > 0) await this.#appendRecords(todo);
    for (const [id, t] of Object.entries(lastSeen)) if ((this.#lastSeen[id] ?? '') < t) this.#lastSeen[id] = t;
    for (const e of todo) this.#noteSeen(e);
    await this.#writeLastSeen();
    try {
      await unlink(this.legacyFile);
      await this.#io.syncDir(path.dirname(this.legacyFile));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(this.legacyFile, e, 'was migrated into the audit trail but could not be removed');
    }
  }

  reload(): Promise<void> {
    return this.#exclusive(() => this.#load());
  }

  async close(): Promise<void> {
    this.stopRetention();
    this.#closed = true;
    await this.#queue.catch(() => {});
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new GalleryError('WRITE_FAILED', `audit trail ${this.dir} is closed`));
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  // ---- writing -----------------------------------------------------------------------------------

  /**
   * Appends `entries` (validated) to their days' segments: one fsync'd append per segment, a new
   * segment when the day's last one is full. All or nothing: when one append fails, those done
   * are truncated back. Returns whether a segment of a day newer than any before was started.
   */
  async #appendRecords(entries: readonly ActivityEntry[]): Promise<boolean> {
    const max = segmentLines(this.#settings().cap);
    const plan = new Map<string, { seg: Segment; isNew: boolean; lines: string[] }>();
    const lastOfDay = new Map<string, Segment>();
    for (const s of this.#segments) lastOfDay.set(s.day, s);
    const newestDay = this.#segments.at(-1)?.day ?? '';
    for (const e of entries) {
      const day = dayOf(e.time);
      let seg = lastOfDay.get(day);
      const planned = seg ? plan.get(seg.name) : undefined;
      if (!seg || seg.lines + (planned?.lines.length ?? 0) >= max) {
        seg = { name: segmentName(day, seg ? seg.seq + 1 : 0), day, seq: seg ? seg.seq + 1 : 0, lines: 0 };
        lastOfDay.set(day, seg);
        plan.set(seg.name, { seg, isNew: true, lines: [] });
      } else if (!planned) plan.set(seg.name, { seg, isNew: false, lines: [] });
      plan.get(seg.name)!.lines.push(recordLine(e));
    }
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (e) {
      throw writeError(this.dir, e);
    }
    const done: { file: string; size: number | null }[] = [];
    try {
      for (const { seg, lines } of plan.values()) {
        const file = this.#file(seg);
        if (!this.#tailChecked.has(seg.name)) {
          const cut = await cutTornTail(file);
          if (cut > 0) this.#report(`${file}: cut ${cut} bytes of a record torn by a crash`);
          this.#tailChecked.add(seg.name);
        }
        const size = await sizeOf(file);
        done.push({ file, size });
        await this.#append(file, lines.join('\n') + '\n');
      }
      if (done.some((d) => d.size === null)) await this.#io.syncDir(this.dir);
    } catch (e) {
      // All or nothing: the segments appended to before the failure lose this batch again (the
      // failed append is undone by appendSynced; a file it created is removed here).
      for (const d of done) await (d.size === null ? unlink(d.file) : truncate(d.file, d.size)).catch(() => {});
      if (e instanceof GalleryError) throw e;
      throw writeError(done.at(-1)?.file ?? this.dir, e, 'could not be appended to; the batch of records was not kept');
    }
    let newDay = false;
    for (const { seg, isNew, lines } of plan.values()) {
      seg.lines += lines.length;
      if (isNew) {
        this.#segments.push(seg);
        if (seg.day > newestDay) newDay = true;
      }
    }
    this.#segments.sort(bySegment);
    return newDay && newestDay !== '';
  }

  async #writeLastSeen(): Promise<void> {
    const file: LastSeenFile = { format: 'facegate-last-seen', version: 1, lastSeen: this.#lastSeen };
    await mkdir(this.dir, { recursive: true }).catch(() => {});
    await atomicWrite(this.lastSeenFile, JSON.stringify(file, null, 2) + '\n', this.#io);
    this.#lastSeenOnDisk = true;
  }

  /** Time of the identity's last accepted decision, or null. */
  lastSeen(identityId: string): string | null {
    return this.#lastSeen[identityId] ?? null;
  }

  /**
   * Appends a decision. Accepted decisions update the identity's lastSeen. Beyond
   * settings.activityCap the oldest segments (and their snapshots) are dropped.
   */
  async record(input: LogDecisionInput): Promise<ActivityEntry> {
    const [r] = await this.recordMany([input]);
    if (r instanceof GalleryError) throw r;
    return r!;
  }

  /**
   * Appends decisions in one append per segment (one, but at midnight), however many: the door's
   * decision log hands over everything that arrived while the last write ran, so a busy door
   * cannot outrun its log. Each result is that input's entry, or the GalleryError that refused it
   * alone (NOT_FOUND: the person was erased meanwhile; INVALID_INPUT, also for a time before the
   * retention period); a failed write rejects the batch and keeps none.
   */
  recordMany(inputs: readonly LogDecisionInput[]): Promise<(ActivityEntry | GalleryError)[]> {
    return this.#exclusive(async () => {
      const settings = this.#settings();
      const keepFrom = this.#keepFrom();
      const results: (ActivityEntry | GalleryError)[] = [];
      const added: ActivityEntry[] = [];
      const snapFiles: string[] = [];
      let newDay = false;
      try {
        for (const input of inputs) {
          let entry: ActivityEntry;
          let jpeg: Uint8Array | undefined;
          try {
            entry = this.#entry(input);
            if (dayOf(entry.time) < keepFrom) throw new GalleryError('INVALID_INPUT', `a record of ${entry.time} is older than the retention period (${settings.retentionDays} days): not kept`);
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
        }
        if (added.length === 0) return results;
        newDay = await this.#appendRecords(added);
      } catch (e) {
        for (const f of snapFiles) await this.#io.remove(f).catch(() => {});
        throw e;
      }
      // The records are on disk: what follows updates what derives from them, and never rejects the batch.
      let seen = false;
      for (const e of added) seen = this.#noteSeen(e) || seen;
      this.#remember(added);
      if (seen || !this.#lastSeenOnDisk) await this.#writeLastSeen().catch((e: Error) => this.#report(e.message));
      if (newDay) await this.#purge().catch((e: Error) => this.#report(`retention purge: ${e.message}`));
      await this.#enforceCap(settings.cap).catch((e: Error) => this.#report(`activityCap: ${e.message}`));
      return results.map((r) => (r instanceof GalleryError ? r : { ...r }));
    });
  }

  #remember(added: readonly ActivityEntry[]): void {
    const lastOfDay = new Map<string, string>();
    for (const s of this.#segments) lastOfDay.set(s.day, s.name);
    for (const entry of added) {
      const rec = { entry, segment: lastOfDay.get(dayOf(entry.time))! };
      // Mostly in order; an explicit earlier time goes to its place.
      let i = this.#recent.length;
      while (i > 0 && this.#recent[i - 1]!.entry.time > entry.time) i--;
      this.#recent.splice(i, 0, rec);
    }
    if (this.#recent.length > RECENT_WINDOW) this.#recent.splice(0, this.#recent.length - RECENT_WINDOW);
  }

  /** The validated entry for `input`, without its snapshot; throws GalleryError. */
  #entry(input: LogDecisionInput): ActivityEntry {
    const identityId = input.identityId ?? null;
    if (identityId !== null) {
      assertId('identity', identityId);
      if (!this.opts.identityExists(identityId)) throw new GalleryError('NOT_FOUND', `no identity ${identityId}`);
    }
    const liveness: Liveness | null = input.liveness ? { passed: input.liveness.passed, method: input.liveness.method ?? null, score: input.liveness.score ?? null } : null;
    const draft = {
      id: newId('activity'),
      time: (input.time ?? this.#now()).toISOString(),
      decision: input.decision,
      door: input.door ?? null,
      identityId,
      score: input.score ?? null,
      threshold: input.threshold ?? null,
      metric: input.metric ?? null,
      modelId: input.modelId ?? null,
      liveness,
      snapshot: null as string | null,
      detail: input.detail ?? null,
      redacted: false,
      redactedAt: null,
    };
    const entry = parseWith(ActivityEntrySchema, draft, 'activity entry');
    for (const [k, v] of [['score', entry.score], ['threshold', entry.threshold], ['liveness score', entry.liveness?.score ?? null]] as const) {
      if (v !== null && !Number.isFinite(v)) throw new GalleryError('INVALID_INPUT', `${k} must be finite`);
    }
    return entry;
  }

  // ---- bounds: retention and the cap ---------------------------------------------------------------

  /** Removes a segment and the snapshots its records name; returns the records and snapshots. */
  async #dropSegment(seg: Segment): Promise<{ entries: number; removedPaths: string[] }> {
    const file = this.#file(seg);
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return '';
      throw writeError(file, e, 'could not be read to remove it');
    });
    const snaps = [...mentions(text).snapshots].map((s) => childPath(this.snapshotsDir, s));
    // The snapshots first: a crash then leaves records without their frames, never frames without a record.
    try {
      for (const p of snaps) await this.#io.remove(p);
      if (snaps.length) await this.#io.syncDir(this.snapshotsDir).catch(() => {});
      await this.#io.remove(file);
      await this.#io.syncDir(this.dir);
    } catch (e) {
      throw writeError(file, e, 'could not be removed');
    }
    this.#segments = this.#segments.filter((s) => s.name !== seg.name);
    this.#recent = this.#recent.filter((r) => r.segment !== seg.name);
    this.#tailChecked.delete(seg.name);
    return { entries: seg.lines, removedPaths: [...snaps, file] };
  }

  async #enforceCap(cap: number): Promise<void> {
    let total = this.#segments.reduce((n, s) => n + s.lines, 0);
    while (total > cap && this.#segments.length > 1) total -= (await this.#dropSegment(this.#segments[0]!)).entries;
  }

  async #purge(): Promise<PurgeReport> {
    const keepFrom = this.#keepFrom();
    const report: PurgeReport = { files: [], entries: 0, removedPaths: [] };
    for (const seg of this.#segments.filter((s) => s.day < keepFrom)) {
      const r = await this.#dropSegment(seg);
      report.files.push(this.#file(seg));
      report.entries += r.entries;
      report.removedPaths.push(...r.removedPaths.slice(0, -1));
    }
    // A last-seen time is a record of a pass too: it goes with the records of its day.
    const stale = Object.keys(this.#lastSeen).filter((k) => this.#lastSeen[k]! < keepFrom);
    if (stale.length > 0) {
      for (const k of stale) delete this.#lastSeen[k];
      await this.#writeLastSeen();
    }
    return report;
  }

  /**
   * Storage limitation: removes the segments of days older than settings.audit.retentionDays
   * (counted back from today, UTC) and the snapshots their records name, and last-seen times as
   * old. A record is kept at least retentionDays and less than a day longer.
   */
  purge(): Promise<PurgeReport> {
    return this.#exclusive(() => this.#purge());
  }

  /**
   * Purges every `everyMs` (default hourly) until close(). The timer does not keep the process
   * alive. The server calls this (src/http/start.ts); a second call changes nothing.
   */
  startRetention(everyMs = RETENTION_EVERY_MS): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      if (this.#closed) return;
      void this.purge().catch((e: Error) => this.#report(`retention purge: ${e.message}`));
    }, everyMs);
    this.#timer.unref();
  }

  stopRetention(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** Newest first, from the newest RECENT_WINDOW records in memory (read() for the whole trail). */
  query(query: ActivityQuery = {}): ActivityEntry[] {
    const limit = Math.max(0, query.limit ?? 100);
    const { test } = compileFilter(query.filter);
    const out: ActivityEntry[] = [];
    const entries = newestFirst(this.#recent.map((r) => r.entry));
    for (const e of entries) {
      if (out.length >= limit) break;
      if (test(e)) out.push({ ...e, liveness: e.liveness && { ...e.liveness } });
    }
    return out;
  }

  /**
   * The whole trail, newest first, filtered, at most `limit` records (default: all): the segments
   * are read one at a time, newest first, skipping days outside since/until. Reads beside the
   * writes (a segment removed meanwhile is skipped). Throws GalleryError on a bad filter.
   */
  async *read(query: ActivityQuery = {}): AsyncGenerator<ActivityEntry> {
    const limit = query.limit ?? Infinity;
    const { test, since, until } = compileFilter(query.filter);
    const sinceDay = since === undefined ? '' : dayOf(new Date(since));
    const untilDay = until === undefined ? '9999-99-99' : dayOf(new Date(until));
    let n = 0;
    if (limit <= 0) return;
    for (const seg of [...this.#segments].reverse()) {
      if (seg.day < sinceDay || seg.day > untilDay) continue;
      let text: string;
      try {
        text = await readFile(this.#file(seg), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const entries = newestFirst(
        parseLines(text)
          .lines.map((l) => l.entry)
          .filter((e): e is ActivityEntry => e !== null && test(e)),
      );
      for (const e of entries) {
        yield e;
        if (++n >= limit) return;
      }
    }
  }

  /** read() into an array. */
  async list(query: ActivityQuery = {}): Promise<ActivityEntry[]> {
    const out: ActivityEntry[] = [];
    for await (const e of this.read(query)) out.push(e);
    return out;
  }

  /** The doors named by the newest records, for a filter's suggestions. */
  doors(): string[] {
    return [...new Set(this.#recent.map((r) => r.entry.door).filter((d): d is string => d !== null))].sort();
  }

  /** The segment files, oldest first. */
  files(): string[] {
    return this.#segments.map((s) => this.#file(s));
  }

  snapshotPath(entry: Pick<ActivityEntry, 'snapshot'>): string | null {
    if (entry.snapshot === null) return null;
    if (!SNAPSHOT_FILE.test(entry.snapshot)) throw new GalleryError('INVALID_ID', `invalid snapshot name ${JSON.stringify(entry.snapshot)}`);
    return childPath(this.snapshotsDir, entry.snapshot);
  }

  // ---- erasure -----------------------------------------------------------------------------------

  /**
   * Redacts, in every segment, the records `match` picks (see redact()), each file replaced
   * atomically; a line that is no record but mentions what `mentionsText` looks for is removed.
   * Then the snapshots those records named. Returns the records redacted and the snapshots.
   */
  async #redactWhere(match: (e: ActivityEntry) => boolean, mentionsText: (text: string) => boolean): Promise<{ entries: number; removedPaths: string[] }> {
    const at = this.#now().toISOString();
    let entries = 0;
    const snapshots: string[] = [];
    for (const seg of [...this.#segments]) {
      const file = this.#file(seg);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw writeError(file, e, 'could not be read to redact it');
      }
      if (!mentionsText(text)) continue;
      const { lines, torn } = parseLines(text);
      const out: string[] = [];
      let changed = false;
      for (const l of lines) {
        if (l.entry && match(l.entry)) {
          if (l.entry.snapshot) snapshots.push(l.entry.snapshot);
          out.push(recordLine(redact(l.entry, at)));
          entries++;
          changed = true;
        } else if (!l.entry && mentionsText(l.text)) changed = true;
        else out.push(l.text);
      }
      // A torn last line (a crash during an append) is a record never acknowledged: not kept.
      if (torn !== null && mentionsText(torn)) changed = true;
      if (!changed) continue;
      const next = out.map((l) => l + '\n').join('');
      try {
        await writeFileAtomic(file, next, { io: this.#io, mode: 0o600 });
      } catch (e) {
        throw writeError(file, e, 'could not be rewritten without the erased person; it is unchanged (the next sweep retries)');
      }
      seg.lines = out.length;
      this.#tailChecked.add(seg.name);
    }
    for (const r of this.#recent) if (match(r.entry)) r.entry = redact(r.entry, at);
    const removedPaths = snapshots.map((s) => childPath(this.snapshotsDir, s));
    try {
      for (const p of removedPaths) await this.#io.remove(p);
      if (removedPaths.length) await this.#io.syncDir(this.snapshotsDir).catch(() => {});
    } catch (e) {
      throw writeError(removedPaths.join(', '), e, 'belong to redacted records but could not all be removed (the next sweep retries)');
    }
    return { entries, removedPaths };
  }

  /**
   * Erasure of one person: each of their records is redacted (the decision, its time and door
   * stay; their id, score, liveness, snapshot and detail go, and the record says it was redacted),
   * so is any record whose detail names them (`name`), their snapshots are removed, and their
   * last-seen time. The one rewrite of the trail, each file atomically. The records go first;
   * snapshots that cannot be removed then are named in the error (the sweep retries).
   */
  erase(identityId: string, opts: { name?: string } = {}): Promise<{ entries: number; removedPaths: string[] }> {
    try {
      assertId('identity', identityId);
    } catch (e) {
      return Promise.reject(e);
    }
    const named = nameMatcher(opts.name);
    return this.#exclusive(async () => {
      const r = await this.#redactWhere(
        (e) => e.identityId === identityId || (e.detail !== null && (e.detail.includes(identityId) || (named?.inDetail(e.detail) ?? false))),
        (text) => text.includes(identityId) || (named?.inText(text) ?? false),
      );
      if (identityId in this.#lastSeen) {
        delete this.#lastSeen[identityId];
        await this.#writeLastSeen();
      }
      return r;
    });
  }

  /**
   * What an interrupted erasure or write can leave, and what is due: records and last-seen times
   * of people who no longer exist (redacted, as erase would have), segments past the retention
   * period or beyond the cap, snapshot files no record names, and temp files of dead writers
   * (`removeStaleTemp` removes one once it is old enough to be abandoned, and says whether it did).
   */
  sweep(liveIdentities: ReadonlySet<string>, removeStaleTemp: (dir: string, name: string) => Promise<boolean>): Promise<{ entries: number; removedPaths: string[] }> {
    return this.#exclusive(async () => {
      const removedPaths: string[] = [];
      for (const f of await listDir(this.dir)) {
        if (f.isFile() && (await removeStaleTemp(this.dir, f.name))) removedPaths.push(path.join(this.dir, f.name));
      }
      const orphans = new Set<string>();
      for (const seg of this.#segments) {
        for (const id of mentions(await this.#text(seg)).identityIds) if (!liveIdentities.has(id)) orphans.add(id);
      }
      let entries = 0;
      if (orphans.size > 0) {
        const r = await this.#redactWhere(
          (e) => e.identityId !== null && orphans.has(e.identityId),
          (text) => [...orphans].some((id) => text.includes(id)),
        );
        entries = r.entries;
        removedPaths.push(...r.removedPaths);
      }
      const orphanSeen = Object.keys(this.#lastSeen).filter((k) => !liveIdentities.has(k));
      if (orphanSeen.length > 0) {
        for (const k of orphanSeen) delete this.#lastSeen[k];
        await this.#writeLastSeen();
      }
      const purged = await this.#purge();
      removedPaths.push(...purged.files, ...purged.removedPaths);
      const before = new Set(this.files());
      await this.#enforceCap(this.#settings().cap);
      removedPaths.push(...[...before].filter((f) => !this.files().includes(f)));
      const named = new Set<string>();
      for (const seg of this.#segments) for (const s of mentions(await this.#text(seg)).snapshots) named.add(s);
      for (const f of await listDir(this.snapshotsDir)) {
        if (!f.isFile()) continue;
        const p = path.join(this.snapshotsDir, f.name);
        if (await removeStaleTemp(this.snapshotsDir, f.name)) removedPaths.push(p);
        else if (SNAPSHOT_FILE.test(f.name) && !named.has(f.name)) {
          await this.#io.remove(p);
          removedPaths.push(p);
        }
      }
      return { entries, removedPaths };
    });
  }
}
