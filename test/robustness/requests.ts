// The hostile requests of the robustness battery: well-formed photos in the wrong wrapping
// (multipart without a file, wrong field names, JSON where multipart is expected, broken
// multipart) and hostile identity names (path traversal, NUL, 10,000 characters), with what the
// command line makes of the same mistake where it has one.
import path from 'node:path';
import { BBT } from '../fixtures/web/harness.js';
import { BOUNDARY, CLOSE, CRLF, field, fileHead } from '../fixtures/streamed-post.js';
import { form } from './harness.js';

export interface ApiCall {
  /** What is sent, for the failure message. */
  what: string;
  url: string;
  init: RequestInit & { admin?: boolean };
  status: number;
  code: string;
  message: RegExp;
}

export interface CliCall {
  what: string;
  args: string[];
  /** Exit code: 2 for a refused input (src/service/cli-run.ts EXIT), 1 for commander's usage errors. */
  exit: number;
  /** The service's error code in the --json output; absent for usage errors (told on stderr). */
  code?: string;
  message: RegExp;
}

export interface RequestCase {
  id: string;
  what: string;
  api: ApiCall[];
  cli: CliCall[];
}

export interface RequestContext {
  /** Three enrollment photos of Amy, who is enrolled in both galleries. */
  amy: Uint8Array[];
  /** One more photo of her, for verify and identify. */
  photo: Uint8Array;
  /** Writes a file for the command line under the battery's temp folder; returns its path. */
  file(name: string, bytes: Uint8Array | string): Promise<string>;
}

export const AMY_PATHS = [2, 3, 4].map((n) => path.join(BBT, 'amy', `amy${n}.png`));
export const AMY5 = path.join(BBT, 'amy', 'amy5.png');

const multipart = (parts: Buffer[], boundary = BOUNDARY): RequestInit => ({ headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.concat(parts) });
const json = (v: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) });
const raw = (bytes: Uint8Array, type = 'image/png'): RequestInit => ({ headers: { 'content-type': type }, body: bytes as Uint8Array<ArrayBuffer> });

/** A multipart body of `n` one-byte parts named `name` (files, or text fields), after `head`. */
function manyParts(n: number, name: string, files = true, head: Buffer[] = []): RequestInit {
  const part = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${files ? '; filename="a.jpg"' : ''}\r\n\r\nx\r\n`);
  return multipart([...head, ...Array<Buffer>(n).fill(part), CLOSE]);
}

const NO_IMAGE = /multipart body needs a file field "image"/;
const NO_IMAGES = /at least one file field "images" is required/;
const MALFORMED = /Malformed FormData request/;
const NOT_JSON = /Content-Type "application\/json" is not accepted here; send multipart\/form-data/;

const TRAVERSAL = '../../../../../../etc/passwd';
const LONG = 'N'.repeat(10_000);

export async function requestCases(ctx: RequestContext): Promise<RequestCase[]> {
  const { amy, photo } = ctx;
  const amyFiles = amy.map((b, i) => ['images', b, `amy${i + 2}.png`] as [string, Uint8Array, string]);
  return [
    {
      id: 'multipart-without-file',
      what: 'multipart bodies with the text fields and no file',
      api: [
        { what: 'verify', url: '/api/verify', init: { body: form({ claim: 'Amy' }) }, status: 400, code: 'invalid_input', message: NO_IMAGE },
        { what: 'identify', url: '/api/identify', init: { body: form({ k: '3' }) }, status: 400, code: 'invalid_input', message: NO_IMAGE },
        { what: 'enroll', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory' }) }, status: 400, code: 'invalid_input', message: NO_IMAGES },
        { what: 'enroll, an empty file part with no name', url: '/api/enroll', init: { admin: true, ...multipart([field('name', 'Mallory'), fileHead(''), CRLF, CLOSE]) }, status: 422, code: 'insufficient_samples', message: /image 1: .*no bytes/ },
      ],
      cli: [
        { what: 'verify without an image', args: ['verify', '--json'], exit: 1, message: /missing required argument 'image'/ },
        { what: 'identify without an image', args: ['identify', '--json'], exit: 1, message: /missing required argument 'image'/ },
        { what: 'enroll without images', args: ['enroll', '--name', 'Mallory', '--json'], exit: 1, message: /missing required argument 'images'/ },
      ],
    },
    {
      id: 'wrong-field-names',
      what: 'the photo under another field name, or as text',
      api: [
        { what: 'verify, field "file"', url: '/api/verify', init: { body: form({}, [['file', photo, 'amy5.png']]) }, status: 400, code: 'invalid_input', message: NO_IMAGE },
        { what: 'verify, "image" as a text field', url: '/api/verify', init: { body: form({ image: 'amy5.png' }) }, status: 400, code: 'invalid_input', message: /image: .*expected file, received string/ },
        { what: 'verify, two "image" files', url: '/api/verify', init: { body: form({}, [['image', photo, 'a.png'], ['image', photo, 'b.png']]) }, status: 400, code: 'invalid_input', message: /image: .*expected file, received array/ },
        { what: 'identify, field "photo"', url: '/api/identify', init: { body: form({}, [['photo', photo, 'amy5.png']]) }, status: 400, code: 'invalid_input', message: NO_IMAGE },
        { what: 'enroll, field "image" (singular)', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory' }, [['image', photo, 'amy5.png']]) }, status: 400, code: 'invalid_input', message: NO_IMAGES },
        { what: 'enroll, "fullname" for "name"', url: '/api/enroll', init: { admin: true, body: form({ fullname: 'Mallory' }, amyFiles) }, status: 400, code: 'invalid_input', message: /invalid form: name:/ },
        { what: 'enroll, "images" as text', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory', images: 'amy5.png' }) }, status: 400, code: 'invalid_input', message: /invalid form: images/ },
      ],
      cli: [
        { what: 'verify --image', args: ['verify', '--image', AMY5, '--json'], exit: 1, message: /unknown option '--image'/ },
        { what: 'enroll --names', args: ['enroll', '--names', 'Mallory', AMY5, '--json'], exit: 1, message: /required option '--name <name>' not specified/ },
        { what: 'verify with two images', args: ['verify', AMY5, AMY5, '--json'], exit: 1, message: /too many arguments/ },
      ],
    },
    {
      id: 'json-for-multipart',
      what: 'JSON (a base64 photo) where multipart is expected',
      api: [
        { what: 'verify', url: '/api/verify', init: json({ image: Buffer.from(photo).toString('base64') }), status: 415, code: 'unsupported_media', message: NOT_JSON },
        { what: 'identify', url: '/api/identify', init: json({ image: Buffer.from(photo).toString('base64'), k: 2 }), status: 415, code: 'unsupported_media', message: NOT_JSON },
        { what: 'enroll', url: '/api/enroll', init: { admin: true, ...json({ name: 'Mallory', images: amy.map((b) => Buffer.from(b).toString('base64')) }) }, status: 415, code: 'unsupported_media', message: NOT_JSON },
        { what: 'enroll, urlencoded', url: '/api/enroll', init: { admin: true, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Mallory&images=amy5.png' }, status: 415, code: 'unsupported_media', message: /x-www-form-urlencoded/ },
      ],
      cli: await (async () => {
        const file = await ctx.file('photo.json', JSON.stringify({ image: Buffer.from(photo).toString('base64') }));
        return [
          { what: 'verify photo.json', args: ['verify', file, '--json'], exit: 2, code: 'unsupported_media', message: /unrecognised image format .*accepted formats/ },
          { what: 'identify photo.json', args: ['identify', file, '--json'], exit: 2, code: 'unsupported_media', message: /unrecognised image format/ },
          { what: 'enroll photo.json', args: ['enroll', '--name', 'Mallory', file, '--json'], exit: 2, code: 'insufficient_samples', message: /photo\.json: .*unrecognised image format/ },
        ];
      })(),
    },
    {
      id: 'broken-multipart',
      what: 'multipart without a boundary, with the wrong one, unterminated, or JSON inside',
      api: [
        { what: 'verify, no boundary', url: '/api/verify', init: { headers: { 'content-type': 'multipart/form-data' }, body: Buffer.concat([fileHead('a.png', 'image'), photo, CRLF, CLOSE]) }, status: 400, code: 'invalid_input', message: MALFORMED },
        { what: 'verify, wrong boundary', url: '/api/verify', init: multipart([fileHead('a.png', 'image'), Buffer.from(photo), CRLF, CLOSE], 'not-the-boundary'), status: 400, code: 'invalid_input', message: MALFORMED },
        { what: 'identify, unterminated', url: '/api/identify', init: multipart([fileHead('a.png', 'image'), Buffer.from(photo)]), status: 400, code: 'invalid_input', message: MALFORMED },
        { what: 'identify, JSON inside', url: '/api/identify', init: multipart([Buffer.from('{"image":"amy5.png"}')]), status: 400, code: 'invalid_input', message: MALFORMED },
        { what: 'enroll, unterminated', url: '/api/enroll', init: { admin: true, ...multipart([field('name', 'Mallory'), ...amy.flatMap((b, i) => [fileHead(`amy${i}.png`), Buffer.from(b), CRLF])]) }, status: 400, code: 'invalid_input', message: MALFORMED },
        { what: 'enroll, headers without a blank line', url: '/api/enroll', init: { admin: true, ...multipart([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\nMallory\r\n`), CLOSE]) }, status: 400, code: 'invalid_input', message: MALFORMED },
        // Many tiny parts: within the body limits, but each part costs the form parser time while the
        // event loop waits (10 MB of them stalled the kiosk for 9 s): refused once there are too many.
        { what: 'verify, 90,000 one-byte file parts (9 MB)', url: '/api/verify', init: manyParts(90_000, 'image'), status: 413, code: 'payload_too_large', message: /the form has more than 256 parts/ },
        { what: 'identify, 90,000 text fields', url: '/api/identify', init: manyParts(90_000, 'k', false), status: 413, code: 'payload_too_large', message: /the form has more than 256 parts/ },
        { what: 'enroll, 20,000 file parts', url: '/api/enroll', init: { admin: true, ...manyParts(20_000, 'images', true, [field('name', 'Mallory')]) }, status: 413, code: 'payload_too_large', message: /the form has more than 256 parts/ },
        { what: 'enroll, 11 images', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory' }, Array.from({ length: 11 }, (_, i) => ['images', amy[i % 3]!, `${i}.png`] as [string, Uint8Array, string])) }, status: 400, code: 'invalid_input', message: /11 images: at most 10 per enrollment/ },
      ],
      cli: await (async () => {
        const file = await ctx.file('body.multipart', Buffer.concat([fileHead('a.png', 'image'), Buffer.from(photo), CRLF, CLOSE]));
        return [{ what: 'verify a saved multipart body', args: ['verify', file, '--json'], exit: 2, code: 'unsupported_media', message: /unrecognised image format/ }];
      })(),
    },
    {
      id: 'path-traversal-names',
      what: 'a path-traversal identity name, badge, claim, id and file names',
      api: [
        // A name is display text, never a path: it passes validation, and these photos are Amy's, who is enrolled.
        { what: 'enroll Amy as "../../etc/passwd"', url: '/api/enroll', init: { admin: true, body: form({ name: TRAVERSAL }, amyFiles) }, status: 409, code: 'duplicate', message: /this face already matches Amy/ },
        { what: 'enroll with badge "../../etc/passwd"', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory', badge: TRAVERSAL }, amyFiles) }, status: 400, code: 'invalid_input', message: /badge must be 1-64 letters, digits, _ or -/ },
        { what: 'enroll, file names "../../etc/passwd"', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory' }, [['images', new TextEncoder().encode('root:x:0:0'), TRAVERSAL], ['images', new Uint8Array(0), '../../../../tmp/x.jpg']]) }, status: 422, code: 'insufficient_samples', message: /0 of 2 images are usable/ },
        { what: 'verify, claim "../../etc/passwd"', url: '/api/verify', init: { body: form({ claim: TRAVERSAL }, [['image', photo, 'amy5.png']]) }, status: 400, code: 'invalid_input', message: /is not an identity id \(i_\.\.\.\), a badge or the name of an enrolled person/ },
        { what: 'verify, claim in the query', url: `/api/verify?claim=${encodeURIComponent(TRAVERSAL)}`, init: raw(photo), status: 400, code: 'invalid_input', message: /is not an identity id/ },
        { what: 'identify, k "../../etc/passwd"', url: `/api/identify?k=${encodeURIComponent(TRAVERSAL)}`, init: raw(photo), status: 400, code: 'invalid_input', message: /invalid query: k:/ },
        { what: 'GET /api/identities/..%2F..%2Fetc%2Fpasswd', url: `/api/identities/${encodeURIComponent(TRAVERSAL)}`, init: { method: 'GET', admin: true }, status: 400, code: 'invalid_input', message: /invalid identity id/ },
        { what: 'DELETE /api/identities/..%2F..%2Fgallery.json', url: `/api/identities/${encodeURIComponent('../../gallery.json')}`, init: { method: 'DELETE', admin: true }, status: 400, code: 'invalid_input', message: /invalid identity id/ },
      ],
      cli: [
        { what: 'enroll Amy as "../../etc/passwd"', args: ['enroll', '--name', TRAVERSAL, ...AMY_PATHS, '--json'], exit: 2, code: 'duplicate', message: /this face already matches Amy/ },
        { what: 'verify --claim "../../etc/passwd"', args: ['verify', AMY5, '--claim', TRAVERSAL, '--json'], exit: 2, code: 'invalid_input', message: /is not an identity id/ },
        // The command line reads the file it is given (the operator's own): /etc/passwd is no photo.
        { what: 'identify ../../etc/passwd', args: ['identify', path.relative(process.cwd(), '/etc/passwd'), '--json'], exit: 2, code: 'unsupported_media', message: /unrecognised image format/ },
        { what: 'gallery delete ../../gallery.json', args: ['gallery', 'delete', '../../gallery.json', '--json'], exit: 2, code: 'invalid_input', message: /invalid identity id|not an identity id/ },
      ],
    },
    {
      id: 'nul-names',
      what: 'NUL characters in the name, claim, k and file name',
      api: [
        { what: 'enroll "Mallory\\0../x"', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory\0../x' }, amyFiles) }, status: 400, code: 'invalid_input', message: /name contains control characters/ },
        { what: 'enroll, notes with NUL', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory', notes: 'a\0b' }, amyFiles) }, status: 400, code: 'invalid_input', message: /notes contain control characters/ },
        { what: 'verify, claim "Amy\\0"', url: '/api/verify', init: { body: form({ claim: 'Amy\0' }, [['image', photo, 'amy5.png']]) }, status: 400, code: 'invalid_input', message: /^claim is not an identity id/ },
        { what: 'identify, k "1\\0"', url: '/api/identify?k=1%00', init: raw(photo), status: 400, code: 'invalid_input', message: /invalid query: k:/ },
        { what: 'enroll, file name "a\\0.jpg" (not an image)', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory' }, [['images', new TextEncoder().encode('<html>'), 'a\0.jpg']]) }, status: 422, code: 'insufficient_samples', message: /unrecognised image format/ },
      ],
      cli: [
        // A real argv cannot hold NUL; in-process it can, and the service refuses it itself.
        { what: 'enroll --name "Mallory\\0"', args: ['enroll', '--name', 'Mallory\0../x', ...AMY_PATHS, '--json'], exit: 2, code: 'invalid_input', message: /name contains control characters/ },
        { what: 'verify --claim "Amy\\0"', args: ['verify', AMY5, '--claim', 'Amy\0', '--json'], exit: 2, code: 'invalid_input', message: /^claim is not an identity id/ },
      ],
    },
    {
      id: 'ten-thousand-char-names',
      what: '10,000-character name, claim, k and file name',
      api: [
        { what: 'enroll, name', url: '/api/enroll', init: { admin: true, body: form({ name: LONG }, amyFiles) }, status: 400, code: 'invalid_input', message: /invalid form: name: .*<=200 characters/ },
        { what: 'enroll, badge', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory', badge: LONG }, amyFiles) }, status: 400, code: 'invalid_input', message: /invalid form: badge/ },
        { what: 'enroll, 100,000-character name', url: '/api/enroll', init: { admin: true, body: form({ name: LONG.repeat(10) }, amyFiles) }, status: 413, code: 'payload_too_large', message: /form field "name" exceeds 64 KB/ },
        { what: 'verify, claim', url: '/api/verify', init: { body: form({ claim: LONG }, [['image', photo, 'amy5.png']]) }, status: 400, code: 'invalid_input', message: /invalid form: claim: .*<=64 characters/ },
        { what: 'identify, k', url: `/api/identify?k=${'9'.repeat(10_000)}`, init: raw(photo), status: 400, code: 'invalid_input', message: /invalid query: k:/ },
        { what: 'enroll, file name (not an image)', url: '/api/enroll', init: { admin: true, body: form({ name: 'Mallory' }, [['images', new TextEncoder().encode('<html>'), `${'f'.repeat(10_000)}.jpg`]]) }, status: 422, code: 'insufficient_samples', message: /unrecognised image format/ },
      ],
      cli: [
        { what: 'enroll --name N x 10,000', args: ['enroll', '--name', LONG, ...AMY_PATHS, '--json'], exit: 2, code: 'invalid_input', message: /name is longer than 80 characters/ },
        { what: 'verify --claim N x 10,000', args: ['verify', AMY5, '--claim', LONG, '--json'], exit: 2, code: 'invalid_input', message: /^claim is not an identity id/ },
        { what: 'identify a 10,000-character path', args: ['identify', `${'d'.repeat(10_000)}.jpg`, '--json'], exit: 2, code: 'not_found', message: /no such file|name too long/ },
      ],
    },
  ];
}
