// A V4L2 camera on the server, read with node-webcam (fswebcam on Linux), for door units whose
// kiosk page does not own the camera. fswebcam exits 0 even when there is no /dev/video0 and then
// writes no file, so a capture counts only when its output file exists and is not empty.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CameraError, type Frame, type FrameSource } from './types.js';

interface Webcam {
  capture(location: string, cb: (err: Error | null, data?: unknown) => void): void;
}
interface NodeWebcam {
  FSWebcam: new (opts: Record<string, unknown>) => Webcam;
}

// node-webcam is CommonJS without types.
const nodeWebcam = createRequire(import.meta.url)('node-webcam') as NodeWebcam;

export interface DeviceCameraOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Frames fswebcam drops before the one it keeps (auto exposure settles on the first ones). */
  skip?: number;
}

// node-webcam builds a shell command from the output path: keep it to plain characters.
const SAFE_PATH = /^[A-Za-z0-9._/-]+$/;

export class DeviceCamera implements FrameSource {
  readonly label: string;
  readonly fps: number;
  #dir: string | undefined;
  #cam: Webcam;
  #index = 0;

  constructor(
    readonly device: string,
    opts: DeviceCameraOptions = {},
  ) {
    this.label = `device ${device}`;
    // One fswebcam run per frame opens the device each time: more than ~2 per second is not real.
    this.fps = Math.min(opts.fps ?? 2, 2);
    this.#cam = new nodeWebcam.FSWebcam({
      width: opts.width ?? 640,
      height: opts.height ?? 480,
      quality: 85,
      delay: 0,
      skip: opts.skip ?? 2,
      saveShots: false,
      output: 'jpeg',
      device,
      callbackReturn: 'location',
      verbose: false,
    });
  }

  async open(): Promise<void> {
    this.#dir ??= await mkdtemp(path.join(os.tmpdir(), 'facegate-cam-'));
    if (!SAFE_PATH.test(this.#dir)) throw new CameraError('failed', `temporary folder ${this.#dir} has characters fswebcam's command line cannot take; set TMPDIR`);
    // A first frame now, so a missing camera is reported when the loop starts, not later.
    await this.read();
  }

  read(): Promise<Frame> {
    const dir = this.#dir;
    if (!dir) return Promise.reject(new CameraError('failed', 'camera not opened'));
    const file = path.join(dir, `frame-${randomBytes(6).toString('hex')}.jpg`);
    return new Promise<void>((resolve, reject) => {
      this.#cam.capture(file, (err) => {
        if (!err) return resolve();
        const e = err as Error & { code?: number | string };
        if (e.code === 127 || /not found/i.test(e.message)) {
          reject(new CameraError('missing', 'fswebcam is not installed: apt-get install fswebcam (node-webcam runs it to read the camera)'));
        } else reject(new CameraError('failed', `fswebcam failed on ${this.device}: ${e.message.trim().split('\n').at(-1)}`));
      });
    }).then(async () => {
      try {
        const size = (await stat(file).catch(() => null))?.size ?? 0;
        if (size === 0) throw new CameraError('missing', `no frame from ${this.device}: is a camera connected (fswebcam wrote nothing)?`);
        return { jpeg: new Uint8Array(await readFile(file)), index: this.#index++ };
      } finally {
        await rm(file, { force: true });
      }
    });
  }

  async close(): Promise<void> {
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }
}
