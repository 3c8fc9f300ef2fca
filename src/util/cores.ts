// How many of something 'auto' means: one per core this process may use, at most `max`.
import os from 'node:os';

export function perCore(max: number): number {
  return Math.max(1, Math.min(max, os.availableParallelism()));
}
