// End-to-end verification latency through the service (decode, detect, align, quality, embed,
// match), per stage p50/p95, on real photos: the small/bbt portraits as uploaded (150x150 PNG) and
// 640x480 JPEG camera-like frames made from real stills. Then matcher latency at 1k/10k/100k
// templates, by bench/match.ts (the matcher's own benchmark, not duplicated here).
//   npm run bench -- verify [--iters 60] [--model DIR] [--sizes 1000,10000,100000] [--no-match]
// Without --model: models/facegate-default if present, else a randomly initialised model of the
// default architecture (same compute; the decisions are meaningless but the timings are not).
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import { DEFAULT_MODEL_DIR, loadConfig } from '../src/config/index.js';
import { FaceNet } from '../src/model/facenet.js';
import { defaultMeta, saveModel } from '../src/model/io.js';
import { STAGES, type StageTimings } from '../src/door/index.js';
import { FaceService } from '../src/service/index.js';
import { run as runMatchBench } from './match.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data');
const BBT = path.join(DATA, 'small/bbt');

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};

async function cameraFrames(): Promise<Buffer[]> {
  const dir = path.join(DATA, 'video/talking-heads');
  const stills = readdirSync(dir).filter((f) => f.endsWith('.jpg')).map((f) => path.join(dir, f));
  const extra = ['small/examples/extra/obama/obama-480p.jpg', 'small/examples/train/biden/biden.jpg'].map((f) => path.join(DATA, f));
  return Promise.all([...stills, ...extra].map((f) => sharp(f).resize(640, 480, { fit: 'cover' }).jpeg({ quality: 85 }).toBuffer()));
}

export async function run(args: string[]): Promise<void> {
  const iters = Number(arg(args, 'iters', '60'));
  await initBackend();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-bench-verify-'));
  try {
    let modelDir = arg(args, 'model', DEFAULT_MODEL_DIR);
    let note = '';
    if (!existsSync(path.join(modelDir, 'model.json'))) {
      modelDir = path.join(tmp, 'model');
      const net = FaceNet.create({});
      await saveModel(modelDir, net, defaultMeta(net, 'bench-random', '1'));
      net.dispose();
      note = ' (randomly initialised: no shipped model yet)';
    }
    const service = await FaceService.open(loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, 'gallery'), logDecisions: false } }), { quiet: true });
    try {
      const h = service.health();
      console.log(`model ${h.model.id} ${h.model.variant}${note}; ${h.backend}`);
      const enrol = { amy: [2, 3, 4], howard: [1, 2, 3], raj: [1, 2, 3], leonard: [1, 2, 4] };
      for (const [who, ns] of Object.entries(enrol)) {
        const images = await Promise.all(ns.map(async (n) => ({ bytes: await readFile(path.join(BBT, who, `${who}${n}.png`)) })));
        await service.enroll({ name: who, images, confirmDuplicate: true });
      }
      console.log(`gallery: ${service.listIdentities().length} identities, ${service.health().gallery.templates} templates`);

      const sets: [string, Buffer[]][] = [
        ['bbt photos 150x150 PNG', await Promise.all(['amy/amy5.png', 'howard/howard4.png', 'raj/raj4.png', 'penny/penny1.png', 'stuart/stuart1.png', 'sheldon/sheldon1.png'].map((f) => readFile(path.join(BBT, f))))],
        ['camera frames 640x480 JPEG', await cameraFrames()],
      ];
      const rows: Record<string, string>[] = [];
      for (const [name, frames] of sets) {
        await service.verify(frames[0]!); // warm-up
        const tensors = tf.memory().numTensors;
        const t: Record<string, number[]> = Object.fromEntries(STAGES.map((s) => [s, []]));
        const cpu: number[] = [];
        const decisions = new Map<string, number>();
        for (let i = 0; i < iters; i++) {
          const c0 = process.cpuUsage();
          const out = await service.verify(frames[i % frames.length]!);
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
          decisions.set(out.decision, (decisions.get(out.decision) ?? 0) + 1);
          // Stages that did not run (no face: no embed, no match) are not counted as 0 ms.
          for (const s of STAGES) if (out.timings[s as keyof StageTimings] > 0 || s === 'total') t[s]!.push(out.timings[s as keyof StageTimings]);
        }
        for (const s of STAGES) {
          const xs = t[s]!;
          rows.push({ frames: name, stage: s, n: String(xs.length), 'p50 ms': pct(xs, 0.5).toFixed(2), 'p95 ms': pct(xs, 0.95).toFixed(2) });
        }
        rows.push({ frames: name, stage: 'total CPU time', n: String(cpu.length), 'p50 ms': pct(cpu, 0.5).toFixed(2), 'p95 ms': pct(cpu, 0.95).toFixed(2) });
        console.log(`${name}: ${[...decisions].map(([d, n]) => `${d} ${n}`).join(', ')}; tensors ${tensors} -> ${tf.memory().numTensors}`);
      }
      console.log(`end-to-end verify (${iters} per frame set, one request at a time; wall time, shared machine):`);
      console.table(rows);
    } finally {
      await service.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  if (!args.includes('--no-match')) {
    console.log('\nmatch latency by gallery size (bench/match.ts):');
    await runMatchBench(['--sizes', arg(args, 'sizes', '1000,10000,100000')]);
  }
}
