// Seeded protocol fuzzing: a few connections at a time send random sequences of (mutated) requests,
// random text and random binary frames, sometimes valid streams, and end in every way a client
// can. The server must not crash, answer only with well-formed events and known error codes, not
// panic, release every stream, and give its memory back.
//
// Replay a failure with FUZZ_SEED=<seed printed in the output> (and FUZZ_CONNECTION=<n> to run only
// connection n of that seed).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import WebSocket from 'ws';
import type { ServerEvent } from '../../src/api/protocol.ts';
import { streamAudio } from '../../src/client/stream-client.ts';
import { activeStreams, scrape } from '../helpers/prometheus.ts';
import { assertCleanError, captureProcessFaults, eventually, health, isError, withoutCommits } from '../helpers/robustness.ts';
import { seeded, speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const ONLY = process.env.FUZZ_CONNECTION === undefined ? null : Number(process.env.FUZZ_CONNECTION);
const MAX_CONNECTIONS = 400;
const BUDGET_MS = 13_000;
const PARALLEL = 4;

// max_stream_seconds 10: random streams sometimes exceed it (8 kHz, many large frames); the 8 s fixture does not
const LIMITS = { max_frame_bytes: 4096, max_text_bytes: 2048, max_streams: 3, max_stream_seconds: 10 };

let service: TestService;
before(async () => {
  service = await startTestService({ limits: LIMITS });
});
after(() => service.shutdown(0));

const fixture = speechFixture();
type Rng = () => number;

// ── random building blocks ──────────────────────────────────────────────────────────────

const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rng, items: readonly T[]): T => items[Math.floor(r() * items.length)];
function weighted<T extends string>(r: Rng, table: Record<T, number>): T {
  const entries = Object.entries(table) as Array<[T, number]>;
  let x = r() * entries.reduce((s, [, w]) => s + w, 0);
  for (const [k, w] of entries) if ((x -= w) < 0) return k;
  return entries[entries.length - 1][0];
}

const KEYS = ['request', 'format', 'channels', 'sample_rate', 'bit_depth', 'is_float', 'interim_results', 'trace_id', 'vad', 'threshold', 'min_silence_ms', 'speech_pad_ms', 'min_speech_ms', 'disconnect', '__proto__', 'constructor', 'x'];
const STRINGS = ['', 'start', 'stop', 'finalize', 'keepalive', 'START', 'true', '16000', 'NaN', '\u0000', '\ud800', '😀', 'é'.repeat(40), 'x'.repeat(300)];
const NUMBERS = [0, -0, 1, -1, 2, 8, 9, 16, 24, 32, 64, 0.5, 1.5, 16000.5, 7999, 8000, 16000, 44100, 192000, 192001, 2 ** 31, 2 ** 53, -1e308, 1e308, 5e-324];

function randomValue(r: Rng, depth = 0): unknown {
  switch (weighted(r, { null: 1, bool: 2, number: 4, string: 3, array: depth < 3 ? 1 : 0, object: depth < 3 ? 2 : 0 })) {
    case 'null':
      return null;
    case 'bool':
      return r() < 0.5;
    case 'number':
      return r() < 0.7 ? pick(r, NUMBERS) : (r() - 0.5) * 10 ** int(r, 0, 12);
    case 'string':
      return pick(r, STRINGS);
    case 'array':
      return Array.from({ length: int(r, 0, 4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: int(r, 0, 4) }, () => [pick(r, KEYS), randomValue(r, depth + 1)]));
  }
}

function validFormat(r: Rng) {
  const f32 = r() < 0.3;
  return { channels: int(r, 1, 3), sample_rate: pick(r, [8000, 16000, 16000, 22050, 44100, 48000, int(r, 8000, 192_000)]), bit_depth: f32 ? 32 : 16, is_float: f32 };
}

function validStart(r: Rng): Record<string, unknown> {
  const start: Record<string, unknown> = { request: 'start', format: validFormat(r) };
  if (r() < 0.5) start.interim_results = r() < 0.5;
  if (r() < 0.2) start.trace_id = r() < 0.5 ? null : `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
  if (r() < 0.3) start.vad = { threshold: 0.05 + r() * 0.9, min_silence_ms: int(r, 0, 2000), speech_pad_ms: int(r, 0, 500), min_speech_ms: int(r, 0, 2000) };
  return start;
}

function validOther(r: Rng): Record<string, unknown> {
  const kind = pick(r, ['stop', 'stop', 'finalize', 'keepalive'] as const);
  if (kind !== 'stop') return { request: kind };
  const x = r();
  return x < 0.4 ? { request: 'stop' } : { request: 'stop', disconnect: x > 0.9 };
}

/** Structural mutation: a random node of the object is deleted, replaced, retyped, or gets a new key. */
function mutate(r: Rng, value: Record<string, unknown>): unknown {
  const copy = structuredClone<Record<string, unknown>>(value);
  const times = int(r, 1, 3);
  for (let n = 0; n < times; n++) {
    // walk down a random path of objects
    let node: Record<string, unknown> = copy;
    for (;;) {
      const children = Object.keys(node).filter((k) => typeof node[k] === 'object' && node[k] !== null && !Array.isArray(node[k]));
      if (children.length === 0 || r() < 0.4) break;
      node = node[pick(r, children)] as Record<string, unknown>;
    }
    const keys = Object.keys(node);
    const key = keys.length > 0 && r() < 0.8 ? pick(r, keys) : pick(r, KEYS);
    switch (weighted(r, { delete: 2, replace: 5, add: 2, wrap: 1 })) {
      case 'delete':
        delete node[key];
        break;
      case 'replace':
        node[key] = randomValue(r);
        break;
      case 'add':
        node[pick(r, KEYS)] = randomValue(r);
        break;
      case 'wrap':
        node[key] = [node[key]];
        break;
    }
  }
  return r() < 0.05 ? [copy] : copy;
}

/** Textual mutation of a request's JSON: truncation, a stray character, or a number JSON.parse turns odd. */
function mutateText(r: Rng, json: string): string {
  switch (weighted(r, { truncate: 3, insert: 3, number: 3, duplicate: 1 })) {
    case 'truncate':
      return json.slice(0, int(r, 0, json.length - 1));
    case 'insert': {
      const at = int(r, 0, json.length);
      return json.slice(0, at) + pick(r, ['{', '}', '[', ']', '"', ',', ':', '\\', ' ', 'a', '\u2028', '\u0000']) + json.slice(at);
    }
    case 'number': {
      const numbers = [...json.matchAll(/-?\d+(\.\d+)?/g)];
      if (numbers.length === 0) return json;
      const m = pick(r, numbers);
      const idx = m.index;
      return json.slice(0, idx) + pick(r, ['1e309', '-1e309', 'NaN', 'Infinity', '-0', '1e-400', '0x10', '01', '.5', '1.', '9'.repeat(400)]) + json.slice(idx + m[0].length);
    }
    default:
      return `{"request":"stop",${json.slice(1)}`; // duplicate keys: JSON.parse keeps the last
  }
}

function randomText(r: Rng): string {
  const length = r() < 0.9 ? int(r, 0, 64) : int(r, LIMITS.max_text_bytes - 16, LIMITS.max_text_bytes + 1000);
  if (r() < 0.5) return Array.from({ length }, () => String.fromCharCode(int(r, 32, 126))).join('');
  return Array.from({ length }, () => String.fromCodePoint(pick(r, [int(r, 0, 0x7f), int(r, 0x80, 0xd7ff), int(r, 0xd800, 0xdfff), int(r, 0xe000, 0x10ffff)]))).join('');
}

function randomBinary(r: Rng): Uint8Array {
  const limit = LIMITS.max_frame_bytes;
  const size = weighted(r, { tiny: 2, normal: 10, large: 1 }) === 'tiny' ? int(r, 0, 16) : r() < 0.75 ? int(r, 16, limit) : int(r, limit, 2 * limit);
  switch (weighted(r, { speech: 5, random: 3, floats: 2 })) {
    case 'speech': {
      const from = int(r, 0, fixture.pcm.length - 1);
      const bytes = fixture.pcm.subarray(from, Math.min(fixture.pcm.length, from + size));
      return bytes.length === size ? bytes : new Uint8Array(size);
    }
    case 'random':
      return Uint8Array.from({ length: size }, () => int(r, 0, 255));
    default: {
      const floats = new Float32Array(Math.ceil(size / 4)).map(() => pick(r, [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, -0, 1e-45, r() * 2 - 1]));
      return new Uint8Array(floats.buffer, 0, size);
    }
  }
}

// ── one fuzzed connection ───────────────────────────────────────────────────────────────

const EVENT_TYPES = new Set(['started', 'committed', 'active', 'inactive', 'segment', 'error', 'stream_end', 'ack']);
const FATAL_CLOSE: Record<string, number> = {
  unsupported_format: 1008,
  audio_before_start: 1008,
  idle_timeout: 1008,
  stream_too_long: 1008,
  slow_consumer: 1008,
  frame_too_large: 1009,
  too_many_streams: 1013,
  shutting_down: 1013,
};
const fatalClose = (e: Extract<ServerEvent, { type: 'error' }>): number | undefined =>
  e.code === 'invalid_request' ? (e.message.startsWith('invalid start request') ? 1008 : undefined) : FATAL_CLOSE[e.code as string];

/**
 * The stream-level contract, per channel, for each stream of a connection (streams are delimited
 * by stream_end; the last one may have been cut off by a close). Simple: segments tile the audio
 * from 0 to the channel's duration. Segmented: active → interim segments → inactive → final segment.
 */
function checkStreams(route: string, events: ServerEvent[], problems: string[]): void {
  let part: ServerEvent[] = [];
  for (const e of events) {
    if (e.type === 'stream_end') {
      checkStream(route, part, e.channel_durations, problems);
      part = [];
    } else if ('channel' in e && e.channel !== undefined) {
      part.push(e);
    }
  }
  checkStream(route, part, null, problems);
}

const SAMPLE = 1 / 16000;

function checkStream(route: string, events: ServerEvent[], durations: number[] | null, problems: string[]): void {
  const byChannel = new Map<number, ServerEvent[]>();
  for (const e of events) {
    const c = (e as { channel: number }).channel;
    byChannel.set(c, [...(byChannel.get(c) ?? []), e]);
  }
  for (const [c, evs] of byChannel) {
    const where = `channel ${c} of stream ${JSON.stringify(evs).slice(0, 1500)} (durations ${JSON.stringify(durations)})`;
    if (!Number.isInteger(c) || c < 0 || (durations && c >= durations.length)) problems.push(`bad channel ${c}: ${where}`);
    const duration = durations?.[c] ?? Infinity;
    if (route === 'simple') {
      let end = 0;
      for (const e of evs) {
        if (e.type !== 'segment' || e.is_final !== undefined) {
          problems.push(`simple mode sends only segments without is_final: ${JSON.stringify(e)} in ${where}`);
          continue;
        }
        if (e.start_time !== end) problems.push(`simple segments do not tile (starts at ${e.start_time}, previous ended at ${end}): ${where}`);
        end = e.end_time;
      }
      if (end > duration + SAMPLE) problems.push(`simple segments end after the audio: ${where}`);
      if (durations && duration >= 2 * SAMPLE && Math.abs(end - duration) > SAMPLE) problems.push(`simple segments stop at ${end}, the audio at ${duration}: ${where}`);
    } else {
      let state: 'outside' | 'inside' | 'final' = 'outside';
      let bounds: [number, number] = [0, 0];
      for (const e of evs) {
        const ok =
          (state === 'outside' && e.type === 'active') ||
          (state === 'inside' && (e.type === 'inactive' || (e.type === 'segment' && e.is_final === false))) ||
          (state === 'final' && e.type === 'segment' && e.is_final === true);
        if (!ok) {
          problems.push(`segmented: ${JSON.stringify(e)} while ${state}: ${where}`);
          return;
        }
        if (e.type === 'active') {
          bounds = [e.time, e.time];
          state = 'inside';
        } else if (e.type === 'inactive') {
          bounds[1] = e.time;
          if (e.time < bounds[0] || e.time > duration + SAMPLE) problems.push(`inactive at ${e.time} outside [${bounds[0]}, ${duration}]: ${where}`);
          state = 'final';
        } else if (e.type === 'segment' && e.is_final) {
          if (e.start_time !== bounds[0] || e.end_time !== bounds[1]) problems.push(`final segment ${e.start_time}..${e.end_time} is not active..inactive ${bounds.join('..')}: ${where}`);
          state = 'outside';
        } else if (e.type === 'segment' && (e.start_time !== bounds[0] || e.end_time > duration + SAMPLE)) {
          problems.push(`interim ${e.start_time}..${e.end_time} does not start at active ${bounds[0]}: ${where}`);
        }
      }
      if (durations && state !== 'outside') problems.push(`stream_end while a segment is open (${state}): ${where}`);
    }
  }
}

interface Outcome {
  closeCode: number;
  events: ServerEvent[];
  trace: string[];
}

const stats = { connections: 0, frames: 0, closeCodes: new Map<number, number>(), errorCodes: new Map<string, number>(), streamEnds: 0, segments: 0 };
const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

async function fuzzConnection(index: number): Promise<Outcome> {
  const r = seeded((SEED + Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const route = r() < 0.6 ? 'segmented' : 'simple';
  const trace: string[] = [route];
  const ws = new WebSocket(service.ws(route));
  const events: ServerEvent[] = [];
  const problems: string[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    const text = data.toString('utf8');
    let e: unknown = null;
    try {
      e = JSON.parse(text);
    } catch {
      // reported below
    }
    if (isBinary || typeof e !== 'object' || e === null || Array.isArray(e) || !EVENT_TYPES.has((e as { type: string }).type)) {
      problems.push(`not an event frame (binary: ${isBinary}): ${text.slice(0, 200)}`);
    } else {
      events.push(e as ServerEvent);
    }
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => undefined); // after the handshake the close code tells what happened

  const open = () => ws.readyState === WebSocket.OPEN;
  const send = (data: string | Uint8Array, binary = typeof data !== 'string') => {
    stats.frames++;
    ws.send(data, { binary }, () => undefined);
  };
  let clientClosed = false;
  let pings = 0;
  let sentInvalidUtf8 = false;
  const steps = int(r, 1, 40);
  if (r() < 0.5) {
    // half the connections begin like a real client, to get deeper into a stream's states
    const s = JSON.stringify(validStart(r));
    trace.push(s);
    send(s);
  }
  for (let i = 0; i < steps && open(); i++) {
    const action = weighted(r, { start: 12, badStart: 10, other: 10, badOther: 6, value: 4, text: 5, textMutation: 7, binary: 28, sleep: 8, ping: 2, utf8: 0.3, terminate: 1.5 });
    switch (action) {
      case 'start': {
        const s = JSON.stringify(validStart(r));
        trace.push(s);
        send(s);
        break;
      }
      case 'badStart':
      case 'badOther': {
        const s = JSON.stringify(mutate(r, action === 'badStart' ? validStart(r) : validOther(r)));
        trace.push(s.slice(0, 300));
        send(s);
        break;
      }
      case 'other': {
        const s = JSON.stringify(validOther(r));
        trace.push(s);
        send(s);
        break;
      }
      case 'value': {
        const s = JSON.stringify(randomValue(r));
        trace.push(s.slice(0, 300));
        send(s);
        break;
      }
      case 'text': {
        const s = randomText(r);
        trace.push(`text(${s.length}) ${JSON.stringify(s.slice(0, 40))}`);
        send(s);
        break;
      }
      case 'textMutation': {
        const s = mutateText(r, JSON.stringify(r() < 0.6 ? validStart(r) : validOther(r)));
        trace.push(s.slice(0, 300));
        send(s);
        break;
      }
      case 'binary': {
        const b = randomBinary(r);
        trace.push(`binary(${b.length})`);
        send(b);
        break;
      }
      case 'sleep': {
        const ms = int(r, 0, 30);
        trace.push(`sleep ${ms}`);
        await sleep(ms);
        break;
      }
      case 'ping': {
        const n = int(r, 1, 10);
        trace.push(`ping×${n}`);
        for (let k = 0; k < n; k++) ws.ping();
        pings += n;
        break;
      }
      case 'utf8': {
        trace.push('invalid UTF-8 text');
        sentInvalidUtf8 = true;
        send(Uint8Array.from([0x7b, 0xc3, 0x28, 0x7d]), false);
        break;
      }
      case 'terminate':
        trace.push('terminate');
        clientClosed = true;
        ws.terminate();
        break;
    }
  }
  if (open() && !clientClosed) {
    const end = weighted(r, { stop: 5, terminate: 2, close: 2, closeCode: 1, wait: 1 });
    trace.push(`end: ${end}`);
    if (end === 'stop') send(JSON.stringify({ request: 'stop', disconnect: true }));
    else if (end === 'terminate') ws.terminate();
    else if (end === 'close') ws.close(1000);
    else if (end === 'closeCode') ws.close(pick(r, [1001, 3000, 4000, 4999]), 'fuzz');
    else await sleep(int(r, 0, 50));
    clientClosed = end !== 'stop';
    if (end === 'wait' && open()) {
      clientClosed = true;
      ws.close(1000);
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const closeCode = await Promise.race([closed, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), 15_000)))]);
  clearTimeout(timer);
  if (closeCode === -1) {
    ws.terminate();
    problems.push('the connection did not close within 15 s');
  }

  // ── what the server said must be well formed ──
  for (const e of events) {
    if (e.type === 'error') {
      try {
        assertCleanError(e);
      } catch (err) {
        problems.push((err as Error).message);
      }
      if (e.channel !== undefined) problems.push(`a channel error (the model cannot fail here): ${JSON.stringify(e)}`);
    } else if (e.type === 'segment') {
      if (!(Number.isFinite(e.start_time) && Number.isFinite(e.end_time) && e.start_time <= e.end_time)) problems.push(`bad segment times: ${JSON.stringify(e)}`);
    } else if (e.type === 'stream_end') {
      if (!e.channel_durations.every((d) => Number.isFinite(d) && d >= 0)) problems.push(`bad stream_end: ${JSON.stringify(e)}`);
    }
  }
  checkStreams(route, events, problems);
  if (closeCode === 1011) problems.push('closed with 1011 (internal error)');
  if (!clientClosed && closeCode !== -1) {
    // The server closed (or was asked to by stop/disconnect): the code must be the documented one.
    const fatal = events.filter(isError).find((e) => fatalClose(e) !== undefined);
    const expected = fatal ? [fatalClose(fatal)] : [1000, ...(sentInvalidUtf8 ? [1007] : []), ...(pings > 60 ? [1006] : [])];
    if (!expected.includes(closeCode)) problems.push(`close code ${closeCode}, expected one of ${expected.join('/')}`);
  }
  if (problems.length > 0) {
    throw new Error(
      `connection ${index} (FUZZ_SEED=${SEED} FUZZ_CONNECTION=${index}): ${problems.join('; ')}\n` +
        `  sent: ${trace.join(' | ').slice(0, 4000)}\n  received: ${JSON.stringify(events).slice(0, 3000)}\n  close: ${closeCode}`,
    );
  }
  stats.connections++;
  bump(stats.closeCodes, closeCode);
  for (const e of events) {
    if (e.type === 'error') bump(stats.errorCodes, e.code as string);
    if (e.type === 'stream_end') stats.streamEnds++;
    if (e.type === 'segment') stats.segments++;
  }
  return { closeCode, events, trace };
}

// ── the run ─────────────────────────────────────────────────────────────────────────────

function forcedGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

/** heapUsed once the server holds no connection and after forced collections. */
async function settledHeap(gc: (() => void) | null): Promise<number> {
  await waitFor('the server to hold no connection', async () => (await scrape(service.url)).value('active_connections') === 0);
  gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  gc?.();
  return process.memoryUsage().heapUsed;
}

test(`fuzz: up to ${MAX_CONNECTIONS} connections or ${BUDGET_MS / 1000} s, ${PARALLEL} at a time`, async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}${ONLY === null ? '' : ` FUZZ_CONNECTION=${ONLY}`}`);
  console.log(`# fuzz seed: FUZZ_SEED=${SEED}`);
  const gc = forcedGc();
  const faults = captureProcessFaults();
  try {
    const before = await scrape(service.url);
    // warm-up round: first use of each code path allocates lazily (resamplers, VAD states, metrics)
    const warmup = ONLY === null ? 8 : 0;
    for (let i = 0; i < warmup; i++) await fuzzConnection(MAX_CONNECTIONS + i);
    const baseline = await settledHeap(gc);

    // health is polled all along: it must stay 200 and healthy
    const unhealthy: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const h = await health(service).catch((err: Error) => ({ status: -1, body: { status: err.message } }));
        if (h.status !== 200 || h.body.status !== 'healthy') unhealthy.push(JSON.stringify(h));
        await sleep(200);
      }
    })();

    const started = performance.now();
    let nextIndex = ONLY ?? 0;
    const last = ONLY ?? MAX_CONNECTIONS - 1;
    const failures: Error[] = [];
    const lane = async () => {
      while (nextIndex <= last && performance.now() - started < BUDGET_MS && failures.length === 0) {
        const index = nextIndex++;
        try {
          await fuzzConnection(index);
        } catch (err) {
          failures.push(err as Error);
        }
      }
    };
    await Promise.all(Array.from({ length: ONLY === null ? PARALLEL : 1 }, lane));
    const elapsed = (performance.now() - started) / 1000;
    polling = false;
    await poller;
    t.diagnostic(
      `${stats.connections} connections (${stats.frames} frames) in ${elapsed.toFixed(1)} s; ` +
        `close codes ${JSON.stringify(Object.fromEntries(stats.closeCodes))}; errors ${JSON.stringify(Object.fromEntries(stats.errorCodes))}; ` +
        `${stats.streamEnds} stream_end, ${stats.segments} segments`,
    );
    if (failures.length > 0) throw failures[0];
    assert.deepEqual(unhealthy, [], '/api/v1/health stayed 200 and healthy during the run');
    // bounded in time by construction: no connection starts after BUDGET_MS, each closes within 15 s

    // the server is still whole
    assert.deepEqual(faults.faults, [], 'no uncaught exception or unhandled rejection in the (in-process) server');
    assert.ok(await eventually(async () => (await activeStreams(service)) === 0, 10_000), `active_streams back to 0 (now ${await activeStreams(service)})`);
    assert.ok(await eventually(async () => (await scrape(service.url)).value('active_connections') === 0, 10_000), 'active_connections back to 0');
    const now = await scrape(service.url);
    assert.equal(now.sum('task_panics_total') - before.sum('task_panics_total'), 0, 'random input caused no panic');
    assert.equal(now.value('model_failures_total') - before.value('model_failures_total'), 0);
    const h = await health(service);
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { status: 'healthy' });

    const heap = await settledHeap(gc);
    const growth = (heap - baseline) / 2 ** 20;
    t.diagnostic(`heapUsed ${(baseline / 2 ** 20).toFixed(1)} → ${(heap / 2 ** 20).toFixed(1)} MiB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB; forced GC: ${gc ? 'yes' : 'no'})`);
    assert.ok(growth < 64, `heapUsed grew by ${growth.toFixed(1)} MiB (bound 64 MiB)`);

    // and still serves a real stream exactly
    const { events, closeCode } = await streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 4000 });
    assert.equal(closeCode, 1000);
    assert.deepEqual(
      withoutCommits(events).map((e) => e.type),
      ['started', 'active', 'inactive', 'segment', 'active', 'inactive', 'segment', 'stream_end'],
    );
  } finally {
    faults.stop();
  }
});
