// The audit trail as files for people and other systems: CSV for spreadsheets and JSON, streamed
// record by record (an export of 90 days is never held in memory). The pages (src/web) and the
// API (src/server) export through here, so both give the same columns.
//
// CSV: RFC 4180 quoting, UTF-8 with a byte-order mark (so that a spreadsheet reads "Zoë" as
// such), CRLF. A text cell that a spreadsheet would run as a formula (=, +, -, @, also after
// leading blanks or in their full-width forms, and a leading tab or CR) is prefixed with ' so it
// stays text (CWE-1236); numbers are written as numbers.
import type { ActivityEntry } from './schema.js';

export const DECISION_LABELS: Record<string, string> = {
  match: 'Granted',
  unknown: 'Not recognised',
  'not-live': 'Recognised, refused: not live',
  'verify-accept': 'Verified',
  'verify-reject': 'Verify refused',
  enroll: 'Enrolled',
  'door-ok': 'Door signal delivered',
  'door-failed': 'Door signal failed',
  'door-dropped': 'Door signal dropped',
  'door-expired': 'Door signal expired',
  'door-blocked': 'Door kept shut (fail-secure)',
};

export const decisionLabel = (decision: string): string => DECISION_LABELS[decision] ?? decision;

/** A record with the name of its person now (null when none, erased, or redacted). */
export interface ExportRow extends ActivityEntry {
  name: string | null;
}

export async function* withNames(entries: AsyncIterable<ActivityEntry>, nameOf: (identityId: string) => string | null): AsyncGenerator<ExportRow> {
  for await (const e of entries) yield { ...e, name: e.identityId === null ? null : nameOf(e.identityId) };
}

const FORMULA_START = /^[\s\u3000]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/;

export function csvCell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && (/^[\t\r\n]/.test(s) || FORMULA_START.test(s))) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: (string | number | boolean | null | undefined)[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

export const CSV_COLUMNS = [
  'time',
  'decision',
  'decision_label',
  'door',
  'identity_id',
  'name',
  'score',
  'threshold',
  'metric',
  'model_id',
  'liveness',
  'liveness_method',
  'liveness_score',
  'snapshot',
  'redacted',
  'redacted_at',
  'detail',
  'id',
] as const;

export function csvRow(r: ExportRow): (string | number | boolean | null)[] {
  return [
    r.time,
    r.decision,
    decisionLabel(r.decision),
    r.door,
    r.identityId,
    r.name,
    r.score,
    r.threshold,
    r.metric,
    r.modelId,
    r.liveness === null ? null : r.liveness.passed ? 'passed' : 'failed',
    r.liveness?.method ?? null,
    r.liveness?.score ?? null,
    r.snapshot,
    r.redacted,
    r.redactedAt,
    r.detail,
    r.id,
  ];
}

/** Chunks of text as a byte stream, read from `chunks` as the client takes them. */
function streamOf(chunks: AsyncIterable<string>): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  const enc = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const { value, done } = await it.next();
      if (done) ctrl.close();
      else ctrl.enqueue(enc.encode(value));
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/** Rows joined into chunks of up to `n` rows each. */
async function* batched<T>(rows: AsyncIterable<T>, line: (r: T, first: boolean) => string, n = 200): AsyncGenerator<string> {
  let buf = '';
  let k = 0;
  let first = true;
  for await (const r of rows) {
    buf += line(r, first);
    first = false;
    if (++k >= n) {
      yield buf;
      buf = '';
      k = 0;
    }
  }
  if (buf) yield buf;
}

/** The rows as CSV (byte-order mark, header, one line each). */
export function csvStream(rows: AsyncIterable<ExportRow>): ReadableStream<Uint8Array> {
  async function* chunks() {
    yield '\uFEFF' + CSV_COLUMNS.join(',') + '\r\n';
    yield* batched(rows, (r) => csvRow(r).map(csvCell).join(',') + '\r\n');
  }
  return streamOf(chunks());
}

export interface ExportMeta {
  /** ISO time of the export. */
  exportedAt: string;
  /** The filter it applied, as given. */
  filter: Record<string, unknown>;
  /** The retention in force (records older than that are no longer there). */
  retentionDays: number;
}

/** The rows as one JSON document: { format, version, exportedAt, filter, retentionDays, entries: [...] }. */
export function jsonStream(rows: AsyncIterable<ExportRow>, meta: ExportMeta): ReadableStream<Uint8Array> {
  async function* chunks() {
    const head = JSON.stringify({ format: 'facegate-audit-export', version: 1, ...meta });
    yield head.slice(0, -1) + ',"entries":[';
    yield* batched(rows, (r, first) => (first ? '\n' : ',\n') + JSON.stringify(r));
    yield '\n]}\n';
  }
  return streamOf(chunks());
}
