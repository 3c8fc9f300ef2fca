// The admin credential file (<galleryDir>/admin.json by default, mode 0600): the password hash
// and the secret that signs session cookies. Generated on first start; the plain password is
// never written anywhere.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import path from 'node:path';
import { z } from 'zod';
import { hashPassword } from './password.js';
import { PASSWORD_HASH, type AppConfig } from './schema.js';
import { adminFilePath } from './load.js';

const AdminFileSchema = z.strictObject({
  format: z.literal('facegate-admin'),
  version: z.literal(1),
  passwordHash: z.string().regex(PASSWORD_HASH).nullable(),
  sessionSecret: z.string().min(32),
});
type AdminFile = z.output<typeof AdminFileSchema>;

/** Mode 0600 from creation: the file holds the password hash and the cookie-signing secret. */
async function writeSecret(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, text, { mode: 0o600 });
}

export class AdminStore {
  private constructor(
    readonly file: string,
    private data: AdminFile,
  ) {}

  static async open(file: string): Promise<AdminStore> {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === undefined) {
      const data: AdminFile = { format: 'facegate-admin', version: 1, passwordHash: null, sessionSecret: randomBytes(32).toString('base64url') };
      await writeSecret(file, JSON.stringify(data, null, 2) + '\n');
      return new AdminStore(file, data);
    }
    let parsed: ReturnType<typeof AdminFileSchema.safeParse>;
    try {
      parsed = AdminFileSchema.safeParse(JSON.parse(text));
    } catch {
      throw new Error(`${file} is not valid JSON; fix or remove it (removing it forgets the admin password)`);
    }
    if (!parsed.success) throw new Error(`${file} is not a FaceGate admin file; fix or remove it (removing it forgets the admin password)`);
    return new AdminStore(file, parsed.data);
  }

  get passwordHash(): string | null {
    return this.data.passwordHash;
  }

  get sessionSecret(): string {
    return this.data.sessionSecret;
  }

  /** Stores a new password hash and rotates the session secret, so existing sessions end. */
  async setPassword(password: string): Promise<void> {
    const next: AdminFile = { ...this.data, passwordHash: await hashPassword(password), sessionSecret: randomBytes(32).toString('base64url') };
    await writeSecret(this.file, JSON.stringify(next, null, 2) + '\n');
    this.data = next;
  }
}

export interface AdminCredentials {
  passwordHash: string | null;
  sessionSecret: string;
  /** Where the hash came from; null when no password is set (admin routes stay locked). */
  source: 'config' | 'file' | 'env' | null;
}

/**
 * The admin credentials the server runs with. Precedence: a hash in the config, then the stored
 * hash, then FACEGATE_ADMIN_PASSWORD on first start (hashed and stored, so it can be unset afterwards).
 */
export async function resolveAdminCredentials(config: AppConfig, env: NodeJS.ProcessEnv = process.env): Promise<AdminCredentials> {
  const store = await AdminStore.open(adminFilePath(config));
  if (config.adminPasswordHash) return { passwordHash: config.adminPasswordHash, sessionSecret: store.sessionSecret, source: 'config' };
  if (store.passwordHash) return { passwordHash: store.passwordHash, sessionSecret: store.sessionSecret, source: 'file' };
  const first = env.FACEGATE_ADMIN_PASSWORD;
  if (first) {
    await store.setPassword(first);
    return { passwordHash: store.passwordHash, sessionSecret: store.sessionSecret, source: 'env' };
  }
  return { passwordHash: null, sessionSecret: store.sessionSecret, source: null };
}
