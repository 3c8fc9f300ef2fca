// How node runs the server process (a module of its own: the load bench's client reads it without
// loading the server).
/**
 * The node flags the server runs with (npm start, systemd/facegate.service; the benchmarks start
 * it so). --single-threaded-gc: V8's parallel GC helpers spend more CPU on a collection than the
 * thread does alone, and with both cores busy that CPU is throughput (npm run bench -- load, runs
 * interleaved with -- load --parallel-gc: server CPU 42.5-44.3 against 45.4-46.3 ms per verify,
 * 43.4-45.3 against 41.6-42.5 decisions/s).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
