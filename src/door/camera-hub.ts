// The kiosk's server-side camera (a V4L2 device or a replay), chosen by settings.camera.source:
// one loop for all kiosk pages watching /kiosk/events, rebuilt when the setting changes. With the
// default source ('auto' / 'browser') the kiosk page captures frames itself and there is no loop.
import { CameraLoop, DeviceCamera, ReplayCamera, parseCameraSource, type CameraChoice, type FrameSource } from '../camera/index.js';
import type { Settings } from '../settings/schema.js';
import type { KioskStation, KioskView } from './kiosk-station.js';

export interface CameraState {
  choice: CameraChoice | null;
  /** Null for the browser's camera, or when the setting is invalid. */
  loop: CameraLoop<KioskView> | null;
  label: string;
  /** The setting could not be used. */
  error: string | null;
}

/** Replayed video is processed one frame at a time anyway; more frames would only queue up. */
const MAX_REPLAY_FPS = 5;

export class CameraHub {
  #key: string | undefined;
  #state: CameraState | undefined;

  constructor(
    /** The camera setting now. */
    private readonly setting: () => Settings['camera'],
    /** A kiosk station for a camera named `source`. */
    private readonly station: (source: string) => KioskStation,
    private readonly opts: { retryMs?: number } = {},
  ) {}

  current(): CameraState {
    const cam = this.setting();
    const key = JSON.stringify(cam);
    if (this.#state && key === this.#key) return this.#state;
    void this.#state?.loop?.stop();
    this.#key = key;
    let choice: CameraChoice;
    try {
      choice = parseCameraSource(cam.source);
    } catch (err) {
      return (this.#state = { choice: null, loop: null, label: cam.source, error: (err as Error).message });
    }
    if (choice.kind === 'browser') return (this.#state = { choice, loop: null, label: 'browser camera', error: null });
    const source: FrameSource =
      choice.kind === 'device'
        ? new DeviceCamera(choice.device, { width: cam.width, height: cam.height, fps: cam.fps })
        : new ReplayCamera(choice.path, { fps: Math.min(cam.fps, MAX_REPLAY_FPS), width: cam.width });
    const station = this.station(source.label);
    const loop = new CameraLoop<KioskView>(source, (frame) => station.frame(frame.jpeg), { retryMs: this.opts.retryMs });
    return (this.#state = { choice, loop, label: source.label, error: null });
  }

  async stop(): Promise<void> {
    await this.#state?.loop?.stop();
    this.#state = undefined;
    this.#key = undefined;
  }
}
