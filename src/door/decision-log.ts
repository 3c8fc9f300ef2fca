// The door's decisions in the audit trail (src/activity): one writer for /api/verify, the kiosk and
// the camera loop, so every record has the same shape (time, door, person, score, threshold,
// model, liveness) and snapshots follow settings.keepSnapshots everywhere.
// Best effort and never awaited by the door: a slow or full disk must not hold anyone at the door.
// Nor may it grow memory under load: a waiting decision keeps only its entry (and its snapshot's
// JPEG when snapshots are kept), never the decoded frame; the decisions that arrive while a write
// runs go to the activity log together in the next one; and at most maxPending wait or are being
// written, beyond which new ones are dropped and counted (a disk that stalls for good).
import type { ActivityLog, LogDecisionInput } from '../activity/activity-log.js';
import { GalleryError } from '../gallery/errors.js';
import type { Settings } from '../settings/schema.js';
import type { Metric } from '../match/vector.js';
import { encodeJpeg } from '../vision/decode.js';
import type { RgbImage } from '../vision/types.js';

export interface DecisionRecord {
  /** 1:1 claims log verify-accept / verify-reject, 1:N match / unknown, and not-live for a kiosk match the liveness check refused. */
  decision: 'match' | 'unknown' | 'not-live' | 'verify-accept' | 'verify-reject';
  /** Where it was decided: "api", "kiosk (browser)", "kiosk (device /dev/video0)". */
  door?: string | null;
  /** The person let in, or the person claimed. */
  identityId: string | null;
  score: number | null;
  /** The threshold the score was held against. */
  threshold?: number | null;
  metric: Metric;
  modelId: string | null;
  /** The presentation-attack check, when the door ran one (src/pad). */
  liveness?: { passed: boolean; method?: string | null; score?: number | null } | null;
  /** The frame decided on: decoded pixels, or the camera's own JPEG. */
  frame?: RgbImage | Uint8Array;
  detail?: string;
}

/** Decisions that may wait for the disk (or be in the write under way) before new ones are dropped. */
export const MAX_PENDING_DECISIONS = 256;

const isJpeg = (b: Uint8Array) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

interface Pending {
  input: Omit<LogDecisionInput, 'snapshotJpeg'>;
  snapshot?: Promise<Uint8Array | undefined>;
  written: () => void;
}

export class DecisionLog {
  #waiting: Pending[] = [];
  #writing = 0;
  #dropped = 0;
  #flush: Promise<void> | null = null;

  constructor(
    private readonly activity: ActivityLog,
    private readonly settings: () => Pick<Settings, 'keepSnapshots'>,
    private readonly opts: { enabled: boolean; onError?: (message: string) => void; maxPending?: number },
  ) {}

  /** The audit trail the decisions go to (reading, export, retention: src/activity). */
  get trail(): ActivityLog {
    return this.activity;
  }

  get enabled(): boolean {
    return this.opts.enabled;
  }

  get maxPending(): number {
    return this.opts.maxPending ?? MAX_PENDING_DECISIONS;
  }

  /** Decisions waiting for the disk or in the write under way. */
  get backlog(): number {
    return this.#waiting.length + this.#writing;
  }

  /** Decisions not logged because the backlog was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writes in the background; resolves when written or dropped (tests), never rejects. */
  record(r: DecisionRecord): Promise<void> {
    if (!this.opts.enabled) return Promise.resolve();
    if (this.backlog >= this.maxPending) {
      this.#dropped++;
      if (this.#dropped === 1 || this.#dropped % 1000 === 0) this.#report(`${this.#dropped} decision(s) not logged: ${this.backlog} are waiting for the disk`);
      return Promise.resolve();
    }
    // The entry's fields, and the snapshot encoded now if one is kept: the frame itself (640x480
    // RGB is 0.9 MB) must not live on while the entry waits.
    const snapshot = this.settings().keepSnapshots
      ? snapshotOf(r.frame).catch((err: Error) => {
          this.#report(`snapshot not kept: ${err.message}`);
          return undefined;
        })
      : undefined;
    const input: Pending['input'] = {
      decision: r.decision,
      door: r.door ?? null,
      identityId: r.identityId,
      score: r.score,
      threshold: r.threshold ?? null,
      metric: r.metric,
      modelId: r.modelId,
      liveness: r.liveness ?? null,
      detail: r.detail,
      time: new Date(),
    };
    return new Promise<void>((written) => {
      this.#waiting.push({ input, snapshot, written });
      this.#flush ??= this.#drain();
    });
  }

  /** Resolves once every decision recorded so far is written (or refused): before the activity log closes. */
  async flush(): Promise<void> {
    while (this.#flush) await this.#flush;
  }

  /** Writes what waits, in one activity-log write per round, until nothing does. */
  async #drain(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting.splice(0);
        this.#writing = batch.length;
        try {
          const inputs = await Promise.all(batch.map(async (p) => ({ ...p.input, snapshotJpeg: await p.snapshot })));
          for (const r of await this.activity.recordMany(inputs)) {
            // NOT_FOUND: the person was erased meanwhile, and rightly is not logged.
            if (r instanceof GalleryError && r.code !== 'NOT_FOUND') this.#report(r.message);
          }
        } catch (err) {
          this.#report((err as Error).message);
        } finally {
          this.#writing = 0;
          for (const p of batch) p.written();
        }
      }
    } finally {
      this.#flush = null;
    }
  }

  #report(message: string): void {
    (this.opts.onError ?? ((m) => console.error(`[facegate] activity log: ${m}`)))(message);
  }
}

async function snapshotOf(frame: RgbImage | Uint8Array | undefined): Promise<Uint8Array | undefined> {
  if (frame === undefined) return undefined;
  if (frame instanceof Uint8Array) return isJpeg(frame) ? frame : undefined;
  return encodeJpeg(frame, 85);
}
