// Optional bearer-token auth for the websocket routes (and /metrics if asked). Browsers cannot set
// headers on a websocket, so `?token=` works too. Tokens are compared as SHA-256 digests with
// timingSafeEqual, against every configured token, so timing reveals neither content nor length.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Instruments } from '../telemetry/instruments.ts';
import { ATTR } from '../telemetry/names.ts';
import type { ProtocolErrorCode } from './protocol.ts';

const digest = (token: string) => createHash('sha256').update(token).digest();

export function bearerAuth(tokens: readonly string[], metrics: Instruments): MiddlewareHandler {
  const allowed = tokens.map(digest);
  const accepts = (candidate: string): boolean => {
    const d = digest(candidate);
    let ok = false;
    for (const a of allowed) ok = timingSafeEqual(d, a) || ok; // no early exit
    return ok;
  };
  return async (c, next) => {
    const header = c.req.header('authorization');
    const candidate = header?.startsWith('Bearer ') ? header.slice(7).trim() : c.req.query('token');
    if (candidate && accepts(candidate)) return next();
    metrics.protocolErrors.add(1, { [ATTR.code]: 'unauthorized' satisfies ProtocolErrorCode });
    return c.json({ type: 'error', code: 'unauthorized', message: 'a valid bearer token is required' }, 401, { 'www-authenticate': 'Bearer' });
  };
}
