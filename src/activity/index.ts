// The decision log (activity.json) and its snapshots.
export { ActivityLog, ACCEPT_DECISIONS, type ActivityOptions, type ActivityQuery, type LogDecisionInput } from './activity-log.js';
export { ActivityEntrySchema, SNAPSHOT_FILE, type ActivityEntry } from './schema.js';
