// The audit trail's files: JSON Lines segments named by the UTC day of the records they hold,
// audit-YYYY-MM-DD.jsonl, then audit-YYYY-MM-DD.1.jsonl, .2, ... when a day fills more than one
// segment. Appends are fsync'd and undone (truncated) when they fail; a line torn by a crash
// (no newline at the end of a file) is never read as a record.
import { open, readFile, truncate } from 'node:fs/promises';
import { ActivityEntrySchema, type ActivityEntry } from './schema.js';

export const SEGMENT_FILE = /^audit-(\d{4}-\d{2}-\d{2})(?:\.([1-9]\d{0,5}))?\.jsonl$/;

export interface Segment {
  name: string;
  /** UTC day of its records, YYYY-MM-DD. */
  day: string;
  /** 0 for the day's first segment. */
  seq: number;
  /** Lines (records, and any unreadable ones) it holds. */
  lines: number;
}

export const segmentName = (day: string, seq: number): string => (seq === 0 ? `audit-${day}.jsonl` : `audit-${day}.${seq}.jsonl`);

export function parseSegmentName(name: string): Pick<Segment, 'name' | 'day' | 'seq'> | null {
  const m = SEGMENT_FILE.exec(name);
  if (!m || Number.isNaN(Date.parse(`${m[1]}T00:00:00Z`))) return null;
  return { name, day: m[1]!, seq: m[2] ? Number(m[2]) : 0 };
}

/** Oldest first. */
export const bySegment = (a: Pick<Segment, 'day' | 'seq'>, b: Pick<Segment, 'day' | 'seq'>): number => a.day.localeCompare(b.day) || a.seq - b.seq;

/** The UTC day of an ISO time or a Date. */
export const dayOf = (t: string | Date): string => (typeof t === 'string' ? new Date(t).toISOString() : t.toISOString()).slice(0, 10);

/** The day `days` days before `t` (UTC). */
export const daysBefore = (t: Date, days: number): string => dayOf(new Date(t.getTime() - days * 86_400_000));

/** Appending with fsync: what the trail's writes go through (replaceable to inject faults in tests). */
export interface AppendIo {
  /** Appends `data` to `file` (created if missing) and fsyncs it; on failure the file is as it was. */
  appendSynced(file: string, data: string): Promise<void>;
}

export async function appendSynced(file: string, data: string): Promise<void> {
  const fh = await open(file, 'a', 0o600);
  let size: number | undefined;
  try {
    size = (await fh.stat()).size;
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    // A partial batch must not stay behind a failed (ENOSPC) write.
    if (size !== undefined) await fh.truncate(size).catch(() => {});
    throw e;
  } finally {
    await fh.close();
  }
}

/** Size of `file`, or null when it does not exist. */
export async function sizeOf(file: string): Promise<number | null> {
  try {
    const fh = await open(file, 'r');
    try {
      return (await fh.stat()).size;
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Cuts a torn last line (a crash during an append: bytes after the last newline) so that the
 * next append starts on a line of its own. Returns the bytes cut.
 */
export async function cutTornTail(file: string): Promise<number> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  if (buf.length === 0 || buf[buf.length - 1] === 0x0a) return 0;
  const keep = buf.lastIndexOf(0x0a) + 1;
  await truncate(file, keep);
  return buf.length - keep;
}

/** Complete lines in a buffer (a torn last line does not count). */
export function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

export interface ParsedLine {
  /** The line as stored (without its newline). */
  text: string;
  entry: ActivityEntry | null;
}

/** A segment's complete lines, each with its record or null when it is not one. */
export function parseLines(text: string): { lines: ParsedLine[]; torn: string | null } {
  const parts = text.split('\n');
  const last = parts.pop()!;
  const lines = parts.map((line) => ({ text: line, entry: parseRecord(line) }));
  return { lines, torn: last === '' ? null : last };
}

export function parseRecord(line: string): ActivityEntry | null {
  if (line.trim() === '') return null;
  try {
    const r = ActivityEntrySchema.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** A record as one line (keys in schema order). */
export function recordLine(e: ActivityEntry): string {
  const ordered: ActivityEntry = {
    id: e.id,
    time: e.time,
    decision: e.decision,
    door: e.door,
    identityId: e.identityId,
    score: e.score,
    threshold: e.threshold,
    metric: e.metric,
    modelId: e.modelId,
    liveness: e.liveness,
    snapshot: e.snapshot,
    detail: e.detail,
    redacted: e.redacted,
    redactedAt: e.redactedAt,
  };
  return JSON.stringify(ordered);
}

/**
 * Identity ids and snapshot names a segment's text mentions, found without parsing every line
 * (the sweep on open reads the whole trail). Spacing as a hand edit may leave it is allowed: a
 * snapshot missed here would be taken for an orphan and removed.
 */
export function mentions(text: string): { identityIds: Set<string>; snapshots: Set<string> } {
  const identityIds = new Set<string>();
  const snapshots = new Set<string>();
  for (const m of text.matchAll(/"identityId"\s*:\s*"(i_[0-9a-hjkmnp-tv-z]{20})"/g)) identityIds.add(m[1]!);
  for (const m of text.matchAll(/"snapshot"\s*:\s*"(a_[0-9a-hjkmnp-tv-z]{20}\.jpg)"/g)) snapshots.add(m[1]!);
  return { identityIds, snapshots };
}
