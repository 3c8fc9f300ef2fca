// A replayed camera for demos and tests: a video file (frames extracted once with ffmpeg) or a
// folder of images (resized to JPEG with sharp as they are read), played at a fixed rate, looping.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CameraError, type Frame, type FrameSource } from './types.js';

export interface ReplayOptions {
  fps?: number;
  /** Frame width in px (height keeps the aspect ratio). */
  width?: number;
  /** Seconds of a video to use (a long file would fill the temp folder). */
  maxSeconds?: number;
  /** Start again at the first frame after the last (default true). */
  loop?: boolean;
}

const IMAGE = /\.(jpe?g|png|webp)$/i;

/** Runs ffmpeg without a shell; a missing binary is a CameraError('missing'). */
export function runFfmpeg(args: string[], timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { timeout: timeoutMs }, (err, _out, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new CameraError('missing', 'ffmpeg is not installed: apt-get install ffmpeg (it extracts the frames of a replayed video)'));
      reject(new CameraError('failed', `ffmpeg: ${String(stderr).trim().split('\n').at(-1) || err.message}`));
    });
  });
}

export class ReplayCamera implements FrameSource {
  readonly label: string;
  readonly fps: number;
  readonly width: number;
  #files: string[] = [];
  #tmp: string | undefined;
  #fromVideo = false;
  #next = 0;
  #index = 0;

  constructor(
    readonly source: string,
    private readonly opts: ReplayOptions = {},
  ) {
    this.label = `replay ${path.basename(source)}`;
    this.fps = opts.fps ?? 5;
    this.width = opts.width ?? 640;
  }

  async open(): Promise<void> {
    if (this.#files.length > 0) return;
    const st = await stat(this.source).catch(() => null);
    if (!st) throw new CameraError('missing', `replay source ${this.source} does not exist`);
    if (st.isDirectory()) {
      const names = (await readdir(this.source)).filter((n) => IMAGE.test(n)).sort();
      this.#files = names.map((n) => path.join(this.source, n));
    } else {
      this.#tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-replay-'));
      this.#fromVideo = true;
      const vf = `fps=${this.fps},scale=${this.width}:-2`;
      await runFfmpeg(['-i', this.source, '-t', String(this.opts.maxSeconds ?? 30), '-vf', vf, '-q:v', '4', path.join(this.#tmp, 'f%05d.jpg')]).catch(async (err) => {
        await this.close();
        throw err;
      });
      this.#files = (await readdir(this.#tmp)).sort().map((n) => path.join(this.#tmp!, n));
    }
    if (this.#files.length === 0) {
      await this.close();
      throw new CameraError('failed', `replay source ${this.source} holds no frames`);
    }
  }

  get frames(): number {
    return this.#files.length;
  }

  async read(): Promise<Frame> {
    if (this.#files.length === 0) throw new CameraError('failed', 'replay camera not opened');
    if (this.#next >= this.#files.length) {
      if (this.opts.loop === false) throw new CameraError('failed', `replay ${this.source} ended`);
      this.#next = 0;
    }
    const file = this.#files[this.#next++]!;
    try {
      const jpeg = this.#fromVideo
        ? await readFile(file)
        : await sharp(file).rotate().resize({ width: this.width, withoutEnlargement: true }).jpeg({ quality: 85 }).toBuffer();
      return { jpeg: new Uint8Array(jpeg), index: this.#index++ };
    } catch (err) {
      throw new CameraError('failed', `replay frame ${path.basename(file)}: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.#tmp) await rm(this.#tmp, { recursive: true, force: true });
    this.#tmp = undefined;
    this.#files = [];
    this.#next = 0;
  }
}
