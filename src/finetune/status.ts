// What a finetune run is doing, for whoever is watching: the CLI writes it, the Model page and
// /api/finetune read it. One small JSON file under the gallery's finetune/ folder, written
// atomically so a reader never sees half of it.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { pidRunning } from '../util/pid.js';

/** Scores of one model on the finetune's evaluation data. */
export interface FinetuneMetrics {
  /** Held-out enrolled crops identified correctly (1:N top-1 against the training crops' templates). */
  siteTop1: number;
  /** Mean cosine of held-out crops to their own identity's template, and to the best other one. */
  siteGenuine: number;
  siteImpostor: number;
  /** d' = (mean genuine - mean impostor) / sqrt((var g + var i) / 2): how far apart the two are. */
  siteSeparation: number;
  /**
   * Per held-out crop, in a fixed order: its own identity's score minus the best other identity's.
   * Before and after are compared crop by crop (the verdict). Absent in status files of older runs.
   */
  siteMargins?: number[];
  /** Per held-out crop: the best other identity's score (cosine). */
  siteOthers?: number[];
  /** 10-fold verification accuracy on the base model's validation pairs. */
  baseVerif: number | null;
  baseVerifStd: number | null;
}

export interface FinetuneReport {
  parent: string;
  /** Folder under models/ of the promoted version; null when nothing was promoted. */
  candidate: string | null;
  promoted: boolean;
  /** Why it was promoted or refused, in words. */
  reasons: string[];
  before: FinetuneMetrics;
  after: FinetuneMetrics | null;
  identities: { site: number; skipped: { id: string; name: string; crops: number; reason: string }[]; base: number };
  images: { siteTrain: number; siteHeldOut: number; replay: number; basePairs: number };
  seconds: number;
  /** Tail training throughput: samples (feature rows, mirrored views included) per second. */
  trainSamplesPerSecond: number;
  /** Wall time per phase (data, features, before, train, after, promote). */
  phaseSeconds: Record<string, number>;
  /** The before/after table as printed (Markdown). */
  table: string;
}

export type FinetuneState = 'running' | 'promoted' | 'refused' | 'failed';

export interface FinetuneStatus {
  state: FinetuneState;
  pid: number;
  startedAt: string;
  updatedAt: string;
  /** What it is doing now: 'data', 'features', 'before', 'train', 'after', 'promote', 'done'. */
  phase: string;
  progress?: { epoch: number; epochs: number; loss?: number };
  message?: string;
  report?: FinetuneReport;
}

export function finetuneDir(galleryDir: string): string {
  return path.join(galleryDir, 'finetune');
}

export function statusFile(galleryDir: string): string {
  return path.join(finetuneDir(galleryDir), 'status.json');
}

export async function readFinetuneStatus(galleryDir: string): Promise<FinetuneStatus | null> {
  try {
    return JSON.parse(await readFile(statusFile(galleryDir), 'utf8')) as FinetuneStatus;
  } catch {
    return null;
  }
}

export async function writeFinetuneStatus(galleryDir: string, status: FinetuneStatus): Promise<void> {
  await mkdir(finetuneDir(galleryDir), { recursive: true });
  await writeFileAtomic(statusFile(galleryDir), JSON.stringify({ ...status, updatedAt: new Date().toISOString() }, null, 2) + '\n');
}

/** A 'running' status whose process is gone (killed, crashed) is reported as failed. */
export function isStale(s: FinetuneStatus): boolean {
  if (s.state !== 'running') return false;
  if (!Number.isInteger(s.pid) || s.pid <= 0) return true;
  return !pidRunning(s.pid);
}
