// Enrolling from uploaded photos (review finding, item 3): ordinary cropped headshots were refused
// with the camera's words ("Move into the middle of the frame"). Uploads now get a gate made for
// photos (a tight headshot whose face touches the edges is fine, a face cut off by the edge is not;
// the photo's own smallest face size), camera captures keep the kiosk's, and a refusal names each
// photo and says what is wrong with it in photo terms. Real photos, the shipped model, no mocks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { initBackend } from '../src/engine/backend.js';
import { loadConfig } from '../src/config/index.js';
import { FaceService, type EnrollImage } from '../src/service/index.js';
import { PHOTO_MIN_FACE_SIZE } from '../src/vision/quality.js';
import { refused } from './fixtures/expect.js';

const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
const BBT = path.join(DATA, 'small/bbt');
const SHIPPED = fileURLToPath(new URL('../models/facegate-default/', import.meta.url));

const bbt = (who: string, n: number) => readFile(path.join(BBT, who, `${who}${n}.png`));
/** A headshot cropped tight: the middle 120x120 of the 150x150 portrait, so the face touches all four edges. */
const tight = async (who: string, n: number) => sharp(await bbt(who, n)).extract({ left: 15, top: 15, width: 120, height: 120 }).png().toBuffer();
const tightSet = (who: string): Promise<EnrollImage[]> =>
  Promise.all([1, 2, 3, 4, 5].map(async (n) => ({ bytes: await tight(who, n), file: `${who}${n}-headshot.png` })));

type Sample = { file: string; accepted: boolean; reasons: { code: string; message: string }[] };

let tmp: string;
let service: FaceService;

before(async () => {
  assert.ok(existsSync(path.join(SHIPPED, 'model.json')), 'the shipped model models/facegate-default');
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-quality-photo-'));
  // Every sample must pass: a refused headshot fails the enrollment, so the test sees it.
  const config = loadConfig({ env: {}, overrides: { modelDir: SHIPPED, galleryDir: path.join(tmp, 'gallery'), enroll: { minSamples: 5, maxTemplates: 5 } } });
  service = await FaceService.open(config, { quiet: true });
});

after(async () => {
  await service?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('tight headshots (the face touching every edge) enroll from uploads; as camera captures they still need the face inside the frame', async () => {
  for (const who of ['raj', 'penny']) {
    const images = await tightSet(who);
    const out = await service.enroll({ name: `${who} from headshots`, images, source: 'upload' });
    assert.deepEqual(out.samples.map((s) => s.reasons.map((r) => r.message)), [[], [], [], [], []], `${who}: every headshot accepted`);
    assert.equal(out.templates, 5);

    // The same pictures from the enrollment camera: the kiosk's framing, the kiosk's words.
    const err = await refused(() => service.enroll({ name: `${who} by camera`, images, source: 'camera', confirmDuplicate: true }), 'insufficient_samples');
    const samples = err.details?.samples as Sample[];
    for (const s of samples) assert.deepEqual(s.reasons.map((r) => [r.code, r.message]), [['off_frame', 'Move into the middle of the frame']], s.file);
  }
  // One request mixing a camera capture and an upload: each image gets the gate of its source.
  const [first] = await tightSet('sheldon');
  const mixed = await service.screenSamples([{ ...first!, source: 'camera' }, first!], { source: 'upload' });
  assert.deepEqual(mixed.samples.map((s) => s.reasons.map((r) => r.code)), [['off_frame'], []]);
});

test('a file given to the CLI is a photo too; ORL headshots (92x112, faces 67-70 px wide) enroll', async () => {
  const images = await Promise.all([1, 2, 3, 4, 5].map(async (n) => ({ bytes: await readFile(path.join(DATA, `small/att-orl/s2/${n}.pgm`)), file: `s2/${n}.pgm` })));
  const out = await service.enroll({ name: 'ORL s2', images, source: 'cli' });
  assert.equal(out.samples.filter((s) => s.accepted).length, 5, JSON.stringify(out.samples.map((s) => s.reasons)));
  assert.ok(PHOTO_MIN_FACE_SIZE <= 67);
});

test('a refused upload names the photo and what is wrong with it, in photo terms', async () => {
  // amy2 shrunk to 50 px in a 200x200 grey picture: a 42 px face.
  const small = await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 118, g: 118, b: 118 } } })
    .composite([{ input: await sharp(await bbt('amy', 2)).resize(50, 50).png().toBuffer(), left: 75, top: 75 }])
    .png()
    .toBuffer();
  const images: EnrollImage[] = [
    { bytes: await bbt('amy', 1), file: 'amy1.png' }, // turned away
    { bytes: await readFile(path.join(DATA, 'small/examples/extra/obama/obama_partial_face.jpg')), file: 'obama_partial_face.jpg' }, // cheek cut by the edge
    { bytes: small, file: 'photo.jpg' },
    { bytes: await readFile(path.join(DATA, 'small/examples/misc/two_people.jpg')), file: 'two_people.jpg' },
    { bytes: await bbt('amy', 3), file: 'amy3.png' },
  ];
  const err = await refused(() => service.enroll({ name: 'Amy', images, source: 'upload' }), 'insufficient_samples');
  const samples = err.details?.samples as Sample[];
  const said = (file: string) => samples.find((s) => s.file === file)!.reasons.map((r) => r.message);
  assert.deepEqual(said('amy1.png'), ['the face is turned too far to the side']);
  assert.deepEqual(said('obama_partial_face.jpg'), ['the face is cut off by the edge of the photo']);
  assert.equal(said('photo.jpg').length, 1);
  assert.match(said('photo.jpg')[0]!, new RegExp(`^the face is only \\d+ px wide; use a photo where the face is at least ${PHOTO_MIN_FACE_SIZE} px$`));
  assert.deepEqual(said('two_people.jpg'), ['there is more than one face in the photo']);
  assert.deepEqual(said('amy3.png'), []);
  // The refusal itself names each refused photo with its reasons; no camera words.
  assert.match(err.message, /^1 of 5 images are usable; enrollment needs at least 5\./);
  for (const line of [
    'amy1.png: the face is turned too far to the side',
    'obama_partial_face.jpg: the face is cut off by the edge of the photo',
    'two_people.jpg: there is more than one face in the photo',
  ]) {
    assert.ok(err.message.includes(line), `"${line}" in: ${err.message}`);
  }
  assert.match(err.message, /photo\.jpg: the face is only \d+ px wide; use a photo where the face is at least \d+ px/);
  assert.doesNotMatch(err.message, /Move into the middle|Look at the camera|Come closer|One person at a time/);
});
