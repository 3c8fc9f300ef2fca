// Prometheus text exposition (format 0.0.4) without a client library: a few counters and
// histograms kept in memory, rendered on GET /metrics, and the middleware that counts requests.
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  return pairs.length ? `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
}

const fmt = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

export class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = JSON.stringify(labels);
    const e = this.#values.get(key) ?? { labels, value: 0 };
    e.value += by;
    this.#values.set(key, e);
  }

  get(labels: Labels = {}): number {
    return this.#values.get(JSON.stringify(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values()) lines.push(`${this.name}${labelText(labels)} ${fmt(value)}`);
    return lines.join('\n');
  }
}

/** Latency buckets in seconds: 1 ms (a match) to 10 s (a large enrollment). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = LATENCY_BUCKETS,
  ) {}

  observe(labels: Labels, value: number): void {
    const key = JSON.stringify(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  count(labels: Labels): number {
    return this.#series.get(JSON.stringify(labels))?.count ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText(s.labels, ['le', fmt(b)])} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${fmt(s.sum)}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export interface Gauge {
  name: string;
  help: string;
  values: { labels?: Labels; value: number }[];
}

function renderGauge(g: Gauge): string {
  const lines = [`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`];
  for (const v of g.values) lines.push(`${g.name}${labelText(v.labels ?? {})} ${fmt(v.value)}`);
  return lines.join('\n');
}

/** The server's metrics. Gauges are read at scrape time from a callback. */
export class Metrics {
  readonly requests = new Counter('facegate_http_requests_total', 'HTTP requests by method, route and status.');
  readonly requestSeconds = new Histogram('facegate_http_request_duration_seconds', 'HTTP request latency by route.');
  readonly stageSeconds = new Histogram('facegate_stage_duration_seconds', 'Pipeline stage latency (decode, queue, detect, align, quality, embed, match, total) by endpoint.');
  readonly decisions = new Counter('facegate_decisions_total', 'Decisions by endpoint and outcome.');

  constructor(private readonly gauges: () => Gauge[] = () => []) {}

  /** Records an endpoint's per-stage milliseconds. */
  observeStages(endpoint: string, timings: object): void {
    for (const [stage, ms] of Object.entries(timings)) if (typeof ms === 'number') this.stageSeconds.observe({ endpoint, stage }, ms / 1000);
  }

  render(): string {
    const parts = [this.requests.render(), this.requestSeconds.render(), this.stageSeconds.render(), this.decisions.render(), ...this.gauges().map(renderGauge)];
    return parts.join('\n') + '\n';
  }
}

/**
 * Counts every request (API and pages) by the matched handler's pattern (/api/identities/:id),
 * never the raw path: ids must not become label values. A request no handler took (only a
 * wildcard middleware such as a guard matched) is 'unmatched'.
 */
export function requestMetrics(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const t0 = performance.now();
    await next();
    const route = routePath(c, -1);
    const label = route === '' || route.endsWith('*') ? 'unmatched' : route;
    metrics.requests.inc({ method: c.req.method, route: label, status: String(c.res.status) });
    metrics.requestSeconds.observe({ route: label }, (performance.now() - t0) / 1000);
  };
}
