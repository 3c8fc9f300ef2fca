// `facegate verify img [--claim ID|BADGE|NAME]`: one photo through the same service code as POST /api/verify.
// Exit code 0 granted, 1 denied, 2 no usable face (no_face, poor_quality, multiple_faces).
import type { Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('verify')
      .description('verify the face in a photo: 1:N against the gallery, or 1:1 with --claim')
      .argument('<image>', 'photo file')
      .option('--claim <who>', "who the person claims to be: identity id (i_...), badge, or name (whole name, any case; refused if two people share it)")
      .option('--json', 'print the full result as JSON'),
  ).action(async (image: string, o: ConfigFlags & { claim?: string; json?: boolean }) => {
    const { EXIT, readImageFile, runCommand, withService } = await import('../../service/cli-run.js');
    await runCommand(!!o.json, () =>
      withService(configFromFlags(o, { logDecisions: false }), async (s) => {
        const out = await s.verify(await readImageFile(image, s.config.limits.maxImageBytes), { claim: o.claim });
        if (o.json) console.log(JSON.stringify(out, null, 2));
        else {
          const score = out.score === null ? '' : `  ${out.metric} ${out.score.toFixed(3)} (threshold ${out.threshold.toFixed(3)})`;
          console.log(`${out.decision.toUpperCase()}: ${out.message}${score}`);
          console.log(`  model ${out.modelId}; ${Object.entries(out.timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`);
        }
        return out.decision === 'granted' ? EXIT.ok : out.decision === 'denied' ? EXIT.denied : EXIT.refused;
      }),
    );
  });
}
