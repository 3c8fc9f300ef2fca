// Running a service call from the command line: open, run, close, and turn refusals into a
// one-line message and an exit code instead of a stack trace.
//
// The gallery has one writer at a time (src/owner). While a server runs, writes go to it over
// its loopback API (writeGallery) and reads open the files here with the server's model, which
// writes nothing; with no server, the command holds the gallery's lock while it runs.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { AppConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { OwnerError, ServerClient, describeOwner, useGallery, type ServingOwner } from '../owner/index.js';
import { ServiceError } from './errors.js';
import { FaceService } from './face-service.js';
import type { HealthReport } from './types.js';

/** Exit codes: 0 ok / granted, 1 denied, 2 refused input or no decision, 3 configuration or internal error. */
export const EXIT = { ok: 0, denied: 1, refused: 2, error: 3 } as const;

const say = (line: string) => console.error(`[facegate] ${line}`);

/** "facegate verify": the subcommand, for "in use by ..." messages (never its arguments: names, ids). */
const defaultCommand = () => `facegate ${process.argv.slice(2).find((a) => /^[a-z][a-z-]*$/.test(a)) ?? ''}`.trim();

/** Opens the service (re-embedding the gallery first if the model changed: said on stderr), runs fn, closes. */
async function openService<T>(config: AppConfig, fn: (s: FaceService) => Promise<T>): Promise<T> {
  const service = await FaceService.open(config, { quiet: true, log: say });
  try {
    return await fn(service);
  } finally {
    await service.close();
  }
}

/**
 * The configuration to read a served gallery with: the server's model. Opened with another
 * model, the service would re-embed the gallery for it, a write behind the server's back.
 */
async function withServersModel(config: AppConfig, owner: ServingOwner): Promise<AppConfig> {
  const h = await new ServerClient(owner).call<HealthReport>('GET', '/api/health');
  if (path.resolve(h.model.dir) === path.resolve(config.modelDir)) return config;
  if (config.modelsDir === null) {
    throw new OwnerError(
      `gallery ${path.resolve(config.galleryDir)} is served by ${describeOwner({ kind: 'server', command: '', ...owner })} with model ${h.model.dir}; ` +
        `reading it with ${config.modelDir} would re-embed it: leave out --model (FACEGATE_MODEL_DIR), or switch the server (facegate model use)`,
    );
  }
  return { ...config, modelDir: h.model.dir };
}

/**
 * A command that reads the gallery (verify, identify, list): runs `fn` on a service opened here.
 * While a server owns the gallery, its current files and its model; otherwise under the gallery's
 * lock (opening may re-embed for a new model, and a command writing meanwhile must not interleave).
 */
export function withService<T>(config: AppConfig, fn: (s: FaceService) => Promise<T>, command = defaultCommand()): Promise<T> {
  return useGallery(config.galleryDir, command, { server: async (owner) => openService(await withServersModel(config, owner), fn), local: () => openService(config, fn) }, { say });
}

/**
 * A command that writes the gallery (enroll, gallery delete, reembed): `server` sends it to the
 * running server that owns the gallery; `local` runs it here, under the gallery's lock, when none runs.
 */
export function writeGallery<T>(config: AppConfig, command: string, ways: { server: (api: ServerClient) => Promise<T>; local: (s: FaceService) => Promise<T> }): Promise<T> {
  let told = '';
  return useGallery(
    config.galleryDir,
    command,
    {
      server: (owner) => {
        const api = new ServerClient(owner);
        const line = `gallery ${path.resolve(config.galleryDir)} is served by ${api.who}: sent there`;
        if (line !== told) say((told = line));
        return ways.server(api);
      },
      local: () => openService(config, ways.local),
    },
    { say },
  );
}

/**
 * Reads an image file for the service, with the path in the message when it cannot. Only a regular
 * file within the size limit is read: a FIFO or /dev/zero named like a photo would never end.
 */
export async function readImageFile(file: string, maxBytes: number): Promise<Uint8Array> {
  const fail = (err: unknown): never => {
    throw new ServiceError('not_found', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  };
  // Opened once, then checked and read through the same handle: the path cannot be swapped in between.
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch(fail);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ServiceError('not_found', `${file}: not a regular file`);
    if (st.size > maxBytes) throw new ServiceError('image_too_large', `${file}: ${st.size} bytes exceeds the ${maxBytes}-byte limit`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** Runs a command body; prints errors briefly (details as JSON with --json) and sets the exit code. */
export async function runCommand(json: boolean, body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    if (err instanceof ServiceError) {
      if (json) console.log(JSON.stringify({ error: { code: err.code, message: err.message, ...err.details } }, null, 2));
      else {
        console.error(`error (${err.code}): ${err.message}`);
        const samples = (err.details?.samples ?? []) as { index: number; file: string | null; accepted: boolean; reasons: { message: string }[] }[];
        for (const s of samples) console.error(`  ${s.file ?? `image ${s.index + 1}`}: ${s.accepted ? 'ok' : s.reasons.map((r) => r.message).join(', ')}`);
      }
      process.exitCode = err.code === 'no_model' || err.code === 'storage' ? EXIT.error : EXIT.refused;
      return;
    }
    if (err instanceof ConfigError || err instanceof OwnerError) {
      console.error(`error: ${err.message}`);
      process.exitCode = EXIT.error;
      return;
    }
    throw err;
  }
}
