// The CLI's side of "send it to the server": the owning server's HTTP API over loopback, with the
// local admin token from the lock file. The server's refusals come back as the ServiceErrors the
// local service would have thrown, so the commands print them the same way.
import { STATUS } from '../http/status.js';
import { ServiceError, type ServiceErrorCode } from '../service/errors.js';
import { OwnerError, ServerUnreachable, describeOwner, type ServingOwner } from './owner.js';

const isServiceCode = (code: unknown): code is ServiceErrorCode => typeof code === 'string' && Object.hasOwn(STATUS, code);

export class ServerClient {
  constructor(readonly owner: ServingOwner) {}

  get who(): string {
    return describeOwner({ kind: 'server', ...this.owner, command: '' });
  }

  /**
   * One API call; `body` is FormData (multipart) or a JSON value. Resolves to the JSON answer.
   * Every call comes from a command line: an enrollment that names no source is marked `cli`
   * (the route's default is `upload`, the Enroll page's), as the same command records locally.
   */
  async call<T>(method: string, route: string, body?: FormData | unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.owner.token}` };
    let payload: FormData | string | undefined;
    if (body instanceof FormData) {
      payload = body;
      if (method.toUpperCase() === 'POST' && new URL(route, this.owner.url).pathname === '/api/enroll' && !body.has('source')) {
        payload = new FormData();
        for (const [k, v] of body) payload.append(k, v);
        payload.set('source', 'cli');
      }
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res: Response;
    try {
      res = await fetch(new URL(route, this.owner.url), { method, headers, body: payload });
    } catch (err) {
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ECONNREFUSED') throw new ServerUnreachable(`${this.who} refused the connection`);
      throw new OwnerError(`${this.who} did not answer ${method} ${route}: ${code ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (e && isServiceCode(e.code)) {
      const { code, message, ...details } = e;
      throw new ServiceError(code, String(message), details);
    }
    throw new OwnerError(`${this.who} refused ${method} ${route}: ${res.status} ${typeof e?.message === 'string' ? e.message : text.slice(0, 200)}`);
  }
}
