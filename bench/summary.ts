// What a bench hands the report (npm run bench, no area): figures for docs/BENCHMARKS.md's
// side-by-side table. A bench prints its full tables as before; the summary is the few numbers
// the table compares, each with the command that measures it.

export interface BenchFigure {
  /** The row: "frame -> decision p50, ms". */
  what: string;
  ours: string;
  /** The peer's figure in the same run (face-api), when there is one. */
  peer?: string;
  command: string;
}

export interface BenchSummary {
  figures: BenchFigure[];
}

export const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');
