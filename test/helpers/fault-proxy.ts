// A fault-injecting HTTP front for registry tests. It listens on 127.0.0.1
// (port 0), forwards to an upstream registry (a fake in unit tests, the real
// docker-registry in integration tests), and, per path regex, injects the
// failures real registries and networks produce: 5xx, 429 + Retry-After,
// bodies cut short (socket closed after K bytes), flipped bytes, slow bodies,
// Range ignored, extra/overridden headers, a Bearer auth challenge with its
// own token endpoint, and redirects to a second listener (the "CDN", another
// origin) that records whether an Authorization header reached it.
//
// Every request to either listener is appended to `log`. Rules with `times`
// fire that many times, then stop matching.

import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RequestRecord {
  readonly listener: 'proxy' | 'cdn' | 'token';
  readonly method: string;
  readonly path: string;
  /** The status sent (0 when the connection was cut before headers). */
  status: number;
  readonly authorization: string | undefined;
  readonly range: string | undefined;
  readonly userAgent: string | undefined;
  /** The faults applied to this request (e.g. ['truncate', 'ignoreRange']). */
  readonly faults: string[];
}

type RuleKind = 'fail' | 'truncate' | 'corrupt' | 'slow' | 'ignoreRange' | 'header' | 'redirect';

interface Rule {
  readonly kind: RuleKind;
  readonly match: RegExp;
  remaining: number;
  readonly status?: number;
  readonly retryAfter?: string | undefined;
  readonly body?: string | undefined;
  readonly afterBytes?: number;
  readonly delayMs?: number;
  readonly chunkBytes?: number;
  readonly headerName?: string;
  readonly headerValue?: string;
}

export interface AuthRequirement {
  /** When set, the token endpoint demands these Basic credentials. */
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly expiresInSeconds?: number | undefined;
  /** Answer the token endpoint with `access_token` instead of `token`. */
  readonly accessTokenField?: boolean | undefined;
}

/** What to break next. Methods return `this` so plans read as one sentence. */
export class FaultPlan {
  readonly rules: Rule[] = [];
  auth: AuthRequirement | undefined;
  /** Tokens the token endpoint issued; requests must carry one while auth is required. */
  readonly issuedTokens = new Set<string>();

  /** Answer `status` (default 500) `times` times (default 1). */
  fail(match: RegExp, options: { status?: number; times?: number; retryAfter?: string | number; body?: string } = {}): this {
    this.rules.push({
      kind: 'fail',
      match,
      remaining: options.times ?? 1,
      status: options.status ?? 500,
      retryAfter: options.retryAfter === undefined ? undefined : String(options.retryAfter),
      body: options.body,
    });
    return this;
  }

  /** 429 Too Many Requests with Retry-After: `seconds`. */
  tooManyRequests(match: RegExp, seconds: number, times = 1): this {
    return this.fail(match, { status: 429, retryAfter: seconds, times, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' });
  }

  /** Send the headers and `afterBytes` bytes of the body, then destroy the socket. */
  truncate(match: RegExp, afterBytes: number, times = 1): this {
    this.rules.push({ kind: 'truncate', match, remaining: times, afterBytes });
    return this;
  }

  /** Flip bits in the body (same length, wrong content). */
  corrupt(match: RegExp, times = Infinity): this {
    this.rules.push({ kind: 'corrupt', match, remaining: times });
    return this;
  }

  /** Send the body in `chunkBytes` pieces with `delayMs` between them. */
  slow(match: RegExp, delayMs: number, chunkBytes = 4096, times = Infinity): this {
    this.rules.push({ kind: 'slow', match, remaining: times, delayMs, chunkBytes });
    return this;
  }

  /** Drop the Range header before forwarding, so the upstream answers 200 with the whole body. */
  ignoreRange(match: RegExp, times = Infinity): this {
    this.rules.push({ kind: 'ignoreRange', match, remaining: times });
    return this;
  }

  /** Set (or override) a response header. */
  header(match: RegExp, name: string, value: string, times = Infinity): this {
    this.rules.push({ kind: 'header', match, remaining: times, headerName: name.toLowerCase(), headerValue: value });
    return this;
  }

  /** Answer 307 to the same path on the CDN listener (another origin). */
  redirectToCdn(match: RegExp, times = Infinity): this {
    this.rules.push({ kind: 'redirect', match, remaining: times });
    return this;
  }

  /** Demand a Bearer token on /v2/ requests; the token endpoint is this proxy's /token. */
  requireAuth(requirement: AuthRequirement = {}): this {
    this.auth = requirement;
    return this;
  }

  clear(): this {
    this.rules.length = 0;
    this.auth = undefined;
    this.issuedTokens.clear();
    return this;
  }

  /** Consumes and returns the rules of `kind` that match `path`. */
  take(kind: RuleKind, path: string): Rule | undefined {
    const rule = this.rules.find((r) => r.kind === kind && r.remaining > 0 && r.match.test(path));
    if (rule) rule.remaining--;
    return rule;
  }
}

export interface FaultProxy {
  /** host:port of the proxy, as a registry name (`127.0.0.1:PORT`). */
  readonly host: string;
  readonly url: string;
  /** Base URL of the CDN listener (another origin). */
  readonly cdnUrl: string;
  readonly faults: FaultPlan;
  readonly log: RequestRecord[];
  close(): Promise<void>;
}

function listen(server: Server): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address() as AddressInfo));
  });
}

function record(listener: RequestRecord['listener'], req: IncomingMessage, log: RequestRecord[]): RequestRecord {
  const r: RequestRecord = {
    listener,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    status: 0,
    authorization: req.headers.authorization,
    range: req.headers.range,
    userAgent: req.headers['user-agent'],
    faults: [],
  };
  log.push(r);
  return r;
}

function send(res: ServerResponse, rec: RequestRecord, status: number, headers: Record<string, string>, body = ''): void {
  rec.status = status;
  res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the proxy and its CDN listener in front of `upstream` (`http://127.0.0.1:PORT`). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  const faults = new FaultPlan();
  const log: RequestRecord[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let proxyUrl = '';
  let cdnUrl = '';

  // Body faults (truncate, corrupt, slow, ignoreRange, header) apply on both listeners.
  const forward = (req: IncomingMessage, res: ServerResponse, rec: RequestRecord, path: string, faultable: boolean): void => {
    const headers = { ...req.headers, host: up.host };
    delete headers.authorization;
    if (faultable && faults.take('ignoreRange', path)) {
      delete headers.range;
      rec.faults.push('ignoreRange');
    }
    const upReq = httpRequest({ host: up.hostname, port: up.port, method: req.method, path, headers }, (upRes) => {
      const outHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive') outHeaders[k] = v;
      const truncate = faultable ? faults.take('truncate', path) : undefined;
      const corrupt = faultable ? faults.take('corrupt', path) : undefined;
      const slow = faultable ? faults.take('slow', path) : undefined;
      for (const h of faultable ? faults.rules : []) {
        if (h.kind !== 'header' || h.remaining <= 0 || !h.match.test(path)) continue;
        h.remaining--;
        outHeaders[h.headerName as string] = h.headerValue as string;
        rec.faults.push('header');
      }
      if (truncate) rec.faults.push('truncate');
      if (corrupt) rec.faults.push('corrupt');
      if (slow) rec.faults.push('slow');
      rec.status = upRes.statusCode ?? 502;
      res.writeHead(rec.status, outHeaders);
      let sent = 0;
      let flipped = false;
      void (async () => {
        try {
          for await (const c of upRes) {
            let chunk = Buffer.from(c as Buffer);
            if (corrupt && !flipped && chunk.byteLength > 0) {
              chunk[chunk.byteLength >> 1] = (chunk[chunk.byteLength >> 1] as number) ^ 0xff;
              flipped = true;
            }
            if (truncate) {
              const room = (truncate.afterBytes as number) - sent;
              if (chunk.byteLength >= room) {
                const part = chunk.subarray(0, room);
                await new Promise<void>((r) => res.write(part, () => r()));
                sent += part.byteLength;
                res.socket?.destroy();
                upRes.destroy();
                return;
              }
            }
            if (slow) {
              for (let i = 0; i < chunk.byteLength; i += slow.chunkBytes as number) {
                await sleep(slow.delayMs as number);
                if (res.destroyed) return;
                res.write(chunk.subarray(i, i + (slow.chunkBytes as number)));
              }
            } else {
              res.write(chunk);
            }
            sent += chunk.byteLength;
          }
          res.end();
        } catch {
          res.destroy();
        }
      })();
    });
    upReq.on('error', () => {
      if (!res.headersSent) send(res, rec, 502, {}, 'upstream unreachable');
      else res.destroy();
    });
    req.pipe(upReq);
  };

  const proxy = createServer((req, res) => {
    const rec = record('proxy', req, log);
    const path = req.url ?? '/';
    if (path.startsWith('/token')) {
      (rec as { listener: RequestRecord['listener'] }).listener = 'token';
      const auth = faults.auth;
      if (!auth) return send(res, rec, 404, {}, 'auth not required');
      if (auth.username !== undefined) {
        const want = `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
        if (req.headers.authorization !== want) return send(res, rec, 401, { 'www-authenticate': 'Basic realm="fault-proxy"' }, '{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      }
      const token = randomBytes(16).toString('hex');
      faults.issuedTokens.add(token);
      const field = auth.accessTokenField ? 'access_token' : 'token';
      return send(res, rec, 200, { 'content-type': 'application/json' }, JSON.stringify({ [field]: token, expires_in: auth.expiresInSeconds ?? 300 }));
    }
    if (faults.auth && path.startsWith('/v2/')) {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      if (!m || !faults.issuedTokens.has(m[1] as string)) {
        const repo = /^\/v2\/(.+?)\/(?:manifests|blobs)\//.exec(path)?.[1];
        const scope = repo ? `,scope="repository:${repo}:pull"` : '';
        return send(res, rec, 401, { 'www-authenticate': `Bearer realm="${proxyUrl}/token",service="fault-proxy"${scope}`, 'content-type': 'application/json' }, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
    }
    const fail = faults.take('fail', path);
    if (fail) {
      rec.faults.push('fail');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fail.retryAfter !== undefined) headers['retry-after'] = fail.retryAfter;
      return send(res, rec, fail.status as number, headers, fail.body ?? '{"errors":[{"code":"UNAVAILABLE","message":"injected failure"}]}');
    }
    if (faults.take('redirect', path)) {
      rec.faults.push('redirect');
      return send(res, rec, 307, { location: `${cdnUrl}/cdn${path}` });
    }
    forward(req, res, rec, path, true);
  });

  const cdn = createServer((req, res) => {
    const rec = record('cdn', req, log);
    const path = req.url ?? '/';
    if (!path.startsWith('/cdn/')) return send(res, rec, 404, {}, 'not a CDN path');
    forward(req, res, rec, path.slice('/cdn'.length), true);
  });

  for (const s of [proxy, cdn]) s.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  const [p, c] = await Promise.all([listen(proxy), listen(cdn)]);
  proxyUrl = `http://127.0.0.1:${p.port}`;
  cdnUrl = `http://127.0.0.1:${c.port}`;

  return {
    host: `127.0.0.1:${p.port}`,
    url: proxyUrl,
    cdnUrl,
    faults,
    log,
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      await Promise.all([proxy, cdn].map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
