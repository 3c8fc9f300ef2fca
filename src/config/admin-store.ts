// The admin credential file (<galleryDir>/admin.json by default, mode 0600): the password hash
// and the secret that signs session cookies. Generated on first start; the plain password is
// never written anywhere.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import path from 'node:path';
import { z } from 'zod';
import { hashPassword, passwordProblem, verifyPassword } from './password.js';
import { PASSWORD_HASH, type AppConfig } from './schema.js';
import { ConfigError, adminFilePath } from './load.js';

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
      throw new ConfigError(`${file} is not valid JSON; fix or remove it (removing it forgets the admin password)`);
    }
    if (!parsed.success) throw new ConfigError(`${file} is not a FaceGate admin file; fix or remove it (removing it forgets the admin password)`);
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
  /** FACEGATE_ADMIN_PASSWORD is set but was not used, and why: one line for the server's log. */
  envNote: string | null;
}

/**
 * The admin credentials the server runs with. Precedence: a hash in the config, then the stored
 * hash, then FACEGATE_ADMIN_PASSWORD on first start (hashed and stored, so it can be unset afterwards).
 * A variable too short to be a password is a ConfigError (one line, nothing stored); a variable
 * that is ignored because a password is already set is said in `envNote`.
 */
export async function resolveAdminCredentials(config: AppConfig, env: NodeJS.ProcessEnv = process.env): Promise<AdminCredentials> {
  const file = adminFilePath(config);
  const store = await AdminStore.open(file);
  const fromEnv = env.FACEGATE_ADMIN_PASSWORD || undefined;
  if (config.adminPasswordHash) {
    const envNote = fromEnv ? 'FACEGATE_ADMIN_PASSWORD is ignored: the admin password is fixed by adminPasswordHash (config file or FACEGATE_ADMIN_PASSWORD_HASH)' : null;
    return { passwordHash: config.adminPasswordHash, sessionSecret: store.sessionSecret, source: 'config', envNote };
  }
  if (store.passwordHash) {
    let envNote: string | null = null;
    if (fromEnv) {
      envNote = (await verifyPassword(fromEnv, store.passwordHash))
        ? `FACEGATE_ADMIN_PASSWORD is the admin password already stored in ${file}; it is read on the first start only, so you can unset it`
        : `FACEGATE_ADMIN_PASSWORD is ignored: an admin password is already stored in ${file} (the variable only sets the first one). To change it, run \`facegate admin password\` (it works while the server runs); then unset the variable`;
    }
    return { passwordHash: store.passwordHash, sessionSecret: store.sessionSecret, source: 'file', envNote };
  }
  if (fromEnv) {
    const problem = passwordProblem(fromEnv);
    if (problem) throw new ConfigError(`FACEGATE_ADMIN_PASSWORD: ${problem}; nothing was stored`);
    await store.setPassword(fromEnv);
    return { passwordHash: store.passwordHash, sessionSecret: store.sessionSecret, source: 'env', envNote: null };
  }
  return { passwordHash: null, sessionSecret: store.sessionSecret, source: null, envNote: null };
}
