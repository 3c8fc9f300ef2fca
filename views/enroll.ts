// Enrollment: name, guided samples from the kiosk camera with live quality feedback, or uploads;
// the result lists accepted samples with thumbnails and warns when the face is already enrolled.
import type { SampleReport } from '../src/door/index.js';
import type { DuplicateMatch } from '../src/service/types.js';
import { ACCEPTED_FORMATS_TEXT } from '../src/vision/decode.js';
import { csrfField, fmtScore, html, notice, type Html } from './html.js';
import { layout } from './layout.js';

export interface EnrollPage {
  csrf: string;
  /** Adding samples to an existing identity instead of enrolling a new one. */
  identity: { id: string; name: string } | null;
  camera: 'browser' | 'server';
  minSamples: number;
  maxImages: number;
  modelLoaded: boolean;
  /** A result rendered into the page (form posted without htmx). */
  result?: Html;
}

export function enrollPage(p: EnrollPage): Html {
  const action = p.identity ? `/admin/gallery/${p.identity.id}/samples` : '/admin/enroll';
  const title = p.identity ? `Add samples: ${p.identity.name}` : 'Enroll a person';
  return layout(
    { title, csrf: p.csrf, admin: true, active: 'enroll', scripts: ['enroll.js'], data: { camera: p.camera, target: String(Math.min(5, p.maxImages)) } },
    html`<h1>${title}</h1>
${p.modelLoaded ? '' : notice('warn', 'No face model is loaded: samples can be checked but not enrolled until one is installed.')}
<form id="enroll-form" class="enroll" method="post" action="${action}" enctype="multipart/form-data"
  hx-post="${action}" hx-encoding="multipart/form-data" hx-target="#enroll-result" hx-swap="innerHTML" hx-disabled-elt="find button[type=submit]">
  ${csrfField(p.csrf)}
  ${p.identity
    ? html`<p>Samples are added to <strong>${p.identity.name}</strong>.</p>`
    : html`<div class="fields">
    <label for="enroll-name">Name</label>
    <input id="enroll-name" name="name" required maxlength="80" autocomplete="off">
    <label for="enroll-badge">Badge (optional)</label>
    <input id="enroll-badge" name="badge" maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_\\-]*" autocomplete="off">
  </div>`}
  <div class="enroll-grid">
    <fieldset class="capture">
      <legend>From the kiosk camera</legend>
      <div class="preview" id="enroll-preview">
        <video id="enroll-video" autoplay muted playsinline aria-hidden="true"></video>
        <img id="enroll-image" alt="" hidden>
        <canvas id="enroll-overlay" aria-hidden="true"></canvas>
      </div>
      <p id="enroll-guide" class="guide" aria-live="polite">Press “Start camera”, then follow the instructions.</p>
      <ul id="enroll-checks" class="checks" aria-label="Live quality">
        <li data-check="distance"><span class="check-name">Distance</span> <span class="check-msg">-</span></li>
        <li data-check="pose"><span class="check-name">Pose</span> <span class="check-msg">-</span></li>
        <li data-check="light"><span class="check-name">Light</span> <span class="check-msg">-</span></li>
        <li data-check="sharpness"><span class="check-name">Sharpness</span> <span class="check-msg">-</span></li>
      </ul>
      <div class="buttons">
        <button type="button" id="camera-start">Start camera</button>
        <button type="button" id="capture" disabled>Capture sample</button>
        <button type="button" id="auto-capture" disabled>Guided capture</button>
        <button type="button" id="clear-captures" class="secondary" disabled>Clear</button>
      </div>
      <p id="capture-count" aria-live="polite">0 samples captured</p>
      <input type="file" name="camera" id="camera-files" accept="image/jpeg" multiple hidden>
      <ol id="captured" class="thumbs" aria-label="Captured samples"></ol>
    </fieldset>
    <fieldset class="upload">
      <legend>Or upload photos</legend>
      <label for="enroll-images">Photos (${p.minSamples} or more good ones, at most ${p.maxImages})</label>
      <input id="enroll-images" type="file" name="images" accept="image/*" multiple aria-describedby="enroll-formats">
      <p id="enroll-formats" class="muted">${ACCEPTED_FORMATS_TEXT}.</p>
    </fieldset>
  </div>
  ${p.identity ? '' : html`<label class="inline"><input type="checkbox" name="confirmDuplicate" value="true"> Enroll even if this face matches someone already enrolled</label>`}
  <button type="submit" class="primary">${p.identity ? 'Add samples' : 'Enroll'}</button>
</form>
<section id="enroll-result" aria-live="polite">${p.result ?? ''}</section>`,
  );
}

function sampleRows(samples: SampleReport[]): Html {
  return html`<table class="samples"><caption>Samples</caption>
<thead><tr><th scope="col">#</th><th scope="col">File</th><th scope="col">Result</th><th scope="col">Quality</th></tr></thead>
<tbody>${samples.map(
    (s) => html`<tr class="${s.accepted ? 'ok' : 'bad'}"><td>${s.index + 1}</td><td>${s.file ?? '-'}</td>
<td>${s.kept ? 'kept as template' : s.accepted ? 'accepted' : s.reasons.map((r) => r.message).join(', ') || 'refused'}</td><td>${fmtScore(s.quality, 2)}</td></tr>`,
  )}</tbody></table>`;
}

export function enrollSuccess(p: { name: string; identityId: string; templates: number; images: number; thumbs: string[]; samples: SampleReport[]; duplicateOf: DuplicateMatch[]; added?: boolean }): Html {
  return html`${notice('ok', html`${p.added ? 'Added' : 'Enrolled'} <strong id="enrolled-name">${p.name}</strong>: ${p.templates} template${p.templates === 1 ? '' : 's'} from ${p.images} image${p.images === 1 ? '' : 's'}.`)}
${p.duplicateOf.length ? notice('warn', html`Enrolled although the face also matches ${p.duplicateOf.map((d) => d.name).join(', ')}.`) : ''}
<ul class="thumbs accepted" aria-label="Accepted samples">${p.thumbs.map((t) => html`<li><img src="${t}" alt="Accepted sample of ${p.name}" width="112" height="112"></li>`)}</ul>
${sampleRows(p.samples)}
<p><a href="/admin/gallery">Go to the gallery</a></p>`;
}

export function enrollRefused(message: string, samples: SampleReport[] | undefined): Html {
  return html`${notice('error', message)}${samples ? sampleRows(samples) : ''}`;
}

export function duplicateWarning(matches: DuplicateMatch[], samples: SampleReport[] | undefined): Html {
  return html`${notice(
    'warn',
    html`<strong>Possible duplicate.</strong> This face already matches ${matches.map((m, i) => html`${i ? ', ' : ''}<a href="/admin/gallery#${m.id}">${m.name}</a> (score ${fmtScore(m.score)})`)}.
Nothing was enrolled. If this is a different person, tick “Enroll even if this face matches someone already enrolled” and submit again.`,
  )}${samples ? sampleRows(samples) : ''}`;
}
