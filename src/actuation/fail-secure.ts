// Fail-secure: the door stays shut unless everything the decision rests on is known to be working.
// A model that failed to load, a gallery that cannot be read or a camera in error can all turn into
// a wrong "granted" (or a stale one), and a locked door is the safe failure for an access point.
import type { DoorDecision, SystemHealth } from './types.js';

export interface OpenVerdict {
  open: boolean;
  /** Why not, in words the door screen can show ("camera: device disconnected"). Empty when open. */
  reasons: string[];
}

/** Whether the door may open at all, given the system's health. null: not reported yet, so no. */
export function healthAllowsOpening(health: SystemHealth | null): OpenVerdict {
  if (health === null) return { open: false, reasons: ['health not reported yet'] };
  const reasons: string[] = [];
  for (const part of ['model', 'gallery', 'camera'] as const) {
    const h = health[part];
    if (h !== null && !h.ok) reasons.push(`${part}: ${h.error || 'error'}`);
  }
  return { open: reasons.length === 0, reasons };
}

/** What the site asks of a grant before it opens the door, beyond the system's health. */
export interface OpenPolicy {
  /** Settings → Liveness on: only a grant that passed the liveness check opens. */
  requireLiveness?: boolean;
}

/** Whether this decision opens the door: a grant, on a healthy system, not contradicted by a failed (or, when required, missing) liveness check. */
export function decisionOpensDoor(d: DoorDecision, health: SystemHealth | null, policy: OpenPolicy = {}): OpenVerdict {
  if (d.decision !== 'granted') return { open: false, reasons: ['not granted'] };
  const verdict = healthAllowsOpening(health);
  // A grant that carries a failed liveness result is a bug upstream; refuse rather than trust it.
  if (d.liveness && !d.liveness.passed) verdict.reasons.push('liveness check failed');
  // One photo (POST /api/verify) has had no liveness check: with one required it opens nothing.
  else if (policy.requireLiveness && !d.liveness) verdict.reasons.push('liveness is required and this decision had no liveness check (one frame through the API)');
  return { open: verdict.reasons.length === 0, reasons: verdict.reasons };
}
