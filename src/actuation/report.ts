// One outcome reporter shared by the channels: stamps the time and keeps a throwing listener (a
// full activity log, a bug in the page) from breaking delivery to the door.
import type { ActuationOutcome, OutcomeListener } from './types.js';

export type Report = (o: Omit<ActuationOutcome, 'time'>) => void;

export function reporter(listener: OutcomeListener | undefined): Report {
  return (o) => {
    if (!listener) return;
    try {
      listener({ time: new Date().toISOString(), ...o });
    } catch (err) {
      console.error(`[facegate] actuation outcome listener: ${(err as Error).message}`);
    }
  };
}
