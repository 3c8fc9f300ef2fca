// The audit trail: time, photo, person, decision, door, score against threshold, liveness, model;
// filters (person, decision, door, dates); CSV and JSON exports of the same view. A redacted record
// (its person was erased) says so, with when.
import { DECISION_LABELS, type ActivityEntry } from '../src/activity/index.js';
import { fmtScore, fmtThreshold, fmtTime, html, notice, type Html } from './html.js';
import { layout } from './layout.js';

export { DECISION_LABELS } from '../src/activity/index.js';

export interface ActivityRow extends ActivityEntry {
  name: string | null;
  thumb: string | null;
}

export interface ActivityFilter {
  decision: string;
  /** An identity id, "redacted" (records of erased people), or '' for anyone. */
  identity: string;
  door: string;
  since: string;
  until: string;
  limit: number;
}

function person(r: ActivityRow): Html | string {
  if (r.redacted) return html`<em class="redacted" title="The person was erased; their id, score and photo were removed from this record">Redacted${r.redactedAt ? html` <small>(erased ${fmtTime(r.redactedAt)})</small>` : ''}</em>`;
  return r.name ?? (r.identityId ? 'deleted' : '-');
}

function liveness(r: ActivityRow): Html | string {
  if (!r.liveness) return '-';
  const method = r.liveness.method ? ` (${r.liveness.method})` : '';
  return `${r.liveness.passed ? 'passed' : 'failed'}${method}`;
}

export function activityPage(p: {
  csrf: string;
  rows: ActivityRow[];
  filter: ActivityFilter;
  people: { id: string; name: string }[];
  doors: string[];
  retentionDays: number;
  query: string;
  error?: string;
}): Html {
  const f = p.filter;
  const opt = (v: string, label: string, cur: string) => html`<option value="${v}"${v === cur ? html` selected` : ''}>${label}</option>`;
  return layout(
    { title: 'Activity', csrf: p.csrf, admin: true, active: 'activity' },
    html`<h1>Activity</h1>
<p class="muted">Every decision at the door, kept ${p.retentionDays} days (Settings: <code>audit.retentionDays</code>). Erasing a person leaves their records redacted.</p>
<form method="get" action="/admin/activity" class="filters" role="search" aria-label="Filter activity">
  <label for="f-decision">Decision</label>
  <select id="f-decision" name="decision">${opt('', 'Any', f.decision)}${Object.entries(DECISION_LABELS).map(([v, l]) => opt(v, l, f.decision))}</select>
  <label for="f-identity">Person</label>
  <select id="f-identity" name="identity">${opt('', 'Anyone', f.identity)}${p.people.map((x) => opt(x.id, x.name, f.identity))}${opt('redacted', 'Erased (redacted records)', f.identity)}</select>
  <label for="f-door">Door</label>
  <input id="f-door" name="door" list="f-doors" maxlength="100" value="${f.door}" placeholder="any">
  <datalist id="f-doors">${p.doors.map((d) => html`<option value="${d}"></option>`)}</datalist>
  <label for="f-since">From</label>
  <input id="f-since" name="since" type="date" value="${f.since}">
  <label for="f-until">To</label>
  <input id="f-until" name="until" type="date" value="${f.until}">
  <label for="f-limit">Rows</label>
  <input id="f-limit" name="limit" type="number" min="1" max="5000" value="${f.limit}">
  <button type="submit">Filter</button>
  <a class="button secondary" id="csv-export" href="/admin/activity.csv${p.query}" download>Export CSV</a>
  <a class="button secondary" id="json-export" href="/admin/activity.json${p.query}" download>Export JSON</a>
</form>
${p.error ? notice('error', p.error) : ''}
${p.rows.length
    ? html`<div class="table-wrap"><table class="activity">
<thead><tr><th scope="col">Time</th><th scope="col">Photo</th><th scope="col">Person</th><th scope="col">Decision</th><th scope="col">Door</th><th scope="col">Score / threshold</th><th scope="col">Liveness</th><th scope="col">Model</th><th scope="col">Detail</th></tr></thead>
<tbody>${p.rows.map(
        (r) => html`<tr class="decision-${r.decision}${r.redacted ? ' redacted' : ''}">
<td><time datetime="${r.time}">${fmtTime(r.time)}</time></td>
<td>${r.thumb ? html`<img class="thumb" src="${r.thumb}" alt="" width="48" height="48">` : ''}</td>
<td>${person(r)}</td>
<td>${DECISION_LABELS[r.decision] ?? r.decision}</td>
<td>${r.door ?? '-'}</td>
<td>${fmtScore(r.score)}${r.threshold !== null ? html` / ${fmtThreshold(r.threshold)}` : ''}${r.metric ? html` <small>${r.metric}</small>` : ''}</td>
<td>${liveness(r)}</td>
<td>${r.modelId ?? '-'}</td>
<td>${r.detail ?? ''}</td></tr>`,
      )}</tbody></table></div>`
    : notice('info', 'No activity matches.')}`,
  );
}
