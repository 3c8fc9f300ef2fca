// Training and evaluation charts as Vega-Lite specs, rendered headlessly to SVG; writeChart
// adds a PNG (via sharp) for places that cannot show SVG (issue trackers, some viewers).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from './render-svg.js';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss?: number;
  trainAcc?: number;
  valAcc?: number;
  /** Pair-verification accuracy on the validation pairs. */
  verifAcc?: number;
  lr: number;
}

export interface RocSeries {
  label: string;
  fpr: number[];
  tpr: number[];
}

export interface Chart {
  svg: string;
}

const PANEL = { width: 260, height: 200 };

type Row = { epoch: number; series: string; value: number };

function rows(history: EpochRecord[], series: Array<[string, (r: EpochRecord) => number | undefined]>): Row[] {
  const out: Row[] = [];
  for (const r of history) {
    for (const [name, get] of series) {
      const v = get(r);
      // Optional metrics may be absent or NaN for some epochs; leave gaps rather than zeros.
      if (v !== undefined && Number.isFinite(v)) out.push({ epoch: r.epoch, series: name, value: v });
    }
  }
  return out;
}

function linePanel(title: string, yTitle: string, values: Row[], points: boolean, y: Record<string, unknown> = {}, legend = true) {
  return {
    title,
    ...PANEL,
    data: { values },
    mark: { type: 'line' as const, point: points },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative' as const, title: yTitle, scale: { zero: false }, ...y },
      color: { field: 'series', type: 'nominal' as const, title: null, ...(legend ? {} : { legend: null }) },
    },
  };
}

/** Loss, accuracy (incl. verification accuracy) and learning rate (log) against epoch, side by side. */
export async function trainingCurves(history: EpochRecord[], opts: { title?: string } = {}): Promise<Chart> {
  if (history.length === 0) throw new Error('trainingCurves: empty history');
  const points = history.length <= 40;
  const loss = rows(history, [
    ['train loss', (r) => r.trainLoss],
    ['val loss', (r) => r.valLoss],
  ]);
  const acc = rows(history, [
    ['train acc', (r) => r.trainAcc],
    ['val acc', (r) => r.valAcc],
    ['verification acc', (r) => r.verifAcc],
  ]);
  // A log scale cannot show lr <= 0 (e.g. a warm-up that starts at 0).
  const lr = rows(history, [['learning rate', (r) => (r.lr > 0 ? r.lr : undefined)]]);
  const panels = [linePanel('Loss', 'loss', loss, points)];
  if (acc.length > 0) panels.push(linePanel('Accuracy', 'accuracy', acc, points));
  if (lr.length > 0) panels.push(linePanel('Learning rate', 'learning rate (log)', lr, points, { scale: { type: 'log' }, axis: { format: '.0e' } }, false));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(opts.title ? { title: opts.title } : {}),
    hconcat: panels,
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
  return { svg: await renderSvg(spec) };
}

/** TAR against FAR with FAR on a log axis (FAR = 0 points cannot be drawn and are dropped). */
export async function rocChart(curves: RocSeries[], opts: { title?: string } = {}): Promise<Chart> {
  if (curves.length === 0) throw new Error('rocChart: no curves');
  const values: Array<{ label: string; i: number; fpr: number; tpr: number }> = [];
  let minFpr = 1;
  for (const c of curves) {
    if (c.fpr.length !== c.tpr.length) throw new Error(`rocChart: "${c.label}" has ${c.fpr.length} FAR but ${c.tpr.length} TAR values`);
    c.fpr.forEach((f, i) => {
      if (!(f > 0)) return;
      minFpr = Math.min(minFpr, f);
      values.push({ label: c.label, i, fpr: f, tpr: c.tpr[i] });
    });
  }
  const lo = 10 ** Math.floor(Math.log10(minFpr));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title ?? 'ROC',
    width: 420,
    height: 320,
    data: { values },
    // Linear between ROC vertices: a tie group is a genuine diagonal segment, not a step.
    mark: { type: 'line' },
    encoding: {
      x: {
        field: 'fpr',
        type: 'quantitative',
        title: 'false accept rate (FAR, log)',
        scale: { type: 'log', domain: [lo === 1 ? 0.1 : lo, 1] },
        axis: { format: '.0e' },
      },
      y: { field: 'tpr', type: 'quantitative', title: 'true accept rate (TAR)', scale: { domain: [0, 1] } },
      color: { field: 'label', type: 'nominal', title: null },
      // Keep ROC order: vertical steps share an x value, so sorting by x would scramble them.
      order: { field: 'i', type: 'quantitative' },
    },
  } as TopLevelSpec;
  return { svg: await renderSvg(spec) };
}

/** Writes `<basePath>.svg` and `<basePath>.png` (2x density for crisp text), creating folders. */
export async function writeChart(svg: string, basePath: string): Promise<{ svgPath: string; pngPath: string }> {
  const svgPath = `${basePath}.svg`;
  const pngPath = `${basePath}.png`;
  await mkdir(path.dirname(path.resolve(svgPath)), { recursive: true });
  await writeFile(svgPath, svg);
  await sharp(Buffer.from(svg), { density: 144 }).png().toFile(pngPath);
  return { svgPath, pngPath };
}
