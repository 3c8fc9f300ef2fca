// Reading HTML form posts (urlencoded or multipart) without trusting their shape.
import type { Context } from 'hono';

export interface FormReader {
  str(name: string): string | undefined;
  files(name: string): File[];
  bool(name: string): boolean;
}

export async function readForm(c: Context): Promise<FormReader> {
  // The CSRF check parsed it already with the same options; Hono caches the form data.
  const body = await c.req.parseBody({ all: true });
  const values = (name: string) => {
    const v = body[name];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  return {
    str: (name) => {
      const v = values(name).find((x): x is string => typeof x === 'string');
      return v;
    },
    // An empty file input posts one nameless, empty file: not an image.
    files: (name) => [...values(name), ...values(`${name}[]`)].filter((x): x is File => typeof x !== 'string' && x.size > 0),
    bool: (name) => ['true', 'on', '1', 'yes'].includes(values(name).find((x): x is string => typeof x === 'string') ?? ''),
  };
}

export const isHtmx = (c: Context): boolean => c.req.header('hx-request') === 'true';
