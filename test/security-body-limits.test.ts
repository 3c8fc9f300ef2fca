// Enrollment bodies are refused early. The limit is derived from the configuration (at most
// maxEnrollImages images of maxImageBytes, their multipart framing and the text fields), a
// Content-Length over it is a 413 before any byte of the body is read, a chunked body is counted
// as it streams in, and one image over maxImageBytes is a 413 as soon as it passes that size,
// not after the whole body has been read. A real server on 127.0.0.1 (no model needed: a body
// that gets through reaches the handler, which answers 503), raw HTTP from node:http so the test
// controls what is sent and when; each "early" case stops sending and waits for the answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { AdminStore, adminFilePath, loadConfig } from '../src/config/index.js';
import { startServer, type RunningServer } from '../src/http/index.js';
import * as validation from '../src/http/validation.js';
import { BOUNDARY, CLOSE, CRLF, field, fileHead, streamedPost } from './fixtures/streamed-post.js';

const MB = 1024 * 1024;
const MAX_IMAGE = 1 * MB;
const MAX_IMAGES = 3;
const PASSWORD = 'body limit test password';

let tmp: string;
let running: RunningServer;
let token: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-bodies-'));
  const config = loadConfig({
    env: {},
    overrides: { port: 0, host: '127.0.0.1', modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery'), limits: { maxImageBytes: MAX_IMAGE, maxEnrollImages: MAX_IMAGES } },
  });
  await (await AdminStore.open(adminFilePath(config))).setPassword(PASSWORD);
  running = await startServer(config, { quiet: true });
  const res = await fetch(`${running.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  token = ((await res.json()) as { token: string }).token;
});

after(async () => {
  await running?.close();
  await rm(tmp, { recursive: true, force: true });
});


interface Answer {
  status: number;
  body: { error?: { code: string; message: string } };
  /** Body bytes the client had written when the answer came. */
  sentBeforeAnswer: number;
}

/** POST /api/enroll with the bearer token, written part by part (see streamedPost). */
async function enroll(parts: Buffer[], opts: { contentLength?: number; stopAfter?: number; waitMs?: number } = {}): Promise<Answer> {
  const r = await streamedPost(new URL('/api/enroll', running.url), { authorization: `Bearer ${token}` }, parts, opts);
  return { status: r.status, body: JSON.parse(r.text || '{}') as Answer['body'], sentBeforeAnswer: r.sentBeforeAnswer };
}

/** What the limit must be for 3 images of 1 MB: their bytes, 8 KB of framing each, 16 KB of fields. */
const LIMIT = MAX_IMAGES * (MAX_IMAGE + 8 * 1024) + 16 * 1024;

test('a Content-Length over the derived limit is a 413 before any of the body is sent', async () => {
  // Over 3 x 1 MB plus framing, yet under the old fixed 256 KB allowance.
  const r = await enroll([], { contentLength: MAX_IMAGES * MAX_IMAGE + 128 * 1024, stopAfter: 0 });
  assert.equal(r.status, 413);
  assert.equal(r.body.error!.code, 'payload_too_large');
  assert.match(r.body.error!.message, /request body exceeds 3(\.\d)? MB/);
  assert.equal(r.sentBeforeAnswer, 0);
});

test('one image over maxImageBytes is a 413 as soon as it passes that size, chunked or with a Content-Length', async (t) => {
  const big = Buffer.alloc(2 * MAX_IMAGE + 300 * 1024, 7);
  const parts = [field('name', 'Amy'), fileHead('huge.png'), big, CRLF, CLOSE];
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.ok(total < LIMIT, 'the whole body is within the total limit: only the image is too large');
  // Chunked: send 1.5 MB of the 2.3 MB image, then wait.
  const chunked = await enroll(parts, { stopAfter: 1.5 * MB });
  assert.equal(chunked.status, 413);
  assert.equal(chunked.body.error!.code, 'image_too_large');
  assert.match(chunked.body.error!.message, /huge\.png is over the 1 MB limit for one image/);
  // With an honest Content-Length, the same.
  const declared = await enroll(parts, { contentLength: total, stopAfter: 1.5 * MB });
  assert.equal(declared.status, 413);
  assert.equal(declared.body.error!.code, 'image_too_large');
  t.diagnostic(`a ${total} byte body with one 2.3 MB image: answered 413 after ${chunked.sentBeforeAnswer} (chunked) and ${declared.sentBeforeAnswer} (Content-Length) bytes sent`);
});

test('a chunked body over the derived limit is a 413 once it passes it, even when every image is within its own limit', async () => {
  const image = Buffer.alloc(Math.floor((MAX_IMAGES * MAX_IMAGE + 100 * 1024) / 4), 1);
  const parts = [field('name', 'Amy')];
  for (let i = 0; i < 4; i++) parts.push(fileHead(`p${i}.png`), image, CRLF);
  parts.push(CLOSE);
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.ok(total > LIMIT && total < MAX_IMAGES * MAX_IMAGE + 256 * 1024, 'over the derived limit, under the old one');
  const r = await enroll(parts, { stopAfter: LIMIT + 32 * 1024 });
  assert.equal(r.status, 413);
  assert.equal(r.body.error!.code, 'payload_too_large');
});

test('bodies within the limits reach the route: the largest allowed enrollment, chunked and with a Content-Length', async () => {
  const parts = [field('name', 'Amy'), field('badge', 'A-7'), field('notes', 'n'.repeat(2000))];
  for (let i = 0; i < MAX_IMAGES; i++) parts.push(fileHead(`${'long-file-name-'.repeat(10)}${i}.png`), Buffer.alloc(MAX_IMAGE, i + 1), CRLF);
  parts.push(CLOSE);
  const total = parts.reduce((n, p) => n + p.length, 0);
  assert.ok(total <= LIMIT);
  for (const contentLength of [undefined, total]) {
    const r = await enroll(parts, { contentLength });
    // Parsed and validated, then refused for want of a model: the body came through whole.
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error!.code, 'no_model');
  }
  // Four images fit in the bytes but not in the count: the route's own 400.
  const four = [field('name', 'Amy')];
  for (let i = 0; i < 4; i++) four.push(fileHead(`s${i}.png`), Buffer.alloc(1000, 1), CRLF);
  four.push(CLOSE);
  const r = await enroll(four);
  assert.equal(r.status, 400);
  assert.match(r.body.error!.message, /at most 3/);
});

test('the part scanner does not depend on how the body is cut into chunks', async () => {
  const { limitMultipart } = validation as unknown as { limitMultipart: typeof import('../src/http/validation.js').limitMultipart };
  const app = new Hono();
  app.post('/form', limitMultipart({ maxBytes: 64 * 1024, maxFileBytes: 1000, maxFieldBytes: 200 }), async (c) => {
    const form = await c.req.parseBody({ all: true });
    const files = ([] as unknown[]).concat(form.images ?? []) as File[];
    return c.json({ name: form.name, sizes: files.map((f) => f.size) });
  });
  const body = (imageSizes: number[], name = 'Amy') => {
    const parts = [field('name', name)];
    // Contents that look like the start of a delimiter, to trip a careless search.
    for (const [i, n] of imageSizes.entries()) parts.push(fileHead(`f${i}.png`), Buffer.from('\r\n--'.repeat(n).slice(0, n), 'latin1'), CRLF);
    parts.push(CLOSE);
    return Buffer.concat(parts);
  };
  const post = (bytes: Buffer, cut: number) =>
    app.request('/form', {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: new ReadableStream({
        start(ctl) {
          for (let i = 0; i < bytes.length; i += cut) ctl.enqueue(new Uint8Array(bytes.subarray(i, i + cut)));
          ctl.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
  for (const cut of [1, 3, 7, 64, 997, 1 << 16]) {
    const ok = await post(body([1000, 10, 1000]), cut);
    assert.equal(ok.status, 200, `cut ${cut}`);
    assert.deepEqual(await ok.json(), { name: 'Amy', sizes: [1000, 10, 1000] }, `cut ${cut}`);
    const big = await post(body([10, 1001]), cut);
    assert.equal(big.status, 413, `cut ${cut}`);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'image_too_large');
    const longName = await post(body([10], 'n'.repeat(201)), cut);
    assert.equal(longName.status, 413, `cut ${cut}`);
    assert.match(((await longName.json()) as { error: { message: string } }).error.message, /form field "name" exceeds 200 bytes/);
  }
});

test('the part cap holds whatever the Content-Type says: a second boundary hidden in another parameter is refused', async () => {
  const { limitMultipart } = validation as unknown as { limitMultipart: typeof import('../src/http/validation.js').limitMultipart };
  const app = new Hono();
  let parsed = 0;
  app.post('/form', limitMultipart({ maxBytes: 1024 * 1024, maxFileBytes: 1000 }), async (c) => {
    parsed++;
    const form = await c.req.parseBody({ all: true });
    return c.json({ fields: Object.keys(form).length });
  });
  // 300 small fields under the real boundary: past the 256-part cap.
  const body = Buffer.concat([...Array.from({ length: 300 }, (_, i) => field(`f${i}`, 'x')), CLOSE]);
  const post = (contentType: string) => app.request('/form', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(body) });
  const plain = await post(`multipart/form-data; boundary=${BOUNDARY}`);
  assert.equal(plain.status, 413);
  assert.match(((await plain.json()) as { error: { message: string } }).error.message, /more than 256 parts/);
  // The scanner would follow "fake" (which never occurs) while the form parser follows the real one.
  const hidden = await post(`multipart/form-data; x="; boundary=fake"; boundary=${BOUNDARY}`);
  assert.equal(hidden.status, 400);
  assert.match(((await hidden.json()) as { error: { message: string } }).error.message, /more than one multipart boundary/);
  assert.equal(parsed, 0, 'neither body reached the form parser');
});
