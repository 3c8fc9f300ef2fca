// One kiosk (a browser session posting frames, or the server's own camera): frame -> what the
// screen shows, with the k-of-n decision kept here on the server so a page cannot shortcut it.
// Decisions (not frames) go to the activity log.
import type { FaceService } from '../service/face-service.js';
import type { Metrics } from '../server/metrics.js';
import type { Box } from '../vision/types.js';
import { analyzeKioskFrame, isServiceError } from './frame-check.js';
import { KofNJudge, type JudgeOptions } from './kiosk-judge.js';

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

const isJpeg = (b: Uint8Array) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

export interface StationOptions {
  judge?: Partial<JudgeOptions>;
  metrics?: Metrics;
  /** Named in the activity log: "browser", "device /dev/video0"... */
  source: string;
}

export class KioskStation {
  readonly judge: KofNJudge;

  constructor(
    private readonly service: FaceService,
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
      f = await analyzeKioskFrame(this.service, bytes);
    } catch (err) {
      if (isServiceError(err, 'busy')) return { state: 'busy', message: 'One moment…', detail: null, box: null, progress: null };
      if (isServiceError(err) && ['corrupt_image', 'unsupported_media', 'empty_image', 'image_too_large'].includes(err.code)) {
        return { state: 'camera_error', message: 'Camera problem', detail: err.message, box: null, progress: null };
      }
      throw err;
    }
    if (!f.model) {
      // Still guide people to a good frame; a good one learns the kiosk is out of service.
      const state = !f.box ? 'look' : f.advice ? 'adjust' : 'offline';
      return { state, message: f.advice ?? 'Not in service', detail: 'No face model is loaded: recognition is off', box: f.box, progress: null };
    }
    const { kOfN } = this.service.getSettings();
    const v = this.judge.observe(f.observation, now, kOfN);
    if (v.kind !== 'pending') {
      this.#log(v, f.metric, bytes, kOfN.n);
      return this.#decisionView(v, f.box);
    }
    if (f.observation.kind === 'no_face') return { state: 'look', message: 'Look at the camera', detail: null, box: null, progress: null };
    if (f.advice) return { state: 'adjust', message: f.advice, detail: null, box: f.box, progress: null };
    return { state: 'checking', message: 'Hold still…', detail: null, box: f.box, progress: { have: v.have, need: v.need } };
  }

  #decisionView(v: Exclude<ReturnType<KofNJudge['observe']>, { kind: 'pending' }>, box: Box | null = null): KioskView {
    return v.kind === 'granted'
      ? { state: 'granted', message: `Welcome, ${v.name}`, detail: null, box, progress: null }
      : { state: 'denied', message: 'Not recognised', detail: 'Please ask at the desk', box, progress: null };
  }

  #log(v: Exclude<ReturnType<KofNJudge['observe']>, { kind: 'pending' }>, metric: 'cosine' | 'euclidean', frame: Uint8Array, n: number): void {
    this.opts.metrics?.decisions.inc({ endpoint: 'kiosk', decision: v.kind });
    if (!this.service.config.logDecisions) return;
    const granted = v.kind === 'granted';
    // Best effort, not awaited: a slow disk must not hold the door.
    void this.service.gallery
      .logDecision({
        decision: granted ? 'match' : 'unknown',
        identityId: granted ? v.identityId : null,
        score: v.score,
        metric,
        modelId: this.service.modelId,
        snapshotJpeg: isJpeg(frame) ? frame : undefined,
        detail: `kiosk (${this.opts.source}): ${v.frames} of the last ${n} frames`,
      })
      .catch((err: Error & { code?: string }) => {
        if (err.code !== 'NOT_FOUND') console.error(`[facegate] activity log: ${err.message}`);
      });
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
