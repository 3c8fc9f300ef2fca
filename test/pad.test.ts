// Presentation-attack detection on real data: frames of a talking-head clip (d9.mp4, a man
// talking and blinking; shared/data/video/talking-heads) against a still frame of the same clip
// printed and moved by a hand in 3-D (src/pad/attack-set.ts). Frame 7-8 of d9 at 15 fps have
// both eyes shut (checked by eye); frames 106-135 have no blink but talking and turning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { TALKING_HEADS, extractClipFrames, renderAttack } from '../src/pad/attack-set.js';
import { toRaw } from '../src/pad/attack-render.js';
import { detectBlinks } from '../src/pad/blink.js';
import { PadSettingsSchema, padSettings } from '../src/pad/config.js';
import { cuesOf } from '../src/pad/cues.js';
import { eyeAspectRatio } from '../src/pad/eyes.js';
import { FrameAnalyzer, type FrameObservation } from '../src/pad/frame-analysis.js';
import { type Homography, applyH, fitPlaneMap, rmsResidual } from '../src/pad/homography.js';
import { PROMPT_TEXT, assessLiveness, gatherEvidence } from '../src/pad/liveness.js';
import { MeshLandmarker } from '../src/pad/mesh-landmarks.js';
import { chooseThreshold, clopperPearson, padErrorRates } from '../src/pad/metrics.js';
import { PassiveModels, humanFaceCrop } from '../src/pad/passive.js';
import { LivenessSession } from '../src/pad/session.js';
import { createFaceDetector } from '../src/vision/detector.js';
import type { RgbImage } from '../src/vision/types.js';
import { ffmpeg, needs } from './fixtures/tools.js';

const FFMPEG = ffmpeg();
const noFfmpeg = needs([FFMPEG], 'the test extracts frames of a talking-head clip');
const FPS = 15;

let tmp = '';
let files: string[] = [];
let landmarker: MeshLandmarker;
let analyzer: FrameAnalyzer;
const observed = new Map<string, FrameObservation[]>();

async function observe(images: RgbImage[]): Promise<FrameObservation[]> {
  return images.map((img, k) => analyzer.analyze(img, (k * 1000) / FPS));
}

/** Frames [from, from + n) of d9 (0-based), observed. */
async function clip(from: number, n: number): Promise<FrameObservation[]> {
  const key = `clip ${from}+${n}`;
  if (!observed.has(key)) {
    const imgs = await Promise.all(files.slice(from, from + n).map((f) => toRaw(path.join(tmp, f))));
    observed.set(key, await observe(imgs));
  }
  return observed.get(key)!;
}

/** Frame 0 of d9 printed and moved in front of the camera for 2 s (the builder's print attack). */
async function movedPrint(): Promise<FrameObservation[]> {
  if (!observed.has('print')) {
    const photo = await toRaw(path.join(tmp, files[0]!));
    const jpegs = await renderAttack({ kind: 'print', photo, frameWidth: photo.width, frameHeight: photo.height, frames: 30, fps: FPS, seed: 'test/print/d9' });
    observed.set('print', await observe(await Promise.all(jpegs.map((j) => toRaw(j)))));
  }
  return observed.get('print')!;
}

before(async () => {
  if (noFfmpeg) return;
  tmp = await mkdtemp(path.join(tmpdir(), 'facegate-pad-'));
  files = await extractClipFrames('d9', tmp, FPS, TALKING_HEADS, FFMPEG.path!);
  landmarker = await MeshLandmarker.load();
  analyzer = new FrameAnalyzer(landmarker);
});

after(async () => {
  landmarker?.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const settings = padSettings();

test('blink: found in a clip segment where the man blinks, not in a moved print of his face', { skip: noFfmpeg }, async () => {
  const live = await clip(0, 30);
  assert.equal(live.filter((f) => f.face).length, 30, 'the mesh finds his face in every frame');
  const blinks = detectBlinks(live.map((f) => ({ t: f.t, ear: f.face ? eyeAspectRatio(f.face.points).mean : NaN })), settings.thresholds.blink);
  assert.ok(blinks.length >= 1, 'at least one blink');
  // Frames 7-8 (1-based), i.e. 0.40-0.47 s, have his eyes shut.
  assert.ok(blinks.some((b) => b.closedFrom <= 467 && b.closedTo >= 400), `a blink spans frames 7-8: ${JSON.stringify(blinks)}`);
  assert.ok(blinks[0]!.depth < 0.7);

  const print = await movedPrint();
  assert.ok(print.filter((f) => f.face).length >= 28, 'the printed face is found');
  assert.equal(detectBlinks(print.map((f) => ({ t: f.t, ear: f.face ? eyeAspectRatio(f.face.points).mean : NaN })), settings.thresholds.blink).length, 0);
});

test('motion cue: a moved print fits one plane; a talking, turning face does not', { skip: noFfmpeg }, async () => {
  const print = gatherEvidence(cuesOf(await movedPrint(), settings.thresholds.motion.lagMs), settings);
  const talk = gatherEvidence(cuesOf(await clip(105, 30), settings.thresholds.motion.lagMs), settings);
  // The print really moved, about as much as the talking head: the cue is not reading stillness.
  assert.ok(print.motion.motion > 0.03, `print motion ${print.motion.motion}`);
  assert.ok(print.motion.motion > 0.5 * talk.motion.motion, `print ${print.motion.motion} vs talk ${talk.motion.motion}`);
  assert.ok(print.motion.score < settings.thresholds.motion.minScore, `print motion score ${print.motion.score}`);
  assert.ok(talk.motion.score >= settings.thresholds.motion.minScore, `talk motion score ${talk.motion.score}`);
  assert.ok(talk.motion.ratio > 2 * print.motion.ratio, `ratio talk ${talk.motion.ratio} vs print ${print.motion.ratio}`);
  // A flat photo keeps its apparent yaw however it is tilted; his head turned.
  assert.ok(print.yawChange < settings.thresholds.headTurnDeg, `print yaw change ${print.yawChange}`);
  assert.ok(talk.yawChange >= settings.thresholds.headTurnDeg, `talk yaw change ${talk.yawChange}`);

  const vPrint = assessLiveness(await movedPrint(), settings);
  assert.equal(vPrint.live, false);
  assert.equal(vPrint.state, 'undecided');
  assert.equal(vPrint.prompt, 'blink');
  assert.equal(vPrint.promptText, 'blink, please');
  assert.ok(vPrint.reasons.some((r) => r.includes('one plane')), vPrint.reasons.join('; '));
  const vTalk = assessLiveness(await clip(105, 30), settings);
  assert.equal(vTalk.live, true);
  assert.equal(vTalk.score, 1);
});

test('session: a moved print is asked to blink, then to turn, then refused; a blinking face is live', { skip: noFfmpeg }, async () => {
  const quick = PadSettingsSchema.parse({ requireLiveness: true, timing: { decideAfterMs: 500, promptTimeoutMs: 500 } });
  const s = new LivenessSession(quick);
  const seen: (string | null)[] = [];
  let last;
  for (const f of await movedPrint()) {
    last = s.push(f);
    if (seen.at(-1) !== last.promptText) seen.push(last.promptText);
  }
  assert.deepEqual(seen, [null, PROMPT_TEXT.blink, PROMPT_TEXT.turn, null]);
  assert.equal(last!.state, 'attack');
  assert.equal(last!.live, false);
  assert.ok(last!.reasons.includes('no liveness evidence after the prompts'));

  // The blink alone: with the motion cue switched off, his first blink (frames 7-8) decides.
  const live = new LivenessSession(PadSettingsSchema.parse({ ...quick, thresholds: { motion: { minScore: 0.999 } } }));
  let v;
  for (const f of await clip(0, 30)) v = live.push(f);
  assert.equal(v!.live, true);
  assert.equal(v!.method, 'blink');
  assert.ok(v!.evidence.blinks[0]!.closedFrom >= 333 && v!.evidence.blinks[0]!.closedTo <= 667, JSON.stringify(v!.evidence.blinks));
  // A face gone for longer than faceLostMs starts a new session.
  const after = live.push({ t: 2000 + quick.timing.faceLostMs + 1, face: null });
  assert.equal(after.live, false);
  assert.equal(live.currentPhase, 'idle');
});

test('session: a turn that changes identity is not a turn', { skip: noFfmpeg }, async () => {
  const frames = (await clip(105, 30)).map((f, k) => ({ ...f, identity: k < 15 ? 0.8 : 0.1 }));
  const strict = PadSettingsSchema.parse({ thresholds: { motion: { minScore: 0.999 } } });
  const v = assessLiveness(frames, strict);
  assert.equal(v.evidence.identityMin, 0.1);
  assert.notEqual(v.method, 'head-turn');
  assert.ok(v.reasons.some((r) => r.includes('identity changed')), v.reasons.join('; '));
  const same = assessLiveness(frames.map((f) => ({ ...f, identity: 0.8 })), strict);
  assert.equal(same.method, 'head-turn');
});

test('passive models: load on our engine, score a real face crop in [0, 1], leak no tensors', { skip: noFfmpeg }, async () => {
  const models = await PassiveModels.load();
  try {
    const img = await toRaw(path.join(tmp, files[0]!));
    const face = landmarker.detect(img);
    assert.ok(face, 'a face in frame 1');
    const crop = humanFaceCrop(img, face.box);
    assert.deepEqual([crop.width, crop.height], [192, 192]);
    const before = tf.memory().numTensors;
    const one = models.scoreCrops([crop])[0]!;
    const two = models.scoreCrops([crop, crop]);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    for (const x of [one.antispoof, one.liveness, one.livenessOther]) assert.ok(x >= 0 && x <= 1, `score ${x}`);
    assert.ok(Math.abs(one.liveness + one.livenessOther - 1) < 1e-4, 'the liveness head is a softmax');
    assert.ok(Math.abs(two[1]!.antispoof - one.antispoof) < 1e-4 && Math.abs(two[0]!.liveness - one.liveness) < 1e-4, 'batched = single');
    // Not a constant: a flat grey square scores differently.
    const grey = { data: new Uint8Array(192 * 192 * 3).fill(128), width: 192, height: 192 };
    const g = models.scoreCrops([grey])[0]!;
    assert.ok(Math.abs(g.antispoof - one.antispoof) > 1e-3 || Math.abs(g.liveness - one.liveness) > 1e-3);
  } finally {
    models.dispose();
  }
});

test('kiosk wiring: the kiosk detector\'s face gives the same mesh as the bench\'s own detection', { skip: noFfmpeg }, async () => {
  const detector = await createFaceDetector({ kind: 'fast' });
  try {
    for (const f of [files[0]!, files[120]!]) {
      const img = await toRaw(path.join(tmp, f));
      const faces = await detector.detect(img);
      assert.equal(faces.length, 1);
      const viaKiosk = analyzer.analyzeFace(img, faces[0]!, 0).face!;
      const own = analyzer.analyze(img, 0).face!;
      let gap = 0;
      for (let k = 0; k < 468; k++) gap = Math.max(gap, Math.hypot(viaKiosk.points[k * 3]! - own.points[k * 3]!, viaKiosk.points[k * 3 + 1]! - own.points[k * 3 + 1]!));
      assert.ok(gap < 0.01 * own.box.width, `largest point gap ${gap.toFixed(2)} px`);
    }
  } finally {
    detector.dispose();
  }
});

test('metrics: APCER per attack type and BPCER (ISO/IEC 30107-3) on a hand-made example', () => {
  const r = padErrorRates([
    // 4 prints, one let through; 2 replays, none; 5 bona fide, two refused.
    { kind: 'print', live: true }, { kind: 'print', live: false }, { kind: 'print', live: false }, { kind: 'print', live: false },
    { kind: 'replay', live: false }, { kind: 'replay', live: false },
    { kind: 'bona-fide', live: true }, { kind: 'bona-fide', live: false }, { kind: 'bona-fide', live: true }, { kind: 'bona-fide', live: false }, { kind: 'bona-fide', live: true },
  ]);
  assert.deepEqual([r.apcer.print!.errors, r.apcer.print!.total, r.apcer.print!.rate], [1, 4, 0.25]);
  assert.deepEqual([r.apcer.replay!.errors, r.apcer.replay!.total, r.apcer.replay!.rate], [0, 2, 0]);
  assert.deepEqual([r.bpcer.errors, r.bpcer.total, r.bpcer.rate], [2, 5, 0.4]);
  assert.equal(r.maxApcer, 0.25);
  // Exact binomial intervals: 0/2 -> [0, 1 - 0.025^(1/2)]; 1/4 -> [0.0063, 0.8059].
  assert.ok(Math.abs(r.apcer.replay!.ci95[1] - (1 - Math.sqrt(0.025))) < 1e-6);
  const [lo, hi] = clopperPearson(1, 4);
  assert.ok(Math.abs(lo - 0.00631) < 1e-4 && Math.abs(hi - 0.80588) < 1e-4, `${lo} ${hi}`);

  // Threshold: the lowest BPCER with every type's APCER <= 0.25, halfway into the score gap.
  const scored = [
    { kind: 'print', score: 0.1 }, { kind: 'print', score: 0.3 }, { kind: 'print', score: 0.5 }, { kind: 'print', score: 0.7 },
    { kind: 'replay', score: 0.2 },
    { kind: 'bona-fide', score: 0.4 }, { kind: 'bona-fide', score: 0.6 }, { kind: 'bona-fide', score: 0.9 },
  ];
  assert.equal(chooseThreshold(scored, 0.25), 0.55); // accepts the 0.7 print only: APCER print 1/4
  assert.equal(chooseThreshold(scored, 0), 0.8); // nothing but the 0.9 bona fide
});

test('homography: recovers a known plane map from points, and leaves non-planar motion as residual', () => {
  const H: Homography = [1.1, 0.05, 12, -0.04, 0.95, -7, 0.0004, -0.0002, 1];
  const n = 40;
  const x1 = new Float64Array(n), y1 = new Float64Array(n), x2 = new Float64Array(n), y2 = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    x1[k] = 100 + ((k * 37) % 200);
    y1[k] = 80 + ((k * 53) % 240);
    [x2[k], y2[k]] = applyH(H, x1[k]!, y1[k]!);
  }
  const fit = fitPlaneMap(x1, y1, x2, y2)!;
  assert.ok(rmsResidual(fit, x1, y1, x2, y2) < 1e-6);
  for (let i = 0; i < 9; i++) assert.ok(Math.abs(fit[i]! - H[i]!) < 1e-6 * Math.max(1, Math.abs(H[i]!)), `h${i}`);
  // An affine map is a homography too; the affine model fits it exactly and the general one agrees.
  const A: Homography = [0.9, -0.1, 5, 0.12, 1.05, -3, 0, 0, 1];
  const ax = Float64Array.from(x1, (x, k) => applyH(A, x, y1[k]!)[0]), ay = Float64Array.from(x1, (x, k) => applyH(A, x, y1[k]!)[1]);
  assert.ok(rmsResidual(fitPlaneMap(x1, y1, ax, ay, 'affine')!, x1, y1, ax, ay) < 1e-6);
  assert.ok(rmsResidual(fitPlaneMap(x1, y1, x2, y2, 'affine')!, x1, y1, x2, y2) > 0.1, 'a projective map is not affine');
  // Move a quarter of the points off the plane by 3 px: the residual shows it.
  for (let k = 0; k < n; k += 4) x2[k] = x2[k]! + 3;
  const bent = fitPlaneMap(x1, y1, x2, y2)!;
  assert.ok(rmsResidual(bent, x1, y1, x2, y2) > 1);
});

test('settings: defaults parse, typos are rejected', () => {
  const s = padSettings();
  assert.equal(s.requireLiveness, false);
  assert.equal(s.mode, 'active');
  assert.ok(s.thresholds.motion.minScore > 0 && s.thresholds.motion.minScore < 1);
  assert.equal(padSettings({ mode: 'both', thresholds: { headTurnDeg: 20 } }).thresholds.headTurnDeg, 20);
  assert.throws(() => PadSettingsSchema.parse({ requireLiveliness: true }));
  assert.throws(() => PadSettingsSchema.parse({ mode: 'strict' }));
  assert.throws(() => PadSettingsSchema.parse({ thresholds: { blink: { closeRatio: 1.5 } } }));
});

test('attack set: the same seed renders the same frames', { skip: noFfmpeg }, async () => {
  const photo = await toRaw(path.join(tmp, files[0]!));
  const spec = { kind: 'replay' as const, photo, frameWidth: photo.width, frameHeight: photo.height, frames: 3, fps: FPS, seed: 'test/replay' };
  const a = await renderAttack(spec), b = await renderAttack(spec), c = await renderAttack({ ...spec, seed: 'test/other' });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});
