// Adam (optionally AdamW-style decoupled weight decay) over the flat parameter vector.
// The trainer averages worker gradients into one Float32Array, so the update is a plain loop:
// a few ms for 1-2M parameters, identical on every backend, and its state saves as three arrays.
// Update rule as torch.optim.Adam / AdamW (bias-corrected moments, eps added after correction).
export interface AdamState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW); 0 = plain Adam. */
  weightDecay?: number;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  state: AdamState;

  constructor(size: number, opts: AdamOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.state = { step: 0, m: new Float32Array(size), v: new Float32Array(size) };
  }

  /** In-place update of params with grads; `mask` (1 = decay) limits weight decay to weights. */
  update(params: Float32Array, grads: Float32Array, decayMask?: Uint8Array): void {
    const { m, v } = this.state;
    if (params.length !== m.length || grads.length !== m.length) throw new Error('Adam: size mismatch');
    const t = ++this.state.step;
    const b1 = this.beta1, b2 = this.beta2, eps = this.eps, lr = this.lr;
    const c1 = 1 - Math.pow(b1, t);
    const c2 = 1 - Math.pow(b2, t);
    const stepSize = lr / c1;
    const sqrtC2 = Math.sqrt(c2);
    const decay = lr * this.weightDecay;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i]!;
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
      let p = params[i]!;
      if (decay && (!decayMask || decayMask[i])) p -= decay * p;
      params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtC2 + eps);
    }
  }
}
