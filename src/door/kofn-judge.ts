// The kiosk's decision rule: the same identity on k of the last n usable frames lets someone in
// (so one lucky frame lets no one in), k "not recognised" frames turn them away, and after either
// the decision stays on screen for a cooldown before the next person is judged. Pure state; the
// caller passes the clock.

/** What one frame showed. */
export type Observation =
  | { kind: 'no_face' }
  /** A face that cannot be judged (quality, several faces): neither for nor against anyone. */
  | { kind: 'unusable' }
  | { kind: 'match'; identityId: string; name: string; score: number }
  | { kind: 'unknown'; score: number | null };

export type Verdict =
  | { kind: 'pending'; have: number; need: number }
  | { kind: 'granted'; identityId: string; name: string; score: number; frames: number; until: number }
  /** identity: whom the frames matched, when the liveness check turned them away (overrule). */
  | { kind: 'denied'; score: number | null; frames: number; until: number; identity?: { id: string; name: string } };

export interface KofN {
  k: number;
  n: number;
}

export interface JudgeOptions {
  /** How long a decision stays on screen, ms. */
  cooldownMs: number;
  /** Votes older than this are forgotten, ms (a person who walked off must not count later). */
  windowMs: number;
}

type Vote = Extract<Observation, { kind: 'match' | 'unknown' }> & { t: number };

const keyOf = (v: Vote) => (v.kind === 'match' ? v.identityId : '');

export class KofNJudge {
  #votes: Vote[] = [];
  #decided: Exclude<Verdict, { kind: 'pending' }> | undefined;

  constructor(readonly opts: JudgeOptions) {}

  /** The decision still on screen at `now`, if any. */
  cooling(now: number): Exclude<Verdict, { kind: 'pending' }> | undefined {
    if (this.#decided && now < this.#decided.until) return this.#decided;
    this.#decided = undefined;
    return undefined;
  }

  /** Takes back a decision and its votes: the liveness check has not let it stand yet. */
  forget(): void {
    this.#decided = undefined;
    this.#votes = [];
  }

  /** Drops the votes so far (another person is in front of the camera: theirs must not count). */
  clearVotes(): void {
    this.#votes = [];
  }

  /**
   * Turns the decision on screen into a denial (the liveness check gave up on it); returns it. It
   * keeps whom the frames matched: the record is that person's (erasing them erases it too).
   */
  overrule(): Exclude<Verdict, { kind: 'pending' }> | undefined {
    const d = this.#decided;
    if (d) this.#decided = { kind: 'denied', score: d.score, frames: d.frames, until: d.until, ...(d.kind === 'granted' ? { identity: { id: d.identityId, name: d.name } } : d.identity ? { identity: d.identity } : {}) };
    return this.#decided;
  }

  observe(o: Observation, now: number, rule: KofN): Verdict {
    const active = this.cooling(now);
    if (active) return active;
    // Nobody in front of the camera: the next face is a new person.
    if (o.kind === 'no_face') this.#votes = [];
    else if (o.kind !== 'unusable') this.#votes.push({ ...o, t: now });
    this.#votes = this.#votes.filter((v) => now - v.t <= this.opts.windowMs).slice(-rule.n);

    const counts = new Map<string, Vote[]>();
    for (const v of this.#votes) counts.set(keyOf(v), [...(counts.get(keyOf(v)) ?? []), v]);
    let best: Vote[] = [];
    for (const vs of counts.values()) if (vs.length > best.length) best = vs;
    if (best.length < rule.k) return { kind: 'pending', have: best.length, need: rule.k };

    const until = now + this.opts.cooldownMs;
    // The latest deciding frame's score (metric-agnostic: for distances lower is better).
    const last = best.at(-1)!;
    this.#decided =
      last.kind === 'match'
        ? { kind: 'granted', identityId: last.identityId, name: last.name, score: last.score, frames: best.length, until }
        : { kind: 'denied', score: last.score, frames: best.length, until };
    this.#votes = [];
    return this.#decided;
  }
}
