// `npm run bench -- <area> [args]`: runs bench/<area>.ts; with no area, lists them.
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const dir = path.dirname(fileURLToPath(import.meta.url));
const areas = (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'main.ts').map((f) => f.slice(0, -3)).sort();
const [area, ...rest] = process.argv.slice(2);
if (!area || !areas.includes(area)) {
  console.log(`usage: npm run bench -- <${areas.join('|')}> [args]`);
  process.exit(area ? 1 : 0);
}
const mod = (await import(pathToFileURL(path.join(dir, `${area}.ts`)).href)) as { run: (a: string[]) => Promise<void> };
await mod.run(rest);
