// The door's decisions in the activity log: one writer for /api/verify, the kiosk and the camera
// loop, so every entry has the same shape and snapshots follow settings.keepSnapshots everywhere.
// Best effort and never awaited by the door: a slow or full disk must not hold anyone at the door.
import type { ActivityLog } from '../activity/activity-log.js';
import type { Settings } from '../settings/schema.js';
import type { Metric } from '../match/vector.js';
import { encodeJpeg } from '../vision/decode.js';
import type { RgbImage } from '../vision/types.js';

export interface DecisionRecord {
  /** 1:1 claims log verify-accept / verify-reject, 1:N match / unknown. */
  decision: 'match' | 'unknown' | 'verify-accept' | 'verify-reject';
  /** The person let in, or the person claimed. */
  identityId: string | null;
  score: number | null;
  metric: Metric;
  modelId: string | null;
  /** The frame decided on: decoded pixels, or the camera's own JPEG. */
  frame?: RgbImage | Uint8Array;
  detail?: string;
}

const isJpeg = (b: Uint8Array) => b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

export class DecisionLog {
  constructor(
    private readonly activity: ActivityLog,
    private readonly settings: () => Pick<Settings, 'keepSnapshots'>,
    private readonly opts: { enabled: boolean; onError?: (message: string) => void },
  ) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /** Writes in the background; resolves when written (tests), never rejects. */
  record(r: DecisionRecord): Promise<void> {
    if (!this.opts.enabled) return Promise.resolve();
    const write = async () => {
      const snapshotJpeg = this.settings().keepSnapshots ? await snapshotOf(r.frame) : undefined;
      await this.activity.record({ decision: r.decision, identityId: r.identityId, score: r.score, metric: r.metric, modelId: r.modelId, snapshotJpeg, detail: r.detail });
    };
    return write().catch((err: Error & { code?: string }) => {
      // NOT_FOUND: the person was erased meanwhile, and rightly is not logged.
      if (err.code !== 'NOT_FOUND') (this.opts.onError ?? ((m) => console.error(`[facegate] activity log: ${m}`)))(err.message);
    });
  }
}

async function snapshotOf(frame: RgbImage | Uint8Array | undefined): Promise<Uint8Array | undefined> {
  if (frame === undefined) return undefined;
  if (frame instanceof Uint8Array) return isJpeg(frame) ? frame : undefined;
  return encodeJpeg(frame, 85);
}
