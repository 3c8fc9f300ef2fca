// `facegate gallery list | delete ID | reembed`: gallery administration. While a server runs,
// delete and reembed go through it (it owns the gallery) and list reads its current files;
// with no server they run here, under the gallery's lock.
import type { Command } from 'commander';
import { addConfigOptions, configFromFlags, type ConfigFlags } from '../../config/cli-options.js';
import type { IdentityView, ReembedOutcome } from '../../service/types.js';

type Flags = ConfigFlags & { json?: boolean };
type Erasure = { identityId: string; templates: number; activityEntries: number; removed: string[] };

export function register(program: Command): void {
  const gallery = program.command('gallery').description('list, erase and re-embed enrolled identities');

  addConfigOptions(gallery.command('list').description('enrolled identities').option('--json', 'JSON output')).action(async (o: Flags) => {
    const { EXIT, runCommand, withService } = await import('../../service/cli-run.js');
    await runCommand(!!o.json, () =>
      withService(
        configFromFlags(o),
        async (s) => {
          const ids = s.listIdentities();
          if (o.json) console.log(JSON.stringify({ modelId: s.modelId, identities: ids }, null, 2));
          else {
            console.log(`${ids.length} identities in ${s.health().gallery.dir} (model ${s.modelId ?? 'none loaded'})`);
            for (const i of ids) console.log(`  ${i.id}  ${i.name}${i.badge ? ` [${i.badge}]` : ''}  ${i.modelTemplates}/${i.templateCount} templates  last seen ${i.lastSeen ?? 'never'}`);
          }
          return EXIT.ok;
        },
        'facegate gallery list',
      ),
    );
  });

  addConfigOptions(gallery.command('delete').description('erase an identity: templates, face crops, log entries').argument('<id>', 'identity id (i_...)').option('--json', 'JSON output')).action(
    async (id: string, o: Flags) => {
      const { EXIT, runCommand, writeGallery } = await import('../../service/cli-run.js');
      await runCommand(!!o.json, async () => {
        const { name, r } = await writeGallery<{ name: string; r: Erasure }>(configFromFlags(o), 'facegate gallery delete', {
          server: async (api) => {
            const route = `/api/identities/${encodeURIComponent(id)}`;
            const { name } = await api.call<IdentityView>('GET', route);
            return { name, r: (await api.call<{ erased: Erasure }>('DELETE', route)).erased };
          },
          local: async (s) => ({ name: s.getIdentity(id).name, r: await s.deleteIdentity(id) }),
        });
        if (o.json) console.log(JSON.stringify(r, null, 2));
        else console.log(`erased ${name} (${r.identityId}): ${r.templates} templates, ${r.activityEntries} log entries, ${r.removed.join(', ')}`);
        return EXIT.ok;
      });
    },
  );

  addConfigOptions(gallery.command('reembed').description('embed stored face crops with the current model (after a model change)').option('--json', 'JSON output')).action(async (o: Flags) => {
    const { EXIT, runCommand, writeGallery } = await import('../../service/cli-run.js');
    await runCommand(!!o.json, async () => {
      const r = await writeGallery<ReembedOutcome>(configFromFlags(o), 'facegate gallery reembed', {
        server: (api) => api.call('POST', '/api/gallery/reembed'),
        local: (s) => s.reembed(),
      });
      if (o.json) console.log(JSON.stringify(r, null, 2));
      else {
        console.log(`model ${r.modelId}: ${r.reembedded} templates re-embedded, ${r.kept} already present`);
        for (const f of r.failed) console.log(`  failed ${f.templateId} (${f.identityId}): ${f.reason}`);
        for (const n of r.needEnrollment) console.log(`  ${n.name} (${n.id}) has no stored crop: enrol again`);
      }
      return r.failed.length ? EXIT.refused : EXIT.ok;
    });
  });
}
