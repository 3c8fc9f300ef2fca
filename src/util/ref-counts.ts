// How many users each key has (a model version in flight on the pool and in a worker): the
// last one to let go learns it, so the owner can dispose what nobody uses any more.
export class RefCounts<K> {
  readonly #counts = new Map<K, number>();

  hold(key: K | null): void {
    if (key !== null) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Lets go of one use; true when that was the last. */
  drop(key: K | null): boolean {
    if (key === null) return false;
    const n = (this.#counts.get(key) ?? 1) - 1;
    if (n > 0) {
      this.#counts.set(key, n);
      return false;
    }
    this.#counts.delete(key);
    return true;
  }

  has(key: K): boolean {
    return this.#counts.has(key);
  }
}
