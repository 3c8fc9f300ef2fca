// What a door controller publishes about the door: plain "open" / "closed" (what most relay boards
// and Home Assistant covers send), or JSON {"state": "open"}. Anything else is "unknown", never a guess.
import type { DoorState } from './types.js';

export function parseDoorState(payload: Uint8Array | string): DoorState {
  const text = (typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8')).trim();
  let value: unknown = text;
  if (text.startsWith('{')) {
    try {
      value = (JSON.parse(text) as { state?: unknown }).state;
    } catch {
      return 'unknown';
    }
  }
  if (typeof value !== 'string') return 'unknown';
  const s = value.toLowerCase();
  return s === 'open' || s === 'closed' ? s : 'unknown';
}
