// Settings: metric and threshold (with what the threshold means on the model's dev ROC), the
// kiosk's k-of-n rule, camera source, keeping crops, and the admin password.
import type { Settings } from '../src/settings/index.js';
import { csrfField, fmtThreshold, html, notice, pct, thresholdFieldValue, type Html } from './html.js';
import { layout } from './layout.js';

export interface ThresholdPreview {
  metric: 'cosine' | 'euclidean';
  threshold: number;
  modelId: string | null;
  /** FAR / TAR on the model's ROC, when meta.json has one. */
  point: { far: number; tar: number; cosine: number } | null;
  /** The model's own recommendations from meta.json. */
  recommended: { far1e3?: number; bestAccuracy?: number } | null;
  error?: string;
}

export function thresholdPreview(p: ThresholdPreview): Html {
  const rule = p.metric === 'cosine' ? html`accept when cosine similarity ≥ <strong>${fmtThreshold(p.threshold)}</strong>` : html`accept when distance ≤ <strong>${fmtThreshold(p.threshold)}</strong>`;
  const rec = p.recommended && (p.recommended.far1e3 !== undefined || p.recommended.bestAccuracy !== undefined)
    ? html`<p class="muted">Model's recommendation (${p.metric}): ${p.recommended.far1e3 !== undefined ? html`${fmtThreshold(p.recommended.far1e3)} for FAR 0.1%` : ''}${p.recommended.far1e3 !== undefined && p.recommended.bestAccuracy !== undefined ? '; ' : ''}${p.recommended.bestAccuracy !== undefined ? html`${fmtThreshold(p.recommended.bestAccuracy)} for best accuracy` : ''}.</p>`
    : '';
  if (p.error) return html`<div id="threshold-preview" class="preview-box" aria-live="polite">${notice('error', p.error)}</div>`;
  return html`<div id="threshold-preview" class="preview-box" aria-live="polite">
<p>${rule}.</p>
${p.point
    ? html`<dl class="roc">
  <div><dt>False accept rate (FAR)</dt><dd id="preview-far">${pct(p.point.far)}</dd></div>
  <div><dt>True accept rate (TAR)</dt><dd id="preview-tar">${pct(p.point.tar)}</dd></div>
</dl>
<p class="muted">On ${p.modelId ?? 'the model'}'s dev pairs: ${pct(p.point.far)} of impostors would get in, ${pct(1 - p.point.tar)} of enrolled people would be turned away on a single frame.</p>`
    : html`<p class="muted" id="preview-none">${p.modelId ? `${p.modelId} ships no ROC in its meta.json, so FAR and TAR at this threshold are unknown.` : 'No model is loaded.'}</p>`}
${rec}
</div>`;
}

/**
 * The threshold field; `oob` replaces it out of band when the metric changes (each metric has its own
 * threshold). It shows the value rounded; posting that back unchanged keeps the stored precision.
 */
export function thresholdInput(value: number, oob: boolean): Html {
  return html`<input id="threshold" name="threshold" type="number" step="any" min="-1" max="2" value="${thresholdFieldValue(value)}" required${oob ? html` hx-swap-oob="true"` : ''}
      hx-get="/admin/settings/preview" hx-trigger="input changed delay:200ms" hx-include="#settings-form [name=metric], #threshold" hx-target="#threshold-preview" hx-swap="outerHTML">`;
}

/** What the door hardware is doing: null when no channel is configured. */
export interface DoorView {
  /** Why a grant would not open the door now, or null. */
  blocked: string | null;
  doorState: string;
  channels: string[];
}

/** The result of "Test the door": one line per channel. */
export function doorTestResult(lines: { channel: string; ok: boolean; detail: string }[] | null): Html {
  if (!lines) return html`<div id="door-test" aria-live="polite">${notice('error', 'No door channel is configured: save a webhook, MQTT broker or relay command first.')}</div>`;
  return html`<div id="door-test" aria-live="polite"><ul class="plain">${lines.map(
    (l) => html`<li>${l.ok ? '✔' : '✖'} <strong>${l.channel}</strong>: ${l.detail}</li>`,
  )}</ul></div>`;
}

function doorSection(p: SettingsPage): Html {
  const d = p.settings.door;
  const secretNote = d.webhook ? 'A secret is stored: leave blank to keep it.' : 'At least 16 characters; the receiver checks each request with it.';
  return html`<section class="card" aria-labelledby="door-h">
  <h2 id="door-h">Door</h2>
  ${p.doorMessage ?? ''}
  ${p.door
    ? html`<p id="door-status">${p.door.blocked ? notice('error', `A grant would not open the door now: ${p.door.blocked}`) : html`Channels: ${p.door.channels.join(', ')}; a grant opens the door. Door state: ${p.door.doorState}.`}</p>`
    : html`<p class="muted" id="door-status">No door is attached: a grant only shows "Welcome" on the screen.</p>`}
  <form method="post" action="/admin/settings/door" class="stack">
    ${csrfField(p.csrf)}
    <fieldset>
      <legend>Webhook (signed HTTP POST on each grant)</legend>
      <label for="webhook-url">URL (blank: off)</label>
      <input id="webhook-url" name="webhookUrl" type="url" value="${d.webhook?.enabled ? d.webhook.url : ''}" maxlength="2000">
      <label for="webhook-secret">Signing secret</label>
      <input id="webhook-secret" name="webhookSecret" type="password" autocomplete="off" aria-describedby="webhook-secret-help">
      <p id="webhook-secret-help" class="muted">${secretNote}</p>
    </fieldset>
    <fieldset>
      <legend>MQTT (decisions and health; the door state)</legend>
      <label for="mqtt-url">Broker URL (blank: off)</label>
      <input id="mqtt-url" name="mqttUrl" value="${d.mqtt?.enabled ? d.mqtt.url : ''}" placeholder="mqtt://broker.local:1883" maxlength="2000">
      <label for="mqtt-topic">Decisions topic</label>
      <input id="mqtt-topic" name="mqttTopic" value="${d.mqtt?.topics.decisions ?? 'facegate/door/decisions'}" maxlength="200">
    </fieldset>
    <fieldset>
      <legend>Relay (a local command run on each grant, without a shell)</legend>
      <label for="relay-command">Program and arguments, one per line (blank: off)</label>
      <textarea id="relay-command" name="relayCommand" rows="3">${d.relay?.enabled ? d.relay.command.join('\n') : ''}</textarea>
      <label for="relay-pulse">Pulse, ms (given to it as FACEGATE_PULSE_MS)</label>
      <input id="relay-pulse" name="relayPulseMs" type="number" min="50" max="60000" value="${d.relay?.pulseMs ?? 1000}">
    </fieldset>
    <button type="submit">Save door</button>
  </form>
  <form hx-post="/admin/settings/door/test" hx-target="#door-test" hx-swap="outerHTML">
    ${csrfField(p.csrf)}
    <button type="submit">Test the door</button>
    <p class="muted">Opens the door once, on purpose, on every configured channel.</p>
  </form>
  <div id="door-test"></div>
</section>`;
}

export interface SettingsPage {
  csrf: string;
  settings: Settings;
  door: DoorView | null;
  doorMessage?: Html;
  preview: Html;
  cameraHelp: string;
  passwordFixed: boolean;
  message?: Html;
  passwordMessage?: Html;
}

export function settingsPage(p: SettingsPage): Html {
  const s = p.settings;
  const radio = (v: 'cosine' | 'euclidean', label: string) =>
    html`<label class="inline"><input type="radio" name="metric" value="${v}"${s.metric === v ? html` checked` : ''}> ${label}</label>`;
  return layout(
    { title: 'Settings', csrf: p.csrf, admin: true, active: 'settings' },
    html`<h1>Settings</h1>
${p.message ?? ''}
<form id="settings-form" method="post" action="/admin/settings" class="stack settings">
  ${csrfField(p.csrf)}
  <fieldset>
    <legend>Matching</legend>
    <div role="radiogroup" aria-label="Metric"
      hx-get="/admin/settings/preview" hx-trigger="change" hx-vals='{"switch":"1"}' hx-include="#settings-form [name=metric], #threshold" hx-target="#threshold-preview" hx-swap="outerHTML">
      ${radio('cosine', 'Cosine similarity')} ${radio('euclidean', 'Euclidean distance')}
    </div>
    <label for="threshold">Threshold for the chosen metric</label>
    ${thresholdInput(s.thresholds[s.metric], false)}
    ${p.preview}
  </fieldset>
  <fieldset>
    <legend>Kiosk decision</legend>
    <p class="muted">Let someone in only when the same person is recognised on <em>k</em> of the last <em>n</em> frames.</p>
    <div class="row">
      <label for="k">k</label><input id="k" name="k" type="number" min="1" max="100" value="${s.kOfN.k}" required>
      <label for="n">of n</label><input id="n" name="n" type="number" min="1" max="100" value="${s.kOfN.n}" required>
    </div>
  </fieldset>
  <fieldset>
    <legend>Camera</legend>
    <label for="camera-source">Camera source</label>
    <input id="camera-source" name="cameraSource" value="${s.camera.source}" list="camera-sources" required maxlength="256" aria-describedby="camera-help">
    <datalist id="camera-sources"><option value="auto"><option value="browser"><option value="device:/dev/video0"></datalist>
    <p id="camera-help" class="muted">${p.cameraHelp}</p>
  </fieldset>
  <fieldset>
    <legend>Privacy</legend>
    <label class="inline"><input type="checkbox" name="keepCrops" value="true"${s.keepCrops ? html` checked` : ''}> Keep aligned face crops of enrollments (needed to re-embed after a model change)</label>
    <label class="inline"><input type="checkbox" name="keepSnapshots" value="true"${s.keepSnapshots ? html` checked` : ''}> Keep the camera frame of each kiosk decision</label>
  </fieldset>
  <fieldset>
    <legend>Liveness</legend>
    <label class="inline"><input type="checkbox" name="requireLiveness" value="true"${s.liveness.requireLiveness ? html` checked` : ''}> Let someone in only when the kiosk has seen a live person (the screen asks for a blink or a small head turn when it is not sure)</label>
    <label for="liveness-mode">Check</label>
    <select id="liveness-mode" name="livenessMode">
      ${(['active', 'both', 'passive'] as const).map((m) => html`<option value="${m}"${s.liveness.mode === m ? html` selected` : ''}>${{ active: 'blink, head turn and motion (recommended)', both: 'active, vetoed by the passive models', passive: 'passive models only (weak)' }[m]}</option>`)}
    </select>
    <p class="muted">Measured error rates per attack type: docs/pad.md.</p>
  </fieldset>
  <button type="submit" class="primary">Save settings</button>
</form>
${doorSection(p)}
<section class="card" aria-labelledby="password-h">
  <h2 id="password-h">Admin password</h2>
  ${p.passwordMessage ?? ''}
  ${p.passwordFixed
    ? notice('info', 'The admin password hash is fixed in the configuration (adminPasswordHash / FACEGATE_ADMIN_PASSWORD_HASH): change it there.')
    : html`<form method="post" action="/admin/settings/password" class="stack">
    ${csrfField(p.csrf)}
    <label for="current-password">Current password</label>
    <input id="current-password" name="current" type="password" autocomplete="current-password" required>
    <label for="new-password">New password (8 characters or more)</label>
    <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="8" required>
    <label for="repeat-password">Repeat the new password</label>
    <input id="repeat-password" name="repeat" type="password" autocomplete="new-password" minlength="8" required>
    <button type="submit">Change password</button>
  </form>`}
</section>`,
  );
}
