// Whether a process id names a running process (stale locks, statuses and leftovers of a process
// that died). EPERM: it runs, under another user (the nightly unit's, say).
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
