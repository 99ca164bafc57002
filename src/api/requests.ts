// A client's text message → a validated request, or the protocol error it is (the error event's
// message and code, and whether the connection closes).
import { CloseCode, KNOWN_REQUESTS, requestSchema, type ClientRequest, type ProtocolErrorCode } from './protocol.ts';

/** Why a text message is not a valid request: the error event to send, and whether to close. */
export interface RequestError {
  message: string;
  code: ProtocolErrorCode;
  close?: number;
}

/** Parses and validates one text message: the request, or the protocol error it is. */
export function parseRequest(text: string, maxBytes: number): { request: ClientRequest } | { error: RequestError } {
  if (Buffer.byteLength(text) > maxBytes) {
    return { error: { message: `text message larger than ${maxBytes} bytes`, code: 'frame_too_large', close: CloseCode.tooLarge } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: { message: 'invalid JSON', code: 'invalid_json' } };
  }
  const unknown = whyNotARequest(json);
  if (unknown) return { error: { message: `${unknown} (expected one of ${KNOWN_REQUESTS.join(', ')})`, code: 'unknown_request' } };
  const name = (json as { request: string }).request;
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || name}: ${i.message}`).join('; ');
    // A broken start leaves no usable stream; a broken stop/finalize does not.
    return { error: { message: `invalid ${name} request: ${detail}`, code: 'invalid_request', close: name === 'start' ? CloseCode.policy : undefined } };
  }
  return { request: parsed.data };
}

/** What is wrong with a JSON value that is not an object naming a known request, or null when it is one. */
function whyNotARequest(json: unknown): string | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return `a request is a JSON object with a "request" field, not ${json === null ? 'null' : Array.isArray(json) ? 'an array' : `a ${typeof json}`}`;
  }
  if (!Object.hasOwn(json, 'request')) return 'the object has no "request" field';
  const name = (json as { request: unknown }).request;
  if (typeof name !== 'string') return `"request" must be a string, not ${name === null ? 'null' : Array.isArray(name) ? 'an array' : `a ${typeof name}`}`;
  if (!(KNOWN_REQUESTS as readonly string[]).includes(name)) return `unknown request ${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)}`;
  return null;
}
