// `facegate serve`: the kiosk server (what `npm start` runs). Starts without a model (health
// says so, recognition answers 503). --set-admin-password asks for the admin password first.
import { createInterface } from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

/** One line from the terminal without echoing it, or from piped stdin (scripts, provisioning). */
async function readSecret(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  if (process.stdin.isTTY) {
    process.stderr.write(prompt);
    // Swallow readline's echo of the typed characters.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  }
  try {
    const line = await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      rl.once('close', () => reject(new Error('no password given (stdin closed)')));
    });
    if (process.stdin.isTTY) process.stderr.write('\n');
    return line;
  } finally {
    rl.close();
  }
}

async function setAdminPassword(adminFile: string): Promise<void> {
  const { AdminStore, passwordProblem } = await import('../../config/index.js');
  const pw = await readSecret('New admin password: ');
  const problem = passwordProblem(pw);
  if (problem) throw new Error(problem);
  if (process.stdin.isTTY && (await readSecret('Repeat it: ')) !== pw) throw new Error('the passwords differ; nothing changed');
  const store = await AdminStore.open(adminFile);
  await store.setPassword(pw);
  console.error(`[facegate] admin password stored (scrypt hash) in ${adminFile}`);
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('serve')
      .description('run the kiosk server (HTTP API on port 3000 by default)')
      .option('--port <n>', 'TCP port (default 3000, or FACEGATE_PORT)', parsePort)
      .option('--host <addr>', 'listen address (default 127.0.0.1, or FACEGATE_HOST)')
      .option('--set-admin-password', 'ask for a new admin password (or read it from stdin), store its hash, then serve'),
  ).action(async (o: ConfigFlags & { port?: number; host?: string; setAdminPassword?: boolean }) => {
    const { adminFilePath } = await import('../../config/index.js');
    const { startServer } = await import('../../server/start.js');
    const config = configFromFlags(o, { port: o.port, host: o.host });
    if (o.setAdminPassword) await setAdminPassword(adminFilePath(config));
    const { OwnerError } = await import('../../owner/index.js');
    let running: Awaited<ReturnType<typeof startServer>>;
    try {
      running = await startServer(config, { configFile: o.config });
    } catch (err) {
      // Another server on this gallery: one line, no stack trace.
      if (!(err instanceof OwnerError)) throw err;
      console.error(`error: ${err.message}`);
      process.exitCode = 3;
      return;
    }
    const h = running.service.health();
    console.error(`[facegate] serving ${running.url}`);
    console.error(`[facegate] gallery ${h.gallery.dir} is this server's (pid ${process.pid}) until it stops: facegate enroll / gallery delete / reembed send their writes here (${running.localUrl})`);
    console.error(
      config.modelsDir
        ? `[facegate] following ${running.models.registry!.activeFile} (facegate model use|rollback, finetune promotions): switches without a restart`
        : `[facegate] model pinned to ${config.modelDir} (--model / FACEGATE_MODEL_DIR): versions are not followed`,
    );
    console.error(
      h.model.loaded
        ? `[facegate] model ${h.model.id} (${h.model.variant}, ${h.model.embeddingSize}-d); gallery ${h.gallery.dir}: ${h.gallery.identities} identities, ${h.gallery.templates} templates` +
            (h.gallery.reembedPending ? `; ${h.gallery.reembedPending} stored crops could not be re-embedded (see above); retry with facegate gallery reembed` : '')
        : `[facegate] NO MODEL: ${h.model.error}. /api/verify, /api/identify and /api/enroll answer 503 until one is there` +
            (config.modelsDir ? ' (it is loaded as soon as it appears).' : ' (then restart).'),
    );
    if (running.admin.source === null) {
      console.error('[facegate] no admin password: admin routes are locked. Set one with `facegate serve --set-admin-password` (or FACEGATE_ADMIN_PASSWORD on this first start).');
    } else if (running.admin.source === 'env') console.error('[facegate] admin password taken from FACEGATE_ADMIN_PASSWORD and stored hashed; you can unset the variable now');
    const stop = (signal: string) => {
      console.error(`[facegate] ${signal}: finishing open requests and closing`);
      process.once(signal, () => process.exit(130));
      running.close().then(
        () => process.exit(0),
        (err) => {
          console.error(err);
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
