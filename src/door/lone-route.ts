// Where a lone request runs when the inference workers are idle: on the main thread with its
// WASM threads on every core, or on a single-threaded worker. Threads win on idle cores (the
// embedding about twice as fast), but lose badly when anything else wants those cores: XNNPACK
// waits for every thread at the end of each of a model's hundred kernels, so one descheduled
// thread stalls them all (npm run bench -- verify --no-match --workers 0 --threads 2: about 25 ms
// p50 on an idle machine, about 200 ms while an `npm run bench -- load` ran beside it; one thread
// about 37 ms idle). So the choice is measured, not assumed: the faster route by a moving
// average of recent full frames (detected and embedded), with the other tried every 50th time.
// A time taken on the route not in use replaces its old figure instead of blending with it: that
// figure is stale (the cores were busy, or the route was cold), and one fresh look decides.
export type Route = 'here' | 'workers';

export interface LoneRouteOptions {
  /**
   * Every n-th lone request takes the other route, to notice when it became the faster. Default 50:
   * 2%, out of an idle door's p95; the route in use is measured on every request, so leaving it
   * when it slows down needs no exploring, only coming back does.
   */
  exploreEvery?: number;
  /** Weight of the newest time in the moving average. Default 0.25. */
  alpha?: number;
}

export class LoneRoute {
  readonly #ms: Record<Route, number> = { here: Number.NaN, workers: Number.NaN };
  readonly #every: number;
  readonly #alpha: number;
  #lone = 0;

  constructor(opts: LoneRouteOptions = {}) {
    this.#every = Math.max(2, opts.exploreEvery ?? 50);
    this.#alpha = opts.alpha ?? 0.25;
  }

  /** The faster route by the figures so far ('here' on a tie). */
  #best(): Route {
    return this.#ms.here <= this.#ms.workers ? 'here' : 'workers';
  }

  /** The route for the next lone request. */
  pick(): Route {
    this.#lone++;
    // Both measured first; then the faster, and the other every n-th time.
    if (Number.isNaN(this.#ms.here)) return 'here';
    if (Number.isNaN(this.#ms.workers)) return 'workers';
    const best = this.#best();
    return this.#lone % this.#every === 0 ? (best === 'here' ? 'workers' : 'here') : best;
  }

  /** A full frame's analysis time (detect and embed ran) on `route`. */
  record(route: Route, ms: number): void {
    const prev = this.#ms[route];
    const inUse = !Number.isNaN(this.#ms.here) && !Number.isNaN(this.#ms.workers) && route === this.#best();
    this.#ms[route] = inUse ? prev + this.#alpha * (ms - prev) : ms;
  }

  /** The moving averages (ms; NaN until measured), for health and benchmarks. */
  get averages(): Readonly<Record<Route, number>> {
    return { ...this.#ms };
  }
}
