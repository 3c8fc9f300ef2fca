// Request guards shared by the routes: zod validation with one JSON error shape, content-type
// checks (415) and body-size limits (413), all answering before the handler runs.
import { zValidator } from '@hono/zod-validator';
import type { Context, MiddlewareHandler, ValidationTargets } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { AppConfig } from '../config/schema.js';
import { errorJson } from './errors.js';

/** zValidator with a 400 { error: { code: 'invalid_input', message, issues } } on failure. */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result, c) => {
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const message = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
      return errorJson(c, 400, 'invalid_input', `invalid ${target}: ${message}`, { issues });
    }
  });
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** 415 unless the body's media type is one of `types` ('image/*' matches any image type). */
export function acceptContent(types: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const mt = mediaType(c.req.header('content-type'));
    const ok = types.some((t) => (t.endsWith('/*') ? mt.startsWith(t.slice(0, -1)) : mt === t));
    if (!ok) {
      return errorJson(c, 415, 'unsupported_media', `Content-Type ${mt ? `"${mt}"` : '(none)'} is not accepted here; send ${types.join(' or ')}`);
    }
    await next();
  };
}

export function isMediaType(header: string | undefined, type: string): boolean {
  const mt = mediaType(header);
  return type.endsWith('/*') ? mt.startsWith(type.slice(0, -1)) : mt === type;
}

/**
 * hono/body-limit with a JSON 413 naming the limit. A multipart body is followed part by part
 * (limitMultipart, no per-part size beyond the whole), so that it cannot hold more than
 * DEFAULT_MAX_PARTS parts either: the form parser takes about 80 us a part while the event loop
 * waits, and 10 MB of empty parts would stall the kiosk for seconds.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  const plain = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => errorJson(c, 413, 'payload_too_large', `request body exceeds ${formatBytes(maxBytes)}`),
  });
  const multipart = limitMultipart({ maxBytes, maxFileBytes: maxBytes, maxFieldBytes: maxBytes });
  return (c, next) => (isMediaType(c.req.header('content-type'), 'multipart/form-data') ? multipart(c, next) : plain(c, next));
}

/** Multipart framing of one file part: its delimiter line and headers (Content-Disposition with a file name of up to a path's length, Content-Type). */
export const PART_OVERHEAD_BYTES = 8 * 1024;
/** The enrollment form's text fields (name, badge, notes, flags, source: about 2,300 characters at most, up to 4 bytes each) with their part headers. */
export const ENROLL_FIELDS_BYTES = 16 * 1024;

/**
 * The largest enrollment body worth reading: maxEnrollImages images of at most maxImageBytes each,
 * their multipart framing, and the text fields. Defaults: 10 x 10 MB + 96 KB.
 */
export function enrollBodyLimit(limits: Pick<AppConfig['limits'], 'maxImageBytes' | 'maxEnrollImages'>): number {
  return limits.maxEnrollImages * (limits.maxImageBytes + PART_OVERHEAD_BYTES) + ENROLL_FIELDS_BYTES;
}

export interface MultipartLimits {
  /** The whole body. */
  maxBytes: number;
  /** The content of one file part (a part whose Content-Disposition names a filename). */
  maxFileBytes: number;
  /** The content of one text field (default 64 KB). */
  maxFieldBytes?: number;
  /** Parts (files and fields) in the whole form (default DEFAULT_MAX_PARTS). */
  maxParts?: number;
}

/**
 * Parts in one form: far above any form of ours (an enrollment holds at most 50 images and a few
 * fields) and far below what stalls the event loop while the form parser splits the body.
 */
export const DEFAULT_MAX_PARTS = 256;

/** The headers of one part, and a preamble before the first part. */
const MAX_PART_HEADER_BYTES = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

function boundaryOf(contentType: string | null): string | null {
  const m = contentType?.match(/;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i);
  return m ? (m[1] ?? m[2])! : null;
}

/**
 * A Content-Type naming a boundary more than once (one hidden in another parameter's quoted
 * value, say): our part scanner and the form parser could each follow a different one, and the
 * scanner would then count no parts while the parser splits the body into thousands.
 */
const ambiguousBoundary = (contentType: string | null): boolean => (contentType?.match(/boundary\s*=/gi)?.length ?? 0) > 1;

type Refusal = { code: 'payload_too_large' | 'image_too_large'; message: string };

/**
 * Follows a multipart body as it arrives and measures every part: the moment one grows past its
 * limit, `advance` says so. Text is searched only from where the last search stopped, so a body
 * is scanned once however it is chunked.
 */
class PartScanner {
  readonly #delim: Buffer;
  readonly #first: Buffer;
  /** Where the current part's headers start (after its delimiter); -1 before the first delimiter. */
  #partStart = -1;
  /** Where its content starts (after the blank line); -1 while its headers are incomplete. */
  #contentStart = -1;
  #isFile = false;
  #name = '';
  /** Parts whose headers have been read. */
  #parts = 0;
  /** Where the next search starts. */
  #search = 0;

  constructor(
    boundary: string,
    readonly limits: Required<MultipartLimits>,
  ) {
    this.#delim = Buffer.from(`\r\n--${boundary}`);
    this.#first = Buffer.from(`--${boundary}`);
  }

  /** The first `size` bytes of the body have arrived (in `buf`): a refusal, or null. */
  advance(buf: Buffer, size: number): Refusal | null {
    if (this.#partStart < 0 && this.#search === 0) {
      // The body normally opens with the first delimiter, without the CRLF that precedes the others.
      if (size < this.#first.length) return null;
      if (buf.subarray(0, this.#first.length).equals(this.#first)) this.#startPart(this.#first.length);
    }
    for (;;) {
      if (this.#partStart >= 0 && this.#contentStart < 0) {
        const end = buf.subarray(0, size).indexOf(CRLF2, Math.max(this.#partStart, this.#search));
        if (end < 0) {
          if (size - this.#partStart > MAX_PART_HEADER_BYTES) return { code: 'payload_too_large', message: `a part's headers exceed ${formatBytes(MAX_PART_HEADER_BYTES)}` };
          this.#search = Math.max(this.#partStart, size - CRLF2.length + 1);
          return null;
        }
        if (++this.#parts > this.limits.maxParts) return { code: 'payload_too_large', message: `the form has more than ${this.limits.maxParts} parts` };
        const headers = buf.subarray(this.#partStart, end).toString('latin1');
        this.#isFile = /;\s*filename\*?=/i.test(headers);
        this.#name = (headers.match(/;\s*filename="([^"]{0,200})"/i)?.[1] ?? headers.match(/;\s*name="([^"]{0,100})"/i)?.[1] ?? '').replace(/[^\x20-\x7e]/g, '?');
        this.#contentStart = end + CRLF2.length;
        this.#search = this.#contentStart;
      }
      const at = buf.subarray(0, size).indexOf(this.#delim, this.#search);
      if (at < 0) {
        // The last delim.length - 1 bytes may be the start of a delimiter: not counted yet.
        const known = size - (this.#delim.length - 1);
        if (this.#contentStart >= 0) {
          const r = this.#over(known - this.#contentStart);
          if (r) return r;
        } else if (this.#partStart < 0 && known > MAX_PART_HEADER_BYTES) {
          return { code: 'payload_too_large', message: `no multipart boundary within the first ${formatBytes(MAX_PART_HEADER_BYTES)}` };
        }
        this.#search = Math.max(this.#search, known);
        return null;
      }
      if (this.#contentStart >= 0) {
        const r = this.#over(at - this.#contentStart);
        if (r) return r;
      }
      this.#startPart(at + this.#delim.length);
    }
  }

  #startPart(at: number): void {
    this.#partStart = at;
    this.#contentStart = -1;
    this.#search = at;
  }

  #over(bytes: number): Refusal | null {
    if (this.#isFile && bytes > this.limits.maxFileBytes) {
      return { code: 'image_too_large', message: `${this.#name || 'an image'} is over the ${formatBytes(this.limits.maxFileBytes)} limit for one image` };
    }
    if (!this.#isFile && bytes > this.limits.maxFieldBytes) {
      return { code: 'payload_too_large', message: `form field ${this.#name ? `"${this.#name}" ` : ''}exceeds ${formatBytes(this.limits.maxFieldBytes)}` };
    }
    return null;
  }
}

function tooLarge(c: Context, r: Refusal): Response {
  const res = errorJson(c, 413, r.code, r.message);
  // The rest of the body is not read: the client must not reuse this connection.
  res.headers.set('Connection', 'close');
  return res;
}

/**
 * A multipart body limit that refuses early, like hono/body-limit (a Content-Length over the
 * limit is a 413 before any byte is read; a chunked body is counted as it streams in) and, in
 * addition, measures each part while it arrives: one image over maxFileBytes is a 413 as soon as
 * it passes that size, not after the whole body has been read and parsed. The body read is handed
 * on to the route's form parser.
 */
export function limitMultipart(limits: MultipartLimits): MiddlewareHandler {
  const all: Required<MultipartLimits> = { maxFieldBytes: 64 * 1024, maxParts: DEFAULT_MAX_PARTS, ...limits };
  const whole: Refusal = { code: 'payload_too_large', message: `request body exceeds ${formatBytes(all.maxBytes)}` };
  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body) return next();
    const length = raw.headers.get('content-length');
    if (length !== null && !raw.headers.has('transfer-encoding') && Number(length) > all.maxBytes) return tooLarge(c, whole);
    if (ambiguousBoundary(raw.headers.get('content-type'))) return errorJson(c, 400, 'invalid_input', 'the Content-Type names more than one multipart boundary');
    const boundary = boundaryOf(raw.headers.get('content-type'));
    const scanner = boundary ? new PartScanner(boundary, all) : null;
    const reader = raw.body.getReader();
    let buf = Buffer.allocUnsafe(Math.min(all.maxBytes, 64 * 1024));
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > all.maxBytes) {
        void reader.cancel().catch(() => {});
        return tooLarge(c, whole);
      }
      if (size + value.length > buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(all.maxBytes, Math.max(size + value.length, buf.length * 2)));
        buf.copy(grown, 0, 0, size);
        buf = grown;
      }
      buf.set(value, size);
      size += value.length;
      const refusal = scanner?.advance(buf, size);
      if (refusal) {
        void reader.cancel().catch(() => {});
        return tooLarge(c, refusal);
      }
    }
    c.req.raw = new Request(raw, { body: buf.subarray(0, size) });
    await next();
  };
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}

/** Form booleans as sent by HTML checkboxes and curl. */
export const FormBoolean = z
  .enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'])
  .transform((v) => ['true', '1', 'on', 'yes'].includes(v));

/** One or several uploaded files under one field name. */
export const FileList = z.union([z.file(), z.array(z.file())]).transform((v) => (Array.isArray(v) ? v : [v]));

/**
 * A deep-partial copy of a strict object schema without its defaults: a patch names only what
 * changes (zod's .partial() would fill the defaults back in and reset everything else).
 */
export function patchSchema(schema: z.ZodObject): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    let inner: z.ZodType = field;
    // An optional section (settings.door.webhook) is patched field by field too.
    while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
    shape[key] = (inner instanceof z.ZodObject ? patchSchema(inner) : inner).optional();
  }
  return z.strictObject(shape);
}
