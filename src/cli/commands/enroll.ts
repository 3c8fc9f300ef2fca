// `facegate enroll --name N img...`: enrols a person from several photos (quality-gated,
// duplicate-checked), exactly as POST /api/enroll does; while a server runs, through it.
import type { Command } from 'commander';
import type { EnrollOutcome } from '../../service/types.js';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('enroll')
      .description('enrol a person from several photos of them')
      .argument('<images...>', 'photo files (at least the configured minimum of good ones, default 3)')
      .requiredOption('--name <name>', 'display name')
      .option('--badge <badge>', 'badge number for 1:1 claims')
      .option('--notes <text>', 'free text')
      .option('--confirm-duplicate', 'enrol even if the face already matches another identity')
      .option('--json', 'print the full result as JSON'),
  ).action(async (images: string[], o: ConfigFlags & { name: string; badge?: string; notes?: string; confirmDuplicate?: boolean; json?: boolean }) => {
    const { EXIT, readImageFile, runCommand, writeGallery } = await import('../../service/cli-run.js');
    await runCommand(!!o.json, async () => {
      const config = configFromFlags(o);
      const files = await Promise.all(images.map(async (f) => ({ bytes: await readImageFile(f, config.limits.maxImageBytes), file: f })));
      const out = await writeGallery<EnrollOutcome>(config, 'facegate enroll', {
        server: (api) => {
          const form = new FormData();
          form.append('name', o.name);
          if (o.badge !== undefined) form.append('badge', o.badge);
          if (o.notes !== undefined) form.append('notes', o.notes);
          if (o.confirmDuplicate) form.append('confirmDuplicate', 'true');
          for (const f of files) form.append('images', new Blob([f.bytes as Uint8Array<ArrayBuffer>]), f.file);
          return api.call('POST', '/api/enroll', form);
        },
        local: (s) => s.enroll({ name: o.name, badge: o.badge, notes: o.notes, images: files, confirmDuplicate: !!o.confirmDuplicate, source: 'cli' }),
      });
      if (o.json) console.log(JSON.stringify(out, null, 2));
      else {
        console.log(`enrolled ${out.identity.name} as ${out.identity.id}: ${out.templates} templates (model ${out.modelId})`);
        for (const x of out.samples) console.log(`  ${x.kept ? 'kept    ' : x.accepted ? 'redundant' : 'refused '} ${x.file}${x.reasons.length ? `: ${x.reasons.map((r) => r.message).join(', ')}` : ''}`);
        for (const d of out.duplicateOf) console.log(`  note: also matches ${d.name} (${d.id}) at ${d.score.toFixed(3)}`);
      }
      return EXIT.ok;
    });
  });
}
