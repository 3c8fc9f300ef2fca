// The pages' own CSS and JS (public/) and htmx from node_modules, by an allow-list of names:
// no build step, no CDN, and no path from the URL ever reaches the file system unchecked.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import { PROJECT_ROOT } from '../config/load.js';

export const PUBLIC_DIR = path.join(PROJECT_ROOT, 'public');
const HTMX = path.join(path.dirname(createRequire(import.meta.url).resolve('htmx.org/package.json')), 'dist', 'htmx.min.js');

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
const NAME = /^(css|js|img)\/[a-z0-9][a-z0-9-]{0,63}\.(css|js|svg|png)$/;

export function staticRoutes(): Hono {
  const app = new Hono();
  const cache = new Map<string, Uint8Array>();
  const send = async (file: string, type: string) => {
    let body = cache.get(file);
    if (!body) {
      body = new Uint8Array(await readFile(file));
      // Cached in production only, so edits show up while developing.
      if (process.env.NODE_ENV === 'production') cache.set(file, body);
    }
    return new Response(body as Uint8Array<ArrayBuffer>, { headers: { 'Content-Type': type, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' } });
  };
  app.get('/static/htmx.min.js', () => send(HTMX, TYPES['.js']!));
  app.get('/static/:dir/:file', async (c) => {
    const rel = `${c.req.param('dir')}/${c.req.param('file')}`;
    if (!NAME.test(rel)) return c.notFound();
    try {
      return await send(path.join(PUBLIC_DIR, rel), TYPES[path.extname(rel)]!);
    } catch {
      return c.notFound();
    }
  });
  return app;
}
