// The pages' form posts are validated with zod beside their routes, as the API's bodies are:
// `zValidator('form', Schema, refuse(answer))`. A refused form is the page (or the htmx
// fragment) again with the message where the form is, at 400: never the API's JSON.
import type { Context, Env } from 'hono';
import { z } from 'zod';

interface Issues {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** A refused form's messages in order; with `paths`, each after its field ("k: k must not exceed n"). */
export function problems(error: Issues, paths = false): string {
  return error.issues.map((i) => (paths ? `${i.path.map(String).join('.') || 'form'}: ${i.message}` : i.message)).join('; ');
}

/**
 * The zValidator hook of a page's form: on failure, `answer` renders the page with the message
 * (`posted` is the form as sent, for what the page shows again: the login's `next`, a folder name).
 */
export function refuse<E extends Env>(
  answer: (c: Context<E>, message: string, posted: Record<string, unknown>) => Response | Promise<Response>,
  opts: { paths?: boolean } = {},
) {
  // zValidator infers its own Env for the hook's context: the route's is E.
  return (result: { success: true } | { success: false; error: Issues; data: unknown }, c: Context) => {
    if (!result.success) return answer(c as Context<E>, problems(result.error, opts.paths), (result.data ?? {}) as Record<string, unknown>);
  };
}

/** A posted text value, for a page that shows it again; '' when absent or not text. */
export const postedText = (posted: Record<string, unknown>, name: string): string => (typeof posted[name] === 'string' ? (posted[name] as string) : '');

/** An HTML checkbox: checked when it posts a truthy value, unchecked when absent. */
export const Checkbox = z
  .string()
  .optional()
  .transform((v) => ['true', 'on', '1', 'yes'].includes(v ?? ''));

const Part = z.union([z.file(), z.string()]);

/**
 * The files of one file input (one part or several). Text parts are no files, and an unused file
 * input posts one nameless, empty file: not an image either.
 */
export const Files = z
  .union([Part, z.array(Part)])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]).filter((x): x is File => typeof x !== 'string' && x.size > 0));

export const isHtmx = (c: Context): boolean => c.req.header('hx-request') === 'true';
