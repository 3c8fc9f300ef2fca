// Identity (what the engine's clone() runs, e.g. for every tensor a gradient saves) and Cast to
// the same dtype (tf.moments casts its input) as a shared buffer, as the CPU backend does:
// tensors are immutable, and stock wasm copies the data.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernel, TI } from './ops.js';

function share(backend: unknown, x: TI): TI {
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TI };
    if (x.dtype === 'string') return stockKernel(tf.Identity)({ inputs, backend, attrs });
    return share(backend, x);
  },
};

export const castConfig: tf.KernelConfig = {
  kernelName: tf.Cast,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TI };
    if (x.dtype === 'string' || x.dtype !== (attrs as unknown as tf.CastAttrs).dtype) {
      return stockKernel(tf.Cast)({ inputs, backend, attrs });
    }
    return share(backend, x);
  },
};
