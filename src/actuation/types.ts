// What the door tells the actuation channels, and what they report back. Plain JSON-able data:
// decisions go out as webhook/MQTT payloads unchanged, outcomes go into the activity log.

export interface LivenessResult {
  passed: boolean;
  /** The check that decided (e.g. "blink", "head-turn", "antispoof"). */
  method?: string;
  score?: number;
}

/** One decision at the door, as the channels publish it. */
export interface DoorDecision {
  /** ISO 8601. */
  time: string;
  /** The door or source (kiosk, server camera) that decided. */
  door: string;
  decision: 'granted' | 'denied';
  identity: { id: string; name: string } | null;
  score: number | null;
  threshold: number;
  modelId: string;
  liveness?: LivenessResult;
}

export type ComponentHealth = { ok: true } | { ok: false; error: string };

/** What the door depends on. camera null: this server has no camera of its own (the kiosk page's browser camera). */
export interface SystemHealth {
  model: ComponentHealth;
  gallery: ComponentHealth;
  camera: ComponentHealth | null;
}

export type DoorState = 'open' | 'closed' | 'unknown';

export type Channel = 'webhook' | 'mqtt' | 'relay' | 'fail-secure';

/**
 * ok: delivered (webhook 2xx, MQTT acknowledged, relay exit 0). retrying: an attempt failed and
 * another follows. failed: no attempt left, or not worth retrying. dropped: never attempted (queue
 * full, broker offline, relay busy, closing). expired: too old to open a door any more. blocked:
 * fail-secure kept the door shut.
 */
export type OutcomeStatus = 'ok' | 'retrying' | 'failed' | 'dropped' | 'expired' | 'blocked';

export interface ActuationOutcome {
  /** ISO 8601, when it happened. */
  time: string;
  channel: Channel;
  /** open: a granted decision that opens the door; decision: any decision (MQTT); test: the "test the door" button. */
  event: 'open' | 'decision' | 'health' | 'test';
  /** Ties retries and the final outcome of one event together (the webhook body's id). */
  eventId: string;
  status: OutcomeStatus;
  /** One line for the activity log, e.g. "webhook: HTTP 503, retry 1 of 3 in 250 ms". */
  detail: string;
  attempt?: number;
  httpStatus?: number;
  exitCode?: number | null;
}

export type OutcomeListener = (o: ActuationOutcome) => void;
