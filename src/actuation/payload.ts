// The JSON the webhook and MQTT carry. One shape for both, so a receiver can take either.
// "open" is the only field a door controller needs to act on; everything else is for its log.
import type { OpenVerdict } from './fail-secure.js';
import type { DoorDecision, SystemHealth } from './types.js';

export type DoorEvent =
  | (DoorDecision & {
      id: string;
      type: 'decision';
      /** true: open the door now. */
      open: boolean;
      /** Set when fail-secure kept a grant shut: decision is then "denied", and these say why. */
      failSecure?: string[];
    })
  | { id: string; type: 'test'; time: string; door: string; open: true };

export interface HealthEvent extends SystemHealth {
  type: 'health';
  online: true;
  time: string;
  /** Whether a grant may open the door now (fail-secure), and if not, why. */
  mayOpen: boolean;
  reasons: string[];
}

export function decisionEvent(id: string, d: DoorDecision, verdict: OpenVerdict): DoorEvent {
  const blocked = d.decision === 'granted' && !verdict.open;
  return { id, type: 'decision', ...d, ...(blocked && { decision: 'denied', failSecure: verdict.reasons }), open: verdict.open };
}

export function healthEvent(h: SystemHealth, verdict: OpenVerdict, time = new Date()): HealthEvent {
  return { type: 'health', online: true, time: time.toISOString(), ...h, mayOpen: verdict.open, reasons: verdict.reasons };
}
