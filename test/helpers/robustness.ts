// Shared checks for the robustness suites (bad input, fuzz, fault soak): error hygiene, server
// health, process-level faults and a quick "a fresh stream still works" probe.
import assert from 'node:assert/strict';
import { ERROR_CODES, type ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { S16_MONO_16K, speechFixture, type TestService } from './service.ts';

export { eventually } from './wait.ts';

export type ServerError = Extract<ServerEvent, { type: 'error' }>;

/** Events without the committed points: they go out at most every 500 ms of wall time, so how many come depends on pacing and load. */
export const withoutCommits = (events: ServerEvent[]): ServerEvent[] => events.filter((e) => e.type !== 'committed');

/** What two runs of the same audio have in common: their events less the stream ids and the committed points. */
export const comparable = (events: ServerEvent[]): ServerEvent[] => withoutCommits(events).map((e) => (e.type === 'started' ? { type: 'started', stream_id: '<id>' } : e));
export const isError = (e: ServerEvent): e is ServerError => e.type === 'error';

/** What must never reach a client: stack frames, file paths, source locations, exception names. */
export const INTERNALS = /\n\s*at |\bat \/|node_modules|\/work\/|\/home\/|\/tmp\/|file:\/\/|\.[cm]?[jt]s:\d|TaskPanic|ReferenceError|TypeError|RangeError/;

/** An error event is well formed: a known code, a non-empty message, no internals. */
export function assertCleanError(e: ServerError, context = ''): void {
  assert.ok((ERROR_CODES as readonly string[]).includes(e.code as string), `${context}unknown error code ${JSON.stringify(e.code)} in ${JSON.stringify(e)}`);
  assert.equal(typeof e.message, 'string', `${context}message is a string`);
  assert.ok(e.message.length > 0, `${context}empty error message`);
  assert.ok(!INTERNALS.test(e.message), `${context}error message leaks internals: ${JSON.stringify(e.message)}`);
}

export async function health(service: TestService): Promise<{ status: number; body: { status: string; panics?: number } }> {
  const res = await fetch(`${service.url}/api/v1/health`);
  return { status: res.status, body: (await res.json()) as { status: string; panics?: number } };
}

const fixture = speechFixture();

/** A fresh connection streams `seconds` of the fixture on the simple route and gets all of it answered. */
export async function assertFreshStreamWorks(service: TestService, seconds = 0.25, context = ''): Promise<void> {
  const pcm = fixture.pcm.subarray(0, Math.round(seconds * 16000) * 2);
  const { events, closeCode } = await streamAudio({ addr: service.ws('simple'), format: S16_MONO_16K, pcm, chunkBytes: 4000, timeoutMs: 20_000 });
  assert.deepEqual(events.at(-1), { type: 'stream_end', channel_durations: [seconds] }, `${context}fresh stream: ${JSON.stringify(events)}`);
  assert.equal(events.filter(isError).length, 0, `${context}fresh stream had errors: ${JSON.stringify(events)}`);
  assert.equal(closeCode, 1000, `${context}fresh stream close code`);
}

/**
 * Records uncaught exceptions and unhandled rejections while installed (the service runs
 * in-process, so either would be the server crashing). `stop()` removes the listeners.
 */
export function captureProcessFaults(): { faults: string[]; stop: () => void } {
  const faults: string[] = [];
  const onException = (err: unknown) => faults.push(`uncaughtException: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  const onRejection = (err: unknown) => faults.push(`unhandledRejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    faults,
    stop: () => {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}
