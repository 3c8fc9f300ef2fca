// Vision pipeline speed on 640x480 camera-like frames: decode, detect, landmarks, align, quality,
// and tracking the found faces into the next frame (a camera loop's FaceDetector.track), per
// detector: wall-clock p50 / p95 / min, and the main thread's own CPU time per frame (from
// /proc/thread-self/stat: on a shared machine wall time includes waiting for a core, this does
// not). `npm run bench -- vision [--iters N] [--kinds fast,accurate] [--sizes 128,192]`
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend.js';
import {
  type DetectorKind,
  type RgbImage,
  alignFace,
  alignmentTransform,
  assessQuality,
  createFaceDetector,
  decodeImage,
} from '../src/vision/index.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data');

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

/**
 * 640x480 JPEG frames from real photos: head-and-shoulders stills, a two-person shot, a group
 * photo, and biden.jpg centre-cropped to his suit (no face: an idle kiosk frame).
 */
async function makeFrames(): Promise<Buffer[]> {
  const stills = readdirSync(path.join(DATA, 'video/talking-heads')).filter((f) => f.endsWith('.jpg')).map((f) => path.join(DATA, 'video/talking-heads', f));
  const others = ['small/examples/extra/obama/obama-480p.jpg', 'small/examples/misc/two_people.jpg', 'small/bbt/misc/bbt1.jpg', 'small/examples/train/biden/biden.jpg'].map((f) => path.join(DATA, f));
  const frames: Buffer[] = [];
  for (const f of [...stills, ...others]) frames.push(await sharp(f).resize(640, 480, { fit: 'cover' }).jpeg({ quality: 85 }).toBuffer());
  return frames;
}

interface Sample { wall: number; cpu: number }

/** CPU ms charged to this thread so far (Linux; 10 ms ticks, unbiased when summed over many calls). */
function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime + stime at CLK_TCK = 100
  } catch {
    return NaN;
  }
}

function timed<T>(f: () => T): [T, Sample] {
  const c = threadCpuMs();
  const t = performance.now();
  const r = f();
  return [r, { wall: performance.now() - t, cpu: threadCpuMs() - c }];
}
async function timedAsync<T>(f: () => Promise<T>): Promise<[T, Sample]> {
  const c = threadCpuMs();
  const t = performance.now();
  const r = await f();
  return [r, { wall: performance.now() - t, cpu: threadCpuMs() - c }];
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};

/** Same crop through libvips' affine (whole transformed frame, then a 112x112 extract). */
async function alignWithSharp(img: RgbImage, landmarks: [number, number][]): Promise<RgbImage> {
  const m = alignmentTransform(landmarks, 112);
  // libvips sizes the output to the bounding box of the untranslated transform; odx/ody move the content within it.
  const corners = [[0, 0], [img.width, 0], [0, img.height], [img.width, img.height]].map(([x, y]) => [m[0] * x! + m[1] * y!, m[3] * x! + m[4] * y!]);
  const minX = Math.min(...corners.map((c) => c[0]!)), minY = Math.min(...corners.map((c) => c[1]!));
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .affine([m[0], m[1], m[3], m[4]], { odx: m[2], ody: m[5], interpolator: sharp.interpolators.bilinear, background: '#000000' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const left = Math.round(-minX), top = Math.round(-minY);
  const out = new Uint8Array(112 * 112 * 3);
  for (let y = 0; y < 112; y++) {
    for (let x = 0; x < 112; x++) {
      const sx = x + left, sy = y + top;
      if (sx < 0 || sy < 0 || sx >= info.width || sy >= info.height) continue;
      for (let c = 0; c < 3; c++) out[(y * 112 + x) * 3 + c] = data[(sy * info.width + sx) * info.channels + c]!;
    }
  }
  return { data: out, width: 112, height: 112 };
}

export async function run(args: string[]): Promise<void> {
  const iters = Number(arg(args, 'iters', '5'));
  const kinds = arg(args, 'kinds', 'fast,accurate').split(',') as DetectorKind[];
  const sizes = arg(args, 'sizes', '').split(',').filter(Boolean).map(Number);
  const backend = await initBackend({ quiet: true });
  const frames = await makeFrames();
  console.log(`vision bench: ${frames.length} frames 640x480 x ${iters} passes, backend ${backend.name}; tf ops on one thread; load average ${loadavg()[0]!.toFixed(1)} on this shared machine`);

  const configs: { label: string; kind: DetectorKind; size?: number }[] = kinds.map((k) => ({ label: k, kind: k }));
  for (const s of sizes) configs.push({ label: `fast@${s}`, kind: 'fast', size: s });

  const rows: string[][] = [];
  for (const cfg of configs) {
    const det = await createFaceDetector({ kind: cfg.kind, passes: cfg.size ? [{ size: cfg.size, maxAspect: 4 / 3 }] : undefined });
    const st: Record<string, Sample[]> = {
      decode: [], detect: [], landmarks: [], 'track (camera loop: mesh only)': [], align: [], 'align (sharp affine)': [], quality: [], 'frame -> crop': [], 'jpeg -> crop + quality': [],
    };
    let faces = 0, alignDiff = 0, alignN = 0;
    const tensorsBefore = tf.memory().numTensors;
    // Warm-up pass: first calls compile wasm kernels and allocate.
    for (const f of frames.slice(0, 2)) await det.detect(await decodeImage(f));
    for (let it = 0; it < iters; it++) {
      for (const jpeg of frames) {
        const [img, sd] = await timedAsync(() => decodeImage(jpeg));
        const [found, sdet] = await timedAsync(() => det.detect(img));
        const lt = det.lastTimings ?? {};
        // Split the call's CPU between the two phases by their wall-time shares.
        const share = sdet.wall > 0 ? sdet.cpu / sdet.wall : 1;
        st.detect!.push({ wall: lt.detect ?? 0, cpu: (lt.detect ?? 0) * share });
        st.landmarks!.push({ wall: lt.landmarks ?? 0, cpu: (lt.landmarks ?? 0) * share });
        if (found.length && det.track) {
          // The same frame again as the next one of a camera loop: the faces tracked, no box detector.
          const [, strk] = await timedAsync(() => det.track!(img, found));
          st['track (camera loop: mesh only)']!.push(strk);
        }
        const main = found.sort((a, b) => b.box.width - a.box.width)[0];
        let sa: Sample = { wall: 0, cpu: 0 }, sq: Sample = { wall: 0, cpu: 0 };
        if (main) {
          faces++;
          const [crop, s1] = timed(() => alignFace(img, main.landmarks));
          sa = s1;
          const [viaSharp, s2] = await timedAsync(() => alignWithSharp(img, main.landmarks));
          st['align (sharp affine)']!.push(s2);
          for (let i = 0; i < crop.data.length; i++) alignDiff += Math.abs(crop.data[i]! - viaSharp.data[i]!);
          alignN += crop.data.length;
          const [, s3] = timed(() => assessQuality(img, main, found, {}, crop));
          sq = s3;
          st.align!.push(sa);
          st.quality!.push(sq);
        }
        st.decode!.push(sd);
        st['frame -> crop']!.push({ wall: sdet.wall + sa.wall, cpu: sdet.cpu + sa.cpu });
        st['jpeg -> crop + quality']!.push({ wall: sd.wall + sdet.wall + sa.wall + sq.wall, cpu: sd.cpu + sdet.cpu + sa.cpu + sq.cpu });
      }
    }
    const leaked = tf.memory().numTensors - tensorsBefore;
    for (const [stage, xs] of Object.entries(st)) {
      if (!xs.length) continue;
      const w = xs.map((x) => x.wall);
      const cpuMean = xs.reduce((a, x) => a + x.cpu, 0) / xs.length;
      rows.push([cfg.label, stage, pct(w, 0.5).toFixed(1), pct(w, 0.95).toFixed(1), Math.min(...w).toFixed(1), cpuMean.toFixed(1), String(xs.length)]);
    }
    console.log(`  ${cfg.label}: main face found in ${faces}/${frames.length * iters} frames; tensors leaked ${leaked}; own warp vs sharp affine mean |diff| ${(alignDiff / Math.max(1, alignN)).toFixed(2)} levels`);
    det.dispose();
  }
  const head = ['detector', 'stage', 'p50 ms', 'p95 ms', 'min ms', 'thread CPU ms', 'n'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  console.log(`load average at the end ${loadavg()[0]!.toFixed(1)}; thread CPU = mean per frame of this thread's CPU time (10 ms ticks, summed)`);
}
