// `facegate restore [backup]`: puts a rotating backup of gallery.json or settings.json back in
// place (gallery.json.bak.1 is the version before the last write; .bak.3 the oldest kept). A start
// that refuses a corrupt file names the backup to give here. Without an argument it lists the
// backups and whether each reads well. The file replaced is kept as <file>.replaced-<time>.
// Runs only while no server holds the gallery: a server keeps the files in memory and would write
// its own copy over the restored one.
import path from 'node:path';
import type { Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';

type Flags = ConfigFlags & { json?: boolean };

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('restore')
      .description('restore gallery.json or settings.json from one of their rotating backups (no argument: list them)')
      .argument('[backup]', 'the backup to restore: gallery.json.bak.N or settings.json.bak.N (1 = the newest)')
      .option('--json', 'JSON output'),
  ).action(async (backup: string | undefined, o: Flags) => {
    const { EXIT, runCommand } = await import('../../service/cli-run.js');
    const { translated } = await import('../../service/errors.js');
    const { OwnerError, describeOwner, useGallery } = await import('../../owner/index.js');
    const { listBackups, restoreBackup } = await import('../../enrolled/enrolled.js');
    await runCommand(!!o.json, async () => {
      const dir = path.resolve(configFromFlags(o).galleryDir);
      return useGallery(
        dir,
        'facegate restore',
        {
          server: async (owner) => {
            throw new OwnerError(`gallery ${dir} is served by ${describeOwner({ kind: 'server', command: '', ...owner })}: stop that server first (it would write its own copy over the restored file), then restore`);
          },
          local: async () => {
            if (backup === undefined) {
              const all = await translated(() => listBackups(dir));
              if (o.json) console.log(JSON.stringify({ dir, backups: all }, null, 2));
              else if (all.length === 0) console.log(`no backups in ${dir} (they are made when gallery.json or settings.json is written)`);
              else {
                console.log(`backups in ${dir} (newest first):`);
                for (const b of all) console.log(`  ${path.basename(b.file)}  saved ${b.saved}  ${b.problem === null ? 'good' : `BAD: ${b.problem}`}`);
              }
              return EXIT.ok;
            }
            const r = await translated(() => restoreBackup(dir, backup));
            if (o.json) console.log(JSON.stringify(r, null, 2));
            else {
              console.log(`restored ${r.file} from ${path.basename(r.from)}`);
              if (r.replaced) console.log(`the file it replaced is kept as ${r.replaced}: delete it once you no longer need it (it may hold people's data)`);
              if (path.basename(r.file) === 'gallery.json') {
                console.log('people enrolled after this backup was made are not in it: enrol them again (their leftover face crops and log entries are removed at the next start)');
              }
            }
            return EXIT.ok;
          },
        },
        { say: (line) => console.error(`[facegate] ${line}`) },
      );
    });
  });
}
