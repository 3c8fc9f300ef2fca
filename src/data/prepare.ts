// Dataset preparation: identity-per-folder photos -> aligned 112x112 JPEG face crops in the same
// layout, plus a JSONL manifest (one line per source photo: kept with box/landmarks/quality, or
// skipped with the reason). Resumable: photos already in the manifest are not redone.
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startWorker } from '../util/worker.js';
import { WorkerPool } from '../util/worker-pool.js';
import type { DetectorKind, QualityConfig } from '../vision/index.js';
import { ImagePreparer, type PrepareConfig, type PrepareRecord, type PrepareTask } from './prepare-image.js';
import { PREPARE_WORKER_ROLE } from './prepare-worker.js';

export type { PrepareRecord } from './prepare-image.js';

export const PREPARE_IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif', 'heic', 'heif', 'pgm', 'ppm', 'pnm', 'bmp'];
export const MANIFEST_NAME = 'manifest.jsonl';

export interface PrepareOptions {
  /** Dataset root: <id>/*.jpg, train/<id>/*.jpg + test/<id>/..., or folders of such sets. */
  data: string;
  /** Output root; the same relative layout, every crop as .jpg. */
  out: string;
  /** true: sources are already aligned crops (just normalised); default 'auto' recognises 112x112 aligned crops. */
  aligned?: boolean | 'auto';
  /** Worker threads, each with its own backend; 0 runs in this thread. Default: one per core. */
  workers?: number;
  /** Default 'accurate' (two detector scales, roll-corrected refined landmarks). */
  detector?: DetectorKind;
  /** Crop side, default 112. */
  size?: number;
  jpegQuality?: number;
  /** Overrides of DATASET_QUALITY_CONFIG. */
  quality?: Partial<QualityConfig>;
  /** Keep the most prominent face of every photo even when it fails quality (recorded as `warnings`). */
  keepAll?: boolean;
  /** Process at most this many (not yet done) photos. */
  limit?: number;
  onProgress?: (p: PrepareProgress) => void;
}

export interface GroupCounts {
  total: number;
  kept: number;
  skipped: number;
  /** Of the kept: passed through as already aligned. */
  passthrough: number;
  /** Of the kept: failed a quality check but kept (keepAll). */
  warned: number;
  reasons: Record<string, number>;
}

export interface PrepareProgress {
  done: number;
  total: number;
  kept: number;
  skipped: number;
}

export interface PrepareSummary {
  data: string;
  out: string;
  manifest: string;
  /** Photos found under `data`. */
  found: number;
  /** Already in the manifest from an earlier run (counted in the groups too). */
  resumed: number;
  /** Done in this run. */
  processed: number;
  /** Task failures that are not a property of the photo (I/O errors, crashes); not written to the manifest. */
  errors: { src: string; message: string }[];
  seconds: number;
  /** Counts per top-level folder of `data` ('.' for photos in identity folders directly under it), over the whole manifest. */
  groups: Record<string, GroupCounts>;
}

/** Every photo under `root`, sorted, as paths relative to it. Hidden entries are skipped. */
export async function listImages(root: string, extensions = PREPARE_IMAGE_EXTENSIONS): Promise<string[]> {
  const exts = new Set(extensions.map((e) => e.toLowerCase()));
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) isDir = (await stat(path.join(root, r)).catch(() => null))?.isDirectory() ?? false;
      if (isDir) await walk(r);
      else if (exts.has(path.extname(e.name).slice(1).toLowerCase())) out.push(r);
    }
  };
  await walk('');
  // Identity photos sit in folders; loose files at the root have no identity.
  return out.filter((r) => r.includes('/')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Output path for a source (relative): same folders, extension .jpg. */
export function outputRelPath(rel: string): string {
  return rel.slice(0, rel.length - path.extname(rel).length) + '.jpg';
}

/** Group of a relative path: its first folder when it has a set/identity/photo structure, else '.'. */
export function groupOf(rel: string): string {
  const parts = rel.split('/');
  return parts.length >= 3 ? parts[0]! : '.';
}

/** Manifest records by source path (relative to the data root). */
export async function readManifest(file: string): Promise<Map<string, PrepareRecord>> {
  const done = new Map<string, PrepareRecord>();
  if (!existsSync(file)) return done;
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line) as PrepareRecord;
      if (rec.src) done.set(rec.src, rec);
    } catch {
      // A torn last line from an interrupted run: that photo is simply redone.
    }
  }
  return done;
}

function emptyCounts(): GroupCounts {
  return { total: 0, kept: 0, skipped: 0, passthrough: 0, warned: 0, reasons: {} };
}

function count(groups: Record<string, GroupCounts>, rel: string, rec: PrepareRecord): void {
  const g = (groups[groupOf(rel)] ??= emptyCounts());
  g.total++;
  if (rec.status === 'kept') {
    g.kept++;
    if (rec.mode === 'passthrough') g.passthrough++;
    if (rec.warnings) g.warned++;
  } else {
    g.skipped++;
    const r = rec.reason ?? 'unknown';
    g.reasons[r] = (g.reasons[r] ?? 0) + 1;
  }
}

/**
 * Prepares a whole dataset. Returns counts over everything in the manifest (this run and earlier
 * ones), per top-level folder.
 */
export async function prepareDataset(opts: PrepareOptions): Promise<PrepareSummary> {
  const t0 = performance.now();
  const data = path.resolve(opts.data);
  const out = path.resolve(opts.out);
  if (out === data || out.startsWith(data + path.sep)) throw new Error(`--out must not be inside --data (${out})`);
  const config: PrepareConfig = {
    aligned: opts.aligned ?? 'auto',
    detector: opts.detector ?? 'accurate',
    size: opts.size ?? 112,
    jpegQuality: opts.jpegQuality ?? 95,
    quality: opts.quality ?? {},
    keepAll: opts.keepAll ?? false,
  };
  await mkdir(out, { recursive: true });
  const manifestPath = path.join(out, MANIFEST_NAME);
  const done = await readManifest(manifestPath);
  const all = await listImages(data);
  const groups: Record<string, GroupCounts> = {};
  let resumed = 0;
  const todo: string[] = [];
  for (const rel of all) {
    const prev = done.get(rel);
    // A kept photo whose crop has since vanished is redone.
    if (prev && (prev.status === 'skipped' || (prev.out && existsSync(path.join(out, prev.out))))) {
      count(groups, rel, prev);
      resumed++;
    } else todo.push(rel);
  }
  const work = todo.slice(0, opts.limit ?? todo.length);
  const nWorkers = Math.min(opts.workers ?? availableParallelism(), work.length);
  const manifest = createWriteStream(manifestPath, { flags: 'a' });
  const errors: PrepareSummary['errors'] = [];
  let kept = 0, skipped = 0, processed = 0;
  const report = () => opts.onProgress?.({ done: processed, total: work.length, kept, skipped });
  report();

  const inline = nWorkers === 0 ? new ImagePreparer(config) : undefined;
  const pool =
    nWorkers > 0
      ? new WorkerPool<PrepareTask, PrepareRecord>({
          name: 'prepare',
          size: nWorkers,
          spawn: () =>
            startWorker(new URL(`./prepare-worker${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url), {
              workerData: { role: PREPARE_WORKER_ROLE, config },
            }),
        })
      : undefined;
  const runOne = async (rel: string): Promise<void> => {
    const task: PrepareTask = { src: path.join(data, rel), out: path.join(out, outputRelPath(rel)) };
    try {
      const rec = inline ? await inline.process(task) : await pool!.run(task);
      // Paths in the manifest are relative, so the folders can move.
      const line: PrepareRecord = { ...rec, src: rel, out: rec.out ? outputRelPath(rel) : null };
      manifest.write(JSON.stringify(line) + '\n');
      count(groups, rel, rec);
      if (rec.status === 'kept') kept++;
      else skipped++;
    } catch (err) {
      errors.push({ src: rel, message: err instanceof Error ? err.message : String(err) });
    }
    processed++;
    report();
  };
  try {
    let next = 0;
    const lanes = Math.max(1, nWorkers);
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < work.length) await runOne(work[next++]!);
      }),
    );
  } finally {
    await new Promise<void>((resolve, reject) => manifest.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await pool?.close();
    await inline?.dispose();
  }
  return {
    data,
    out,
    manifest: manifestPath,
    found: all.length,
    resumed,
    processed,
    errors,
    seconds: (performance.now() - t0) / 1000,
    groups,
  };
}

/** Plain-text table of a summary's per-group counts and skip reasons. */
export function formatPrepareSummary(s: PrepareSummary): string {
  const lines = [`${s.found} photos under ${s.data}; ${s.processed} processed now, ${s.resumed} from earlier runs; ${s.seconds.toFixed(1)} s`];
  lines.push('| set | photos | kept | (passed through aligned) | (kept despite quality) | skipped | skip reasons |');
  lines.push('|---|---:|---:|---:|---:|---:|---|');
  const tot = emptyCounts();
  for (const [g, c] of Object.entries(s.groups).sort()) {
    const reasons = Object.entries(c.reasons).sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`).join(', ');
    lines.push(`| ${g} | ${c.total} | ${c.kept} | ${c.passthrough} | ${c.warned} | ${c.skipped} | ${reasons} |`);
    tot.total += c.total;
    tot.kept += c.kept;
    tot.passthrough += c.passthrough;
    tot.warned += c.warned;
    tot.skipped += c.skipped;
  }
  lines.push(`| all | ${tot.total} | ${tot.kept} | ${tot.passthrough} | ${tot.warned} | ${tot.skipped} | |`);
  if (s.errors.length) lines.push(`${s.errors.length} errors (not in the manifest, retried next run); first: ${s.errors[0]!.src}: ${s.errors[0]!.message.split('\n')[0]}`);
  lines.push(`manifest: ${s.manifest}`);
  return lines.join('\n');
}
