// Training support for the wasm backend: the conv gradient kernels stock tfjs-backend-wasm
// lacks, faster replacements for stock kernels that dominate a training step, and cheaper
// gradients. Registered when the wasm backend is chosen (after tfjs-core's gradients).
import * as tf from '@tensorflow/tfjs-core';
import { captureStock, stockKernel } from './ops.js';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv2d-grad.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-grad.js';
import { batchMatMulConfig, fusedMatMulConfig } from './matmul.js';
import { fusedBatchNormGradConfig } from './batchnorm-grad.js';
import { meanConfig, sumConfig } from './reduce.js';
import { castConfig, identityConfig } from './identity.js';
import { fusedBatchNormConfig } from './batchnorm-forward.js';
import { preluGradConfig, preluGradKernelConfig } from './prelu-grad.js';
import { meanGradConfig, sumGradConfig } from './reduce-grad.js';
import { transposeConfig } from './transpose.js';
import { batchNormTrainConfig, batchNormTrainGradConfig, batchNormTrainGradKernelConfig } from './batchnorm-train.js';

export { batchNormTraining, type BatchNormTrainingResult } from './batchnorm-train.js';

/** Kernels stock wasm lacks entirely. */
const ADDED: tf.KernelConfig[] = [
  conv2DBackpropFilterConfig, depthwiseBackpropInputConfig, depthwiseBackpropFilterConfig, preluGradKernelConfig,
  batchNormTrainConfig, batchNormTrainGradKernelConfig,
];

/** Faster versions of stock wasm kernels (same semantics). */
const REPLACED: tf.KernelConfig[] = [
  conv2DBackpropInputConfig, batchMatMulConfig, fusedMatMulConfig, sumConfig, meanConfig, identityConfig, castConfig,
  fusedBatchNormConfig, transposeConfig,
];

/** Gradients replacing tfjs-core's (pure tf ops: correct on every backend). */
const GRADIENTS: tf.GradConfig[] = [fusedBatchNormGradConfig, preluGradConfig, sumGradConfig, meanGradConfig];

/** Gradients of our own kernels (nothing to restore for A/B runs). */
const OWN_GRADIENTS: tf.GradConfig[] = [batchNormTrainGradConfig];

let registered = false;
const coreGradients = new Map<string, tf.GradConfig>();

function setKernel(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, 'wasm')) tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
}

/**
 * Idempotent. Needs the wasm backend registered (stock kernels are looked up by name) and
 * tfjs-core's gradients registered first, or theirs would later overwrite ours.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const k of REPLACED) captureStock(k.kernelName); // the fallbacks, before we replace them
  for (const k of [...ADDED, ...REPLACED]) setKernel(k);
  for (const g of GRADIENTS) {
    const core = tf.getGradient(g.kernelName);
    if (core) coreGradients.set(g.kernelName, core);
    tf.registerGradient(g);
  }
  for (const g of OWN_GRADIENTS) tf.registerGradient(g);
  registered = true;
}

/**
 * For A/B benchmarks: put the stock kernels and tfjs-core gradients we replace back (true), or
 * ours (false). The added gradient kernels stay either way: without them nothing trains.
 */
export function useStockReplacements(stock: boolean): void {
  registerWasmTrainingKernels();
  for (const k of REPLACED) {
    setKernel(stock ? { kernelName: k.kernelName, backendName: 'wasm', kernelFunc: stockKernel(k.kernelName) as unknown as tf.KernelFunc } : k);
  }
  for (const g of GRADIENTS) {
    const core = coreGradients.get(g.kernelName);
    if (core) tf.registerGradient(stock ? core : g);
  }
}
