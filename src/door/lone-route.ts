// Where a lone request runs when the inference workers are idle: on the main thread with its
// WASM threads on every core, or on a single-threaded worker. Threads win on idle cores (the
// embedding about twice as fast), but lose badly when anything else wants those cores: XNNPACK
// waits for every thread at the end of each of a model's hundred kernels, so one descheduled
// thread stalls them all (npm run bench -- verify --no-match --workers 0 --threads 2: about 25 ms
// p50 on an idle machine, about 200 ms while an `npm run bench -- load` ran beside it; one thread
// about 37 ms idle). So the choice is measured, not assumed: the faster route by a moving
// average of recent full frames (detected and embedded), with the other tried now and then.
// A time taken on the route not in use replaces its old figure instead of blending with it: that
// figure is stale (the cores were busy, or the route was cold), and one fresh look decides.
export type Route = 'here' | 'workers';

export interface LoneRouteOptions {
  /**
   * The other route is tried once at least this many lone requests and exploreAfterMs have passed
   * since the last look. Default 50: at most 2% of a quiet door's requests.
   */
  exploreEvery?: number;
  /**
   * ...and at least this long. Default 10 s: at most one slow look per 10 s however busy the door
   * (a look at an idle worker is often the slowest frame: `npm run bench -- verify` printed lone
   * averages of 45-102 ms for the workers against 28-50 ms for the threads). The route in use is
   * measured on every request, so leaving it when it slows down needs no look; only coming back does.
   */
  exploreAfterMs?: number;
  /** Weight of the newest time in the moving average. Default 0.25. */
  alpha?: number;
  /** Clock (ms), for tests. Default performance.now. */
  now?: () => number;
}

export class LoneRoute {
  readonly #ms: Record<Route, number> = { here: Number.NaN, workers: Number.NaN };
  readonly #every: number;
  readonly #afterMs: number;
  readonly #alpha: number;
  readonly #now: () => number;
  /** Lone requests since the last look at the route not in use, and when that look was. */
  #since = 0;
  #lookedAt = 0;

  constructor(opts: LoneRouteOptions = {}) {
    this.#every = Math.max(2, opts.exploreEvery ?? 50);
    this.#afterMs = Math.max(0, opts.exploreAfterMs ?? 10_000);
    this.#alpha = opts.alpha ?? 0.25;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The faster route by the figures so far ('here' on a tie). */
  #best(): Route {
    return this.#ms.here <= this.#ms.workers ? 'here' : 'workers';
  }

  #look(route: Route): Route {
    this.#since = 0;
    this.#lookedAt = this.#now();
    return route;
  }

  /** The route for the next lone request. */
  pick(): Route {
    // Both measured first; then the faster, and the other once enough requests and time have passed.
    if (Number.isNaN(this.#ms.here)) return 'here';
    if (Number.isNaN(this.#ms.workers)) return this.#look('workers');
    const best = this.#best();
    this.#since++;
    const due = this.#since >= this.#every && this.#now() - this.#lookedAt >= this.#afterMs;
    return due ? this.#look(best === 'here' ? 'workers' : 'here') : best;
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
