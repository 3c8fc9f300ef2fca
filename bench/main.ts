// `npm run bench -- <area> [args]`: runs bench/<area>.ts. With no area, `npm run bench` runs the
// report (bench/report.ts): every area the side-by-side table needs, written to docs/BENCHMARKS.md.
// `--summary-json FILE` (used by the report) writes the area's summary figures to FILE.
import { readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const dir = path.dirname(fileURLToPath(import.meta.url));
const NOT_AREAS = new Set(['main.ts', 'summary.ts']);
const areas = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !NOT_AREAS.has(f)).map((f) => f.slice(0, -3)).sort();
const argv = process.argv.slice(2);
const at = argv.indexOf('--summary-json');
const summaryFile = at >= 0 ? argv.splice(at, 2)[1] : undefined;
const [area = 'report', ...rest] = argv;
if (!areas.includes(area)) {
  console.log(`usage: npm run bench [-- <${areas.join('|')}> [args]]   (no area: the report, docs/BENCHMARKS.md)`);
  process.exit(1);
}
const mod = (await import(pathToFileURL(path.join(dir, `${area}.ts`)).href)) as { run: (a: string[]) => Promise<unknown> };
const summary = await mod.run(rest);
if (summaryFile) await writeFile(summaryFile, JSON.stringify(summary ?? { figures: [] }));
