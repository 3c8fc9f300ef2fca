// The run's history files after every epoch: history.json, history.csv and the curves.
import { writeHistory, type EpochRecord } from '../history.js';
import type { Callback } from '../loop.js';

export function historyFiles(runDir: string, history: EpochRecord[]): Callback {
  return { epochEnd: () => writeHistory(runDir, history) };
}
