// Model and training: the active model, the model folders (versions), dev metrics, the training
// curves of the run, and the area the fine-tuning issue fills in later.
import type { ModelMeta } from '../src/model/io.js';
import { fmtTime, html, notice, type Html } from './html.js';
import { layout } from './layout.js';

export interface ModelPage {
  csrf: string;
  active: { id: string | null; dir: string; loaded: boolean; error: string | null; variant: string | null; backend: string };
  meta: ModelMeta | null;
  versions: { folder: string; id: string | null; created: string | null; params: number | null; variant: string | null; active: boolean; error: string | null }[];
  curves: { svg: boolean; png: boolean };
}

function metricRows(meta: ModelMeta | null): Html {
  if (!meta) return notice('info', 'No meta.json for the active model.');
  const rows: [string, string][] = [];
  const m = (meta.metrics ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(m)) {
    if (k === 'roc') continue;
    if (typeof v === 'number') rows.push([k, Number.isInteger(v) ? String(v) : v.toFixed(4)]);
    else if (typeof v === 'string') rows.push([k, v]);
    else if (v && typeof v === 'object' && !Array.isArray(v)) rows.push([k, JSON.stringify(v)]);
  }
  const t = meta.thresholds;
  if (t?.cosine?.far1e3 !== undefined) rows.push(['threshold cosine @ FAR 1e-3', t.cosine.far1e3.toFixed(4)]);
  if (t?.cosine?.bestAccuracy !== undefined) rows.push(['threshold cosine (best accuracy)', t.cosine.bestAccuracy.toFixed(4)]);
  if (meta.roc || m.roc) rows.push(['ROC', 'in meta.json (see Settings for FAR/TAR at the threshold)']);
  if (rows.length === 0) return notice('info', 'meta.json holds no dev metrics.');
  return html`<table class="kv"><tbody>${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>`;
}

export function modelPage(p: ModelPage): Html {
  const a = p.active;
  const meta = p.meta;
  return layout(
    { title: 'Model', csrf: p.csrf, admin: true, active: 'model' },
    html`<h1>Model and training</h1>
<section class="card" aria-labelledby="active-h">
  <h2 id="active-h">Active model</h2>
  ${a.loaded
    ? html`<table class="kv"><tbody>
  <tr><th scope="row">Model id</th><td id="active-model-id">${a.id}</td></tr>
  <tr><th scope="row">Variant</th><td>${a.variant ?? '-'}${meta ? html`, ${meta.input?.size ?? '?'} px input, ${meta.embeddingSize}-d embedding` : ''}</td></tr>
  <tr><th scope="row">Parameters</th><td>${meta ? meta.parameters.toLocaleString('en') : '-'}</td></tr>
  <tr><th scope="row">Created</th><td>${meta ? fmtTime(meta.created) : '-'}</td></tr>
  <tr><th scope="row">Folder</th><td><code>${a.dir}</code></td></tr>
  <tr><th scope="row">Backend</th><td>${a.backend}</td></tr>
</tbody></table>`
    : notice('warn', html`No model loaded: ${a.error ?? 'unknown reason'}`)}
</section>
<section class="card" aria-labelledby="versions-h">
  <h2 id="versions-h">Versions</h2>
  ${p.versions.length
    ? html`<div class="table-wrap"><table><thead><tr><th scope="col">Folder</th><th scope="col">Model id</th><th scope="col">Variant</th><th scope="col">Parameters</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
<tbody>${p.versions.map(
        (v) => html`<tr${v.active ? html` class="current"` : ''}><td>${v.folder}</td><td>${v.id ?? '-'}</td><td>${v.variant ?? '-'}</td><td>${v.params?.toLocaleString('en') ?? '-'}</td><td>${v.created ? fmtTime(v.created) : '-'}</td><td>${v.active ? 'active' : v.error ?? 'available'}</td></tr>`,
      )}</tbody></table></div>
<p class="muted">Switch with <code>facegate serve --model DIR</code> (or FACEGATE_MODEL_DIR), then re-embed the gallery.</p>`
    : notice('info', 'No model folders found next to the configured model.')}
</section>
<section class="card" aria-labelledby="metrics-h">
  <h2 id="metrics-h">Dev metrics</h2>
  ${metricRows(meta)}
</section>
<section class="card" aria-labelledby="curves-h">
  <h2 id="curves-h">Training curves</h2>
  ${p.curves.svg || p.curves.png
    ? html`<img class="curves" src="/admin/model/curves.${p.curves.svg ? 'svg' : 'png'}" alt="Training loss and accuracy per epoch of the active model's run">`
    : notice('info', 'No training curves (curves.svg / curves.png) in the model folder or its run folder.')}
</section>
<section class="card" id="finetune" aria-labelledby="finetune-h">
  <h2 id="finetune-h">Fine-tuning</h2>
  <p class="muted" id="finetune-status">Fine-tuning on the enrolled faces is not available yet.</p>
</section>`,
  );
}
