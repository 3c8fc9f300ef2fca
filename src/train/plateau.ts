// ReduceLROnPlateau as in PyTorch/Keras (the seed used mode 'max' on validation accuracy,
// factor 0.5, patience 2): cut the learning rate when the metric stops improving.
export interface PlateauOptions {
  mode: 'max' | 'min';
  factor: number;
  patience: number;
  /** Relative improvement needed to count as better (PyTorch's threshold, mode 'rel'). */
  threshold?: number;
  minLr?: number;
  cooldown?: number;
}

export interface PlateauState {
  best: number | null;
  badEpochs: number;
  cooldownLeft: number;
}

export class ReduceLROnPlateau {
  state: PlateauState = { best: null, badEpochs: 0, cooldownLeft: 0 };
  constructor(readonly opts: PlateauOptions) {}

  private better(a: number, best: number): boolean {
    const th = this.opts.threshold ?? 1e-4;
    return this.opts.mode === 'max' ? a > best * (1 + Math.sign(best) * th) : a < best * (1 - Math.sign(best) * th);
  }

  /** Feed the epoch's metric; returns the learning rate to use next. */
  step(metric: number, lr: number): number {
    const s = this.state;
    if (!Number.isFinite(metric)) return lr;
    if (s.best === null || this.better(metric, s.best)) {
      s.best = metric;
      s.badEpochs = 0;
    } else {
      s.badEpochs++;
    }
    if (s.cooldownLeft > 0) {
      s.cooldownLeft--;
      s.badEpochs = 0;
    }
    if (s.badEpochs > this.opts.patience) {
      s.badEpochs = 0;
      s.cooldownLeft = this.opts.cooldown ?? 0;
      return Math.max(this.opts.minLr ?? 0, lr * this.opts.factor);
    }
    return lr;
  }
}
