// Recent decisions: time, person, decision, score, thumbnail; filters; CSV export of the same view.
import type { ActivityEntry } from '../src/activity/index.js';
import { fmtScore, fmtTime, html, notice, type Html } from './html.js';
import { layout } from './layout.js';

export interface ActivityRow extends ActivityEntry {
  name: string | null;
  thumb: string | null;
}

export interface ActivityFilter {
  decision: string;
  identity: string;
  since: string;
  until: string;
  limit: number;
}

export const DECISION_LABELS: Record<string, string> = {
  match: 'Granted',
  unknown: 'Not recognised',
  'verify-accept': 'Verified',
  'verify-reject': 'Verify refused',
  enroll: 'Enrolled',
};

export function activityPage(p: { csrf: string; rows: ActivityRow[]; filter: ActivityFilter; people: { id: string; name: string }[]; query: string; error?: string }): Html {
  const f = p.filter;
  const opt = (v: string, label: string, cur: string) => html`<option value="${v}"${v === cur ? html` selected` : ''}>${label}</option>`;
  return layout(
    { title: 'Activity', csrf: p.csrf, admin: true, active: 'activity' },
    html`<h1>Activity</h1>
<form method="get" action="/admin/activity" class="filters" role="search" aria-label="Filter activity">
  <label for="f-decision">Decision</label>
  <select id="f-decision" name="decision">${opt('', 'Any', f.decision)}${Object.entries(DECISION_LABELS).map(([v, l]) => opt(v, l, f.decision))}</select>
  <label for="f-identity">Person</label>
  <select id="f-identity" name="identity">${opt('', 'Anyone', f.identity)}${p.people.map((x) => opt(x.id, x.name, f.identity))}</select>
  <label for="f-since">From</label>
  <input id="f-since" name="since" type="date" value="${f.since}">
  <label for="f-until">To</label>
  <input id="f-until" name="until" type="date" value="${f.until}">
  <label for="f-limit">Rows</label>
  <input id="f-limit" name="limit" type="number" min="1" max="5000" value="${f.limit}">
  <button type="submit">Filter</button>
  <a class="button secondary" id="csv-export" href="/admin/activity.csv${p.query}" download>Export CSV</a>
</form>
${p.error ? notice('error', p.error) : ''}
${p.rows.length
    ? html`<div class="table-wrap"><table class="activity">
<thead><tr><th scope="col">Time</th><th scope="col">Photo</th><th scope="col">Person</th><th scope="col">Decision</th><th scope="col">Score</th><th scope="col">Model</th><th scope="col">Detail</th></tr></thead>
<tbody>${p.rows.map(
        (r) => html`<tr class="decision-${r.decision}">
<td><time datetime="${r.time}">${fmtTime(r.time)}</time></td>
<td>${r.thumb ? html`<img class="thumb" src="${r.thumb}" alt="" width="48" height="48">` : ''}</td>
<td>${r.name ?? (r.identityId ? 'deleted' : '-')}</td>
<td>${DECISION_LABELS[r.decision] ?? r.decision}</td>
<td>${fmtScore(r.score)}${r.metric ? html` <small>${r.metric}</small>` : ''}</td>
<td>${r.modelId ?? '-'}</td>
<td>${r.detail ?? ''}</td></tr>`,
      )}</tbody></table></div>`
    : notice('info', 'No activity matches.')}`,
  );
}
