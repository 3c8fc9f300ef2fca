// Shared template helpers: hono/html tagged templates (values are escaped unless they are html
// results themselves). tsconfig has no JSX, so templates are plain functions returning html.
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export { html, raw } from 'hono/html';
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** A JSON attribute value (hx-headers, data-*): escaped by html, parsed back by the browser. */
export const jsonAttr = (v: unknown): string => JSON.stringify(v);

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

export function when(cond: unknown, body: () => Html): Html | '' {
  return cond ? body() : '';
}

export function fmtTime(iso: string | null): string {
  if (!iso) return 'never';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

export function fmtScore(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

/** Decimals a threshold is shown with (pages, CLI); it is stored at full precision. */
export const THRESHOLD_DECIMALS = 3;

/** A threshold as text: "0.563" (always three decimals), "-" when there is none. */
export function fmtThreshold(v: number | null | undefined): string {
  return fmtScore(v, THRESHOLD_DECIMALS);
}

/** A threshold as an <input> value: rounded like fmtThreshold, without trailing zeros ("1.1"). */
export function thresholdFieldValue(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toFixed(THRESHOLD_DECIMALS))) : '';
}

/**
 * The threshold a settings form means: when it posts back the rounded value it was shown, the
 * stored full-precision threshold stays (saving other settings must not round it to 0.563).
 */
export function postedThreshold(posted: number, stored: number): number {
  return Number.isFinite(stored) && posted === Number(stored.toFixed(THRESHOLD_DECIMALS)) ? stored : posted;
}

export function pct(v: number): string {
  if (v === 0) return '0%';
  if (v < 0.001) return `${(v * 100).toPrecision(2)}%`;
  return `${(v * 100).toFixed(v < 0.01 ? 2 : 1)}%`;
}

export function notice(kind: 'ok' | 'error' | 'warn' | 'info', body: Html | string): Html {
  return html`<div class="notice notice-${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${body}</div>`;
}
