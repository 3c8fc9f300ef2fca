// Runs a server-side camera while someone is watching: the first subscriber opens the camera and
// starts the read -> process -> publish loop, the last one to leave stops it (no frames are taken,
// and no CPU spent, for an empty room of browsers). A camera that is missing or fails is reported
// to the subscribers and retried, so plugging it in later is enough.
import { CameraError, type Frame, type FrameSource } from './types.js';

export type LoopEvent<R> =
  | { type: 'frame'; frame: Frame; result: R }
  | { type: 'error'; code: CameraError['code']; message: string; retryInMs: number };

export interface CameraLoopOptions {
  /** Wait before opening the camera again after an error (default 3 s). */
  retryMs?: number;
}

export class CameraLoop<R> {
  readonly #listeners = new Set<(e: LoopEvent<R>) => void>();
  readonly #retryMs: number;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #last: LoopEvent<R> | undefined;

  constructor(
    readonly source: FrameSource,
    private readonly process: (frame: Frame) => Promise<R>,
    opts: CameraLoopOptions = {},
  ) {
    this.#retryMs = opts.retryMs ?? 3000;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /** The latest event, so a new page shows the camera's state at once. */
  get last(): LoopEvent<R> | undefined {
    return this.#last;
  }

  subscribe(listener: (e: LoopEvent<R>) => void): () => void {
    this.#listeners.add(listener);
    if (this.#last) listener(this.#last);
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#wake?.();
    };
  }

  /** Drops every subscriber and waits until the camera is closed. */
  async stop(): Promise<void> {
    this.#listeners.clear();
    this.#wake?.();
    await this.#running;
  }

  #emit(e: LoopEvent<R>): void {
    this.#last = e;
    for (const l of this.#listeners) l(e);
  }

  /** A sleep that stop() / the last unsubscribe cut short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }

  #fail(err: unknown): void {
    const e = err instanceof CameraError ? err : new CameraError('failed', (err as Error).message);
    this.#emit({ type: 'error', code: e.code, message: e.message, retryInMs: this.#retryMs });
  }

  async #run(): Promise<void> {
    let open = false;
    const period = 1000 / this.source.fps;
    try {
      while (this.#listeners.size > 0) {
        if (!open) {
          try {
            await this.source.open();
            open = true;
          } catch (err) {
            this.#fail(err);
            await this.#sleep(this.#retryMs);
            continue;
          }
        }
        const t0 = performance.now();
        let frame: Frame;
        try {
          frame = await this.source.read();
        } catch (err) {
          this.#fail(err);
          await this.source.close().catch(() => {});
          open = false;
          await this.#sleep(this.#retryMs);
          continue;
        }
        if (this.#listeners.size === 0) break;
        let result: R;
        try {
          result = await this.process(frame);
        } catch (err) {
          // Not the camera's fault (e.g. the model queue is full): say so, keep the camera open.
          this.#fail(err);
          await this.#sleep(this.#retryMs);
          continue;
        }
        this.#emit({ type: 'frame', frame, result });
        await this.#sleep(Math.max(0, period - (performance.now() - t0)));
      }
    } finally {
      this.#last = undefined;
      await this.source.close().catch(() => {});
    }
  }
}
