// Admin password hashing: scrypt (memory-hard, in node:crypto) with a random salt, stored as
// scrypt$N$r$p$salt$hash so the cost can be raised later without breaking old hashes.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { PASSWORD_HASH } from './schema.js';

const N = 16384;
const R = 8;
const P = 1;
const KEY_LEN = 32;
export const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 1024;

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `the admin password needs at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `the admin password is longer than ${MAX_PASSWORD_LENGTH} characters`;
  return null;
}

export async function hashPassword(password: string): Promise<string> {
  const problem = passwordProblem(password);
  if (problem) throw new Error(problem);
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time comparison against a stored hash; false (never a throw) for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH || !PASSWORD_HASH.test(stored)) return false;
  const [, n, r, p, saltB64, keyB64] = stored.split('$') as [string, string, string, string, string, string];
  const expected = Buffer.from(keyB64, 'base64url');
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  // Refuse absurd parameters from a tampered file rather than allocate gigabytes, and a cut key
  // (a shorter scrypt output is a prefix of the longer one, so it would still match).
  if (cost.N > 1 << 20 || cost.r > 32 || cost.p > 16 || expected.length !== KEY_LEN) return false;
  const key = await scryptAsync(password, Buffer.from(saltB64, 'base64url'), expected.length, { ...cost, maxmem: 256 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}
