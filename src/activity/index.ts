// The audit trail (audit/audit-<day>.jsonl, last-seen.json, snapshots/): records, retention, erasure, export.
export {
  ActivityLog,
  ACCEPT_DECISIONS,
  DEFAULT_RETENTION_DAYS,
  RECENT_WINDOW,
  RETENTION_EVERY_MS,
  redact,
  segmentLines,
  type ActivityFilter,
  type ActivityOptions,
  type ActivityQuery,
  type LogDecisionInput,
  type PurgeReport,
} from './activity-log.js';
export { ActivityEntrySchema, LivenessSchema, SNAPSHOT_FILE, type ActivityEntry, type Liveness } from './schema.js';
export { SEGMENT_FILE, type AppendIo } from './segments.js';
export { CSV_COLUMNS, DECISION_LABELS, csvCell, csvStream, decisionLabel, jsonStream, toCsv, withNames, type ExportMeta, type ExportRow } from './export.js';
