// Per-epoch training history: JSON for machines, CSV for spreadsheets, a chart for people.
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { trainingCurves, writeChart } from '../report/charts.js';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  /** Distillation term alone (runs with a teacher). */
  distillLoss?: number;
  valLoss?: number;
  valAcc?: number;
  /** 10-fold verification accuracy on the validation pairs. */
  verifAcc?: number;
  verifStd?: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
}

/**
 * What picks the best epoch and drives the schedule: verification accuracy when there are pairs,
 * else closed-set validation accuracy (as the seed), else training accuracy.
 */
export function selectionMetric(r: EpochRecord): number {
  return r.verifAcc ?? r.valAcc ?? r.trainAcc;
}

const COLUMNS: (keyof EpochRecord)[] = ['epoch', 'trainLoss', 'trainAcc', 'distillLoss', 'valLoss', 'valAcc', 'verifAcc', 'verifStd', 'lr', 'seconds', 'imagesPerSecond'];

export function historyCsv(history: EpochRecord[]): string {
  const rows = history.map((r) => COLUMNS.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(','));
  return [COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export async function writeHistory(runDir: string, history: EpochRecord[]): Promise<void> {
  await writeFileAtomic(path.join(runDir, 'history.json'), JSON.stringify(history, null, 1) + '\n');
  await writeFileAtomic(path.join(runDir, 'history.csv'), historyCsv(history));
  if (history.length) {
    const { svg } = await trainingCurves(history, { title: path.basename(runDir) });
    await writeChart(svg, path.join(runDir, 'curves'));
  }
}
