// `facegate admin password`: sets the kiosk's admin password without starting a server. It is
// typed twice at a terminal (not echoed) or read from the first line of stdin (scripts,
// provisioning). The gallery's owner writes it (src/owner): while a server runs, the password is
// sent to that server over loopback with its local token, and is in force at once (every admin
// session ends); with no server it is stored in the admin file, which the next start reads.
// `facegate serve --set-admin-password` uses the same steps.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';
import type { AppConfig } from '../../config/schema.js';

/** One line from the terminal without echoing it, or from piped stdin. */
async function readSecret(prompt: string): Promise<string> {
  const { ServiceError } = await import('../../service/errors.js');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  if (process.stdin.isTTY) {
    process.stderr.write(prompt);
    // Swallow readline's echo of the typed characters.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  }
  try {
    const line = await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new ServiceError('invalid_input', 'no password given (stdin closed)')));
    });
    if (process.stdin.isTTY) process.stderr.write('\n');
    return line;
  } finally {
    rl.close();
  }
}

/** The new password, checked (ServiceError invalid_input, one line, when it is refused). */
export async function readNewPassword(): Promise<string> {
  const { ServiceError } = await import('../../service/errors.js');
  const { passwordProblem } = await import('../../config/password.js');
  const pw = await readSecret('New admin password: ');
  const problem = passwordProblem(pw);
  if (problem) throw new ServiceError('invalid_input', `${problem}; nothing changed`);
  if (process.stdin.isTTY && (await readSecret('Repeat it: ')) !== pw) throw new ServiceError('invalid_input', 'the passwords differ; nothing changed');
  return pw;
}

export type PasswordSet = { where: 'server'; who: string } | { where: 'file'; file: string };

/** Sets the password through the server that owns the gallery, or in the admin file when none runs. */
export async function setAdminPassword(config: AppConfig, password: string): Promise<PasswordSet> {
  const { AdminStore, ConfigError, adminFilePath } = await import('../../config/index.js');
  const { ServerClient, useGallery } = await import('../../owner/index.js');
  if (config.adminPasswordHash) {
    throw new ConfigError('the admin password is fixed by adminPasswordHash (config file or FACEGATE_ADMIN_PASSWORD_HASH): change it there, then restart the server');
  }
  return useGallery<PasswordSet>(
    config.galleryDir,
    'facegate admin password',
    {
      server: async (owner) => {
        const api = new ServerClient(owner);
        await api.call('PUT', '/api/admin/password', { password });
        return { where: 'server', who: api.who };
      },
      local: async () => {
        const store = await AdminStore.open(adminFilePath(config));
        await store.setPassword(password);
        return { where: 'file', file: store.file };
      },
    },
    { say: (line) => console.error(`[facegate] ${line}`) },
  );
}

export function describeSet(r: PasswordSet): string {
  return r.where === 'server'
    ? `admin password changed on ${r.who}: in force now; every admin session has ended (log in again)`
    : `admin password stored (scrypt hash) in ${r.file}; no server runs on this gallery: the next \`facegate serve\` uses it`;
}

/** One line per refusal, and the exit code of src/service/cli-run.ts (2 refused input, 3 configuration or owner). */
export async function reportError(err: unknown): Promise<void> {
  const { ServiceError } = await import('../../service/errors.js');
  const { ConfigError } = await import('../../config/load.js');
  const { OwnerError } = await import('../../owner/owner.js');
  if (err instanceof ServiceError) {
    console.error(`error: ${err.message}`);
    process.exitCode = 2;
  } else if (err instanceof ConfigError || err instanceof OwnerError) {
    console.error(`error: ${err.message}`);
    process.exitCode = 3;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
}

export function register(program: Command): void {
  const admin = program.command('admin').description('the kiosk admin account');
  addConfigOptions(
    admin
      .command('password')
      .description('set the admin password (typed twice, or the first line of stdin); a running server on this gallery uses it at once'),
  ).action(async (o: ConfigFlags) => {
    try {
      const config = configFromFlags(o);
      const r = await setAdminPassword(config, await readNewPassword());
      console.error(`[facegate] ${describeSet(r)}`);
    } catch (err) {
      await reportError(err);
    }
  });
}
