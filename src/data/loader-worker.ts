// Decodes and augments one batch at a time. Runs inside a worker_thread started by BatchLoader (and inline
// in the main thread when it is asked for 0 workers). One image decoding at a time per worker (overlapped with
// augmenting the previous one), so `workers` bounds the CPU the loader takes from the training step.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { applyAugment, type AugmentParams } from './augment.js';

export type Fit = 'cover' | 'fill';

export const LOADER_WORKER_ROLE = 'facegate-batch-loader';

export interface DecodeTask {
  path: string;
  /** Already decoded un-augmented pixels (the loader's cache); skips reading the file. */
  pixels?: Uint8Array;
  params: AugmentParams | null;
  /** Send the un-augmented decode back so the loader can cache it. */
  keepRaw: boolean;
}

export interface BatchRequest {
  type: 'batch';
  id: number;
  size: number;
  fit: Fit;
  tasks: DecodeTask[];
}

export interface BatchResult {
  id: number;
  /** kept.length * size * size * 3 bytes, in task order. */
  images: Uint8Array;
  /** Indices of the tasks that made it into `images`. */
  kept: Int32Array;
  /** Per task: the un-augmented decode when keepRaw was asked and it was decoded here, else null. */
  raws: (Uint8Array | null)[];
  failures: { index: number; path: string; message: string }[];
}

export type WorkerRequest = BatchRequest | { type: 'close' };
export type WorkerReply = ({ type: 'result' } & BatchResult) | { type: 'error'; id: number; message: string };

/** Binary PGM/PPM (P5/P6): the prebuilt libvips in sharp has no loader for them. Null if not Netpbm. */
function parseNetpbm(buf: Uint8Array): { data: Uint8Array; width: number; height: number; channels: 1 | 3 } | null {
  if (buf.length < 3 || buf[0] !== 0x50 || (buf[1] !== 0x35 && buf[1] !== 0x36)) return null;
  const channels = buf[1] === 0x35 ? 1 : 3;
  let pos = 2;
  const fields: number[] = [];
  const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  while (fields.length < 3) {
    while (pos < buf.length && (isSpace(buf[pos]) || buf[pos] === 0x23)) {
      if (buf[pos] === 0x23) while (pos < buf.length && buf[pos] !== 0x0a) pos++; // comment to end of line
      else pos++;
    }
    let v = 0;
    const start = pos;
    while (pos < buf.length && buf[pos] >= 0x30 && buf[pos] <= 0x39) v = v * 10 + (buf[pos++] - 0x30);
    if (pos === start) throw new Error('bad Netpbm header');
    fields.push(v);
  }
  pos++; // exactly one whitespace byte before the samples
  const [width, height, maxval] = fields;
  if (width < 1 || height < 1 || maxval < 1 || maxval > 65535) throw new Error('bad Netpbm header');
  const bytes = maxval < 256 ? 1 : 2;
  const n = width * height * channels;
  if (buf.length - pos < n * bytes) throw new Error(`truncated Netpbm file (${buf.length - pos} of ${n * bytes} sample bytes)`);
  if (bytes === 1 && maxval === 255) return { data: buf.subarray(pos, pos + n), width, height, channels };
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = bytes === 1 ? buf[pos + i] : (buf[pos + 2 * i] << 8) | buf[pos + 2 * i + 1];
    data[i] = Math.round((v * 255) / maxval);
  }
  return { data, width, height, channels };
}

/**
 * Any image sharp reads (format sniffed from content, not the extension) or binary PGM/PPM → size x size RGB
 * bytes: EXIF orientation applied, alpha dropped, grey as R = G = B, resized with `fit` (default cover =
 * scale then centre-crop, so faces are not stretched). Throws on unreadable or truncated files.
 */
export async function decodeImage(file: string, size: number, fit: Fit = 'cover'): Promise<Uint8Array> {
  const buf = await readFile(file);
  const pnm = parseNetpbm(buf);
  const input = pnm ? sharp(pnm.data, { raw: { width: pnm.width, height: pnm.height, channels: pnm.channels } }) : sharp(buf);
  // no toColourspace('srgb'): it costs ~25 % more per crop, and sharp already outputs RGB for grey or CMYK input
  const { data, info } = await input.autoOrient().resize(size, size, { fit }).removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || (info.channels !== 3 && info.channels !== 1)) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  if (info.channels === 3) return new Uint8Array(data); // own copy: sharp's buffer may not be transferable between threads
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
  return rgb;
}

type Decoded = { pixels: Uint8Array; fresh: boolean } | { error: string };

export async function processBatch(req: BatchRequest): Promise<BatchResult> {
  const px = req.size * req.size * 3;
  const images = new Uint8Array(req.tasks.length * px);
  const kept: number[] = [];
  const raws: (Uint8Array | null)[] = [];
  const failures: BatchResult['failures'] = [];
  const decode = (t: DecodeTask): Promise<Decoded> =>
    t.pixels
      ? Promise.resolve({ pixels: t.pixels, fresh: false })
      : decodeImage(t.path, req.size, req.fit).then(
          (pixels) => ({ pixels, fresh: true }),
          (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
        );
  // decode the next image (libuv thread) while this thread augments the current one
  let next = req.tasks.length > 0 ? decode(req.tasks[0]) : null;
  for (let i = 0; i < req.tasks.length; i++) {
    const t = req.tasks[i];
    const d = await next!;
    next = i + 1 < req.tasks.length ? decode(req.tasks[i + 1]) : null;
    if ('error' in d) {
      failures.push({ index: i, path: t.path, message: d.error });
      raws.push(null);
      continue;
    }
    if (d.pixels.length !== px) throw new Error(`task ${i} (${t.path}): ${d.pixels.length} bytes, expected ${px}`);
    raws.push(t.keepRaw && d.fresh ? d.pixels : null);
    const out = t.params ? applyAugment({ data: d.pixels, width: req.size, height: req.size }, t.params).data : d.pixels;
    images.set(out, kept.length * px);
    kept.push(i);
  }
  return {
    id: req.id,
    images: kept.length === req.tasks.length ? images : images.slice(0, kept.length * px),
    kept: Int32Array.from(kept),
    raws,
    failures,
  };
}

// Worker entry: only when started by BatchLoader, so importing this module elsewhere has no side effect.
if (!isMainThread && parentPort && (workerData as { role?: unknown } | null)?.role === LOADER_WORKER_ROLE) {
  const port = parentPort;
  // libvips' operation cache (process-wide) only pays off for repeated identical operations, never the case
  // when streaming a dataset, and hashing each input costs ~20 % of a 112 px crop's decode
  sharp.cache(false);
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (msg: WorkerRequest) => {
    // serial: one batch after another keeps this worker to about one core
    queue = queue.then(async () => {
      if (msg.type === 'close') {
        port.close(); // ends this thread once idle; safer than terminate() while sharp is mid-operation
        return;
      }
      try {
        const res = await processBatch(msg);
        const transfer = [res.images.buffer, res.kept.buffer, ...res.raws.filter((r) => r !== null).map((r) => r.buffer)];
        port.postMessage({ type: 'result', ...res } satisfies WorkerReply, transfer as ArrayBuffer[]);
      } catch (err) {
        port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies WorkerReply);
      }
    });
  });
}
