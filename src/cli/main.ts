// `facegate` command line. Each subcommand lives in src/cli/commands/<name>.ts and exports
// `register(program)`, so a newcomer finds a command by its file name.
import { Command } from 'commander';
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

export async function buildProgram(): Promise<Command> {
  const program = new Command('facegate')
    .description('FaceGate face-verification appliance')
    .showHelpAfterError();
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commands');
  const files = (await readdir(dir)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort();
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  return program;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
if (isMain) {
  const program = await buildProgram();
  await program.parseAsync(process.argv);
}
