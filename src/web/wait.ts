// How long a throttled client must wait (src/http/auth.ts, Backoff), in words for the pages:
// seconds below a minute ("2 seconds"), minutes and seconds from a minute on ("1 minute 30 seconds").
// Rounded up, so the page never says the wait is over before the server agrees.

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

export function waitSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export function formatWait(ms: number): string {
  const s = waitSeconds(ms);
  if (s < 60) return plural(s, 'second');
  const min = Math.floor(s / 60);
  const rest = s % 60;
  return rest ? `${plural(min, 'minute')} ${plural(rest, 'second')}` : plural(min, 'minute');
}
