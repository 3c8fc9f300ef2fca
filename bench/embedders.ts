// `npm run bench -- embedders`: embedding throughput of our model against face-api's recognizer,
// same thread, same backend, same real aligned crops (glint), one face at a time and batched.
// This is issue 8's speed target: ours must embed at least twice as many faces per second.
//   npm run bench -- embedders [--model DIR] [--seconds 8] [--batch 8] [--rounds 5]
import { fmt, type BenchSummary } from './summary.js';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend.js';
import { loadModel } from '../src/model/io.js';
import { decodeImage } from '../src/vision/index.js';
import { FaceApiPeer } from '../src/eval/peer-faceapi.js';
import type { RgbImage } from '../src/vision/types.js';

const GLINT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data/train/glint');

async function crops(n: number): Promise<RgbImage[]> {
  const out: RgbImage[] = [];
  for (const who of (await readdir(GLINT)).sort()) {
    for (const f of (await readdir(path.join(GLINT, who))).sort().slice(0, 2)) out.push(await decodeImage(path.join(GLINT, who, f)));
    if (out.length >= n) break;
  }
  return out.slice(0, n);
}

/** Faces per second of `embed` over `batch`-sized calls for about `seconds`, after one warm-up call. */
async function rate(embed: (b: RgbImage[]) => Promise<unknown>, faces: RgbImage[], batch: number, seconds: number): Promise<number> {
  const take = (i: number) => Array.from({ length: batch }, (_, k) => faces[(i * batch + k) % faces.length]!);
  await embed(take(0));
  let done = 0;
  const t0 = performance.now();
  for (let i = 1; performance.now() - t0 < seconds * 1000; i++) {
    await embed(take(i));
    done += batch;
  }
  return (done * 1000) / (performance.now() - t0);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function run(args: string[]): Promise<BenchSummary> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string', default: 'models/facegate-default' },
      seconds: { type: 'string', default: '8' },
      batch: { type: 'string', default: '8' },
      rounds: { type: 'string', default: '5' },
      // Ours with BatchNorm run unfolded: what folding it into the convolutions saves.
      'no-fold': { type: 'boolean', default: false },
    },
  });
  const backend = await initBackend();
  const seconds = Number(values.seconds);
  const batch = Number(values.batch);
  const rounds = Number(values.rounds);
  const faces = await crops(32);
  const { net } = await loadModel(values.model!);
  net.foldBatchNorm = !values['no-fold'];
  const peer = await FaceApiPeer.create({ withDetector: false });
  // The two alternate in short rounds, so a slow spell of the machine (face-api's own rate has
  // moved between 22 and 33 faces/s across runs) hits both sides of a round's ratio alike.
  const rows: { name: string; ours: number[]; theirs: number[] }[] = [];
  for (const b of [1, batch]) {
    const row = { name: `batch ${b}`, ours: [] as number[], theirs: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      row.ours.push(await rate((x) => net.embedCrops(x, b), faces, b, seconds / rounds));
      row.theirs.push(await rate((x) => peer.describeCrops(x, undefined, b), faces, b, seconds / rounds));
    }
    rows.push(row);
  }
  console.log(`backend ${backend.name}; ours = ${values.model} (${net.config.variant} ${net.config.inputSize}px, BatchNorm ${net.foldBatchNorm ? 'folded' : 'unfolded'}), face-api = faceRecognitionNet 150px; real aligned crops; ${rounds} alternating rounds of ${(seconds / rounds).toFixed(1)} s per side`);
  console.log('| calls | ours faces/s | ours ms/face | face-api faces/s | face-api ms/face | ours / face-api, median of rounds (min-max) |');
  console.log('|---|---|---|---|---|---|');
  for (const { name, ours, theirs } of rows) {
    const o = median(ours), t = median(theirs);
    const ratios = ours.map((x, i) => x / theirs[i]!);
    console.log(`| ${name} | ${o.toFixed(1)} | ${(1000 / o).toFixed(1)} | ${t.toFixed(1)} | ${(1000 / t).toFixed(1)} | ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) |`);
  }
  net.dispose();
  return {
    figures: rows.map(({ name, ours, theirs }) => ({
      what: `embeddings per second (aligned crops, ${name}; face-api: its recognizer)`,
      ours: fmt(median(ours)),
      peer: fmt(median(theirs)),
      command: 'npm run bench -- embedders',
    })),
  };
}
