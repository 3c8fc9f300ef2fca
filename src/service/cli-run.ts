// Running a service call from the command line: open, run, close, and turn refusals into a
// one-line message and an exit code instead of a stack trace.
import { readFile } from 'node:fs/promises';
import type { AppConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { ServiceError } from './errors.js';
import { FaceService } from './face-service.js';

/** Exit codes: 0 ok / granted, 1 denied, 2 refused input or no decision, 3 configuration or internal error. */
export const EXIT = { ok: 0, denied: 1, refused: 2, error: 3 } as const;

/** Opens the service (re-embedding the gallery first if the model changed: said on stderr), runs fn, closes. */
export async function withService<T>(config: AppConfig, fn: (s: FaceService) => Promise<T>): Promise<T> {
  const service = await FaceService.open(config, { quiet: true, log: (line) => console.error(`[facegate] ${line}`) });
  try {
    return await fn(service);
  } finally {
    await service.close();
  }
}

/** Reads an image file for the service, with the path in the message when it cannot. */
export async function readImageFile(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new ServiceError('not_found', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
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
    if (err instanceof ConfigError) {
      console.error(`error: ${err.message}`);
      process.exitCode = EXIT.error;
      return;
    }
    throw err;
  }
}
