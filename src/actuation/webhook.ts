// The webhook channel: signed POSTs, one at a time and in order, with a timeout per attempt,
// retries with exponential backoff, and a bounded queue.
//
// Queue policy: when full, the OLDEST waiting event is dropped. Each event is an "open" for
// someone at the door; the newest is the person standing there now, the oldest is the one most
// likely to have walked away (and the first to expire anyway). Refusing the new one would keep the
// door shut for the person present while still opening it late for someone gone.
// Age policy: an event older than maxAgeMs is dropped instead of delivered, whether it waited in
// the queue or between retries; a door that opens late opens for whoever is there then.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookConfig } from './config.js';
import type { Report } from './report.js';
import { EVENT_ID_HEADER, signWebhook } from './signature.js';
import type { ActuationOutcome } from './types.js';

export interface WebhookDelivery {
  status: 'ok' | 'failed' | 'dropped' | 'expired';
  attempts: number;
  httpStatus?: number;
  detail: string;
}

interface Job {
  id: string;
  event: ActuationOutcome['event'];
  body: string;
  /** Monotonic: a wall-clock step (NTP at boot) must not make events look fresh or stale. */
  queuedAt: number;
  resolve(d: WebhookDelivery): void;
}

type Attempt = { ok: true; httpStatus: number } | { ok: false; httpStatus?: number; error: string; retryable: boolean };

/** Worth another try: the receiver may be back in a moment. Other 4xx (a bad signature, say) will not change. */
const retryableStatus = (s: number) => s >= 500 || s === 408 || s === 425 || s === 429;

export class WebhookSender {
  private readonly queue: Job[] = [];
  private pumping: Promise<void> | null = null;
  private readonly closing = new AbortController();

  constructor(
    private readonly cfg: WebhookConfig,
    private readonly report: Report,
  ) {}

  /** Events waiting behind the one in flight. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues one event (body: its JSON); resolves with its final outcome, never rejects. */
  send(id: string, event: Job['event'], body: string): Promise<WebhookDelivery> {
    return new Promise((resolve) => {
      const job: Job = { id, event, body, queuedAt: performance.now(), resolve };
      if (this.closing.signal.aborted) return this.finish(job, { status: 'dropped', attempts: 0, detail: 'webhook: closing; not sent' });
      if (this.queue.length >= this.cfg.queueMax) {
        const oldest = this.queue.shift()!;
        this.finish(oldest, { status: 'dropped', attempts: 0, detail: `webhook: queue full (${this.cfg.queueMax} waiting); dropped the oldest event` });
      }
      this.queue.push(job);
      this.pumping ??= this.pump();
    });
  }

  /** One attempt now, outside the queue: the "test the door" button wants an answer, not a retry schedule. */
  sendNow(id: string, event: Job['event'], body: string): Promise<WebhookDelivery> {
    return new Promise((resolve) => {
      const job: Job = { id, event, body, queuedAt: performance.now(), resolve };
      void this.deliver(job, 0).then((d) => this.finish(job, d));
    });
  }

  /** Drops what waits, aborts what is in flight, and resolves once nothing is left running. */
  async close(): Promise<void> {
    this.closing.abort();
    for (const job of this.queue.splice(0)) this.finish(job, { status: 'dropped', attempts: 0, detail: 'webhook: closing; not sent' });
    await this.pumping;
  }

  private async pump(): Promise<void> {
    let job: Job | undefined;
    while ((job = this.queue.shift())) this.finish(job, await this.deliver(job, this.cfg.retries));
    this.pumping = null;
  }

  private finish(job: Job, d: WebhookDelivery): void {
    this.report({
      channel: 'webhook',
      event: job.event,
      eventId: job.id,
      status: d.status,
      detail: d.detail,
      attempt: d.attempts,
      ...(d.httpStatus !== undefined && { httpStatus: d.httpStatus }),
    });
    job.resolve(d);
  }

  private async deliver(job: Job, retries: number): Promise<WebhookDelivery> {
    const { maxAgeMs, backoffMs } = this.cfg;
    const age = () => performance.now() - job.queuedAt;
    for (let attempt = 1; ; attempt++) {
      if (age() > maxAgeMs) {
        return { status: 'expired', attempts: attempt - 1, detail: `webhook: not delivered within ${maxAgeMs} ms; dropped rather than opening the door late` };
      }
      const r = await this.post(job);
      if (r.ok) return { status: 'ok', attempts: attempt, httpStatus: r.httpStatus, detail: `webhook: delivered (HTTP ${r.httpStatus})${attempt > 1 ? ` on attempt ${attempt}` : ''}` };
      const code = r.httpStatus !== undefined ? { httpStatus: r.httpStatus } : {};
      if (this.closing.signal.aborted) return { status: 'dropped', attempts: attempt, ...code, detail: `webhook: closing; ${r.error}` };
      if (!r.retryable || attempt > retries) {
        return { status: 'failed', attempts: attempt, ...code, detail: `webhook: ${r.error}; gave up after ${attempt} attempt${attempt > 1 ? 's' : ''}` };
      }
      const delay = backoffMs * 2 ** (attempt - 1);
      if (age() + delay > maxAgeMs) {
        return { status: 'expired', attempts: attempt, ...code, detail: `webhook: ${r.error}; a retry would come after ${maxAgeMs} ms, so the event is dropped rather than opening the door late` };
      }
      this.report({ channel: 'webhook', event: job.event, eventId: job.id, status: 'retrying', attempt, ...code, detail: `webhook: ${r.error}; retry ${attempt} of ${retries} in ${delay} ms` });
      await sleep(delay, undefined, { signal: this.closing.signal }).catch(() => undefined);
    }
  }

  private async post(job: Job): Promise<Attempt> {
    // Signed per attempt: the timestamp is when this request leaves, so a retry passes the
    // receiver's tolerance; the body (and its id) stays the same, so the receiver can de-duplicate.
    const headers = { 'content-type': 'application/json', [EVENT_ID_HEADER]: job.id, ...signWebhook(this.cfg.secret, job.body) };
    try {
      const res = await fetch(this.cfg.url, {
        method: 'POST',
        headers,
        body: job.body,
        // A redirect would resend a door command somewhere nobody configured.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.cfg.timeoutMs), this.closing.signal]),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, httpStatus: res.status };
      return { ok: false, httpStatus: res.status, error: `HTTP ${res.status}`, retryable: retryableStatus(res.status) };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError') return { ok: false, error: `no answer within ${this.cfg.timeoutMs} ms`, retryable: true };
      const cause = e.cause?.code ?? e.cause?.message;
      return { ok: false, error: cause ? `${e.message} (${cause})` : e.message, retryable: true };
    }
  }
}
