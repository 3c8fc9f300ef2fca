// An inference worker thread (started by AnalyzerPool): its own TF.js backend (one WASM instance,
// one thread), detector and copies of the models the pool has loaded. It decodes frames (sharp,
// off the main thread), then runs detect -> align -> quality -> embed one round at a time; the
// frames ready at the start of a round are detected one by one and their subjects embedded in one
// batch per model. Big buffers go back as transferables.
import { RefCounts } from '../util/ref-counts.js';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { FaceNet } from '../model/facenet.js';
import { assignVariables, decodeTensors } from '../model/io.js';
import { ServiceError } from '../service/errors.js';
import { extractFaces, sharedDetector, type ExtractedFace } from '../vision/extract.js';
import type { DetectorKind, FaceDetector, RgbImage } from '../vision/types.js';
import { decodeFrame, warmUp, warmUpEmbedder } from './frame-analyzer.js';
import { gate } from './gate.js';
import type { ToWorker, FromWorker, WorkerAnalysis, WorkerError, WorkerStart, ModelPayload } from './analyzer-protocol.js';

export const ANALYZER_WORKER_ROLE = 'facegate-analyzer';

interface AnalyzeItem {
  kind: 'analyze';
  msg: Extract<ToWorker, { type: 'analyze' }>;
  image: RgbImage;
  decodeMs: number;
  readyAt: number;
}
interface OtherItem {
  kind: 'other';
  run: () => Promise<void>;
}
type Item = AnalyzeItem | OtherItem;

/** A crop or image whose pixels can be moved to the other thread (a copy when they share a buffer). */
function movable(img: RgbImage, transfer: ArrayBuffer[]): RgbImage {
  let data = img.data;
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer) || transfer.includes(data.buffer)) data = data.slice();
  transfer.push(data.buffer as ArrayBuffer);
  return { data, width: img.width, height: img.height };
}

function errorOf(err: unknown): WorkerError {
  if (err instanceof ServiceError) return { kind: 'service', code: err.code, message: err.message, details: err.details };
  const e = err as Error;
  return { kind: 'internal', message: e?.message ?? String(err), stack: e?.stack };
}

export class AnalyzerWorker {
  readonly #models = new Map<number, FaceNet>();
  /** Requests holding each model (a release waits for them). */
  readonly #refs = new RefCounts<number>();
  readonly #released = new Set<number>();
  readonly #items: Item[] = [];
  #busy = false;

  constructor(
    private readonly port: MessagePort,
    private readonly detector: FaceDetector,
    private readonly start: WorkerStart,
  ) {}

  #send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(msg, transfer);
  }

  #hold(key: number | null): void {
    this.#refs.hold(key);
  }

  #drop(key: number | null): void {
    if (this.#refs.drop(key)) this.#disposeIfReleased(key!);
  }

  #disposeIfReleased(key: number): void {
    if (!this.#released.has(key) || this.#refs.has(key)) return;
    this.#released.delete(key);
    this.#models.get(key)?.dispose();
    this.#models.delete(key);
  }

  #net(key: number): FaceNet {
    const net = this.#models.get(key);
    if (!net) throw new Error(`inference worker: model #${key} is not loaded`);
    return net;
  }

  handle(msg: ToWorker): void {
    switch (msg.type) {
      case 'load':
        return this.#enqueue({ kind: 'other', run: async () => this.#load(msg.id, msg.key, msg.model) });
      case 'release':
        // After a load sent before it; disposed once no request of this worker holds it.
        return this.#enqueue({
          kind: 'other',
          run: async () => {
            this.#released.add(msg.key);
            this.#disposeIfReleased(msg.key);
          },
        });
      case 'analyze':
        this.#hold(msg.model);
        return void this.#decode(msg);
      case 'embed':
        this.#hold(msg.model);
        return this.#enqueue({ kind: 'other', run: async () => this.#embed(msg) });
      case 'memory':
        return this.#enqueue({
          kind: 'other',
          run: async () => {
            const m = tf.memory();
            const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength ?? 0;
            this.#send({ type: 'ok', id: msg.id, result: { numTensors: m.numTensors, numBytes: m.numBytes, wasmBytes: wasm, models: this.#models.size } });
          },
        });
      case 'crash':
        // Tests: a worker that dies in the middle of its work (before it answers what it was given).
        process.exit(70);
    }
  }

  async #load(id: number, key: number, p: ModelPayload): Promise<void> {
    try {
      if (!this.#models.has(key)) {
        const net = new FaceNet(p.config);
        try {
          const tensors = decodeTensors(p.weights, p.specs);
          try {
            assignVariables(net.params.all(), tensors, p.dir);
          } finally {
            tf.dispose(Object.values(tensors));
          }
          net.foldBatchNorm = p.foldBatchNorm;
          // One embedding now (a grey crop): the folded weights and the kernels' set-up happen
          // here rather than in the first request this worker gets with the model.
          await warmUpEmbedder({ net });
        } catch (err) {
          net.dispose();
          throw err;
        }
        this.#models.set(key, net);
      }
      this.#send({ type: 'ok', id, result: null });
    } catch (err) {
      this.#send({ type: 'error', id, error: errorOf(err) });
    }
  }

  async #embed(msg: Extract<ToWorker, { type: 'embed' }>): Promise<void> {
    try {
      const out = await this.#net(msg.model).embedCrops(msg.crops);
      this.#send({ type: 'ok', id: msg.id, result: out }, out.map((e) => e.buffer as ArrayBuffer));
    } catch (err) {
      this.#send({ type: 'error', id: msg.id, error: errorOf(err) });
    } finally {
      this.#drop(msg.model);
    }
  }

  async #decode(msg: Extract<ToWorker, { type: 'analyze' }>): Promise<void> {
    const t0 = performance.now();
    let image: RgbImage;
    try {
      image = await decodeFrame(msg.bytes, this.start.limits, msg.what);
    } catch (err) {
      this.#send({ type: 'error', id: msg.id, error: errorOf(err) });
      this.#drop(msg.model);
      return;
    }
    const t1 = performance.now();
    this.#enqueue({ kind: 'analyze', msg, image, decodeMs: t1 - t0, readyAt: t1 });
  }

  #enqueue(item: Item): void {
    this.#items.push(item);
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#items.length > 0) {
        const head = this.#items.shift()!;
        if (head.kind === 'other') {
          await head.run();
          continue;
        }
        // A round: this frame and the frames decoded meanwhile, up to maxBatch.
        const round: AnalyzeItem[] = [head];
        while (round.length < this.start.maxBatch && this.#items[0]?.kind === 'analyze') round.push(this.#items.shift() as AnalyzeItem);
        await this.#round(round);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #round(items: AnalyzeItem[]): Promise<void> {
    const done: { item: AnalyzeItem; faces: ExtractedFace[]; timings: Record<string, number>; subject?: RgbImage; waitMs: number }[] = [];
    for (const item of items) {
      const waitMs = performance.now() - item.readyAt;
      try {
        const x = await extractFaces(item.image, { detector: this.detector, quality: item.msg.quality });
        const g = gate(x.faces);
        const subject = g.kind === 'usable' && item.msg.embed && item.msg.model !== null ? g.subject.crop : undefined;
        done.push({ item, faces: x.faces, timings: x.timings, subject, waitMs });
      } catch (err) {
        this.#send({ type: 'error', id: item.msg.id, error: errorOf(err) });
        this.#drop(item.msg.model);
      }
    }
    // Subjects embedded in one batch per model (a switch may leave frames of both in one round).
    const embeddings = new Map<AnalyzeItem, Float32Array>();
    const embedMs = new Map<AnalyzeItem, number>();
    const byModel = new Map<number, typeof done>();
    for (const d of done) if (d.subject) byModel.set(d.item.msg.model!, [...(byModel.get(d.item.msg.model!) ?? []), d]);
    const failed = new Set<AnalyzeItem>();
    for (const [key, ds] of byModel) {
      const te = performance.now();
      try {
        const out = await this.#net(key).embedCrops(ds.map((d) => d.subject!));
        const ms = performance.now() - te;
        ds.forEach((d, i) => {
          embeddings.set(d.item, out[i]!);
          embedMs.set(d.item, ms);
        });
      } catch (err) {
        for (const d of ds) {
          failed.add(d.item);
          this.#send({ type: 'error', id: d.item.msg.id, error: errorOf(err) });
          this.#drop(d.item.msg.model);
        }
      }
    }
    for (const d of done) {
      if (failed.has(d.item)) continue;
      const transfer: ArrayBuffer[] = [];
      const { width, height } = d.item.image;
      const image = d.item.msg.image ? movable(d.item.image, transfer) : undefined;
      const faces = d.faces.map((f) => ({
        face: { box: { ...f.face.box }, score: f.face.score, landmarks: f.face.landmarks.map((p) => [p[0], p[1]] as [number, number]) },
        crop: movable(f.crop, transfer),
        quality: f.quality,
      }));
      const embedding = embeddings.get(d.item);
      if (embedding) transfer.push(embedding.buffer as ArrayBuffer);
      const result: WorkerAnalysis = {
        image,
        width,
        height,
        faces,
        embedding,
        timings: { decode: d.item.decodeMs, wait: d.waitMs, detect: d.timings.detect ?? 0, align: d.timings.align ?? 0, quality: d.timings.quality ?? 0, embed: embedMs.get(d.item) ?? 0 },
      };
      this.#send({ type: 'ok', id: d.item.msg.id, result }, transfer);
      this.#drop(d.item.msg.model);
    }
  }
}

const data = workerData as (WorkerStart & { role?: string }) | undefined;
if (parentPort && data?.role === ANALYZER_WORKER_ROLE) {
  const port = parentPort;
  try {
    await initBackend({ quiet: true });
    const detector = await sharedDetector(data.detector as DetectorKind);
    await warmUp(detector, data.limits);
    const worker = new AnalyzerWorker(port, detector, data);
    port.on('message', (msg: ToWorker) => {
      // The pool stops a worker once it has no request left.
      if (msg.type === 'stop') process.exit(0);
      worker.handle(msg);
    });
    port.postMessage({ type: 'ready', backend: tf.getBackend() } satisfies FromWorker);
  } catch (err) {
    port.postMessage({ type: 'failed', message: (err as Error).stack ?? String(err) } satisfies FromWorker);
  }
}
