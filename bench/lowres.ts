// Low-resolution probes, leave one out: each small/bbt person is enrolled from four of their five
// photos and probed (1:1 against that enrollment) with the fifth: as uploaded (150 px), upscaled
// 3.2x into a 640x480 frame (a small photo shown to the camera), and shrunk to 50 px first (a
// distant face: a third of the detail). Reports each model's genuine scores and decisions.
//   npm run bench -- lowres [--model DIR[,DIR...]]
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { initBackend } from '../src/engine/backend.js';
import { DEFAULT_MODEL_DIR, loadConfig } from '../src/config/index.js';
import { FaceService } from '../src/service/index.js';

const BBT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data/small/bbt');

/** The portrait (first shrunk to `detail` px, if given) scaled up to 480 px, bicubic, in a grey 640x480 frame. */
export async function inFrame(png: Buffer, detail?: number): Promise<Buffer> {
  const src = detail ? await sharp(png).resize(detail, detail).png().toBuffer() : png;
  const face = await sharp(src).resize(480, 480, { kernel: 'cubic' }).toBuffer();
  return sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 118, g: 118, b: 118 } } })
    .composite([{ input: face, left: 80, top: 0 }])
    .jpeg({ quality: 85 })
    .toBuffer();
}

export async function run(args: string[]): Promise<void> {
  const i = args.indexOf('--model');
  const models = i >= 0 && args[i + 1] ? args[i + 1]!.split(',') : [DEFAULT_MODEL_DIR];
  await initBackend({ quiet: true });
  const people = (await readdir(BBT)).filter((d) => existsSync(path.join(BBT, d, `${d}1.png`))).sort();
  for (const model of models) {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-lowres-'));
    const service = await FaceService.open(loadConfig({ env: {}, overrides: { modelDir: path.resolve(model), galleryDir: path.join(tmp, 'gallery') } }), { quiet: true });
    const rows: { kind: string; scores: number[]; granted: number; tried: number }[] = [
      { kind: 'photo as uploaded (150 px)', scores: [], granted: 0, tried: 0 },
      { kind: 'photo upscaled 3.2x in a 640x480 frame', scores: [], granted: 0, tried: 0 },
      { kind: 'photo shrunk to 50 px, then upscaled in the frame', scores: [], granted: 0, tried: 0 },
    ];
    try {
      for (const who of people) {
        const files = (await readdir(path.join(BBT, who))).filter((f) => f.endsWith('.png')).sort();
        const photos = await Promise.all(files.map((f) => readFile(path.join(BBT, who, f))));
        for (let k = 0; k < photos.length; k++) {
          let id: string;
          try {
            const rest = photos.map((bytes, j) => ({ bytes, file: files[j]! })).filter((_, j) => j !== k);
            id = (await service.enroll({ name: `${who}-${k}`, images: rest, confirmDuplicate: true })).identity.id;
          } catch {
            continue; // too few usable photos of this person without photo k
          }
          const png = photos[k]!;
          for (const [v, bytes] of [png, await inFrame(png), await inFrame(png, 50)].entries()) {
            const out = await service.verify(bytes, { claim: id }).catch(() => null);
            if (!out || out.score === null || out.score === undefined) continue;
            rows[v]!.tried++;
            rows[v]!.scores.push(out.score);
            if (out.decision === 'granted') rows[v]!.granted++;
          }
          await service.deleteIdentity(id);
        }
      }
    } finally {
      await service.close();
      await rm(tmp, { recursive: true, force: true });
    }
    console.log(`\n${model}`);
    console.log('| probe | probes | mean score | min score | granted |');
    console.log('|---|---:|---:|---:|---:|');
    for (const r of rows) {
      const mean = r.scores.reduce((a, b) => a + b, 0) / Math.max(1, r.scores.length);
      console.log(`| ${r.kind} | ${r.tried} | ${mean.toFixed(3)} | ${Math.min(...r.scores).toFixed(3)} | ${r.granted}/${r.tried} |`);
    }
  }
}
