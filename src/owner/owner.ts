// Who owns a gallery, and what everyone else does about it. One process writes a gallery at a
// time, the one holding its lock (./lock.ts):
//   - a server holds it from start to stop, and publishes a loopback URL and a local admin token
//     in it; a second server on the same gallery refuses to start;
//   - a CLI command, while a server runs, sends its writes to that server (its HTTP API, with the
//     token) and only reads locally; with no server it takes the lock itself for as long as it
//     runs, so two commands take turns instead of overwriting each other.
// A holder still starting up, or another CLI command, is waited for.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { OwnerLock, lockPath, type OwnerRecord } from './lock.js';

/** Refusals and waits that ran out, said in one line. */
export class OwnerError extends Error {
  override readonly name = 'OwnerError';
}

/** A running server as the CLI reaches it. */
export interface ServingOwner {
  pid: number;
  url: string;
  token: string;
}

/** The request never reached the server (connection refused: it is stopping, or gone): safe to retry. */
export class ServerUnreachable extends Error {
  override readonly name = 'ServerUnreachable';
}

export interface WaitOptions {
  /** How long to wait for a CLI command or a starting server to finish with the gallery (default 10 min). */
  waitMs?: number;
  /** Where to say that it waits (once per holder). */
  say?: (line: string) => void;
}

/** "a facegate server (pid 123) at http://127.0.0.1:3000", for messages (never the token). */
export function describeOwner(r: Pick<OwnerRecord, 'kind' | 'pid' | 'url' | 'command'>): string {
  if (r.kind === 'cli') return `\`${r.command}\` (pid ${r.pid})`;
  return r.url ? `a facegate server (pid ${r.pid}) at ${r.url}` : `a facegate server (pid ${r.pid}) that is still starting`;
}

const WAIT = Symbol('wait');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the gallery's lock and runs `onFree` with it; while someone else holds it, asks `onHeld`
 * what to do: a result, or WAIT (poll again until the deadline).
 */
async function whenFree<T>(
  galleryDir: string,
  who: { kind: OwnerRecord['kind']; command: string },
  opts: WaitOptions,
  onHeld: (holder: OwnerRecord) => Promise<T | typeof WAIT>,
  onFree: (lock: OwnerLock) => Promise<T>,
): Promise<T> {
  const dir = path.resolve(galleryDir);
  await mkdir(dir, { recursive: true });
  const waitMs = opts.waitMs ?? 10 * 60_000;
  const deadline = Date.now() + waitMs;
  let said = '';
  for (;;) {
    const r = await OwnerLock.tryTake(dir, who).catch((err: NodeJS.ErrnoException) => {
      throw new OwnerError(`gallery ${dir}: cannot use its lock file ${lockPath(dir)} (${err.code ?? err.message}); run facegate as the user that owns the gallery`);
    });
    if ('lock' in r) return onFree(r.lock);
    const out = await onHeld(r.holder);
    if (out !== WAIT) return out;
    const line = `gallery ${dir} is in use by ${describeOwner(r.holder)}`;
    if (Date.now() > deadline) throw new OwnerError(`${line}, still, after ${Math.round(waitMs / 1000)} s; try again once it is done`);
    if (line !== said) opts.say?.((said = line) + ': waiting');
    await sleep(100);
  }
}

/** A server's hold on its gallery. */
export class ServerOwnership {
  constructor(
    readonly galleryDir: string,
    readonly lock: OwnerLock,
  ) {}

  /**
   * Tells the CLI where this server listens (a loopback URL) and with which local admin token;
   * returns the token, a fresh random one per start (it lives in the 0600 lock file only).
   */
  async publish(url: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.lock.update({ url, token });
    return token;
  }

  release(): Promise<void> {
    return this.lock.release();
  }
}

/**
 * A server takes its gallery for its whole life. Another server on it is refused (OwnerError,
 * one line naming the gallery and that server); a CLI command in progress is waited for.
 */
export function claimForServer(galleryDir: string, opts: WaitOptions = {}): Promise<ServerOwnership> {
  const dir = path.resolve(galleryDir);
  return whenFree(
    dir,
    { kind: 'server', command: 'facegate serve' },
    opts,
    async (holder) => {
      if (holder.kind === 'cli') return WAIT;
      throw new OwnerError(`gallery ${dir} is already served by ${describeOwner(holder)}: stop that server first, or give this one another gallery (--gallery, FACEGATE_GALLERY_DIR)`);
    },
    async (lock) => new ServerOwnership(dir, lock),
  );
}

/**
 * A CLI command on a gallery: `server` while a server owns it (it must send writes there), else
 * `local` while this process holds the lock (released when `local` ends). Another command, or a
 * server still starting, is waited for; a server that stops meanwhile (connection refused) too.
 */
export function useGallery<T>(
  galleryDir: string,
  command: string,
  ways: { server: (owner: ServingOwner) => Promise<T>; local: () => Promise<T> },
  opts: WaitOptions = {},
): Promise<T> {
  return whenFree(
    galleryDir,
    { kind: 'cli', command },
    opts,
    async (holder) => {
      if (holder.kind !== 'server' || !holder.url || !holder.token) return WAIT;
      try {
        return await ways.server({ pid: holder.pid, url: holder.url, token: holder.token });
      } catch (err) {
        if (err instanceof ServerUnreachable) return WAIT;
        throw err;
      }
    },
    async (lock) => {
      try {
        return await ways.local();
      } finally {
        await lock.release();
      }
    },
  );
}
