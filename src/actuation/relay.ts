// The relay hook: a local program that drives a GPIO pin or a relay board. Run with execFile, so
// nothing is ever parsed by a shell: the configured argv is passed as is, and what varies per
// event (pulse time, door, event id) goes in the environment, never spliced into arguments.
import { execFile } from 'node:child_process';
import type { RelayConfig } from './config.js';
import type { Report } from './report.js';
import type { ActuationOutcome } from './types.js';

export interface RelayRun {
  status: 'ok' | 'failed' | 'dropped';
  exitCode: number | null;
  detail: string;
}

/** The last line the program wrote to stderr, trimmed: enough to say why it failed in one log line. */
const lastLine = (s: string) => s.trim().split('\n').at(-1)?.slice(0, 200) ?? '';

export class RelayHook {
  private running: Promise<RelayRun> | null = null;

  constructor(
    private readonly cfg: RelayConfig,
    private readonly report: Report,
  ) {}

  get busy(): boolean {
    return this.running !== null;
  }

  /** Pulses the relay; a grant during a pulse adds nothing (the door is already open) and is dropped. */
  pulse(id: string, event: ActuationOutcome['event'], door: string): Promise<RelayRun> {
    const out = (r: RelayRun): RelayRun => {
      this.report({ channel: 'relay', event, eventId: id, status: r.status, exitCode: r.exitCode, detail: r.detail });
      return r;
    };
    if (this.running) return Promise.resolve(out({ status: 'dropped', exitCode: null, detail: 'relay: a pulse is already running' }));
    const [file, ...args] = this.cfg.command as [string, ...string[]];
    const env = { ...process.env, FACEGATE_PULSE_MS: String(this.cfg.pulseMs), FACEGATE_DOOR: door, FACEGATE_EVENT_ID: id };
    this.running = new Promise<RelayRun>((resolve) => {
      // SIGTERM on timeout, so a script can trap it and drop the relay before it exits.
      execFile(file, args, { env, timeout: this.cfg.timeoutMs, maxBuffer: 64 * 1024, shell: false, windowsHide: true }, (err, _stdout, stderr) => {
        if (!err) return resolve({ status: 'ok', exitCode: 0, detail: `relay: pulsed ${this.cfg.pulseMs} ms (exit 0)` });
        const e = err as Error & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals | null };
        const why = lastLine(stderr);
        if (e.killed) return resolve({ status: 'failed', exitCode: null, detail: `relay: killed after ${this.cfg.timeoutMs} ms (${e.signal ?? 'timeout'})` });
        if (typeof e.code === 'number') return resolve({ status: 'failed', exitCode: e.code, detail: `relay: exit ${e.code}${why ? `: ${why}` : ''}` });
        if (e.signal) return resolve({ status: 'failed', exitCode: null, detail: `relay: ended by ${e.signal}` });
        resolve({ status: 'failed', exitCode: null, detail: `relay: cannot run ${file}: ${e.code ?? e.message}` });
      });
    }).then(out);
    void this.running.finally(() => (this.running = null));
    return this.running;
  }

  /** Lets a running pulse finish: killing it half-way could leave the relay (and the door) open. */
  async close(): Promise<void> {
    await this.running;
  }
}
