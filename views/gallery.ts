// The gallery: people with a thumbnail, templates, model, last seen; rename, add samples, delete
// (behind a confirmation page), and re-embedding after a model change.
import { csrfField, fmtTime, html, notice, type Html } from './html.js';
import { layout } from './layout.js';

export interface GalleryPerson {
  id: string;
  name: string;
  badge: string | null;
  thumb: string | null;
  modelTemplates: number;
  templateCount: number;
  models: string[];
  lastSeen: string | null;
}

export interface GalleryPage {
  csrf: string;
  people: GalleryPerson[];
  modelId: string | null;
  reembedPending: number;
  otherModelTemplates: number;
  /** Names of the people the model in use has no template for and no stored crop to re-embed. */
  needEnrollment: string[];
  message?: Html;
}

function person(p: GalleryPerson, csrf: string): Html {
  return html`<tr id="${p.id}">
  <td>${p.thumb ? html`<img class="thumb" src="${p.thumb}" alt="${p.name}" width="64" height="64">` : html`<span class="thumb none" aria-label="no photo">?</span>`}</td>
  <td>
    <form method="post" action="/admin/gallery/${p.id}/rename" class="rename" hx-post="/admin/gallery/${p.id}/rename" hx-target="closest tr" hx-swap="outerHTML">
      ${csrfField(csrf)}
      <label class="visually-hidden" for="name-${p.id}">Name</label>
      <input id="name-${p.id}" name="name" value="${p.name}" required maxlength="80">
      <button type="submit" class="secondary">Rename</button>
    </form>
    ${p.badge ? html`<small>badge ${p.badge}</small>` : ''}
  </td>
  <td>${p.modelTemplates}${p.templateCount !== p.modelTemplates ? html` <small>(${p.templateCount} in all)</small>` : ''}</td>
  <td>${p.models.length ? p.models.join(', ') : '-'}</td>
  <td>${fmtTime(p.lastSeen)}</td>
  <td class="actions">
    <a class="button secondary" href="/admin/enroll?identity=${p.id}">Add samples</a>
    <a class="button danger" href="/admin/gallery/${p.id}/delete">Delete</a>
  </td>
</tr>`;
}

export function personRow(p: GalleryPerson, csrf: string): Html {
  return person(p, csrf);
}

export function galleryPage(p: GalleryPage): Html {
  return layout(
    { title: 'Gallery', csrf: p.csrf, admin: true, active: 'gallery' },
    html`<h1>Gallery</h1>
${p.message ?? ''}
<p>${p.people.length} ${p.people.length === 1 ? 'person' : 'people'} enrolled; model in use: <strong>${p.modelId ?? 'none loaded'}</strong>. <a class="button" href="/admin/enroll">Enroll someone</a></p>
${p.people.length
    ? html`<div class="table-wrap"><table class="gallery">
<thead><tr><th scope="col">Photo</th><th scope="col">Name</th><th scope="col">Templates</th><th scope="col">Models</th><th scope="col">Last seen</th><th scope="col">Actions</th></tr></thead>
<tbody>${p.people.map((x) => person(x, p.csrf))}</tbody>
</table></div>`
    : notice('info', 'Nobody is enrolled yet.')}
<section class="card" aria-labelledby="reembed-h">
  <h2 id="reembed-h">Re-embed after a model change</h2>
  ${p.reembedPending
    ? html`<p><strong>${p.reembedPending}</strong> stored face crops belong to another model. Re-embedding computes their templates with <strong>${p.modelId}</strong> and makes it the active model.</p>`
    : ''}
  ${p.needEnrollment.length
    ? notice('warn', html`No template for <strong>${p.modelId}</strong> and no stored face crop to re-embed: <strong>${p.needEnrollment.join(', ')}</strong> must enroll again.`)
    : ''}
  ${p.reembedPending || p.needEnrollment.length || !p.people.length
    ? ''
    : html`<p>Everyone enrolled has templates for the model in use.${p.otherModelTemplates ? ` ${p.otherModelTemplates} templates of earlier models are kept for rollback.` : ''}</p>`}
  <form method="post" action="/admin/gallery/reembed">
    ${csrfField(p.csrf)}
    <button type="submit"${p.modelId ? '' : html` disabled`}>Re-embed the gallery</button>
  </form>
</section>`,
  );
}

export function deletePage(p: { csrf: string; id: string; name: string; templates: number; thumb: string | null }): Html {
  return layout(
    { title: `Delete ${p.name}`, csrf: p.csrf, admin: true, active: 'gallery' },
    html`<section class="card narrow danger-zone">
  <h1>Delete ${p.name}?</h1>
  ${p.thumb ? html`<img class="thumb" src="${p.thumb}" alt="${p.name}" width="112" height="112">` : ''}
  <p>This erases ${p.name}, ${p.templates} template${p.templates === 1 ? '' : 's'}, the stored face crops and every activity entry about them. It cannot be undone.</p>
  <form method="post" action="/admin/gallery/${p.id}/delete" class="buttons">
    ${csrfField(p.csrf)}
    <button type="submit" class="danger">Delete ${p.name}</button>
    <a class="button secondary" href="/admin/gallery">Cancel</a>
  </form>
</section>`,
  );
}
