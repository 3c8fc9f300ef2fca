// One kiosk (a browser session posting frames, or the server's own camera): frame -> what the
// screen shows. Each frame gets the door's one-frame decision (Door.observe, the same as
// /api/verify); the k-of-n rule over those is kept here on the server, so a page cannot shortcut
// it. Verdicts, not frames, are announced as the door's decisions (the log, the door hardware).
//
// The votes and the liveness evidence belong to one person, the station's subject: the face of
// the first embedded frame. A later embedded frame that would not match it (cosine below the
// door's threshold) is someone else, and a frame with several faces cannot say whose evidence it
// shows: either drops the votes and the liveness evidence so far. Liveness is fed only frames
// that match the subject, each with its similarity, so a blink of one person never lets in a
// photo of another, and one person's votes never count toward another's grant.
import type { Box } from '../vision/types.js';
import type { Door } from './door.js';
import type { VerifyOutcome } from './types.js';
import { distanceToCosine, dot } from '../match/vector.js';
import { KofNJudge, type JudgeOptions, type KofN, type Observation, type Verdict } from './kofn-judge.js';
import { ServiceError } from '../service/errors.js';
import { LivenessSession, type FrameObservation, type LivenessVerdict, type PadSettings } from '../pad/index.js';
import type { DetectedFace, RgbImage } from '../vision/types.js';

/** The liveness check of a kiosk (src/pad): its settings and the per-frame analysis (in the model queue). */
export interface LivenessCheck {
  settings: PadSettings;
  /** identity: the face's cosine similarity to the station's subject. */
  analyze(img: RgbImage, face: DetectedFace, t: number, extra: { identity?: number }): Promise<FrameObservation>;
}

export type KioskStateName = 'look' | 'adjust' | 'checking' | 'granted' | 'denied' | 'offline' | 'busy' | 'camera_error';

/** What the kiosk page renders (JSON for posted frames, SSE events for a server camera). */
export interface KioskView {
  state: KioskStateName;
  /** The big line: "Look at the camera", "Come closer", "Welcome, Amy", "Not recognised". */
  message: string;
  detail: string | null;
  box: Box | null;
  progress: { have: number; need: number } | null;
}

export const DEFAULT_JUDGE: JudgeOptions = { cooldownMs: 4000, windowMs: 5000 };

/** The door's threshold as a cosine: "would these two faces match" is "the same person". */
const sameCosine = (o: VerifyOutcome): number => (o.metric === 'cosine' ? o.threshold : distanceToCosine(o.threshold));

export interface StationOptions {
  /** The k-of-n rule now (it lives in the settings, which may change between frames). */
  rule: () => KofN;
  judge?: Partial<JudgeOptions>;
  /** Named in the activity log: "browser", "device /dev/video0"... */
  source: string;
  /** Hears each verdict (request metrics). */
  onVerdict?: (v: Exclude<Verdict, { kind: 'pending' }>) => void;
  /** Why the door cannot open now (fail-secure: the model, gallery or camera in error), or null. */
  doorBlocked?: () => string | null;
  /** The liveness check when the settings require one (null: a grant needs no liveness). */
  liveness?: () => Promise<LivenessCheck | null>;
}

/** Frame errors that mean the camera sends something we cannot read, not that the box is broken. */
const CAMERA_ERRORS: readonly string[] = ['corrupt_image', 'unsupported_media', 'empty_image', 'image_too_large'];

export class KioskStation {
  readonly judge: KofNJudge;
  /** One person's liveness evidence, frame after frame; rebuilt when the settings change. */
  #liveness: { session: LivenessSession; settings: PadSettings } | null = null;
  /** The embedding the votes and the liveness evidence are bound to (null: none yet). */
  #subject: Float32Array | null = null;

  constructor(
    private readonly door: Door,
    private readonly opts: StationOptions,
  ) {
    this.judge = new KofNJudge({ ...DEFAULT_JUDGE, ...opts.judge });
  }

  async frame(bytes: Uint8Array, now = Date.now()): Promise<KioskView> {
    const shown = this.judge.cooling(now);
    // The decision stays on screen; no inference spent meanwhile.
    if (shown) return this.#decisionView(shown);
    let f;
    try {
      f = await this.door.observe(bytes);
    } catch (err) {
      if (err instanceof ServiceError && err.code === 'busy') return { state: 'busy', message: 'One moment…', detail: null, box: null, progress: null };
      if (err instanceof ServiceError && CAMERA_ERRORS.includes(err.code)) return { state: 'camera_error', message: 'Camera problem', detail: err.message, box: null, progress: null };
      throw err;
    }
    if (!f.outcome) {
      // No model: still guide people to a good frame; a good one learns the kiosk is out of service.
      const state = !f.box ? 'look' : f.advice ? 'adjust' : 'offline';
      return { state, message: f.advice ?? 'Not in service', detail: 'No face model is loaded: recognition is off', box: f.box, progress: null };
    }
    const o = f.outcome;
    const identity = this.#follow(o, f.analysis.embedding);
    const live = await this.#livenessOf(f.analysis.image, f.analysis.faces[0]?.face, now, identity);
    const observation: Observation =
      o.decision === 'no_face'
        ? { kind: 'no_face' }
        : o.decision === 'granted' && o.identity && o.score !== null
          ? { kind: 'match', identityId: o.identity.id, name: o.identity.name, score: o.score }
          : o.decision === 'denied'
            ? { kind: 'unknown', score: o.score }
            : { kind: 'unusable' };
    const rule = this.opts.rule();
    let v = this.judge.observe(observation, now, rule);
    if (v.kind === 'granted' && live && live.state !== 'live') {
      if (live.state === 'undecided') {
        // Recognised, but not yet shown to be a live person: the decision waits, and the screen asks.
        this.judge.forget();
        const ask = live.promptText ? `${live.promptText[0]!.toUpperCase()}${live.promptText.slice(1)}` : 'Hold still…';
        return { state: 'checking', message: ask, detail: 'Checking that a real person is at the door', box: f.box, progress: null };
      }
      // Gave up: a photo or a screen, as far as the check can tell. Turned away, and logged so
      // (under the person it matched: the record is theirs, and erasing them erases it).
      v = this.judge.overrule() ?? v;
      this.#liveness?.session.reset();
    }
    if (v.kind !== 'pending') {
      this.opts.onVerdict?.(v);
      const granted = v.kind === 'granted';
      this.door.announce(
        {
          time: new Date(now).toISOString(),
          door: `kiosk (${this.opts.source})`,
          decision: granted ? 'granted' : 'denied',
          claim: null,
          identity: v.kind === 'granted' ? { id: v.identityId, name: v.name } : (v.identity ?? null),
          score: v.score,
          // The threshold of the deciding frame (a person's own threshold when they have one).
          threshold: o.threshold,
          metric: o.metric,
          modelId: o.modelId,
          detail: `${v.frames} of the last ${rule.n} frames`,
          ...(live ? { liveness: { passed: live.state === 'live', method: live.method, score: live.score } } : {}),
        },
        bytes[0] === 0xff && bytes[1] === 0xd8 ? bytes : f.analysis.image,
      );
      const blocked = granted ? this.opts.doorBlocked?.() : null;
      // Fail-secure: recognised, but the door cannot open; the screen says why instead of "Welcome".
      if (blocked) return { state: 'offline', message: 'The door cannot open', detail: blocked, box: f.box, progress: null };
      return this.#decisionView(v, f.box);
    }
    if (observation.kind === 'no_face') return { state: 'look', message: 'Look at the camera', detail: null, box: null, progress: null };
    if (f.advice) return { state: 'adjust', message: f.advice, detail: null, box: f.box, progress: null };
    return { state: 'checking', message: 'Hold still…', detail: null, box: f.box, progress: { have: v.have, need: v.need } };
  }

  /**
   * Keeps the votes and the liveness evidence to one person (see the top of this file). Returns
   * this frame's similarity to the subject, or undefined when the frame has no embedding (no
   * usable face) and so cannot be tied to anyone.
   */
  #follow(o: VerifyOutcome, embedding: Float32Array | undefined): number | undefined {
    if (o.decision === 'multiple_faces') {
      this.#newSubject(null);
      return undefined;
    }
    if (!embedding) return undefined;
    // Unit-length embeddings: the dot product is the cosine.
    const same = this.#subject ? dot(this.#subject, embedding) : Number.NaN;
    if (same >= sameCosine(o)) return same;
    this.#newSubject(embedding);
    return 1;
  }

  #newSubject(embedding: Float32Array | null): void {
    this.#subject = embedding;
    this.judge.clearVotes();
    this.#liveness?.session.reset();
  }

  /** This frame's liveness verdict, or null when the settings require none. */
  async #livenessOf(img: RgbImage, face: DetectedFace | undefined, now: number, identity: number | undefined): Promise<LivenessVerdict | null> {
    const check = await this.opts.liveness?.();
    if (!check) {
      this.#liveness = null;
      return null;
    }
    if (this.#liveness?.settings !== check.settings) this.#liveness = { session: new LivenessSession(check.settings), settings: check.settings };
    const session = this.#liveness.session;
    if (!face) return session.push({ t: now, face: null });
    // A face not tied to the subject (no embedding: poor quality, no model) adds no evidence.
    if (identity === undefined) return session.peek();
    return session.push(await check.analyze(img, face, now, { identity }));
  }

  #decisionView(v: Exclude<Verdict, { kind: 'pending' }>, box: Box | null = null): KioskView {
    return v.kind === 'granted'
      ? { state: 'granted', message: `Welcome, ${v.name}`, detail: null, box, progress: null }
      : { state: 'denied', message: 'Not recognised', detail: 'Please ask at the desk', box, progress: null };
  }
}

/** Kiosk stations by session id, the oldest dropped beyond `max` (a browser that never returns). */
export class KioskStations {
  readonly #byId = new Map<string, KioskStation>();
  constructor(
    private readonly make: () => KioskStation,
    private readonly max = 64,
  ) {}

  get(id: string): KioskStation {
    let s = this.#byId.get(id);
    if (s) {
      this.#byId.delete(id);
    } else {
      s = this.make();
      if (this.#byId.size >= this.max) this.#byId.delete(this.#byId.keys().next().value!);
    }
    this.#byId.set(id, s);
    return s;
  }

  get size(): number {
    return this.#byId.size;
  }
}
