// The distillation teacher cache: face-api's unit 128-d descriptor for every image of
// identity-per-folder datasets, keyed by the absolute paths scanDatasets gives the trainer.
// Resumable: images already in the cache are skipped, and progress is written as it goes.
import { access } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { scanDatasets } from '../data/dataset.js';
import { openFaceApi } from '../eval/faceapi-pool.js';
import { type CropFraming, DEFAULT_FRAMING, type FaceApiTask } from '../eval/peer-faceapi.js';
import { TeacherCache } from '../train/teacher-cache.js';
import { openModelTeacher } from './model-teacher.js';

export const TEACHER_NAME = 'face-api';
export const TEACHER_DIM = 128;


export interface TeacherOptions {
  data: string[];
  out: string;
  /** Inputs are aligned crops (feed the recognition net directly); otherwise photos go through face-api's detector. */
  aligned: boolean;
  /** One of our model folders as the teacher instead of face-api (aligned crops only). */
  model?: string;
  framing?: CropFraming;
  /** Worker threads (default: one per core); 0 = this thread. */
  workers?: number;
  /** Write the partial cache at least this often (default 60 s). */
  saveEverySeconds?: number;
  /** Stop taking new images (in-flight ones finish and are saved). */
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; failed: number }) => void;
}

export interface TeacherSummary {
  out: string;
  /** Images the scan found. */
  found: number;
  /** Already in the cache from an earlier run. */
  resumed: number;
  /** Described in this run. */
  added: number;
  /** Could not be described (unreadable, or no face for photos); not written, retried next run. */
  failed: { path: string; reason: string }[];
  /** Rows in the cache file now. */
  total: number;
  seconds: number;
  interrupted: boolean;
}

const CHUNK = 8;

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export async function buildTeacherCache(opts: TeacherOptions): Promise<TeacherSummary> {
  const t0 = performance.now();
  const ds = await scanDatasets(opts.data);
  const entries = new Map<string, Float32Array>();
  if (opts.model && !opts.aligned) throw new Error('a model teacher embeds aligned crops: prepare the data and pass --aligned');
  const modelTeacher = opts.model ? await openModelTeacher(opts.model) : undefined;
  const teacherName = modelTeacher?.name ?? TEACHER_NAME;
  const teacherDim = modelTeacher?.dim ?? TEACHER_DIM;
  if ((await exists(opts.out)) && (await exists(`${opts.out}.bin`))) {
    const prev = await TeacherCache.read(opts.out);
    if (prev.index.teacher !== teacherName || prev.dim !== teacherDim) {
      modelTeacher?.close();
      throw new Error(`${opts.out} holds ${prev.index.teacher} (${prev.dim}-d) embeddings, not ${teacherName} (${teacherDim}-d); choose another --out`);
    }
    for (const p of prev.index.paths) entries.set(p, prev.get(p)!.slice());
  }
  const all = ds.items.map((it) => it.path);
  const todo = all.filter((p) => !entries.has(p));
  const resumed = all.length - todo.length;
  const failed: TeacherSummary['failed'] = [];
  let done = 0;
  const report = () => opts.onProgress?.({ done, total: todo.length, failed: failed.length });
  report();

  const save = async () => {
    // Sorted, so the file does not depend on worker timing.
    const rows = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([path, embedding]) => ({ path, embedding }));
    await TeacherCache.write(opts.out, teacherName, teacherDim, rows);
  };

  const framing = opts.framing ?? DEFAULT_FRAMING;
  const chunks: string[][] = [];
  for (let i = 0; i < todo.length; i += CHUNK) chunks.push(todo.slice(i, i + CHUNK));
  const runner = todo.length && !modelTeacher ? await openFaceApi({ workers: Math.min(opts.workers ?? availableParallelism(), chunks.length), withDetector: !opts.aligned }) : undefined;
  let lastSave = performance.now();
  let saving: Promise<void> = Promise.resolve();
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.max(1, runner?.workers ?? 0) }, async () => {
        while (next < chunks.length && !opts.signal?.aborted) {
          const files = chunks[next++]!;
          const task: FaceApiTask = opts.aligned ? { mode: 'crop', files, framing } : { mode: 'photo', files };
          for (const o of modelTeacher ? await modelTeacher.describe(files) : await runner!.run(task)) {
            if (o.descriptor) entries.set(o.file, o.descriptor);
            else failed.push({ path: o.file, reason: o.reason ?? 'unknown' });
            done++;
          }
          report();
          if (performance.now() - lastSave > (opts.saveEverySeconds ?? 60) * 1000) {
            lastSave = performance.now();
            saving = saving.then(save);
            await saving;
          }
        }
      }),
    );
  } finally {
    await runner?.close();
    modelTeacher?.close();
    await saving;
    if (todo.length || !(await exists(opts.out))) await save();
  }
  return {
    out: opts.out,
    found: all.length,
    resumed,
    added: done - failed.length,
    failed,
    total: entries.size,
    seconds: (performance.now() - t0) / 1000,
    interrupted: opts.signal?.aborted ?? false,
  };
}
