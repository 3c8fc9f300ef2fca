// How node runs the server process (a module of its own: the load bench's client reads it without
// loading the server).
/**
 * The node flags the server runs with (npm start, systemd/facegate.service; the benchmarks start
 * it so). --single-threaded-gc: V8's parallel GC helpers cost about 3 ms of CPU per verify here
 * for work that takes about 1 ms on the thread itself; with both cores busy that CPU is throughput
 * (npm run bench -- load: 45.3 and 45.0 decisions/s with it, 41.6 and 42.5 without, interleaved).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
