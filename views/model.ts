// Model and training: the active model, the model folders (versions) with "Use" and "Roll back",
// dev metrics, the training curves of the run, and fine-tuning on the enrolled faces (start, live
// progress polled by htmx, the before/after report).
import type { FinetuneMetrics, FinetuneReport } from '../src/finetune/status.js';
import type { ModelMeta } from '../src/model/io.js';
import type { FinetuneView, ModelsView, ModelVersionView } from '../src/model/manager.js';
import { csrfField, fmtThreshold, fmtTime, html, notice, pct, type Html } from './html.js';
import { layout } from './layout.js';

export interface ModelPage {
  csrf: string;
  active: { id: string | null; dir: string; loaded: boolean; error: string | null; variant: string | null; backend: string };
  meta: ModelMeta | null;
  models: ModelsView;
  finetune: FinetuneView;
  curves: { svg: boolean; png: boolean };
  message?: Html;
}

/** An evaluation record (`facegate eval --record KEY`) in words: "ours ... · peer ... (6000 pairs, date)". */
function describeEvaluation(v: Record<string, unknown>): string | null {
  const side = (x: unknown): string | null => {
    const o = x as { name?: string; accuracy?: number; accuracy_std?: number; auc?: number; tar_at_far?: Record<string, number> } | undefined;
    if (!o || typeof o.accuracy !== 'number') return null;
    const tar = o.tar_at_far?.['1e-3'];
    return `${o.name ?? ''}: 10-fold accuracy ${pct(o.accuracy)} ± ${pct(o.accuracy_std ?? 0)}${typeof o.auc === 'number' ? `, AUC ${o.auc.toFixed(3)}` : ''}${typeof tar === 'number' ? `, TAR at FAR 0.1% ${pct(tar)}` : ''}`;
  };
  const ours = side(v.ours);
  if (!ours) return null;
  const peer = side(v.peer);
  return `${ours}${peer ? ` · ${peer}` : ''}${typeof v.count === 'number' ? ` (${v.count.toLocaleString('en')} pairs${typeof v.measured === 'string' ? `, ${v.measured}` : ''})` : ''}`;
}

/** Any other nested metric: its numeric and text fields, keys as they are. */
function describeObject(v: Record<string, unknown>): string {
  return Object.entries(v)
    .filter(([, x]) => typeof x === 'number' || typeof x === 'string')
    .map(([a, x]) => `${a} ${typeof x === 'number' && !Number.isInteger(x) ? x.toFixed(4) : x}`)
    .join(', ');
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const count = (v: unknown): string | null => (num(v) === null ? null : (v as number).toLocaleString('en'));

/**
 * The metrics that training, import, finetune and eval write into meta.json, with the label and
 * format the page shows them in. Keys not listed here are shown under their own name.
 */
const DEV_METRICS: Record<string, { label: string; show: (v: unknown, all: Record<string, unknown>) => string | null }> = {
  trainAcc: { label: 'Closed-set accuracy (training images)', show: (v) => (num(v) === null ? null : pct(v as number)) },
  valAcc: { label: 'Closed-set accuracy (validation images)', show: (v) => (num(v) === null ? null : pct(v as number)) },
  verifAcc: {
    label: 'Verification accuracy (held-out identities)',
    show: (v, all) => (num(v) === null ? null : `${pct(v as number)}${num(all.verifStd) !== null ? ` ± ${pct(all.verifStd as number)}` : ''}`),
  },
  // Shown with verifAcc; on its own only when there is no accuracy.
  verifStd: { label: 'Verification accuracy, spread over folds', show: (v, all) => (num(all.verifAcc) !== null || num(v) === null ? null : `± ${pct(v as number)}`) },
  valPairs: { label: 'Verification pairs', show: (v) => (typeof v === 'string' ? v : null) },
  calibration: {
    label: 'Threshold calibration',
    show: (v) => {
      const c = v as { genuinePairs?: unknown; impostorPairs?: unknown; tarAtFar1e3?: unknown; bestAccuracy?: unknown } | null;
      if (!c || typeof c !== 'object') return null;
      const parts = [
        count(c.genuinePairs) !== null && count(c.impostorPairs) !== null ? `${count(c.genuinePairs)} genuine and ${count(c.impostorPairs)} impostor pairs` : null,
        num(c.tarAtFar1e3) !== null ? `true accept rate ${pct(c.tarAtFar1e3 as number)} at false accept rate 0.1%` : null,
        num(c.bestAccuracy) !== null ? `best accuracy ${pct(c.bestAccuracy as number)}` : null,
      ].filter((x): x is string => x !== null);
      return parts.length ? parts.join('; ') : null;
    },
  },
};

const THRESHOLD_ROWS: { metric: 'cosine' | 'euclidean'; key: 'far1e3' | 'bestAccuracy'; label: string }[] = [
  { metric: 'cosine', key: 'far1e3', label: 'Cosine threshold for a false accept rate of 0.1%' },
  { metric: 'cosine', key: 'bestAccuracy', label: 'Cosine threshold for the best accuracy' },
  { metric: 'euclidean', key: 'far1e3', label: 'Euclidean distance threshold for a false accept rate of 0.1%' },
  { metric: 'euclidean', key: 'bestAccuracy', label: 'Euclidean distance threshold for the best accuracy' },
];

function metricRows(meta: ModelMeta | null): Html {
  if (!meta) return notice('info', 'No meta.json for the active model.');
  const rows: [Html | string, string][] = [];
  const m = (meta.metrics ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(m)) {
    if (k === 'roc') continue;
    const known = Object.hasOwn(DEV_METRICS, k) ? DEV_METRICS[k]! : null;
    if (known) {
      const shown = known.show(v, m);
      if (shown !== null) rows.push([known.label, shown]);
      continue;
    }
    const name = html`<code>${k}</code>`;
    if (typeof v === 'number') rows.push([name, Number.isInteger(v) ? String(v) : v.toFixed(4)]);
    else if (typeof v === 'string') rows.push([name, v]);
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const evaluation = describeEvaluation(o);
      if (evaluation) rows.push([`Evaluation on ${typeof o.pairs === 'string' ? o.pairs : 'pairs'} (${k})`, evaluation]);
      else rows.push([name, describeObject(o)]);
    }
  }
  for (const r of THRESHOLD_ROWS) {
    const t = meta.thresholds?.[r.metric]?.[r.key];
    if (typeof t === 'number') rows.push([r.label, fmtThreshold(t)]);
  }
  if (meta.roc || m.roc) rows.push(['ROC', 'in meta.json (see Settings for FAR/TAR at the threshold)']);
  if (rows.length === 0) return notice('info', 'meta.json holds no dev metrics.');
  return html`<table class="kv"><tbody>${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>`;
}

function versionRow(v: ModelVersionView, p: ModelPage): Html {
  const m = p.models;
  const state = v.active ? (v.loaded ? 'active' : 'active (not loaded)') : v.loaded ? 'in use' : (v.error ?? 'available');
  const verif = v.verifAcc !== null ? `${pct(v.verifAcc)}${v.verifStd !== null ? ` ± ${pct(v.verifStd)}` : ''}` : '-';
  const action =
    m.following && !v.active
      ? html`<form method="post" action="/admin/model/use">${csrfField(p.csrf)}<input type="hidden" name="folder" value="${v.folder}"><button type="submit" class="secondary">Use</button></form>`
      : '';
  return html`<tr${v.active || v.loaded ? html` class="current"` : ''}><td>${v.folder}</td><td>${v.modelId ?? '-'}</td><td>${v.variant ?? '-'}</td><td>${v.parameters?.toLocaleString('en') ?? '-'}</td><td>${v.created ? fmtTime(v.created) : '-'}</td><td>${verif}</td><td>${v.parent ?? '-'}</td><td>${state}</td><td class="actions">${action}</td></tr>`;
}

function versionsSection(p: ModelPage): Html {
  const m = p.models;
  const previous = m.history[m.history.length - 1];
  return html`<section class="card" aria-labelledby="versions-h">
  <h2 id="versions-h">Versions</h2>
  ${m.followError ? notice('warn', m.followError) : ''}
  ${m.versions.length
    ? html`<div class="table-wrap"><table><thead><tr><th scope="col">Folder</th><th scope="col">Model id</th><th scope="col">Variant</th><th scope="col">Parameters</th><th scope="col">Created</th><th scope="col">Verification accuracy</th><th scope="col">Fine-tuned from</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>${m.versions.map((v) => versionRow(v, p))}</tbody></table></div>`
    : notice('info', m.following ? html`No model folders in <code>${m.modelsDir}</code>.` : 'No model folders found next to the configured model.')}
  ${m.following
    ? html`<p class="muted">"Use" switches the kiosk at once (no restart): the gallery's stored face crops are re-embedded for that version if needed; the other versions' templates are kept for going back.</p>
${previous
  ? html`<form method="post" action="/admin/model/rollback" class="buttons">${csrfField(p.csrf)}<button type="submit" class="secondary">Roll back to ${previous}</button></form>`
  : ''}`
    : html`<p class="muted">The model is pinned by <code>--model</code> / FACEGATE_MODEL_DIR: versions cannot be switched here. Start the server without it to follow <code>models/active.json</code>.</p>`}
</section>`;
}

type ScalarMetric = Exclude<keyof FinetuneMetrics, 'siteMargins' | 'siteOthers'>;

const METRIC_ROWS: { key: ScalarMetric | 'siteMargin'; label: string; fmt: (v: number) => string }[] = [
  { key: 'siteTop1', label: 'Enrolled faces recognised (held-out photos, top-1)', fmt: pct },
  { key: 'siteGenuine', label: 'Mean similarity to their own identity', fmt: (v) => v.toFixed(3) },
  { key: 'siteImpostor', label: 'Mean similarity to the closest other identity', fmt: (v) => v.toFixed(3) },
  { key: 'siteSeparation', label: "Separation of the two (d')", fmt: (v) => v.toFixed(2) },
  { key: 'siteMargin', label: 'Own minus closest other, per photo (mean)', fmt: (v) => v.toFixed(3) },
  { key: 'baseVerif', label: "Verification accuracy on the base model's pairs", fmt: pct },
];

function signed(v: number, fmt: (v: number) => string): string {
  return `${v > 0 ? '+' : v < 0 ? '−' : '±'}${fmt(Math.abs(v))}`;
}

/** The before/after figures of a finetune as an HTML table (report.table is the CLI's Markdown of the same). */
function reportTable(r: FinetuneReport): Html {
  const value = (m: FinetuneMetrics, key: ScalarMetric | 'siteMargin'): number | null | undefined =>
    key === 'siteMargin' ? (m.siteMargins?.length ? m.siteMargins.reduce((x, y) => x + y, 0) / m.siteMargins.length : undefined) : m[key];
  const rows = METRIC_ROWS.flatMap(({ key, label, fmt }) => {
    const b = value(r.before, key);
    const a = r.after ? value(r.after, key) : null;
    if (typeof b !== 'number' && typeof a !== 'number') return [];
    const std = (m: FinetuneMetrics | null) => (key === 'baseVerif' && m && typeof m.baseVerifStd === 'number' ? ` ± ${pct(m.baseVerifStd)}` : '');
    const cell = (v: number | null | undefined, m: FinetuneMetrics | null) => (typeof v === 'number' ? fmt(v) + std(m) : '-');
    const change = typeof a === 'number' && typeof b === 'number' ? signed(a - b, fmt) : '-';
    return [html`<tr><th scope="row">${label}</th><td>${cell(b, r.before)}</td><td>${cell(a, r.after)}</td><td>${change}</td></tr>`];
  });
  return html`<div class="table-wrap"><table class="finetune-report">
<caption class="visually-hidden">Before and after the finetune</caption>
<thead><tr><th scope="col">Metric</th><th scope="col">Before (${r.parent})</th><th scope="col">After${r.candidate ? ` (${r.candidate})` : ''}</th><th scope="col">Change</th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

function reportBlock(r: FinetuneReport): Html {
  const skipped = r.identities.skipped;
  return html`${reportTable(r)}
${r.reasons.length ? html`<ul class="reasons">${r.reasons.map((x) => html`<li>${x}</li>`)}</ul>` : ''}
<p class="muted">${r.identities.site} enrolled identities (${r.images.siteTrain} photos to train on, ${r.images.siteHeldOut} held out), ${r.images.replay} replayed training images, ${r.images.basePairs} base validation pairs; ${Math.round(r.seconds)} s.</p>
${skipped.length ? html`<p class="muted">Left out: ${skipped.map((s) => html`${s.name} (${s.reason})`).map((x, i) => (i ? html`, ${x}` : x))}.</p>` : ''}`;
}

function finetuneState(f: FinetuneView): Html {
  const s = f.status;
  if (!s) return html`<p class="muted">No finetune has run on this gallery yet.</p>`;
  const when = html`started ${fmtTime(s.startedAt)}, updated ${fmtTime(s.updatedAt)}`;
  if (s.state === 'running') {
    const p = s.progress;
    return html`<div class="notice notice-info" role="status">
  <p><strong>Running</strong>: ${s.phase}${p ? html`, epoch ${p.epoch} of ${p.epochs}${typeof p.loss === 'number' ? html`, loss ${p.loss.toFixed(4)}` : ''}` : ''} <small>(${when})</small></p>
  ${p ? html`<progress max="${p.epochs}" value="${p.epoch}" aria-label="Finetune progress">${p.epoch} / ${p.epochs}</progress>` : ''}
  ${s.message ? html`<p>${s.message}</p>` : ''}
</div>`;
  }
  const headline =
    s.state === 'promoted'
      ? notice('ok', html`<strong>Promoted</strong>: ${s.report?.candidate ?? 'the new version'} is now the active model. <small>(${when})</small>`)
      : s.state === 'refused'
        ? notice('warn', html`<strong>Not promoted</strong>: the fine-tuned model was not better, ${s.report?.parent ?? 'the current model'} stays. <small>(${when})</small>`)
        : notice('error', html`<strong>Failed</strong>: ${s.message ?? 'see the log'} <small>(${when})</small>`);
  return html`${headline}${s.state !== 'failed' && s.message ? html`<p>${s.message}</p>` : ''}${s.report ? reportBlock(s.report) : ''}`;
}

/** The finetune panel; while a run is going it polls itself every 2 s (htmx replaces it whole). */
export function finetunePanel(f: FinetuneView, csrf: string, following: boolean, message?: Html): Html {
  const poll = f.running ? html` hx-get="/admin/model/finetune" hx-trigger="every 2s" hx-swap="outerHTML"` : '';
  return html`<div id="finetune-panel" aria-live="polite"${poll}>
${message ?? ''}
${finetuneState(f)}
<form method="post" action="/admin/model/finetune" hx-post="/admin/model/finetune" hx-target="#finetune-panel" hx-swap="outerHTML" class="buttons">
  ${csrfField(csrf)}
  <button type="submit"${f.running ? html` disabled` : ''}>${f.running ? 'Finetune running…' : 'Start finetune'}</button>
</form>
<p class="muted">Fine-tunes the active model on the enrolled faces' stored crops and promotes the result only if it is better${following ? '' : ' (the server is pinned to its model: a promoted version is used after a restart without --model)'}. Output: <code>${f.logFile}</code>.</p>
</div>`;
}

export function modelPage(p: ModelPage): Html {
  const a = p.active;
  const meta = p.meta;
  return layout(
    { title: 'Model', csrf: p.csrf, admin: true, active: 'model' },
    html`<h1>Model and training</h1>
${p.message ?? ''}
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
${versionsSection(p)}
<section class="card" id="finetune" aria-labelledby="finetune-h">
  <h2 id="finetune-h">Fine-tuning</h2>
  ${finetunePanel(p.finetune, p.csrf, p.models.following)}
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
</section>`,
  );
}
