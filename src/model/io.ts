// Model folders on disk, readable on every backend without tfjs-node:
//   model.json  - format tag, architecture config, weights manifest (tf.io weight specs)
//   weights.bin - the tensors, little-endian float32, in manifest order
//   meta.json   - what a user or the kiosk needs to know: input size, normalisation, thresholds...
// saveModel replaces the folder as a whole (src/util/atomic-dir.ts), and model.json records the
// sha256 of weights.bin, so a folder torn some other way (a half-done copy) is refused, not loaded.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FaceNet } from './facenet.js';
import { ModelConfig, ModelConfigSchema } from './config.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { leftoversOf, writeDirAtomic } from '../util/atomic-dir.js';
import { toHalfBits } from '../util/float16.js';

export const MODEL_FORMAT = 'facegate-embedder/1';

export interface ModelMeta {
  name: string;
  version: string;
  created: string;
  config: ModelConfig;
  /** (p - mean) / std, as config.pixels (written out for readers and other runtimes). */
  normalization: { mean: number; std: number };
  /** Channel order and layout of the expected input crop; FaceNet.preprocess converts from RGB. */
  input: { size: number; channels: 'RGB' | 'BGR'; alignment: 'arcface-5pt' };
  embeddingSize: number;
  parameters: number;
  macs: number;
  /** Recommended decision thresholds (filled in by training/eval). */
  thresholds?: {
    cosine?: { far1e3?: number; bestAccuracy?: number };
    euclidean?: { far1e3?: number; bestAccuracy?: number };
  };
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  [key: string]: unknown;
}

interface ModelJson {
  format: string;
  config: ModelConfig;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  /** sha256 (hex) of weights.bin; absent in folders saved before it was recorded (they load unchecked). */
  weightsSha256?: string;
}

/** Encode named tensors to one buffer + specs (the tf.io weights format). */
export async function encodeTensors(named: [string, tf.Tensor][]): Promise<{ data: Uint8Array; specs: tf.io.WeightsManifestEntry[] }> {
  const map: tf.NamedTensorMap = {};
  for (const [n, t] of named) map[n] = t;
  const { data, specs } = await tf.io.encodeWeights(map);
  return { data: new Uint8Array(data), specs };
}

export function decodeTensors(data: Uint8Array, specs: tf.io.WeightsManifestEntry[]): tf.NamedTensorMap {
  const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return tf.io.decodeWeights(buf, specs);
}

/** Writes tensors as `<base>.json` (specs) + `<base>.bin`; used for checkpoints and optimizer state. */
export async function saveTensorFile(dir: string, base: string, named: [string, tf.Tensor][], extra: Record<string, unknown> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { data, specs } = await encodeTensors(named);
  await writeFileAtomic(path.join(dir, `${base}.bin`), data);
  await writeFileAtomic(path.join(dir, `${base}.json`), JSON.stringify({ ...extra, weights: specs }, null, 1));
}

export async function loadTensorFile(dir: string, base: string): Promise<{ tensors: tf.NamedTensorMap; extra: Record<string, unknown> }> {
  const json = JSON.parse(await readFile(path.join(dir, `${base}.json`), 'utf8')) as { weights: tf.io.WeightsManifestEntry[] } & Record<string, unknown>;
  const data = await readFile(path.join(dir, `${base}.bin`));
  const { weights, ...extra } = json;
  return { tensors: decodeTensors(data, weights), extra };
}

/** Copies named tensors into existing variables, checking names and shapes. */
export function assignVariables(vars: [string, tf.Variable][], tensors: tf.NamedTensorMap, what: string): void {
  for (const [name, v] of vars) {
    const t = tensors[name];
    if (!t) throw new Error(`${what}: missing tensor ${name}`);
    if (!tf.util.arraysEqual(t.shape, v.shape)) throw new Error(`${what}: ${name} has shape [${t.shape}], model expects [${v.shape}]`);
    v.assign(t);
  }
}

export function defaultMeta(net: FaceNet, name: string, version = '1'): ModelMeta {
  return {
    name,
    version,
    created: new Date().toISOString(),
    config: net.config,
    normalization: { mean: net.config.pixels.mean, std: net.config.pixels.std },
    input: { size: net.config.inputSize, channels: net.config.pixels.channels, alignment: 'arcface-5pt' },
    embeddingSize: net.config.embeddingSize,
    parameters: net.params.countTrainable(),
    macs: net.countMacs(),
  };
}

export type WeightQuantization = 'none' | 'float16' | 'uint8';

const FLOAT16_IN_UINT8 = 16_384;

/**
 * Affine uint8 (per tensor) or float16 storage in the tf.io weights format, which
 * tf.io.decodeWeights dequantises on load. Small tensors (BN, PReLU: < 1024 values) stay float32:
 * they are a sliver of the bytes and the most sensitive to rounding. In uint8 mode, tensors of at
 * most 16,384 values and those named in `float16` (see FaceNet.float16Weights) are stored as
 * float16: on the imported MobileFaceNet that is 10% more bytes (1.32 MB) for a worst-crop cosine
 * to the float network of 0.9995 instead of 0.9989 (16 reference crops).
 */
export function quantizeTensors(named: [string, tf.Tensor][], mode: WeightQuantization, float16: ReadonlySet<string> = new Set()): { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] } {
  const parts: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const [name, t] of named) {
    const values = t.dataSync() as Float32Array;
    const spec: tf.io.WeightsManifestEntry = { name, shape: t.shape, dtype: 'float32' };
    if (mode === 'none' || values.length < 1024) {
      parts.push(new Uint8Array(Float32Array.from(values).buffer));
    } else if (mode === 'float16' || float16.has(name) || values.length <= FLOAT16_IN_UINT8) {
      const half = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) half[i] = toHalfBits(values[i]!);
      parts.push(new Uint8Array(half.buffer));
      spec.quantization = { dtype: 'float16' };
    } else {
      let min = Infinity, max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const scale = (max - min) / 255 || 1;
      // Nudge the grid so that 0 is one of its 256 values: zero weights (dead channels) stay zero
      // instead of becoming noise of half a step, which BatchNorm may then amplify.
      if (min < 0 && max > 0) min = -Math.round(-min / scale) * scale;
      const q = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) q[i] = Math.min(255, Math.max(0, Math.round((values[i]! - min) / scale)));
      parts.push(q);
      spec.quantization = { dtype: 'uint8', scale, min };
    }
    specs.push(spec);
  }
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { data, specs };
}

/**
 * Rounds a network's weights as saveModel would store them (uint8/float16), so measurements see
 * what ships; returns the stored bytes.
 */
export function roundTripWeights(net: FaceNet, mode: WeightQuantization): Uint8Array {
  const vars = net.params.all();
  const { data, specs } = quantizeTensors(vars, mode, new Set(net.float16Weights));
  if (mode === 'none') return data;
  const tensors = decodeTensors(data, specs);
  try {
    assignVariables(vars, tensors, 'quantisation round trip');
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return data;
}

/**
 * Saves the embedder (backbone + BN statistics, no ArcFace head) as a model folder. An existing
 * folder is replaced whole: writing its files one by one left, after a crash, new weights under the
 * old model.json (its quantisation ranges, its model id). Other files in it (a run exported into
 * its own folder, curves or a README put next to the model) are kept: `--out` may name any folder.
 */
export async function saveModel(dir: string, net: FaceNet, meta: ModelMeta, opts: { quantize?: WeightQuantization } = {}): Promise<void> {
  const { data, specs } = quantizeTensors(net.params.all(), opts.quantize ?? 'none', new Set(net.float16Weights));
  meta.weights = { quantization: opts.quantize ?? 'none', bytes: data.length };
  const modelJson: ModelJson = {
    format: MODEL_FORMAT,
    config: net.config,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    weightsSha256: createHash('sha256').update(data).digest('hex'),
  };
  // model.json last: where the folder cannot be moved these are written in place, in this order.
  await writeDirAtomic(dir, [
    ['weights.bin', data],
    ['meta.json', JSON.stringify(meta, null, 2) + '\n'],
    ['model.json', JSON.stringify(modelJson, null, 1) + '\n'],
  ]);
}

export async function readMeta(dir: string): Promise<ModelMeta> {
  return JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as ModelMeta;
}

/** Bytes a weights manifest describes (null when a spec's storage is not one we know). */
function manifestBytes(specs: tf.io.WeightsManifestEntry[]): number | null {
  const width: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2, uint16: 2 };
  let n = 0;
  for (const s of specs) {
    const w = width[s.quantization?.dtype ?? s.dtype];
    if (w === undefined || !Array.isArray(s.shape)) return null;
    n += s.shape.reduce((a, b) => a * b, 1) * w;
  }
  return n;
}

/** Loads a model folder; errors name the file at fault and what is wrong with it. */
export async function loadModel(dir: string): Promise<{ net: FaceNet; meta: ModelMeta }> {
  const { config, data, weights } = await readModelFolder(dir);
  const tensors = decodeTensors(data, weights);
  const net = new FaceNet(config);
  try {
    assignVariables(net.params.all(), tensors, dir);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const meta = await readMeta(dir).catch(() => defaultMeta(net, path.basename(dir)));
  return { net, meta };
}

/**
 * Checks a model folder as loadModel would (model.json, its config, the weights' length and
 * sha256) without building the network: what `facegate model use|rollback` run before pointing
 * active.json at it, so a restart does not come up without a model. Throws the same errors.
 */
export async function checkModelFolder(dir: string): Promise<void> {
  await readModelFolder(dir);
}

async function readModelFolder(dir: string): Promise<{ config: ModelConfig; data: Buffer; weights: tf.io.WeightsManifestEntry[] }> {
  const file = path.join(dir, 'model.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    // A crash between saveModel's two renames leaves no folder, the previous one beside it.
    const left = (err as NodeJS.ErrnoException).code === 'ENOENT' ? await leftoversOf(dir).catch(() => []) : [];
    const prev = left.find((l) => l.kind === 'replaced');
    const hint = left.length === 0 ? '' : `; an interrupted save left ${left.map((l) => path.basename(l.path)).join(', ')} beside it: save the model again${prev ? `, or rename ${path.basename(prev.path)} (the model before it) back to ${path.basename(path.resolve(dir))}` : ''}`;
    throw new Error(`no model at ${dir}: ${(err as Error).message}${hint}`);
  }
  let modelJson: ModelJson;
  try {
    modelJson = JSON.parse(text) as ModelJson;
  } catch (err) {
    throw new Error(`${file} is not valid JSON${text.trim() === '' ? ' (the file is empty)' : ''}: ${(err as Error).message}`);
  }
  if (modelJson?.format !== MODEL_FORMAT) throw new Error(`${file}: unknown format "${modelJson?.format}" (expected ${MODEL_FORMAT})`);
  const parsed = ModelConfigSchema.safeParse(modelJson.config);
  if (!parsed.success) throw new Error(`${file}: invalid config: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ')}`);
  const config = parsed.data;
  const group = modelJson.weightsManifest?.[0];
  if (typeof group?.paths?.[0] !== 'string' || !Array.isArray(group.weights)) throw new Error(`${file}: no weights manifest`);
  const weightsFile = path.join(dir, group.paths[0]);
  let data: Buffer;
  try {
    data = await readFile(weightsFile);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${weightsFile} could not be read: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  const need = manifestBytes(group.weights);
  if (need !== null && data.length !== need) {
    throw new Error(`${weightsFile} is ${data.length < need ? 'truncated' : 'longer than its manifest'}: ${data.length} bytes, model.json lists ${need}; copy the model folder again`);
  }
  // Same length is not same weights: another export's weights.bin decodes under this manifest's
  // quantisation ranges into a network that is neither model, under this model's id.
  if (modelJson.weightsSha256 !== undefined) {
    if (typeof modelJson.weightsSha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(modelJson.weightsSha256)) throw new Error(`${file}: weightsSha256 is not a sha256 (64 hex digits)`);
    const sha = createHash('sha256').update(data).digest('hex');
    if (sha !== modelJson.weightsSha256.toLowerCase()) {
      throw new Error(`model folder ${dir}: ${group.paths[0]} does not match model.json (sha256 ${sha.slice(0, 12)}..., model.json records ${modelJson.weightsSha256.slice(0, 12)}...), as an interrupted copy or save leaves it; copy the model folder again or re-export it`);
    }
  }
  return { config, data, weights: group.weights };
}
