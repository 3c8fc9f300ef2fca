// The audit trail's records (one JSON object per line of audit/audit-<day>[.<n>].jsonl), the
// last-seen side file, and the legacy activity.json that older versions kept (migrated on open).
import { z } from 'zod';
import { ID_PATTERNS } from '../gallery/ids.js';
import { ModelIdSchema } from '../gallery/schema.js';
import { MetricSchema } from '../settings/schema.js';

export const SNAPSHOT_FILE = /^a_[0-9a-hjkmnp-tv-z]{20}\.jpg$/;

const isoTime = z.iso.datetime();
const identityId = z.string().regex(ID_PATTERNS.identity, 'invalid identity id');

/** A presentation-attack check's result, as the door had it when it decided (src/pad). */
export const LivenessSchema = z.strictObject({
  passed: z.boolean(),
  /** The check that decided: "blink", "head-turn", "antispoof", ... */
  method: z.string().min(1).max(64).nullable().default(null),
  score: z.number().nullable().default(null),
});
export type Liveness = z.output<typeof LivenessSchema>;

/**
 * One decision (or other event: enrollment, a door-hardware outcome). The fields added with the
 * audit trail default, so that entries of the older activity.json read as records too.
 * A redacted record (right to erasure) keeps what says that something happened (time, decision,
 * door, threshold, metric, model) and has lost whatever linked it to the person: identityId,
 * score, liveness, snapshot and detail are null, `redacted` is true with the time it was done.
 */
export const ActivityEntrySchema = z.strictObject({
  id: z.string().regex(ID_PATTERNS.activity, 'invalid activity id'),
  time: isoTime,
  /** 'match', 'unknown', 'verify-accept', ... : open-ended so other modules can log their own. */
  decision: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'decision must be a short lower-case word'),
  /** Where it was decided: "api", "kiosk (browser)", "kiosk (device /dev/video0)"; null when not at a door. */
  door: z.string().min(1).max(100).nullable().default(null),
  identityId: identityId.nullable(),
  score: z.number().nullable(),
  /** The acceptance threshold the score was compared with. */
  threshold: z.number().nullable().default(null),
  metric: MetricSchema.nullable(),
  modelId: ModelIdSchema.nullable(),
  liveness: LivenessSchema.nullable().default(null),
  /** File under snapshots/, or null. */
  snapshot: z.string().regex(SNAPSHOT_FILE).nullable(),
  detail: z.string().max(500).nullable(),
  redacted: z.boolean().default(false),
  /** When the record was redacted (erasure of the person it named). */
  redactedAt: isoTime.nullable().default(null),
});
export type ActivityEntry = z.output<typeof ActivityEntrySchema>;

/** audit/last-seen.json: identityId -> time of the last accepted decision (a pass does not rewrite gallery.json). */
export const LastSeenFileSchema = z.strictObject({
  format: z.literal('facegate-last-seen'),
  version: z.literal(1),
  lastSeen: z.record(identityId, isoTime).default({}),
});
export type LastSeenFile = z.output<typeof LastSeenFileSchema>;

/** The activity.json of earlier versions (all entries in one file); read once, migrated, removed. */
export const LegacyActivityFileSchema = z.strictObject({
  format: z.literal('facegate-activity'),
  version: z.literal(1),
  entries: z.array(ActivityEntrySchema).default([]),
  lastSeen: z.record(identityId, isoTime).default({}),
});
export type LegacyActivityFile = z.output<typeof LegacyActivityFileSchema>;
