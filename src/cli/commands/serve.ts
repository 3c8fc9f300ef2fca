// `facegate serve`: the kiosk server (what `npm start` runs). Starts without a model (health
// says so, recognition answers 503). --set-admin-password sets the admin password first (as
// `facegate admin password` does); when a server already runs on this gallery, that server takes
// the new password at once and this command exits instead of starting a second one.
// Refusals (a password too short, a port in use, another server on the gallery, a bad
// configuration) are one line each, never a stack trace.
import { InvalidArgumentError, type Command } from 'commander';
import type { AppConfig } from '../../config/schema.js';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';
import { describeSet, readNewPassword, reportError, setAdminPassword } from './admin.js';

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

/** listen() failures, said in one line; null for anything else. */
function listenProblem(err: unknown, config: AppConfig): string | null {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.syscall !== 'listen') return null;
  const where = `${e.address ?? config.host}:${e.port ?? config.port}`;
  if (e.code === 'EADDRINUSE') return `cannot listen on ${where}: the port is in use (another facegate server, or another program); stop it, or choose another port with --port or FACEGATE_PORT`;
  if (e.code === 'EACCES') return `cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose another port with --port or FACEGATE_PORT`;
  if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${where}: no such address on this machine; check --host or FACEGATE_HOST`;
  return `cannot listen on ${where}: ${e.code ?? e.message}`;
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('serve')
      .description('run the kiosk server (HTTP API on port 3000 by default)')
      .option('--port <n>', 'TCP port (default 3000, or FACEGATE_PORT)', parsePort)
      .option('--host <addr>', 'listen address (default 127.0.0.1, or FACEGATE_HOST)')
      .option('--set-admin-password', 'set the admin password first (typed twice, or the first line of stdin), then serve; if a server already runs on this gallery, it takes the password at once and this command exits'),
  ).action(async (o: ConfigFlags & { port?: number; host?: string; setAdminPassword?: boolean }) => {
    let config: AppConfig | undefined;
    let running: Awaited<ReturnType<typeof import('../../http/start.js').startServer>>;
    try {
      config = configFromFlags(o, { port: o.port, host: o.host });
      if (o.setAdminPassword) {
        const set = await setAdminPassword(config, await readNewPassword());
        console.error(`[facegate] ${describeSet(set)}`);
        if (set.where === 'server') {
          console.error('[facegate] that server keeps serving this gallery: not starting a second one');
          return;
        }
      }
      const { startServer } = await import('../../http/start.js');
      running = await startServer(config, { configFile: o.config, workers: 'auto', threads: 'auto' });
    } catch (err) {
      const listen = config ? listenProblem(err, config) : null;
      if (listen) {
        console.error(`error: ${listen}`);
        process.exitCode = 3;
      } else await reportError(err);
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
      console.error('[facegate] no admin password: admin routes are locked. Set one with `facegate admin password` (this server takes it at once), or FACEGATE_ADMIN_PASSWORD on a first start.');
    } else if (running.admin.source === 'env') console.error('[facegate] admin password taken from FACEGATE_ADMIN_PASSWORD and stored hashed; you can unset the variable now');
    if (running.admin.envNote) console.error(`[facegate] ${running.admin.envNote}`);
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
