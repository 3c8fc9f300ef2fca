import { csrfField, html, notice, type Html } from './html.js';
import { layout } from './layout.js';

export function loginPage(p: { csrf: string; next: string; error?: string; configured: boolean }): Html {
  return layout(
    { title: 'Log in', csrf: p.csrf, admin: false, bodyClass: 'admin login' },
    html`<section class="card narrow">
  <h1>Admin login</h1>
  ${p.configured
    ? ''
    : notice('warn', html`No admin password is set, so the admin pages are locked. Set one on the kiosk with <code>npx facegate admin password</code>: it works while the server runs, and this page takes it at once.`)}
  ${p.error ? notice('error', p.error) : ''}
  <form method="post" action="/login" class="stack">
    ${csrfField(p.csrf)}
    <input type="hidden" name="next" value="${p.next}">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Log in</button>
  </form>
  <p><a href="/">Back to the kiosk</a></p>
</section>`,
  );
}
