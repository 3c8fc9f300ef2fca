// Seedable PRNG for data order, splits and augmentation. sfc32: fast, good statistical quality,
// and its whole state is four uint32s, so a training checkpoint can store it as JSON and resume exactly.

export type RngState = [number, number, number, number];

/** Anything indexable and writable: plain arrays and typed arrays. */
export interface MutableIndexable<T> {
  length: number;
  [i: number]: T;
}

const TWO_32 = 2 ** 32;

/** murmur3's finaliser: spreads every input bit over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes a list of integers/strings to a uint32 seed, e.g. hashSeed(seed, epoch, position), so derived
 * streams depend only on those values (not on how many numbers some other stream consumed).
 */
export function hashSeed(...parts: (number | string)[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (typeof p === 'number') {
      if (!Number.isSafeInteger(p)) throw new RangeError(`hashSeed: ${p} is not a safe integer`);
      // tag 1 = number, so hashSeed(1) and hashSeed('1') differ; both 32-bit halves so seeds up to 2^53 count
      h = fmix32(Math.imul(h ^ 1, 0x01000193) ^ (p >>> 0));
      h = fmix32(h ^ (Math.floor(p / TWO_32) >>> 0));
    } else {
      h = fmix32(Math.imul(h ^ 2, 0x01000193) ^ p.length);
      for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p.charCodeAt(i), 0x01000193);
      h = fmix32(h);
    }
  }
  return h >>> 0;
}

export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /** Any safe-integer or string seed; it is hashed first, so seeds 1 and 2 give unrelated streams. */
  constructor(seed: number | string = 0) {
    // splitmix32 expands one word into four decorrelated ones; nearby seeds give unrelated streams
    let s = hashSeed(seed);
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      return fmix32(s);
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split() | 1; // sfc32 must never start from all zeros
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** An independent stream for (seed, ...keys), e.g. Rng.derive(seed, 'plan', epoch). */
  static derive(seed: number | string, ...keys: (number | string)[]): Rng {
    return new Rng(hashSeed(seed, ...keys));
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / TWO_32;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO_32 - (TWO_32 % n);
    let x = this.uint32();
    while (x >= limit) x = this.uint32();
    return x % n;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Fisher-Yates in place; returns the same array. */
  shuffle<A extends MutableIndexable<unknown>>(arr: A): A {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  getState(): RngState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  setState(state: RngState): void {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v >= TWO_32)) {
      throw new RangeError('Rng.setState: expected four uint32 values');
    }
    [this.a, this.b, this.c, this.d] = state.map((v) => v | 0) as RngState;
  }
}
