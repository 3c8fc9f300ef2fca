// The robustness battery's machinery: the app in-process (app.request, as test/server.test.ts does)
// over the shipped model and a gallery with one person enrolled; the facegate command line run
// in-process too (the very program bin/facegate.js runs, on its own gallery, so each command pays
// for opening its service but not for a Node and WASM start-up); and the invariants every hostile
// input must leave intact: no stack trace, the galleries as they were, tensors flat, health 200.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { format } from 'node:util';
import type { Command } from 'commander';
import type { Hono } from 'hono';
import { buildProgram } from '../../src/cli/main.js';
import type { AppEnv } from '../../src/http/index.js';
import { LOCAL } from '../fixtures/web/harness.js';

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
  /** How long the answer took. */
  ms: number;
}

export class Api {
  /** Every verify answer with a granted/denied decision: each adds one activity-log entry. */
  loggedDecisions = 0;

  constructor(
    readonly app: Hono<AppEnv>,
    readonly token: string,
  ) {}

  /** A loopback client (the kiosk itself); `admin` adds the bearer token. */
  async call(url: string, init: RequestInit & { admin?: boolean } = {}): Promise<ApiAnswer> {
    const { admin, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (admin) headers.set('authorization', `Bearer ${this.token}`);
    const t0 = performance.now();
    const res = await this.app.request(url, { method: 'POST', ...rest, headers }, LOCAL);
    const text = await res.text();
    const ms = performance.now() - t0;
    const type = res.headers.get('content-type') ?? '';
    const body = type.includes('json') ? JSON.parse(text) : text;
    if (url.startsWith('/api/verify') && res.status === 200 && ['granted', 'denied'].includes(body.decision)) this.loggedDecisions++;
    return { status: res.status, body, text, ms };
  }

  verify(file: { bytes: Uint8Array; name: string }, fields: Record<string, string> = {}): Promise<ApiAnswer> {
    return this.call('/api/verify', { body: form(fields, [['image', file.bytes, file.name]]) });
  }

  /** identify gets the raw body (a camera client's way), with an image type guessed from the name as a client would. */
  identify(file: { bytes: Uint8Array; name: string }, query = ''): Promise<ApiAnswer> {
    return this.call(`/api/identify${query}`, { headers: { 'content-type': imageType(file.name) }, body: file.bytes as Uint8Array<ArrayBuffer> });
  }

  enroll(name: string, files: { bytes: Uint8Array; name: string }[], fields: Record<string, string> = {}): Promise<ApiAnswer> {
    return this.call('/api/enroll', { admin: true, body: form({ name, ...fields }, files.map((f) => ['images', f.bytes, f.name])) });
  }
}

export function form(fields: Record<string, string>, files: [string, Uint8Array, string][] = []): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  for (const [field, bytes, name] of files) fd.append(field, new File([bytes as Uint8Array<ArrayBuffer>], name));
  return fd;
}

const TYPES: Record<string, string> = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', tiff: 'image/tiff', bmp: 'image/bmp', pgm: 'image/x-portable-graymap', heic: 'image/heic' };
export const imageType = (name: string) => TYPES[path.extname(name).slice(1).toLowerCase()] ?? 'image/octet-stream';

// ---- the command line, in-process --------------------------------------------------------------

export interface CliAnswer {
  /** process.exitCode as the command left it (commander's own usage errors: their exit code). */
  code: number;
  out: string;
  err: string;
  /** --json output parsed, when stdout is JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

function quietly(cmd: Command, out: string[], err: string[]): void {
  cmd.exitOverride();
  cmd.configureOutput({ writeOut: (s) => void out.push(s), writeErr: (s) => void err.push(s) });
  for (const sub of cmd.commands) quietly(sub, out, err);
}

/**
 * `facegate <args> --model M --gallery G`, the program bin/facegate.js runs, in this process:
 * console output captured, FACEGATE_* variables hidden, process.exitCode read and restored.
 * A rejection (an error runCommand does not know: the real binary would print its stack) fails.
 */
export async function runCli(args: string[], dirs: { model: string; gallery: string }): Promise<CliAnswer> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  const env = Object.entries(process.env).filter(([k]) => k.startsWith('FACEGATE_'));
  for (const [k] of env) delete process.env[k];
  const exitBefore = process.exitCode;
  process.exitCode = undefined;
  console.log = console.info = (...a: unknown[]) => void out.push(`${format(...a)}\n`);
  console.error = console.warn = (...a: unknown[]) => void err.push(`${format(...a)}\n`);
  let code: number;
  try {
    const program = await buildProgram();
    quietly(program, out, err);
    try {
      await program.parseAsync(['node', 'facegate', ...args, '--model', dirs.model, '--gallery', dirs.gallery]);
      code = Number(process.exitCode ?? 0);
    } catch (e) {
      // commander's usage errors (missing argument, unknown option) under exitOverride.
      if ((e as { code?: string }).code?.startsWith('commander.')) code = (e as { exitCode: number }).exitCode;
      else throw new Error(`facegate ${args.slice(0, 2).join(' ')} threw instead of refusing: ${(e as Error).stack}`);
    }
  } finally {
    Object.assign(console, saved);
    for (const [k, v] of env) process.env[k] = v;
    process.exitCode = exitBefore;
  }
  const stdout = out.join('');
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, out: stdout, err: err.join(''), json };
}

// ---- invariants ----------------------------------------------------------------------------------

/** What a client must never see: stack frames, source paths, this machine's folders. */
export function assertNoLeak(what: string, text: string, secrets: string[]): void {
  assert.doesNotMatch(text, /^\s+at\s|:\d+:\d+\)|\.[cm]?[jt]s:\d+|node_modules|file:\/\//m, `${what}: looks like a stack trace:\n${text.slice(0, 2000)}`);
  for (const s of secrets) assert.ok(!text.includes(s), `${what}: names ${s}:\n${text.slice(0, 2000)}`);
}

/**
 * Every file under the gallery folder with its content hash, except the activity log and its
 * snapshots: a granted/denied decision on a legitimate photo is logged there, as it should be
 * (counted separately). The owner lock of a command that has ended must be gone too.
 */
export async function galleryFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      // The audit trail (src/activity: audit/, its atomic rewrites' temp files inside it) and its snapshots.
      if (rel === 'audit' || rel === 'snapshots') continue;
      if (e.isDirectory()) await walk(p);
      else out[rel] = createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16);
    }
  };
  await walk(dir);
  return out;
}

/** The decisions in the audit trail (audit/audit-<day>[.<n>].jsonl), oldest first. */
export async function activityDecisions(dir: string): Promise<string[]> {
  const audit = path.join(dir, 'audit');
  const segments = (await readdir(audit).catch(() => [] as string[]))
    .map((name) => /^audit-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => a[1]!.localeCompare(b[1]!) || Number(a[2] ?? 0) - Number(b[2] ?? 0));
  const out: string[] = [];
  for (const m of segments) {
    for (const line of (await readFile(path.join(audit, m[0]), 'utf8')).split('\n')) {
      try {
        out.push((JSON.parse(line) as { decision: string }).decision);
      } catch {
        // a torn or empty line
      }
    }
  }
  return out;
}
