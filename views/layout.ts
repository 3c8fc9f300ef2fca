// The page shell: CSP-friendly head (our own CSS and scripts, htmx from node_modules with eval
// off), skip link, admin navigation and the CSRF token for htmx requests.
import { csrfField, html, jsonAttr, type Html } from './html.js';

export interface PageOptions {
  title: string;
  csrf: string;
  /** Show the admin navigation and logout. */
  admin: boolean;
  /** Navigation entry to mark current. */
  active?: string;
  /** Page scripts under /static/js/. */
  scripts?: string[];
  bodyClass?: string;
  /** data-* attributes on <body> for the page script. */
  data?: Record<string, string>;
}

export const NAV: { href: string; label: string; key: string }[] = [
  { href: '/', label: 'Kiosk', key: 'kiosk' },
  { href: '/admin/enroll', label: 'Enroll', key: 'enroll' },
  { href: '/admin/gallery', label: 'Gallery', key: 'gallery' },
  { href: '/admin/activity', label: 'Activity', key: 'activity' },
  { href: '/admin/settings', label: 'Settings', key: 'settings' },
  { href: '/admin/model', label: 'Model', key: 'model' },
];

// htmx: no eval (the CSP forbids it anyway), no injected <style> (style-src 'self'), and error
// answers (409 duplicate, 422 unusable samples) swapped in like others: they carry the explanation.
const HTMX_CONFIG = jsonAttr({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '[45]..', swap: true, error: true },
  ],
});

export function layout(o: PageOptions, main: Html): Html {
  const data = Object.entries(o.data ?? {});
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${o.csrf}">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${o.title} · FaceGate</title>
<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/css/facegate.css">
<script src="/static/htmx.min.js" defer></script>
${(o.scripts ?? []).map((s) => html`<script src="/static/js/${s}" defer></script>`)}
</head>
<body class="${o.bodyClass ?? 'admin'}" hx-headers="${jsonAttr({ 'X-CSRF-Token': o.csrf })}" ${data.map(([k, v]) => html` data-${k}="${v}"`)}>
<a class="skip-link" href="#main">Skip to content</a>
${o.admin
    ? html`<header class="topbar">
  <a class="brand" href="/admin">FaceGate</a>
  <nav aria-label="Admin">
    <ul>${NAV.map((n) => html`<li><a href="${n.href}"${n.key === o.active ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}</ul>
  </nav>
  <form method="post" action="/logout" class="logout">${csrfField(o.csrf)}<button type="submit" class="secondary">Log out</button></form>
</header>`
    : ''}
<main id="main" tabindex="-1">
${main}
</main>
</body>
</html>`;
}
