// Server-side cameras: the camera setting's parser, the replay camera on a real talking-head video
// (ffmpeg) and on a folder of photos (sharp), the V4L2 device camera on this machine (which has no
// camera: it must say so, not hang or invent frames), the loop that runs a camera while someone
// watches, and the kiosk's SSE stream fed by a replayed video.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CameraError, CameraLoop, DeviceCamera, ReplayCamera, parseCameraSource, type LoopEvent } from '../src/camera/index.js';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { createApp } from '../src/http/index.js';
import { FaceService } from '../src/service/index.js';
import type { KioskView } from '../src/door/index.js';
import { BBT, PASSWORD, PageClient, VIDEOS, randomModel } from './fixtures/web/harness.js';
import { ffmpeg } from './fixtures/tools.js';

// The replay camera extracts a video's frames with ffmpeg (.ci/run installs it).
const noFfmpeg = ffmpeg().skip;
const VIDEO = path.join(VIDEOS, 'd9.mp4');

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-camera-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test('the camera setting: browser by default, V4L2 device paths only, absolute replay paths', () => {
  assert.deepEqual(parseCameraSource('auto'), { kind: 'browser' });
  assert.deepEqual(parseCameraSource(' browser '), { kind: 'browser' });
  assert.deepEqual(parseCameraSource('device'), { kind: 'device', device: '/dev/video0' });
  assert.deepEqual(parseCameraSource('device:/dev/video2'), { kind: 'device', device: '/dev/video2' });
  assert.deepEqual(parseCameraSource('device:/dev/v4l/by-id/usb-Logitech_C920-video-index0'), { kind: 'device', device: '/dev/v4l/by-id/usb-Logitech_C920-video-index0' });
  assert.deepEqual(parseCameraSource('replay:/srv/demo.mp4'), { kind: 'replay', path: '/srv/demo.mp4' });
  // The device string reaches a shell command line (node-webcam): nothing but a device path passes.
  for (const bad of ['device:/dev/video0; rm -rf /', 'device:/etc/passwd', 'device:/dev/video0 -x', 'replay:relative.mp4', 'webcam', '']) {
    assert.throws(() => parseCameraSource(bad), CameraError, bad);
  }
});

test('replay camera: frames of a real video as JPEGs of the configured width, looping', { skip: noFfmpeg }, async () => {
  const cam = new ReplayCamera(VIDEO, { fps: 4, width: 320, maxSeconds: 2 });
  await cam.open();
  try {
    // 2 s at 4 fps.
    assert.ok(cam.frames >= 7 && cam.frames <= 9, `frames: ${cam.frames}`);
    const first = await cam.read();
    assert.equal(first.index, 0);
    assert.deepEqual([...first.jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    const meta = await sharp(first.jpeg).metadata();
    assert.equal(meta.width, 320);
    assert.equal(meta.height, 300, 'the 512x480 video keeps its aspect');
    let last = first;
    for (let i = 1; i <= cam.frames; i++) last = await cam.read();
    assert.equal(last.index, cam.frames, 'indices keep counting across the loop');
    assert.deepEqual(last.jpeg, first.jpeg, 'after the last frame the replay starts again');
  } finally {
    await cam.close();
  }
  const once = new ReplayCamera(VIDEO, { fps: 2, width: 160, maxSeconds: 1, loop: false });
  await once.open();
  for (let i = 0; i < once.frames; i++) await once.read();
  await assert.rejects(once.read(), /ended/);
  await once.close();
});

test('replay camera: a folder of photos, resized to JPEG; missing sources are CameraError("missing")', async () => {
  // The photos are 150 px: resized down to 120, never up.
  const cam = new ReplayCamera(path.join(BBT, 'amy'), { width: 120 });
  await cam.open();
  assert.equal(cam.frames, 5);
  const f = await cam.read();
  const meta = await sharp(f.jpeg).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(meta.width, 120);
  await cam.close();
  const missing = new ReplayCamera(path.join(tmp, 'nope.mp4'));
  await assert.rejects(missing.open(), (e: unknown) => e instanceof CameraError && e.code === 'missing');
  const empty = new ReplayCamera(tmp);
  await assert.rejects(empty.open(), (e: unknown) => e instanceof CameraError && e.code === 'failed' && /no frames/.test(e.message));
});

const hasCamera = existsSync('/dev/video0') && 'skipped: this machine has /dev/video0, so the missing-camera path cannot be shown here';

test('device camera: with no camera here, opening fails as "missing" with what to do, and leaves no files', { skip: hasCamera }, async () => {
  const cam = new DeviceCamera('/dev/video0', { width: 320, height: 240 });
  const err = await cam.open().then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof CameraError, String(err));
  assert.equal(err.code, 'missing');
  // Either fswebcam is absent, or it ran, exited 0 and wrote nothing: both are named.
  assert.match(err.message, /fswebcam is not installed|no frame from \/dev\/video0/);
  await cam.close();
});

test('camera loop: runs while subscribed, reports a missing camera and retries, stops with the last subscriber', async () => {
  // A missing camera: errors, retried.
  const missing = new CameraLoop(new ReplayCamera(path.join(tmp, 'not-there')), async () => 1, { retryMs: 20 });
  const errors: LoopEvent<number>[] = [];
  const off = missing.subscribe((e) => errors.push(e));
  await new Promise((r) => setTimeout(r, 150));
  off();
  await missing.stop();
  assert.ok(errors.length >= 2, `retried: ${errors.length} errors`);
  assert.ok(errors.every((e) => e.type === 'error' && e.code === 'missing'));
  assert.equal(missing.running, false);

  // A folder replay: frames go through the processing function, in order.
  const seen: number[] = [];
  const loop = new CameraLoop(new ReplayCamera(path.join(BBT, 'raj'), { fps: 50, width: 100 }), async (f) => (await sharp(f.jpeg).metadata()).width!);
  const frames = await new Promise<LoopEvent<number>[]>((resolve) => {
    const got: LoopEvent<number>[] = [];
    const unsubscribe = loop.subscribe((e) => {
      got.push(e);
      if (e.type === 'frame') seen.push(e.frame.index);
      if (got.length === 6) {
        unsubscribe();
        resolve(got);
      }
    });
  });
  assert.ok(frames.every((e) => e.type === 'frame' && e.result === 100));
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  await loop.stop();
  assert.equal(loop.running, false);
});

test('kiosk SSE: a replayed video as the server camera reaches the page as frames with face states', { skip: noFfmpeg }, async () => {
  await initBackend({ quiet: true });
  const modelDir = await randomModel(path.join(tmp, 'model'));
  const config = loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, 'gallery') } });
  const service = await FaceService.open(config, { quiet: true });
  const { app, close } = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'camera-test-secret'.repeat(3) }, web: { sseMaxMs: 60_000 } });
  try {
    await service.updateSettings({ camera: { source: `replay:${VIDEO}`, width: 320, fps: 4 } });
    const c = new PageClient(app);
    const page = await c.get('/');
    assert.match(page.text, /data-camera="server"/);
    assert.match(page.text, /data-camera-label="replay d9\.mp4"/);
    const res = await app.request('/kiosk/events', { headers: { cookie: [...c.jar].map(([k, v]) => `${k}=${v}`).join('; ') } }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as never);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const reader = res.body!.getReader();
    const events: { view: KioskView; image: string | null; camera: string }[] = [];
    let buf = '';
    while (events.length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (data) events.push(JSON.parse(data.slice(6)));
      }
    }
    await reader.cancel();
    assert.equal(events.length, 3);
    for (const e of events) {
      assert.equal(e.camera, 'replay d9.mp4');
      assert.ok(e.image && Buffer.from(e.image, 'base64').subarray(0, 2).equals(Buffer.from([0xff, 0xd8])), 'a JPEG frame');
      // A face fills the frame: it is found and judged (random weights: who it is does not matter here).
      assert.ok(['checking', 'granted', 'denied', 'adjust'].includes(e.view.state), e.view.state);
    }
    // Frames that were analysed (not shown during a decision's cooldown) carry the face box.
    assert.ok(events.some((e) => e.view.box && e.view.box.width > 60), 'a face box');
    // A camera that is not there: the page is told, not left waiting.
    await service.updateSettings({ camera: { source: 'replay:/nonexistent/clip.mp4' } });
    const res2 = await app.request('/kiosk/events', {}, { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as never);
    const r2 = res2.body!.getReader();
    const chunk = new TextDecoder().decode((await r2.read()).value);
    await r2.cancel();
    const ev = JSON.parse(chunk.split('\n').find((l) => l.startsWith('data: '))!.slice(6));
    assert.equal(ev.view.state, 'camera_error');
    assert.equal(ev.view.message, 'Camera not available');
    assert.match(ev.view.detail, /does not exist/);
    // Remote clients are refused: frames show faces.
    assert.equal((await app.request('/kiosk/events')).status, 401);
  } finally {
    await close();
    await service.close();
  }
});
