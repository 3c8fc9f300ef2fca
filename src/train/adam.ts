// Adam (AdamW-style decoupled weight decay per parameter group) over the flat parameter vector.
// The trainer averages worker gradients into one Float32Array, so the update is a plain loop:
// a few ms for 1-2M parameters, identical on every backend, and its state saves as three arrays.
// Update rule as torch.optim.Adam / AdamW (bias-corrected moments, eps added after correction).
export interface AdamState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** torch's param group on the flat vector: runs [start, end) of it and their weight decay. */
export interface FlatParamGroup {
  spans: readonly (readonly [number, number])[];
  weightDecay: number;
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Together they cover every parameter exactly once; default: one group, no weight decay (plain Adam). */
  groups?: FlatParamGroup[];
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly groups: readonly FlatParamGroup[];
  state: AdamState;

  constructor(size: number, opts: AdamOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.groups = opts.groups ?? [{ spans: [[0, size]], weightDecay: 0 }];
    assertPartition(this.groups, size);
    this.state = { step: 0, m: new Float32Array(size), v: new Float32Array(size) };
  }

  /** In-place update of params with (mean) grads. */
  update(params: Float32Array, grads: Float32Array): void {
    const { m, v } = this.state;
    if (params.length !== m.length || grads.length !== m.length) throw new Error('Adam: size mismatch');
    const t = ++this.state.step;
    const b1 = this.beta1, b2 = this.beta2, eps = this.eps, lr = this.lr;
    const c1 = 1 - Math.pow(b1, t);
    const c2 = 1 - Math.pow(b2, t);
    const stepSize = lr / c1;
    const sqrtC2 = Math.sqrt(c2);
    for (const group of this.groups) {
      const decay = lr * group.weightDecay;
      for (const [start, end] of group.spans) {
        for (let i = start; i < end; i++) {
          const g = grads[i]!;
          const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
          const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
          let p = params[i]!;
          if (decay) p -= decay * p;
          params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtC2 + eps);
        }
      }
    }
  }
}

/** A parameter left out would silently never train; one in two groups would step twice. */
function assertPartition(groups: readonly FlatParamGroup[], size: number): void {
  const seen = new Uint8Array(size);
  for (const g of groups) {
    for (const [start, end] of g.spans) {
      if (start < 0 || end > size || start > end) throw new Error(`Adam: span [${start}, ${end}) outside the ${size} parameters`);
      for (let i = start; i < end; i++) if (seen[i]++) throw new Error(`Adam: parameter ${i} is in two groups`);
    }
  }
  const missing = seen.indexOf(0);
  if (missing >= 0) throw new Error(`Adam: parameter ${missing} is in no group`);
}
