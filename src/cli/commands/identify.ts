// `facegate identify img [-k 5]`: the k nearest identities of the face in a photo (exit 2 when the photo has no usable face).
import { InvalidArgumentError, type Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';

function parseK(v: string): number {
  const k = Number(v);
  if (!Number.isInteger(k) || k < 1 || k > 100) throw new InvalidArgumentError('must be an integer from 1 to 100');
  return k;
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('identify')
      .description('list the gallery identities closest to the face in a photo')
      .argument('<image>', 'photo file')
      .option('-k, --k <n>', 'candidates to show (1-100)', parseK, 5)
      .option('--json', 'print the full result as JSON'),
  ).action(async (image: string, o: ConfigFlags & { k: number; json?: boolean }) => {
    const { EXIT, readImageFile, runCommand, withService } = await import('../../service/cli-run.js');
    await runCommand(!!o.json, () =>
      withService(configFromFlags(o), async (s) => {
        const out = await s.identify(await readImageFile(image, s.config.limits.maxImageBytes), { k: o.k });
        if (o.json) console.log(JSON.stringify(out, null, 2));
        else {
          console.log(`${out.decision.toUpperCase()}: ${out.message}`);
          for (const c of out.candidates) console.log(`  ${c.passes ? '*' : ' '} ${c.score.toFixed(3)}  ${c.name}  ${c.id}`);
          if (out.candidates.length) console.log(`  (${out.metric}, threshold ${out.threshold.toFixed(3)}; * = passes)`);
        }
        return out.decision === 'match' || out.decision === 'unknown' ? EXIT.ok : EXIT.refused;
      }),
    );
  });
}
