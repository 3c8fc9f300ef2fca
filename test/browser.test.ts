// The pages in a real browser: headless Chromium (Debian's, driven by playwright-core) with a fake
// camera fed from real talking-head videos. Logs in with the keyboard, renders every page in
// landscape and portrait, enrolls the person in the video from the camera, and watches the kiosk
// page judge camera frames; a second browser shows a different person. Screenshots go to
// test-artifacts/. "Welcome, NAME" and "Not recognised" need the shipped model: without it a
// random-weight stand-in runs everything else and those two checks are skipped, never faked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { hashPassword, loadConfig } from '../src/config/index.js';
import { initBackend } from '../src/engine/backend.js';
import { createApp } from '../src/http/index.js';
import { FaceService } from '../src/service/index.js';
import { ARTIFACTS, PASSWORD, SHIPPED_MODEL, VIDEOS, randomModel, shippedModelExists } from './fixtures/web/harness.js';
import { chromium as chromiumTool, ffmpeg as ffmpegTool, needs } from './fixtures/tools.js';

// Debian's chromium drives the pages; ffmpeg makes the fake camera videos (.ci/run installs both).
const CHROMIUM = chromiumTool();
const FFMPEG = ffmpegTool();
const skipAll = needs([CHROMIUM, FFMPEG]);
const REAL_MODEL = shippedModelExists();
const needsModel = skipAll || (REAL_MODEL ? false : 'models/facegate-default/model.json does not exist yet (trained in another issue): with a random stand-in model who is recognised means nothing, so this check waits for the shipped model');

/** The enrolled person (d9.mp4) and someone else (d3.mp4). */
const PERSON = 'Lee Demo';
const ENROLL_VIDEO = path.join(VIDEOS, 'd9.mp4');
const OTHER_VIDEO = path.join(VIDEOS, 'd3.mp4');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
const LANDSCAPE = { width: 1920, height: 1080 };
const PORTRAIT = { width: 1080, height: 1920 };

let tmp: string;
let service: FaceService;
let closeApp: () => Promise<void>;
let server: ServerType;
let base: string;
let person: Browser | undefined;
let other: Browser | undefined;
let page: Page;
const problems: string[] = [];

/** A few seconds of a talking-head clip as the Y4M file Chromium's fake camera plays in a loop. */
function fakeCameraFile(video: string, out: string): string {
  execFileSync(FFMPEG.path!, ['-v', 'error', '-nostdin', '-y', '-ss', '1', '-t', '4', '-i', video, '-vf', 'fps=10,scale=-2:360', '-pix_fmt', 'yuv420p', out]);
  return out;
}

async function launch(cameraFile: string): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM.path!, headless: true, args: [...FLAGS, `--use-file-for-fake-video-capture=${cameraFile}`] });
}

/** A page that records CSP violations, script errors and failed requests. */
async function newPage(b: Browser, viewport = LANDSCAPE): Promise<Page> {
  const p = await b.newPage({ viewport });
  p.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()} (${p.url()})`);
  });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message} (${p.url()})`));
  return p;
}

const shot = (p: Page, name: string, fullPage = false) => p.screenshot({ path: path.join(ARTIFACTS, `browser-${name}.png`), fullPage });
const frames = (p: Page) => p.evaluate(() => Number(document.body.dataset.frames ?? 0));

before(async () => {
  if (skipAll) return;
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-browser-'));
  await mkdir(ARTIFACTS, { recursive: true });
  const modelDir = REAL_MODEL ? SHIPPED_MODEL : await randomModel(path.join(tmp, 'models', 'test-random'));
  const config = loadConfig({ env: {}, overrides: { modelDir, galleryDir: path.join(tmp, 'gallery'), port: 0, host: '127.0.0.1' } });
  service = await FaceService.open(config, { quiet: true });
  const created = createApp({ service, config, admin: { passwordHash: await hashPassword(PASSWORD), sessionSecret: 'browser-test-secret'.repeat(3) }, web: { judge: { cooldownMs: 2500 } } });
  closeApp = created.close;
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: created.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  person = await launch(fakeCameraFile(ENROLL_VIDEO, path.join(tmp, 'person.y4m')));
  page = await newPage(person);
});

after(async () => {
  await person?.close();
  await other?.close();
  await closeApp?.();
  if (server) {
    // Kiosk event streams stay open otherwise.
    (server as unknown as { closeAllConnections(): void }).closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await service?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('log in with the keyboard; every page renders in landscape and portrait without sideways scrolling', { skip: skipAll }, async () => {
  await page.goto(`${base}/admin/gallery`);
  assert.match(page.url(), /\/login\?next=%2Fadmin%2Fgallery$/);
  await shot(page, 'login-landscape');
  // The password field has focus on arrival; Enter submits.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/admin/gallery`);

  const pages: [string, string, string][] = [
    ['kiosk', '/', '#kiosk-message'],
    ['enroll', '/admin/enroll', 'h1'],
    ['gallery', '/admin/gallery', 'h1'],
    ['activity', '/admin/activity', 'h1'],
    ['settings', '/admin/settings', 'h1'],
    ['model', '/admin/model', 'h1'],
  ];
  for (const [orientation, size] of [['landscape', LANDSCAPE], ['portrait', PORTRAIT]] as const) {
    await page.setViewportSize(size);
    for (const [name, url, heading] of pages) {
      await page.goto(`${base}${url}`);
      assert.ok(await page.locator(heading).first().isVisible(), `${name}: ${heading} visible`);
      const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      assert.ok(scroll <= client + 1, `${name} ${orientation}: ${scroll} px wide in a ${client} px window`);
      if (name === 'kiosk') {
        // Wait for the camera: the screenshot shows a judged frame, not the empty page.
        await page.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 2, null, { timeout: 30_000 });
        // The kiosk fills the screen: no scrolling at all, the state text inside the window.
        const box = (await page.locator('#kiosk-state').boundingBox())!;
        assert.ok(box.y + box.height <= size.height + 1 && box.x + box.width <= size.width + 1, `kiosk state inside the ${orientation} screen`);
        assert.ok(await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight + 1), 'kiosk does not scroll');
      }
      await shot(page, `${name}-${orientation}`, name !== 'kiosk');
    }
  }
  await page.setViewportSize(LANDSCAPE);
});

test('keyboard: the settings page can be worked through with Tab, with a visible focus', { skip: skipAll }, async () => {
  await page.goto(`${base}/admin/settings`);
  await page.locator('body').focus();
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const d = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      // Past the last control focus goes back to the document itself.
      if (!el || el === document.body) return '';
      const outline = getComputedStyle(el).outlineStyle;
      return `${el.tagName.toLowerCase()}|${el.id || el.textContent?.trim().slice(0, 30) || ''}|${outline}`;
    });
    seen.push(d);
  }
  const names = seen.map((s) => s.split('|').slice(0, 2).join('|'));
  assert.ok(names.includes('a|Skip to content'), 'skip link first');
  assert.ok(names.includes('a|Gallery'), 'navigation');
  assert.ok(names.includes('input|threshold'), 'threshold field');
  assert.ok(names.includes('input|k') && names.includes('input|n'), 'k and n');
  assert.ok(names.includes('button|Save settings'), 'the save button');
  assert.ok(seen.every((s) => s === '' || !s.endsWith('|none')), `focus is always visible: ${seen.filter((s) => s.endsWith('|none')).join(', ')}`);
  // The live threshold preview follows typing (htmx, no inline script).
  await page.fill('#threshold', '0.55');
  await page.waitForFunction(() => /0\.550/.test(document.querySelector('#threshold-preview')?.textContent ?? ''));
});

test('enroll the person in the video from the kiosk camera, with live quality feedback and guided capture', { skip: skipAll }, async () => {
  await page.goto(`${base}/admin/enroll`);
  await page.locator('#camera-start').focus();
  await page.keyboard.press('Enter');
  // Live feedback from real frames: a frontal face at a good distance in good light.
  await page.waitForFunction(() => document.body.dataset.quality === 'ok', null, { timeout: 30_000 });
  assert.equal(await page.locator('#enroll-checks [data-check="distance"]').getAttribute('class'), 'ok');
  assert.match((await page.locator('#enroll-checks [data-check="distance"] .check-msg').textContent())!, /Good distance/);
  assert.match((await page.locator('#enroll-checks [data-check="light"] .check-msg').textContent())!, /Good light/);
  await shot(page, 'enroll-live');
  await page.click('#auto-capture');
  await page.waitForFunction(() => document.querySelectorAll('#captured li').length >= 5, null, { timeout: 45_000 });
  assert.match((await page.locator('#capture-count').textContent())!, /5 samples captured/);
  assert.equal(await page.evaluate(() => (document.querySelector('#camera-files') as HTMLInputElement).files?.length), 5);
  await page.fill('#enroll-name', PERSON);
  await page.click('#enroll-form button[type=submit]');
  await page.waitForSelector('#enrolled-name', { timeout: 60_000 });
  assert.equal(await page.locator('#enrolled-name').textContent(), PERSON);
  const thumbs = page.locator('#enroll-result ul.accepted img');
  assert.ok((await thumbs.count()) >= 3, 'accepted samples shown as thumbnails');
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#enroll-result ul.accepted img')].every((i) => i.complete && i.naturalWidth === 112));
  await shot(page, 'enroll-result', true);
  const who = service.listIdentities();
  assert.deepEqual(who.map((i) => i.name), [PERSON]);
  assert.ok(service.templates().every((t) => t.source === 'camera'));
  // The form is ready for the next person.
  assert.equal(await page.locator('#enroll-name').inputValue(), '');
  assert.equal(await page.locator('#captured li').count(), 0);
});

test('kiosk: camera frames reach the server and the page shows the face state and box', { skip: skipAll }, async () => {
  await page.goto(`${base}/`);
  await page.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 3, null, { timeout: 30_000 });
  const state = await page.locator('#kiosk-state').getAttribute('data-state');
  assert.ok(['checking', 'granted', 'denied', 'adjust'].includes(state!), `a face is being judged: ${state}`);
  assert.ok((await page.locator('#kiosk-message').textContent())!.length > 0);
  // The overlay has the face box drawn on it.
  await page.waitForFunction(() => {
    const c = document.querySelector<HTMLCanvasElement>('#kiosk-overlay')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) return true;
    return false;
  }, null, { timeout: 20_000 });
  await shot(page, 'kiosk-person-feedback');
});

test('kiosk: the enrolled person is welcomed by name', { skip: needsModel }, async () => {
  await page.goto(`${base}/`);
  await page.waitForFunction((name) => document.querySelector('#kiosk-message')?.textContent === `Welcome, ${name}`, PERSON, { timeout: 60_000 });
  assert.equal(await page.locator('#kiosk-state').getAttribute('data-state'), 'granted');
  await shot(page, 'kiosk-welcome');
});

test('kiosk: a different person gets face feedback from their own camera', { skip: skipAll }, async () => {
  other = await launch(fakeCameraFile(OTHER_VIDEO, path.join(tmp, 'other.y4m')));
  const p = await newPage(other, PORTRAIT);
  await p.goto(`${base}/`);
  await p.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 3, null, { timeout: 30_000 });
  assert.ok(await frames(p) >= 3);
  assert.ok(['checking', 'granted', 'denied', 'adjust'].includes((await p.locator('#kiosk-state').getAttribute('data-state'))!));
  await shot(p, 'kiosk-other-portrait');
  await p.close();
});

test('kiosk: a different person is not recognised', { skip: needsModel }, async () => {
  const p = await newPage(other!, PORTRAIT);
  await p.goto(`${base}/`);
  // Record every message the kiosk shows, so a single wrong welcome would be caught.
  await p.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    new MutationObserver(() => seen.push(document.querySelector('#kiosk-message')!.textContent ?? '')).observe(document.querySelector('#kiosk-message')!, { childList: true, characterData: true, subtree: true });
  });
  await p.waitForFunction(() => document.querySelector('#kiosk-message')?.textContent === 'Not recognised', null, { timeout: 60_000 });
  const seen = await p.evaluate(() => (window as unknown as { seen: string[] }).seen);
  assert.ok(!seen.some((m) => m.startsWith('Welcome')), `never welcomed: ${seen.join(' / ')}`);
  await shot(p, 'kiosk-not-recognised-portrait');
  await p.close();
});

test('server camera: a replayed video streams to the kiosk page; a missing device says so', { skip: skipAll }, async (t) => {
  const save = async (source: string) => {
    await page.goto(`${base}/admin/settings`);
    await page.fill('#camera-source', source);
    await page.click('#settings-form button[type=submit]');
    await page.waitForURL(`${base}/admin/settings?saved=1`);
  };
  await save(`replay:${ENROLL_VIDEO}`);
  await page.goto(`${base}/`);
  assert.equal(await page.evaluate(() => document.body.dataset.camera), 'server');
  await page.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 3, null, { timeout: 30_000 });
  assert.ok(await page.locator('#kiosk-image').isVisible());
  assert.ok(await page.evaluate(() => (document.querySelector('#kiosk-image') as HTMLImageElement).naturalWidth > 0));
  assert.ok(['checking', 'granted', 'denied', 'adjust'].includes((await page.locator('#kiosk-state').getAttribute('data-state'))!));
  await shot(page, 'kiosk-replay');
  // Reported as its own (skipped) step where a camera is connected, rather than passed unseen.
  const hasCamera = existsSync('/dev/video0') && 'skipped: this machine has /dev/video0, so the missing-camera path cannot be shown here';
  await t.test('a missing device camera says so on the kiosk page', { skip: hasCamera }, async () => {
    await save('device:/dev/video0');
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.querySelector('#kiosk-state')?.getAttribute('data-state') === 'camera_error', null, { timeout: 30_000 });
    assert.equal(await page.locator('#kiosk-message').textContent(), 'Camera not available');
    assert.match((await page.locator('#kiosk-detail').textContent())!, /fswebcam|\/dev\/video0/);
    await shot(page, 'kiosk-camera-missing');
  });
  await save('auto');
  await page.goto(`${base}/admin/gallery`);
});

test('gallery and activity show the enrolled person with a thumbnail; the CSV export downloads', { skip: skipAll }, async () => {
  await page.goto(`${base}/admin/gallery`);
  const row = page.locator('table.gallery tbody tr').first();
  assert.equal(await row.locator('input[name=name]').inputValue(), PERSON);
  assert.ok(await row.locator('img.thumb').evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth > 0));
  await page.goto(`${base}/admin/activity`);
  assert.ok((await page.locator('table.activity tbody tr').count()) >= 1);
  await shot(page, 'activity-after', true);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv-export')]);
  const file = path.join(tmp, 'activity.csv');
  await download.saveAs(file);
  const { readFile } = await import('node:fs/promises');
  const csv = await readFile(file, 'utf8');
  assert.match(csv, /^\uFEFFtime,decision,decision_label,door,identity_id,name,score,threshold,metric,model_id,liveness,liveness_method,liveness_score,snapshot,redacted,redacted_at,detail,id\r\n/);
  assert.match(csv, new RegExp(`,enroll,Enrolled,,i_[a-z0-9]+,${PERSON},`));
});

test('no Content-Security-Policy violations, script errors or failed requests on any page', { skip: skipAll }, () => {
  assert.deepEqual(problems, []);
});
