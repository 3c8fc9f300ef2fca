// Where a frame becomes a decision. Every way in (POST /api/verify and /api/identify, the kiosk
// page, the server's camera, the CLI, enrollment screening) goes through this one path:
//   decode -> (model queue) detect -> align -> quality -> embed -> gate -> match -> record.
// Frame -> faces and embedding is the FrameAnalyzer's (frame-analyzer.ts): in-process, decoding
// outside the queue (sharp has its own threads) and detection and embedding one request at a
// time; or on inference worker threads, one per core (analyzer-pool.ts). Either way the model is
// read when the request's queue job starts and the result names it, so a model switch never
// splits a request between two models, and each result is matched with its own model's matcher.
import type { Gallery, Identity } from '../gallery/gallery.js';
import type { Settings } from '../settings/schema.js';
import { passesThreshold, type Metric } from '../match/vector.js';
import { ServiceError } from '../service/errors.js';
import type { InferenceQueue } from '../service/inference-queue.js';
import { qualityScore } from '../service/templates.js';
import type { ExtractedFace } from '../vision/extract.js';
import type { QualityConfig } from '../vision/quality.js';
import type { Box, FaceDetector, RgbImage } from '../vision/types.js';
import { decodeFrame, InProcessAnalyzer, type ActiveModel, type FrameAnalyzer } from './frame-analyzer.js';
import { gate, refusalMessage, type Gate } from './gate.js';
import type { DoorDecision, FaceReport, IdentifyOutcome, IdentityRef, Reason, SampleReport, StageTimings, VerifyOutcome } from './types.js';

export type { ActiveModel } from './frame-analyzer.js';

export interface DoorDeps {
  limits: { maxImageBytes: number; maxPixels: number };
  /** The camera quality gate (the kiosk's framing and words). */
  quality: Partial<QualityConfig>;
  detector: FaceDetector;
  queue: InferenceQueue;
  /** The model in use, or why there is none; read inside a queue job. */
  model(): ActiveModel | { reason: string };
  /**
   * Bytes -> faces and embedding: in-process (the default, over detector, queue and model) or on
   * inference workers (PooledAnalyzer).
   */
  analyzer?: FrameAnalyzer;
  /** Identities and their templates (read only). */
  gallery: Gallery;
  /** The settings now (metric, thresholds, topK). */
  settings: () => Settings;
}

/** Hears every final decision, with the frame it was made on (decoded pixels, or the camera's JPEG). */
export type DecisionListener = (d: DoorDecision, frame: RgbImage | Uint8Array | undefined) => void;

/** One frame after the model saw it (what decide() needs: FrameAnalysis without the pixels). */
export type FrameFacts = Omit<FrameAnalysis, 'image'>;

/** One frame after the model saw it. */
export interface FrameAnalysis {
  image: RgbImage;
  faces: ExtractedFace[];
  gate: Gate;
  /** The subject's embedding, when the gate let it through and a model is loaded. */
  embedding: Float32Array | undefined;
  /** The model the frame was embedded with (null: none loaded). */
  model: ActiveModel | null;
  timings: StageTimings;
}

/** What the kiosk makes of one frame before its k-of-n rule: the one-frame decision, or guidance. */
export interface KioskFrame {
  /** The one-frame decision (null without a model). */
  outcome: VerifyOutcome | null;
  box: Box | null;
  /** Why the face cannot be judged, in the kiosk's words. */
  advice: string | null;
  analysis: FrameAnalysis;
}

/** Detection and the quality gate only: what the enrollment page shows while someone poses. */
export interface FaceCheck {
  box: Box | null;
  /** Frame size in px (the overlay scales the box to the preview). */
  width: number;
  height: number;
  faces: number;
  /** Usable for recognition / enrollment. */
  ok: boolean;
  reasons: Reason[];
  metrics: ExtractedFace['quality']['metrics'] | null;
}

export interface ScreenImage {
  bytes: Uint8Array;
  /** Shown back in the report; never used as a path. */
  file?: string;
  /** The quality gate this image gets (camera framing, or a photo's). */
  quality: Partial<QualityConfig>;
}

const round = (ms: number) => Math.round(ms * 100) / 100;
const ref = (i: Pick<Identity, 'id' | 'name'>): IdentityRef => ({ id: i.id, name: i.name });

function faceReport(f: ExtractedFace | undefined): FaceReport | null {
  if (!f) return null;
  return { box: f.face.box, landmarks: f.face.landmarks, detectorScore: f.face.score, quality: { ok: f.quality.ok, reasons: f.quality.reasons, metrics: f.quality.metrics } };
}

export class Door {
  readonly #listeners = new Set<DecisionListener>();
  readonly #analyzer: FrameAnalyzer;

  constructor(private readonly deps: DoorDeps) {
    this.#analyzer = deps.analyzer ?? new InProcessAnalyzer({ limits: deps.limits, detector: deps.detector, queue: deps.queue, model: () => deps.model() });
  }

  /** Requests decoding their image on this thread, not yet in the queue: background work lets them in first. */
  get decoding(): number {
    return this.#analyzer.decoding;
  }

  /** What turns frames into faces and embeddings: in-process or the inference workers. */
  get analyzer(): FrameAnalyzer {
    return this.#analyzer;
  }

  /**
   * Runs model work on this thread (a liveness pass): in the inference queue between the door's
   * own jobs in-process; one at a time beside the inference workers with a pool.
   */
  inQueue<T>(job: () => Promise<T>): Promise<T> {
    return this.#analyzer.local(job);
  }

  /** Subscribes to final decisions (the activity log, the door hardware, metrics); returns the unsubscribe. */
  onDecision(listener: DecisionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tells every listener of a final decision. A listener that throws is reported, never the door's problem. */
  announce(d: DoorDecision, frame?: RgbImage | Uint8Array): void {
    for (const l of this.#listeners) {
      try {
        l(d, frame);
      } catch (err) {
        console.error(`[facegate] decision listener: ${(err as Error).message}`);
      }
    }
  }

  /** Metric and threshold of the settings now. */
  metric(): { metric: Metric; threshold: number } {
    const s = this.deps.settings();
    return { metric: s.metric, threshold: s.thresholds[s.metric] };
  }

  #model(): ActiveModel {
    const m = this.deps.model();
    if ('reason' in m) throw new ServiceError('no_model', `no face model loaded, so faces cannot be compared: ${m.reason}`);
    return m;
  }

  decode(bytes: Uint8Array, what = 'image'): Promise<RgbImage> {
    return decodeFrame(bytes, this.deps.limits, what);
  }

  /**
   * decode -> (queue) detect, align, quality -> embed the subject if the gate lets it through,
   * a model is loaded and `embed` is not false. Without a model, detection and quality still run.
   * In-process or on an inference worker (deps.analyzer): the same functions, the same result.
   */
  async analyze(bytes: Uint8Array, opts: { embed?: boolean; quality?: Partial<QualityConfig>; what?: string } = {}): Promise<FrameAnalysis> {
    const a = await this.#analyze(bytes, { ...opts, image: true });
    return { ...a, image: a.image! };
  }

  /**
   * analyze(), with the decoded pixels only when `image` (an inference worker keeps them
   * otherwise: verify, identify, check and screening need only faces, crops and the size).
   */
  async #analyze(bytes: Uint8Array, opts: { embed?: boolean; quality?: Partial<QualityConfig>; what?: string; image: boolean }): Promise<FrameFacts & { image: RgbImage | undefined; width: number; height: number }> {
    const t0 = performance.now();
    const r = await this.#analyzer.analyze(bytes, { embed: opts.embed, quality: opts.quality ?? this.deps.quality, what: opts.what, image: opts.image });
    const t2 = performance.now();
    const timings: StageTimings = {
      decode: round(r.timings.decode),
      queue: round(r.timings.queue),
      detect: round(r.timings.detect),
      align: round(r.timings.align),
      quality: round(r.timings.quality),
      embed: round(r.timings.embed),
      match: 0,
      total: round(t2 - t0),
    };
    return { image: r.image, width: r.width, height: r.height, faces: r.faces, gate: gate(r.faces), embedding: r.embedding, model: r.model, timings };
  }

  /**
   * The one-frame decision: the gate's refusal, or the match (1:1 against `claim`, else 1:N open
   * set). Pure over the analysis; the API, the CLI and each kiosk frame decide here.
   */
  decide(a: FrameFacts, claim?: Identity): VerifyOutcome {
    const model = a.model ?? this.#model();
    const { metric, threshold } = this.metric();
    const base = {
      identity: null,
      claim: claim ? ref(claim) : null,
      score: null,
      metric,
      threshold,
      face: faceReport(a.faces[0]),
      faces: a.faces.length,
      modelId: model.embedder.modelId,
      timings: a.timings,
    };
    const g = a.gate;
    if (g.kind !== 'usable') return { ...base, decision: g.kind, message: refusalMessage(g) };
    if (!a.embedding) throw new Error('decide(): a usable face was not embedded');
    const tm = performance.now();
    let out: VerifyOutcome;
    if (claim) {
      const r = model.matcher.verify(a.embedding, claim.id);
      const message = r.accepted ? `Welcome, ${claim.name}` : r.reason === 'no-templates' ? this.#notCovered(claim, base.modelId) : 'Face does not match';
      out = { ...base, decision: r.accepted ? 'granted' : 'denied', message, identity: r.accepted ? ref(claim) : null, score: r.score, threshold: r.threshold };
    } else {
      const r = model.matcher.identify(a.embedding);
      const who = r.identityId ? this.deps.gallery.getIdentity(r.identityId) : undefined;
      out = who
        ? { ...base, decision: 'granted', message: `Welcome, ${who.name}`, identity: ref(who), score: r.score, threshold: r.threshold }
        : { ...base, decision: 'denied', message: this.#notRecognised(r.reason, base.modelId), score: r.score, threshold: r.threshold };
    }
    a.timings.match = round(performance.now() - tm);
    a.timings.total = round(a.timings.total + a.timings.match);
    return out;
  }

  /** One frame -> decision; a match attempt (granted or denied) is announced as a final decision of `door`. */
  async verify(bytes: Uint8Array, opts: { claim?: Identity; door?: string } = {}): Promise<VerifyOutcome> {
    this.#model();
    // The frame goes to the decision listeners for the log's snapshot: the pixels only when snapshots are kept.
    const a = await this.#analyze(bytes, { image: this.deps.settings().keepSnapshots });
    const out = this.decide(a, opts.claim);
    if (out.decision === 'granted' || out.decision === 'denied') {
      const { decision, claim, identity, score, threshold, metric, modelId } = out;
      this.announce({ time: new Date().toISOString(), door: opts.door ?? 'api', decision, claim, identity, score, threshold, metric, modelId }, a.image);
    }
    return out;
  }

  /** 1:N with the k best candidates, for operators. Refuses what verify refuses; logs nothing. */
  async identify(bytes: Uint8Array, opts: { k?: number } = {}): Promise<IdentifyOutcome> {
    this.#model();
    const a = await this.#analyze(bytes, { image: false });
    const model = a.model ?? this.#model();
    const matcher = model.matcher;
    const { metric, threshold } = this.metric();
    const modelId = model.embedder.modelId;
    const base = { identity: null, score: null, metric, threshold, candidates: [], face: faceReport(a.faces[0]), faces: a.faces.length, modelId, timings: a.timings };
    const g = a.gate;
    if (g.kind !== 'usable') return { ...base, decision: g.kind, message: refusalMessage(g) };
    if (!a.embedding) throw new Error('identify(): a usable face was not embedded');
    const tm = performance.now();
    const gallery = this.deps.gallery;
    const k = Math.max(1, Math.min(100, opts.k ?? this.deps.settings().topK));
    const r = matcher.identify(a.embedding, { topK: k });
    const candidates = r.candidates.flatMap((c) => {
      const who = gallery.getIdentity(c.identityId);
      if (!who) return [];
      const t = matcher.options().identityThreshold?.(c.identityId) ?? threshold;
      return [{ ...ref(who), score: c.score, passes: passesThreshold(c.score, t, metric) }];
    });
    a.timings.match = round(performance.now() - tm);
    a.timings.total = round(a.timings.total + a.timings.match);
    const who = r.identityId ? gallery.getIdentity(r.identityId) : undefined;
    const message = who ? `Best match: ${who.name}` : r.reason === 'empty-gallery' && gallery.listIdentities().length === 0 ? 'The gallery is empty' : this.#notRecognised(r.reason, modelId);
    return { ...base, decision: who ? 'match' : 'unknown', message, identity: who ? ref(who) : null, score: r.score, threshold: r.threshold, candidates };
  }

  /** A kiosk frame: the one-frame decision (not logged: the kiosk logs its k-of-n verdict), or guidance. */
  async observe(bytes: Uint8Array): Promise<KioskFrame> {
    const a = await this.analyze(bytes, { what: 'frame' });
    const g = a.gate;
    const box = g.kind === 'no_face' ? null : g.subject.face.box;
    const advice = g.kind === 'no_face' ? 'Look at the camera' : g.kind === 'usable' ? null : g.message;
    return { outcome: a.model ? this.decide(a) : null, box, advice, analysis: a };
  }

  /** Detection and the quality gate only (no model needed). */
  async check(bytes: Uint8Array, quality?: Partial<QualityConfig>): Promise<FaceCheck> {
    const a = await this.#analyze(bytes, { embed: false, quality, what: 'frame', image: false });
    const base = { width: a.width, height: a.height, faces: a.faces.length };
    const subject = a.faces[0];
    if (!subject) return { ...base, box: null, ok: false, reasons: [{ code: 'no_face', message: 'Look at the camera' }], metrics: null };
    return { ...base, box: subject.face.box, ok: a.gate.kind === 'usable', reasons: subject.quality.reasons, metrics: subject.quality.metrics };
  }

  /**
   * Enrollment screening, per image: decode, detect, the image's quality gate. Every image gets a
   * report (accepted, or the reasons why not); the accepted ones come back with their face.
   */
  async screen(images: readonly ScreenImage[]): Promise<{ samples: SampleReport[]; good: { sample: SampleReport; face: ExtractedFace }[] }> {
    const samples: SampleReport[] = [];
    const good: { sample: SampleReport; face: ExtractedFace }[] = [];
    for (const [index, img] of images.entries()) {
      const sample: SampleReport = { index, file: img.file ?? null, accepted: false, kept: false, reasons: [], quality: null, box: null };
      samples.push(sample);
      let a: FrameFacts;
      try {
        // The report names the file already: the reason does not repeat it.
        a = await this.#analyze(img.bytes, { embed: false, quality: img.quality, what: '', image: false });
      } catch (err) {
        // An unreadable image is this sample's problem; a busy queue or a bug is the request's.
        if (!(err instanceof ServiceError) || !['corrupt_image', 'unsupported_media', 'empty_image', 'image_too_large', 'not_found'].includes(err.code)) throw err;
        sample.reasons.push({ code: 'unreadable', message: err.message });
        continue;
      }
      const g = a.gate;
      if (g.kind === 'no_face') {
        sample.reasons.push({ code: 'no_face', message: 'No face found' });
        continue;
      }
      sample.box = g.subject.face.box;
      sample.quality = qualityScore(g.subject.quality);
      if (g.kind !== 'usable') {
        sample.reasons.push(...g.subject.quality.reasons);
        continue;
      }
      sample.accepted = true;
      good.push({ sample, face: g.subject });
    }
    return { samples, good };
  }

  /** Why a claimed person has no template of the model, and what to do. */
  #notCovered(who: IdentityRef, modelId: string): string {
    const hasCrop = this.deps.gallery.templates().some((t) => t.identityId === who.id && t.crop !== null);
    return hasCrop
      ? `${who.name} has no template for model ${modelId} yet: re-embed the gallery (their face crops are stored)`
      : `${who.name} has no template for model ${modelId} and no stored face crop: enroll ${who.name} again`;
  }

  /** 'Not recognised', and why when the model has no template at all although people are enrolled. */
  #notRecognised(reason: string, modelId: string): string {
    const people = this.deps.gallery.listIdentities().length;
    return reason === 'empty-gallery' && people > 0
      ? `Not recognised: none of the ${people} enrolled people has a template for model ${modelId} (re-embed the gallery, or enroll them again)`
      : 'Not recognised';
  }
}
