// activity.json: the decision log and each person's last accepted time.
import { z } from 'zod';
import { ID_PATTERNS } from '../gallery/ids.js';
import { ModelIdSchema } from '../gallery/schema.js';
import { MetricSchema } from '../settings/schema.js';

export const SNAPSHOT_FILE = /^a_[0-9a-hjkmnp-tv-z]{20}\.jpg$/;

const isoTime = z.iso.datetime();
const identityId = z.string().regex(ID_PATTERNS.identity, 'invalid identity id');

export const ActivityEntrySchema = z.strictObject({
  id: z.string().regex(ID_PATTERNS.activity, 'invalid activity id'),
  time: isoTime,
  /** 'match', 'unknown', 'verify-accept', ... : open-ended so other modules can log their own. */
  decision: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'decision must be a short lower-case word'),
  identityId: identityId.nullable(),
  score: z.number().nullable(),
  metric: MetricSchema.nullable(),
  modelId: ModelIdSchema.nullable(),
  /** File under snapshots/, or null. */
  snapshot: z.string().regex(SNAPSHOT_FILE).nullable(),
  detail: z.string().max(500).nullable(),
});
export type ActivityEntry = z.output<typeof ActivityEntrySchema>;

export const ActivityFileSchema = z.strictObject({
  format: z.literal('facegate-activity'),
  version: z.literal(1),
  entries: z.array(ActivityEntrySchema).default([]),
  /** identityId -> time of the last accepted decision; kept here so a pass does not rewrite gallery.json. */
  lastSeen: z.record(identityId, isoTime).default({}),
});
export type ActivityFile = z.output<typeof ActivityFileSchema>;
