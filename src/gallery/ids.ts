// Generated ids. They double as file and folder names, so every id that comes from outside is
// checked against a strict pattern before any path is built from it.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { GalleryError } from './errors.js';

const PREFIX = { identity: 'i', template: 't', activity: 'a' } as const;
export type IdKind = keyof typeof PREFIX;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case
const BODY = 20; // 100 random bits

export const ID_PATTERNS: Record<IdKind, RegExp> = {
  identity: /^i_[0-9a-hjkmnp-tv-z]{20}$/,
  template: /^t_[0-9a-hjkmnp-tv-z]{20}$/,
  activity: /^a_[0-9a-hjkmnp-tv-z]{20}$/,
};

export function newId(kind: IdKind): string {
  const bytes = randomBytes(BODY);
  let body = '';
  for (let i = 0; i < BODY; i++) body += ALPHABET[bytes[i] & 31];
  return `${PREFIX[kind]}_${body}`;
}

export function isId(kind: IdKind, value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERNS[kind].test(value);
}

export function assertId(kind: IdKind, value: unknown): string {
  if (!isId(kind, value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
    throw new GalleryError('INVALID_ID', `invalid ${kind} id ${shown}`);
  }
  return value;
}

/** Joins a validated name onto dir and double-checks it stayed inside (defence in depth). */
export function childPath(dir: string, name: string): string {
  const base = path.resolve(dir);
  const p = path.resolve(base, name);
  if (path.dirname(p) !== base || path.basename(p) !== name) throw new GalleryError('INVALID_ID', `unsafe file name ${JSON.stringify(name)}`);
  return p;
}
