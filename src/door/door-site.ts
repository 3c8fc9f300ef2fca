// The door as it runs in the server: the kiosk stations (one per browser session), the server's own
// camera, and the hardware the decisions drive. Built once by the composition (src/http/app.ts)
// and shared by the API and the pages.
import type { ActuationOutcome, ComponentHealth, SystemHealth } from '../actuation/index.js';
import type { Settings } from '../settings/schema.js';
import { DoorActuation } from './actuation.js';
import { CameraHub } from './camera-hub.js';
import type { Door } from './door.js';
import type { JudgeOptions, KofN, Verdict } from './kofn-judge.js';
import { KioskStation, KioskStations, type LivenessCheck } from './kiosk-station.js';
import { FrameAnalyzer, MeshLandmarker, PassiveModels, type PadSettings } from '../pad/index.js';

export interface DoorSiteOptions {
  door: Door;
  /** The settings now (camera, k of n), and the door's with their secrets. */
  settings: () => Pick<Settings, 'camera' | 'kOfN' | 'liveness'>;
  doorSettings: () => Settings['door'];
  /** Why no face model is loaded, or null when one is. */
  modelError: () => string | null;
  onVerdict?: (v: Exclude<Verdict, { kind: 'pending' }>) => void;
  /** Each actuation outcome (sent, failed, blocked...), for the activity log. */
  onOutcome: (o: ActuationOutcome) => void;
  judge?: Partial<JudgeOptions>;
  cameraRetryMs?: number;
}

export class DoorSite {
  readonly hub: CameraHub;
  readonly stations: KioskStations;
  readonly actuation: DoorActuation;
  /** The liveness models, loaded the first time a kiosk needs them (passive ones only for their modes). */
  #analyzers = new Map<'active' | 'passive', Promise<FrameAnalyzer>>();
  #check: { key: string; check: LivenessCheck | null } = { key: '', check: null };

  constructor(o: DoorSiteOptions) {
    const rule = (): KofN => o.settings().kOfN;
    const liveness = () => this.#liveness(o.door, o.settings().liveness);
    const station = (source: string) =>
      new KioskStation(o.door, { source, rule, judge: o.judge, onVerdict: o.onVerdict, doorBlocked: () => this.actuation.blocked(), liveness });
    this.hub = new CameraHub(() => o.settings().camera, station, { retryMs: o.cameraRetryMs });
    this.stations = new KioskStations(() => station('browser'));
    this.actuation = new DoorActuation(o.door, { config: o.doorSettings, health: () => this.health(o.modelError()), onOutcome: o.onOutcome, requireLiveness: () => o.settings().liveness.requireLiveness });
  }

  /** The liveness check the settings ask for: the same object while they stay the same (a station keeps its session). */
  async #liveness(door: Door, s: PadSettings): Promise<LivenessCheck | null> {
    const key = JSON.stringify(s);
    if (key !== this.#check.key) {
      let check: LivenessCheck | null = null;
      if (s.requireLiveness) {
        const kind = s.mode === 'active' ? 'active' : 'passive';
        let analyzer = this.#analyzers.get(kind);
        if (!analyzer) {
          analyzer = (async () => new FrameAnalyzer(await MeshLandmarker.load(), kind === 'passive' ? await PassiveModels.load() : undefined))();
          this.#analyzers.set(kind, analyzer);
          analyzer.catch(() => this.#analyzers.delete(kind));
        }
        const a = await analyzer;
        check = { settings: s, analyze: (img, face, t, extra) => door.inQueue(async () => a.analyzeFace(img, face, t, extra)) };
      }
      this.#check = { key, check };
    }
    return this.#check.check;
  }

  /**
   * What the door depends on. The gallery is in memory once the server runs; the camera counts only
   * when the server has its own (with the kiosk page's browser camera, the page reports its own).
   */
  health(modelError: string | null): SystemHealth {
    const err = (error: string | null): ComponentHealth => (error === null ? { ok: true } : { ok: false, error });
    const cam = this.hub.current();
    const last = cam.loop?.last;
    const camera = cam.error ? err(`camera setting: ${cam.error}`) : !cam.loop ? null : last?.type === 'error' ? err(last.message) : { ok: true as const };
    return { model: err(modelError), gallery: { ok: true }, camera };
  }

  async close(): Promise<void> {
    await this.actuation.close();
    await this.hub.stop();
  }
}
