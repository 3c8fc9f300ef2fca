// Weight decay by parameter group, the way torch optimisers take it: [{ params, weightDecay }].
// Each layer declared its parameters' group when it made them (ParamStore.param, `decays`): conv,
// dense and ArcFace weights decay; BatchNorm and PReLU parameters never do.
import type * as tf from '@tensorflow/tfjs-core';
import { decays } from '../model/layers.js';
import type { FlatParamGroup } from './adam.js';

export interface ParamGroup {
  params: tf.Variable[];
  weightDecay: number;
}

/** The two groups of a run: declared weights at `weightDecay`, everything else at 0. */
export function weightDecayGroups(vars: readonly [string, tf.Variable][], weightDecay: number): ParamGroup[] {
  const all = vars.map(([, v]) => v);
  return [
    { params: all.filter(decays), weightDecay },
    { params: all.filter((v) => !decays(v)), weightDecay: 0 },
  ];
}

/** The groups as runs of the flat vector that `order` lays out (flat.ts), for the flat Adam. */
export function flatGroups(order: readonly [string, tf.Variable][], groups: readonly ParamGroup[]): FlatParamGroup[] {
  const offsets = new Map<tf.Variable, number>();
  let o = 0;
  for (const [, v] of order) {
    offsets.set(v, o);
    o += v.size;
  }
  return groups.map((g) => ({
    weightDecay: g.weightDecay,
    spans: g.params.map((v): [number, number] => {
      const start = offsets.get(v);
      if (start === undefined) throw new Error('a parameter group holds a variable the flat vector does not');
      return [start, start + v.size];
    }),
  }));
}
