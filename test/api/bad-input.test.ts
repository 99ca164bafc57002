// Bad input, table-driven: every malformed, mistyped, out-of-range or out-of-order thing a client
// can send gets the documented answer (the error table of docs/protocol.md), the server stays healthy, and a
// well-behaved segmented stream running at the same time gets results identical to a reference
// run made with no bad client around.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { ErrorCode, ServerEvent } from '../../src/api/protocol.ts';
import { microseconds } from '../../src/audio/format.ts';
import { connect, streamAudio, type Connection, type StreamResult } from '../../src/client/stream-client.ts';
import { log } from '../../src/log.ts';
import { segmentsOf } from '../helpers/events.ts';
import { activeStreams, scrape, type Exposition } from '../helpers/prometheus.ts';
import { assertCleanError, assertFreshStreamWorks, eventually, health, isError, comparable, withoutCommits } from '../helpers/robustness.ts';
import { S16_MONO_16K, seeded, speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const MAX_FRAME = 4096;
const MAX_TEXT = 1024;
/** ws's own hard cap on a message (src/api/app.ts): max(4 × max_frame_bytes, 1 MiB). */
const TRANSPORT_CAP = Math.max(4 * MAX_FRAME, 1 << 20);

let service: TestService;
before(async () => {
  service = await startTestService({ limits: { max_frame_bytes: MAX_FRAME, max_text_bytes: MAX_TEXT } });
  reference = await goodStream();
  metricsBefore = await scrape(service.url);
});
after(() => service.shutdown(0));

const fixture = speechFixture();
const S = S16_MONO_16K;
type Route = 'simple' | 'segmented';
type Msg = object | string | Uint8Array;
type Ack = Extract<ServerEvent, { type: 'ack' }>;
const endsOf = (events: ServerEvent[]) => events.flatMap((e) => (e.type === 'stream_end' ? [e.channel_durations] : []));
const acksOf = (events: ServerEvent[]) => events.filter((e): e is Ack => e.type === 'ack').map((e) => e.request);

const start = (format: object = S, extra: object = {}) => ({ request: 'start', format, ...extra });
const startWith = (patch: Record<string, unknown>, extra: object = {}) => start({ ...S, ...patch }, extra);
const withVad = (vad: unknown) => start(S, { vad });

/** `bytes` cut into binary frames of at most `size` bytes. */
function frames(bytes: Uint8Array, size = 4000): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, Math.min(bytes.length, i + size)));
  return out;
}
/** `seconds` of the s16 mono 16 kHz fixture from `from` seconds on, as binary frames. */
const audio = (seconds: number, from = 0) => frames(fixture.pcm.subarray(Math.round(from * 16000) * 2, Math.round((from + seconds) * 16000) * 2));
const random = seeded(20240611);
const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
/** Little-endian f32 samples as bytes. */
const f32Bytes = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

interface Case {
  name: string;
  /** Default: segmented, the route the concurrent well-behaved stream uses. */
  route?: Route;
  send?: Array<Msg | Msg[]>;
  /** Protocol error codes, in order, over the whole connection (default: none). */
  errors?: ErrorCode[];
  /** The server closes with this code; absent: the connection stays usable (a probe stream is run on it). */
  close?: number;
  /** stream_end durations, in order, of the streams the case's messages ran (default: none). */
  ends?: number[][];
  /** Acks for the case's own finalize/keepalive requests, in order (default: none). */
  acks?: Array<'finalize' | 'keepalive'>;
  /** Extra checks on the events received before the probe. */
  check?: (events: ServerEvent[]) => void;
  /** A case that needs a raw socket (pings, invalid UTF-8) does its own exchange and checks. */
  custom?: () => Promise<void>;
}

const CASES: Case[] = [
  // ── malformed JSON: invalid_json, the connection goes on ──────────────────────────────
  { name: 'truncated object', send: ['{"request":"start","format":{"channels":1'], errors: ['invalid_json'] },
  { name: 'single-quoted keys', send: ["{'request':'keepalive'}"], errors: ['invalid_json'] },
  { name: 'trailing comma', send: ['{"request":"keepalive",}'], errors: ['invalid_json'] },
  { name: 'bare word', send: ['keepalive'], errors: ['invalid_json'] },
  { name: 'empty text frame', send: [''], errors: ['invalid_json'] },
  { name: 'whitespace-only text frame', send: [' \n\t '], errors: ['invalid_json'] },
  { name: 'NaN literal', send: ['{"request":"start","format":{"channels":1,"sample_rate":NaN,"bit_depth":16,"is_float":false}}'], errors: ['invalid_json'] },
  { name: 'Infinity literal', send: ['{"request":"start","format":{"channels":Infinity,"sample_rate":16000,"bit_depth":16,"is_float":false}}'], errors: ['invalid_json'] },
  { name: 'hex number', send: ['{"request":"start","format":{"channels":0x1,"sample_rate":16000,"bit_depth":16,"is_float":false}}'], errors: ['invalid_json'] },
  { name: 'two objects in one frame', send: ['{"request":"keepalive"}{"request":"keepalive"}'], errors: ['invalid_json'] },
  { name: 'trailing comment', send: ['{"request":"keepalive"} // hi'], errors: ['invalid_json'] },
  { name: 'byte-order mark before the JSON', send: ['\uFEFF{"request":"keepalive"}'], errors: ['invalid_json'] },
  {
    name: 'several malformed frames in a row, then a valid request',
    send: ['{', '}', '[', '"', { request: 'keepalive' }],
    errors: ['invalid_json', 'invalid_json', 'invalid_json', 'invalid_json'],
    acks: ['keepalive'],
  },

  // ── JSON that is not a request object: unknown_request, the connection goes on ────────
  { name: 'array holding a request', send: ['[{"request":"keepalive"}]'], errors: ['unknown_request'] },
  { name: 'number', send: ['42'], errors: ['unknown_request'] },
  { name: 'string naming a request', send: ['"keepalive"'], errors: ['unknown_request'] },
  { name: 'null', send: ['null'], errors: ['unknown_request'] },
  { name: 'boolean', send: ['true'], errors: ['unknown_request'] },
  { name: 'request is a number', send: [{ request: 1 }], errors: ['unknown_request'] },
  { name: 'request is null', send: [{ request: null }], errors: ['unknown_request'] },
  { name: 'request is an object', send: [{ request: { name: 'start' } }], errors: ['unknown_request'] },
  { name: 'request in the wrong case', send: [startWith({}, { request: 'START' })], errors: ['unknown_request'] },
  { name: 'request with a trailing space', send: [{ request: 'keepalive ' }], errors: ['unknown_request'] },
  { name: 'request named after an Object.prototype member', send: [{ request: 'toString' }, { request: 'constructor' }], errors: ['unknown_request', 'unknown_request'] },
  { name: 'a 900-character request name', send: [{ request: 'x'.repeat(900) }], errors: ['unknown_request'] },
  { name: '500-deep nested arrays', send: ['['.repeat(500) + ']'.repeat(500)], errors: ['unknown_request'] },
  {
    name: '__proto__ keys (prototype pollution attempt)',
    send: ['{"__proto__":{"request":"keepalive"}}', '{"request":"__proto__"}', '{"request":"keepalive","__proto__":{"polluted":true}}'],
    errors: ['unknown_request', 'unknown_request'],
    acks: ['keepalive'],
    check: () => assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'Object.prototype was not polluted'),
  },

  // ── start with a field of the wrong type: invalid_request, close 1008 ─────────────────
  { name: 'format is a string', send: [start('s16' as unknown as object)], errors: ['invalid_request'], close: 1008 },
  { name: 'format is null', send: [start(null as unknown as object)], errors: ['invalid_request'], close: 1008 },
  { name: 'format is an array', send: [start([1, 16000, 16, false])], errors: ['invalid_request'], close: 1008 },
  { name: 'format without is_float', send: [start({ channels: 1, sample_rate: 16000, bit_depth: 16 })], errors: ['invalid_request'], close: 1008 },
  { name: 'channels is null', send: [startWith({ channels: null })], errors: ['invalid_request'], close: 1008 },
  { name: 'channels is a boolean', send: [startWith({ channels: true })], errors: ['invalid_request'], close: 1008 },
  { name: 'sample_rate is a numeric string', send: [startWith({ sample_rate: '16000' })], errors: ['invalid_request'], close: 1008 },
  { name: 'sample_rate is "NaN"', send: [startWith({ sample_rate: 'NaN' })], errors: ['invalid_request'], close: 1008 },
  { name: 'bit_depth is a string', send: [startWith({ bit_depth: '16' })], errors: ['invalid_request'], close: 1008 },
  { name: 'is_float is the string "false"', send: [startWith({ is_float: 'false' })], errors: ['invalid_request'], close: 1008 },
  { name: 'is_float is 0', send: [startWith({ is_float: 0 })], errors: ['invalid_request'], close: 1008 },
  { name: 'channels is fractional (1.5: not an integer)', send: [startWith({ channels: 1.5 })], errors: ['invalid_request'], close: 1008 },
  { name: 'bit_depth is fractional (16.5)', send: [startWith({ bit_depth: 16.5 })], errors: ['invalid_request'], close: 1008 },
  // JSON.parse('1e309') is Infinity; zod's z.number() rejects non-finite numbers
  { name: 'sample_rate 1e309 (parses to Infinity)', send: ['{"request":"start","format":{"channels":1,"sample_rate":1e309,"bit_depth":16,"is_float":false}}'], errors: ['invalid_request'], close: 1008 },
  { name: 'sample_rate -1e309 (-Infinity)', send: ['{"request":"start","format":{"channels":1,"sample_rate":-1e309,"bit_depth":16,"is_float":false}}'], errors: ['invalid_request'], close: 1008 },
  { name: 'channels 1e309 (Infinity)', send: ['{"request":"start","format":{"channels":1e309,"sample_rate":16000,"bit_depth":16,"is_float":false}}'], errors: ['invalid_request'], close: 1008 },
  { name: 'bit_depth 1e309 (Infinity)', send: ['{"request":"start","format":{"channels":1,"sample_rate":16000,"bit_depth":1e309,"is_float":false}}'], errors: ['invalid_request'], close: 1008 },
  { name: 'interim_results is the string "true"', send: [start(S, { interim_results: 'true' })], errors: ['invalid_request'], close: 1008 },
  { name: 'interim_results is 1', send: [start(S, { interim_results: 1 })], errors: ['invalid_request'], close: 1008 },
  { name: 'trace_id is a number', send: [start(S, { trace_id: 42 })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad is a string', send: [withVad('aggressive')], errors: ['invalid_request'], close: 1008 },
  // trace_id is nullish() but vad only optional(): null is refused for vad (see report)
  { name: 'vad is null', send: [withVad(null)], errors: ['invalid_request'], close: 1008 },
  { name: 'vad is an array', send: [withVad([0.5])], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.threshold 1.5 (above 1)', send: [withVad({ threshold: 1.5 })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.threshold 0 (must be > 0)', send: [withVad({ threshold: 0 })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.threshold is a string', send: [withVad({ threshold: '0.5' })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.min_silence_ms -1', send: [withVad({ min_silence_ms: -1 })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.speech_pad_ms 1001 (max 1000)', send: [withVad({ speech_pad_ms: 1001 })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.min_speech_ms fractional', send: [withVad({ min_speech_ms: 2.5 })], errors: ['invalid_request'], close: 1008 },
  { name: 'vad.min_speech_ms 1e309', send: ['{"request":"start","format":{"channels":1,"sample_rate":16000,"bit_depth":16,"is_float":false},"vad":{"min_speech_ms":1e309}}'], errors: ['invalid_request'], close: 1008 },
  { name: 'chunk_ms -1', route: 'simple', send: [start(S, { chunk_ms: -1 })], errors: ['invalid_request'], close: 1008 },
  { name: 'chunk_ms 30001 (max 30000)', route: 'simple', send: [start(S, { chunk_ms: 30_001 })], errors: ['invalid_request'], close: 1008 },
  { name: 'chunk_ms fractional (2.5)', route: 'simple', send: [start(S, { chunk_ms: 2.5 })], errors: ['invalid_request'], close: 1008 },
  { name: 'chunk_ms is a numeric string', route: 'simple', send: [start(S, { chunk_ms: '250' })], errors: ['invalid_request'], close: 1008 },
  { name: 'chunk_ms is null', route: 'simple', send: [start(S, { chunk_ms: null })], errors: ['invalid_request'], close: 1008 },
  { name: 'chunk_ms 1e309 (Infinity)', route: 'simple', send: ['{"request":"start","format":{"channels":1,"sample_rate":16000,"bit_depth":16,"is_float":false},"chunk_ms":1e309}'], errors: ['invalid_request'], close: 1008 },
  { name: 'format nested 400 deep', send: [`{"request":"start","format":${'['.repeat(400)}${']'.repeat(400)}}`], errors: ['invalid_request'], close: 1008 },

  // ── numbers of the right type but out of range: unsupported_format, close 1008 ────────
  { name: 'channels -1', send: [startWith({ channels: -1 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'channels 2^31', send: [startWith({ channels: 2 ** 31 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'sample_rate 0', send: [startWith({ sample_rate: 0 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'sample_rate -16000', send: [startWith({ sample_rate: -16000 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'sample_rate 16000.5 (fractional: a number, but not an integer rate)', send: [startWith({ sample_rate: 16000.5 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'sample_rate 7999 (just below the range)', send: [startWith({ sample_rate: 7999 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'sample_rate 192001 (just above the range)', send: [startWith({ sample_rate: 192_001 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'sample_rate 1e12', send: [startWith({ sample_rate: 1e12 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'bit_depth 0', send: [startWith({ bit_depth: 0 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'bit_depth -16', send: [startWith({ bit_depth: -16 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'bit_depth 8', send: [startWith({ bit_depth: 8 })], errors: ['unsupported_format'], close: 1008 },
  { name: 'bit_depth 64 float', send: [startWith({ bit_depth: 64, is_float: true })], errors: ['unsupported_format'], close: 1008 },
  { name: '16-bit float', send: [startWith({ is_float: true })], errors: ['unsupported_format'], close: 1008 },
  { name: '32-bit integer', send: [startWith({ bit_depth: 32 })], errors: ['unsupported_format'], close: 1008 },

  // ── accepted as documented ────────────────────────────────────────────────────────────
  {
    // zod objects strip unknown keys (requestSchema is not .strict()): extra fields are ignored
    name: 'unknown extra fields in start, format, vad, stop and finalize are ignored',
    send: [
      { request: 'start', format: { ...S, endianness: 'big', codec: 'opus' }, vad: { threshold: 0.5, mode: 3 }, language: 'en', future_field: { nested: [1, 2] } },
      audio(0.25),
      { request: 'finalize', now: true },
      { request: 'keepalive', seq: 7 },
      audio(0.25),
      { request: 'stop', disconnect: false, reason: 'done' },
    ],
    acks: ['finalize', 'keepalive'],
    ends: [[0.5]],
  },
  { name: 'trace_id null and an empty vad object', send: [start(S, { trace_id: null, vad: {} }), audio(0.25)], ends: [[0.25]] },
  {
    name: 'vad tuning at its bounds',
    send: [start(S, { vad: { threshold: 1e-9, min_silence_ms: 0, speech_pad_ms: 1000, min_speech_ms: 10_000 } }), audio(0.5, 1)],
    ends: [[0.5]],
  },
  {
    name: 'largest format: 8 channels f32 at 192 kHz',
    send: [start({ channels: 8, sample_rate: 192_000, bit_depth: 32, is_float: true }), frames(f32Bytes(Array.from({ length: 1920 * 8 }, (_, i) => Math.sin(i / 50) * 0.5)), MAX_FRAME)],
    ends: [Array<number>(8).fill(1920 / 192_000)],
  },
  { name: 'smallest rate: 8 kHz stereo s16', send: [start({ channels: 2, sample_rate: 8000, bit_depth: 16, is_float: false }), frames(fixture.pcm.subarray(0, 16000))], ends: [[0.5, 0.5]] },
  {
    name: 'chunk_ms at its bounds (30000, then 0) on the simple route',
    route: 'simple',
    send: [start(S, { chunk_ms: 30_000 }), audio(0.5), { request: 'stop' }, start(S, { chunk_ms: 0 }), audio(0.25)],
    ends: [[0.5], [0.25]],
    // the first stream's 0.5 s never reached 30 s: the stop sent it as one chunk
    check: (events) => assert.deepEqual(segmentsOf(events.slice(0, events.findIndex((e) => e.type === 'stream_end'))).map((s) => [s.start_time, s.end_time]), [[0, 0.5]]),
  },
  { name: 'chunk_ms on the segmented route is ignored', send: [start(S, { chunk_ms: 1000 }), audio(0.5, 1)], ends: [[0.5]] },
  { name: 'finalize before start', send: [{ request: 'finalize' }], acks: ['finalize'] },
  { name: 'finalize twice in a row mid-stream', route: 'simple', send: [start(), audio(0.25), { request: 'finalize' }, { request: 'finalize' }], acks: ['finalize', 'finalize'], ends: [[0.25]] },

  // ── binary frames ─────────────────────────────────────────────────────────────────────
  { name: 'binary garbage before start', send: [randomBytes(1000)], errors: ['audio_before_start'], close: 1008 },
  { name: 'a 0-byte binary frame before start', send: [new Uint8Array(0)], errors: ['audio_before_start'], close: 1008 },
  // the size is checked before anything else (src/api/session.ts onAudio)
  { name: 'an oversized binary frame before start', send: [new Uint8Array(MAX_FRAME + 1)], errors: ['frame_too_large'], close: 1009 },
  {
    // a 0-byte frame decodes to no samples: no audio, no error (PcmDecoder.decode, LibSampleRate.process)
    name: 'a 0-byte binary frame mid-stream is no audio',
    route: 'simple',
    send: [start(), audio(0.25), new Uint8Array(0), new Uint8Array(0), audio(0.25, 0.25), { request: 'stop' }],
    ends: [[0.5]],
    check: (events) => {
      const segs = segmentsOf(events);
      for (let i = 1; i < segs.length; i++) assert.equal(segs[i].start_time, segs[i - 1].end_time);
      assert.equal(segs.at(-1)?.end_time, 0.5);
      assert.equal(segs.reduce((n, s) => n + (s.count as number), 0), 8000);
    },
  },
  {
    // every s16 sample split across two frames: carried, never dropped
    name: '1-byte binary frames',
    route: 'simple',
    send: [start(), frames(fixture.pcm.subarray(32000, 34001), 1), { request: 'stop' }],
    errors: ['incomplete_sample'], // the 2001st byte
    ends: [[1000 / 16000]],
    check: (events) => assert.equal(segmentsOf(events).reduce((n, s) => n + (s.count as number), 0), 1000),
  },
  { name: `a binary frame of exactly max_frame_bytes (${MAX_FRAME})`, send: [start(), fixture.pcm.subarray(0, MAX_FRAME)], ends: [[MAX_FRAME / 32000]] },
  {
    name: 'a binary frame one byte over max_frame_bytes mid-stream: the stream is finished first, then the error',
    send: [start(), audio(0.25), fixture.pcm.subarray(0, MAX_FRAME + 1)],
    errors: ['frame_too_large'],
    ends: [[0.25]],
    close: 1009,
  },
  // over ws's own maxPayload the websocket layer closes with 1009 before the session sees the frame (src/api/app.ts)
  { name: 'a binary frame over the transport cap', send: [start(), new Uint8Array(TRANSPORT_CAP + 1)], close: 1009 },
  {
    name: 'f32 NaN / Infinity / huge samples at 44.1 kHz are audio like any other',
    send: [start({ channels: 1, sample_rate: 44_100, bit_depth: 32, is_float: true }), frames(f32Bytes([...Array<number>(600).fill(NaN), ...Array<number>(200).fill(Infinity), ...Array<number>(200).fill(-3.4e38)]), MAX_FRAME)],
    ends: [[microseconds(1000 / 44_100)]],
  },
  { name: 'random bytes as s16 audio (noise) on the segmented route', send: [start(), frames(randomBytes(16_000), MAX_FRAME)], ends: [[0.5]] },
  { name: 'a frame that ends mid-sample, then stop: the odd byte is not a sample, and incomplete_sample says so', route: 'simple', send: [start(), fixture.pcm.subarray(0, 3201), { request: 'stop' }], errors: ['incomplete_sample'], ends: [[0.1]] },

  // ── text frames ───────────────────────────────────────────────────────────────────────
  { name: `a text frame of exactly max_text_bytes (${MAX_TEXT}) is accepted`, send: [padded({ request: 'keepalive' }, MAX_TEXT)], acks: ['keepalive'] },
  { name: 'a text frame one byte over max_text_bytes', send: [padded({ request: 'keepalive' }, MAX_TEXT + 1)], errors: ['frame_too_large'], close: 1009 },
  { name: 'a text frame under the limit in characters but over it in UTF-8 bytes', send: [JSON.stringify({ request: 'keepalive', note: 'é'.repeat(600) })], errors: ['frame_too_large'], close: 1009 },
  { name: 'an oversized garbage text frame mid-stream', send: [start(), audio(0.25), 'z'.repeat(MAX_TEXT + 100)], errors: ['frame_too_large'], ends: [[0.25]], close: 1009 },
  {
    name: 'audio sent as a text frame where binary is expected',
    send: [start(), audio(0.25), Buffer.from(fixture.pcm.subarray(0, 800)).toString('latin1'), audio(0.25, 0.25)],
    errors: ['invalid_json'],
    ends: [[0.5]],
  },
  { name: 'a JSON number as text mid-stream', send: [start(), audio(0.25), '12345', audio(0.25, 0.25)], errors: ['unknown_request'], ends: [[0.5]] },

  // ── requests out of order ─────────────────────────────────────────────────────────────
  { name: 'start twice in a row: the first stream ends (empty), the second runs', send: [start(), start()], ends: [[0], [0]] },
  { name: 'stop with disconnect before any start: no_active_stream, then close 1000', send: [{ request: 'stop', disconnect: true }], errors: ['no_active_stream'], close: 1000 },
  { name: 'stop {} before start (disconnect defaults to false)', send: [{ request: 'stop' }], errors: ['no_active_stream'] },
  { name: 'stop then stop', send: [start(), audio(0.25), { request: 'stop', disconnect: false }, { request: 'stop', disconnect: false }], errors: ['no_active_stream'], ends: [[0.25]] },
  { name: 'stop, then stop with disconnect: no stream runs any more', send: [start(), audio(0.25), { request: 'stop' }, { request: 'stop', disconnect: true }], errors: ['no_active_stream'], ends: [[0.25]], close: 1000 },
  {
    name: 'messages after stop with disconnect are ignored',
    send: [start(), audio(0.25), { request: 'stop', disconnect: true }, audio(0.25), 'garbage', { request: 'keepalive' }, start(), { request: 'bogus' }],
    ends: [[0.25]],
    close: 1000,
  },
  { name: 'stop with disconnect "yes" mid-stream: invalid_request, the stream goes on', send: [start(), audio(0.25), { request: 'stop', disconnect: 'yes' }, audio(0.25, 0.25)], errors: ['invalid_request'], ends: [[0.5]] },
  { name: 'stop with disconnect null before start', send: [{ request: 'stop', disconnect: null }], errors: ['invalid_request'] },
  { name: 'an unknown request mid-stream', send: [start(), audio(0.25), { request: 'pause' }, audio(0.25, 0.25)], errors: ['unknown_request'], ends: [[0.5]] },
  { name: 'an unsupported start mid-stream finishes the running stream (stream_end) before the error', send: [start(), audio(0.25), startWith({ bit_depth: 24 })], errors: ['unsupported_format'], ends: [[0.25]], close: 1008 },
  { name: 'an invalid start mid-stream finishes the running stream (stream_end) before the error', send: [start(), audio(0.25), startWith({ channels: '1' })], errors: ['invalid_request'], ends: [[0.25]], close: 1008 },
  {
    name: 'every kind of non-fatal error on one connection, mid-stream',
    route: 'simple',
    send: [start(), audio(0.1), '{', 'null', { request: 'nope' }, { request: 'stop', disconnect: 1 }, audio(0.1, 0.1), { request: 'stop' }, { request: 'stop' }],
    errors: ['invalid_json', 'unknown_request', 'unknown_request', 'invalid_request', 'no_active_stream'],
    ends: [[0.2]],
  },

  // ── websocket-level abuse (raw sockets) ───────────────────────────────────────────────
  { name: 'a paced ping flood (2000 pings, 50 at a time) is answered and harmless', custom: () => pacedPingFlood(2000, 50) },
  { name: 'a burst of 1000 pings mid-stream: ws drops the connection (maxPendingAutoPongs), the stream is released', custom: () => pingBurst(1000) },
  { name: 'a text frame that is not valid UTF-8: ws closes with 1007, no error event', custom: invalidUtf8 },
];

/** `request` as JSON padded with spaces to exactly `bytes` bytes. */
function padded(request: object, bytes: number): string {
  const json = JSON.stringify(request);
  return json.slice(0, -1) + ' '.repeat(bytes - json.length) + '}';
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `count` events match `pred`; fails if the connection closes first. */
async function untilCount(conn: Connection, pred: (e: ServerEvent) => boolean, count: number, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (conn.events.filter(pred).length < count) {
    if (!conn.isOpen) throw new Error(`connection closed (${JSON.stringify(await conn.closed)}) early; events: ${JSON.stringify(conn.events)}`);
    if (performance.now() > deadline) throw new Error(`timed out; events: ${JSON.stringify(conn.events)}`);
    await sleep(5);
  }
}

const isKeepaliveAck = (e: ServerEvent) => e.type === 'ack' && e.request === 'keepalive';

/** Errors seen by the bad clients, per code, to compare with protocol_errors_total. */
const seenErrors = new Map<string, number>();

function checkErrors(events: ServerEvent[], expected: ErrorCode[]): void {
  const errors = events.filter(isError);
  for (const e of errors) {
    assertCleanError(e);
    assert.equal(e.channel, undefined, `a protocol error has no channel: ${JSON.stringify(e)}`);
  }
  assert.deepEqual(
    errors.map((e) => e.code),
    expected,
    `error codes; events: ${JSON.stringify(events).slice(0, 2000)}`,
  );
}

async function runCase(c: Case): Promise<void> {
  const route = c.route ?? 'segmented';
  const conn = await connect(service.ws(route));
  try {
    for (const m of (c.send ?? []).flat()) await conn.send(m).catch(() => undefined); // the server may have closed already
    if (c.close !== undefined) {
      // anything after a fatal message must be ignored
      await conn.send({ request: 'keepalive' }).catch(() => undefined);
      const closed = await withTimeout(conn.closed, 10_000, `close ${c.close}; events: ${JSON.stringify(conn.events)}`);
      assert.equal(closed.code, c.close, `close code; events: ${JSON.stringify(conn.events).slice(0, 2000)}`);
      checkErrors(conn.events, c.errors ?? []);
      if (c.errors?.length) assert.equal(conn.events.at(-1)?.type, 'error', 'the fatal error is the last event before the close');
      assert.deepEqual(endsOf(conn.events), c.ends ?? [], 'stream_end events');
      assert.deepEqual(acksOf(conn.events), c.acks ?? [], 'acks');
      c.check?.(conn.events);
    } else {
      // Messages are handled in order: once this keepalive is acked, everything before it was.
      await conn.send({ request: 'keepalive' });
      const ownKeepalives = (c.acks ?? []).filter((a) => a === 'keepalive').length;
      await untilCount(conn, isKeepaliveAck, ownKeepalives + 1);
      const before = conn.events.slice();
      checkErrors(before, c.errors ?? []);
      assert.deepEqual(acksOf(before), [...(c.acks ?? []), 'keepalive'], 'acks');
      c.check?.(before);
      // The connection is still usable: a start (ending any stream still running), 1 s of audio, stop.
      await conn.send(start());
      for (const f of audio(1)) await conn.send(f);
      await conn.send({ request: 'stop', disconnect: true });
      const closed = await withTimeout(conn.closed, 10_000, `probe stream; events: ${JSON.stringify(conn.events)}`);
      assert.equal(closed.code, 1000, `probe close; events: ${JSON.stringify(conn.events).slice(0, 2000)}`);
      checkErrors(conn.events, c.errors ?? []); // the probe added none
      assert.deepEqual(endsOf(conn.events), [...(c.ends ?? []), [1]], `stream_end events: ${JSON.stringify(conn.events).slice(0, 2000)}`);
    }
    assert.deepEqual(conn.invalidFrames, [], 'every server frame is a JSON object');
    for (const e of conn.events.filter(isError)) seenErrors.set(e.code as string, (seenErrors.get(e.code as string) ?? 0) + 1);
  } finally {
    conn.terminate();
  }
}

async function rawSocket(route: Route = 'segmented') {
  const ws = new WebSocket(service.ws(route));
  const messages: ServerEvent[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    assert.equal(isBinary, false);
    messages.push(JSON.parse(data.toString('utf8')) as ServerEvent);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => undefined); // the close code tells the story
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, messages, closed };
}

async function pacedPingFlood(total: number, batch: number): Promise<void> {
  const { ws, messages, closed } = await rawSocket();
  let pongs = 0;
  ws.on('pong', () => pongs++);
  ws.send(JSON.stringify(start()));
  for (let sent = 0; sent < total; ) {
    for (let i = 0; i < batch; i++, sent++) ws.ping(Buffer.from(String(sent)));
    assert.ok(await eventually(() => pongs === sent, 5000, 2), `pongs ${pongs} of ${sent}`);
  }
  for (const f of audio(0.5)) ws.send(f);
  ws.send(JSON.stringify({ request: 'stop', disconnect: true }));
  assert.equal(await withTimeout(closed, 10_000, 'close after stop'), 1000);
  assert.equal(pongs, total);
  assert.deepEqual(messages.filter(isError), []);
  assert.deepEqual(endsOf(messages), [[0.5]]);
}

async function pingBurst(count: number): Promise<void> {
  const { ws, messages, closed } = await rawSocket();
  ws.send(JSON.stringify(start()));
  for (const f of audio(0.25)) ws.send(f);
  ws.send(JSON.stringify({ request: 'keepalive' }));
  assert.ok(await eventually(() => messages.some(isKeepaliveAck), 5000, 5), 'stream started');
  for (let i = 0; i < count; i++) ws.ping();
  // ws (>= 8.18) terminates a peer with more than maxPendingAutoPongs (60) unanswered pings: no close frame
  const code = await withTimeout(closed, 10_000, 'ws drops the ping flooder');
  assert.equal(code, 1006);
  assert.deepEqual(messages.filter(isError), [], 'no protocol error: the websocket layer dropped the connection');
  // that the dropped stream was released is checked at the end (active_streams back to 0)
}

async function invalidUtf8(): Promise<void> {
  const { ws, messages, closed } = await rawSocket();
  ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false }); // {"\xff\xfe"}
  assert.equal(await withTimeout(closed, 10_000, 'close 1007'), 1007);
  assert.deepEqual(messages, []);
}

// ── the suite ───────────────────────────────────────────────────────────────────────────

const goodStream = (): Promise<StreamResult> =>
  streamAudio({ addr: service.ws('segmented'), format: fixture.format, pcm: fixture.pcm, chunkBytes: 4000, interimResults: true, timeoutMs: 60_000 });

// The well-behaved stream alone, before any test of this file runs (they run in any order): see before().
let reference: StreamResult;
let metricsBefore: Exposition;

test('reference: the well-behaved segmented stream alone', () => {
  assert.equal(reference.closeCode, 1000);
  const types = withoutCommits(reference.events).map((e) => e.type);
  assert.deepEqual(types.filter((t) => t !== 'segment'), ['started', 'active', 'inactive', 'active', 'inactive', 'stream_end']);
  assert.equal(segmentsOf(reference.events).filter((s) => s.is_final).length, 2);
  assert.ok(segmentsOf(reference.events).some((s) => s.is_final === false), 'interim results');
  assert.deepEqual(reference.events.filter(isError), []);
});

test(`${CASES.length} bad clients, while the well-behaved stream runs again and again unchanged`, { concurrency: 8 }, async (t) => {
  assert.ok(CASES.length >= 30);
  let badDone = false;
  const goodRuns: StreamResult[] = [];
  const good = (async () => {
    do goodRuns.push(await goodStream());
    while (!badDone);
  })();
  good.catch(() => undefined); // awaited below; a failure must not surface as an unhandled rejection first
  try {
    await Promise.all(
      CASES.map((c) =>
        t.test(c.name, async () => {
          await (c.custom ? c.custom() : runCase(c));
          const h = await health(service);
          assert.equal(h.status, 200);
          assert.deepEqual(h.body, { status: 'healthy' }, 'bad input is no panic');
          await assertFreshStreamWorks(service, 0.25);
        }),
      ),
    );
  } finally {
    badDone = true;
    await good;
  }
  t.diagnostic(`well-behaved stream ran ${goodRuns.length} times alongside the bad clients`);
  assert.ok(goodRuns.length >= 1);
  for (const [i, run] of goodRuns.entries()) {
    assert.equal(run.closeCode, 1000, `run ${i}`);
    assert.deepEqual(comparable(run.events), comparable(reference.events), `run ${i} differs from the reference`);
  }

  // Afterwards: healthy, no panic, no stream or connection left, a fresh stream works.
  assert.deepEqual((await health(service)).body, { status: 'healthy' });
  assert.ok(await eventually(async () => (await activeStreams(service)) === 0), 'active_streams back to 0');
  assert.ok(await eventually(async () => (await scrape(service.url)).value('active_connections') === 0), 'active_connections back to 0');
  const now = await scrape(service.url);
  assert.equal(now.sum('task_panics_total'), metricsBefore.sum('task_panics_total'), 'no task panicked');
  // protocol_errors_total{code} counts every protocol error sent to the bad clients (the other tests send none).
  const counted = Object.fromEntries([...seenErrors.keys()].sort().map((code) => [code, now.value('protocol_errors_total', { code }) - metricsBefore.value('protocol_errors_total', { code })]));
  const sent = Object.fromEntries([...seenErrors.entries()].sort(([a], [b]) => a.localeCompare(b)));
  assert.deepEqual(counted, sent, 'protocol_errors_total deltas (actual) vs error events the clients received (expected)');
  await assertFreshStreamWorks(service, 1);
});

test('poisoned f32 audio (NaN, ±Infinity, 3.4e38) in concurrent streams does not change another stream (shared, batched VAD)', async () => {
  const poison = f32Bytes(Array.from({ length: 1024 }, (_, i) => [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45][i % 6]));
  let goodDone = false;
  let underway = 0;
  const poisoner = async (sampleRate: number) => {
    const conn = await connect(service.ws('segmented'));
    await conn.send(start({ channels: 1, sample_rate: sampleRate, bit_depth: 32, is_float: true }, { interim_results: true }));
    let frames = 0;
    while (!goodDone && conn.isOpen) {
      await conn.send(poison);
      if (frames++ === 0) underway++;
      await sleep(1);
    }
    await conn.send({ request: 'stop', disconnect: true });
    const closed = await withTimeout(conn.closed, 10_000, 'poisoned stream close');
    assert.equal(closed.code, 1000);
    assert.deepEqual(conn.events.filter(isError), []);
    assert.deepEqual(endsOf(conn.events), [[microseconds((frames * 1024) / sampleRate)]]);
  };
  const poisoners = [16_000, 16_000, 48_000, 44_100].map(poisoner);
  try {
    await waitFor('the poisoned streams to be under way first', () => underway === poisoners.length);
    const run = await goodStream();
    assert.equal(run.closeCode, 1000);
    assert.deepEqual(comparable(run.events), comparable(reference.events), 'the well-behaved stream is unaffected');
  } finally {
    goodDone = true;
    await Promise.all(poisoners);
  }
});

test('websocket transport errors (invalid UTF-8, over-cap frames) reach the app log, not stderr as a ReferenceError', async () => {
  // @hono/node-ws 1.3.1 reports ws errors with `new ErrorEvent(...)`, a global Node 20 does not have:
  // the ReferenceError is caught and printed with console.error (stack and paths on stderr, whatever
  // LOG_LEVEL says), and the app's onError handler (src/api/app.ts) never runs.
  const printed: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void printed.push(args);
  const warned: unknown[][] = [];
  const warn = log.warn;
  log.warn = (...args: Parameters<typeof warn>) => {
    warned.push(args);
    warn.apply(log, args);
  };
  try {
    await invalidUtf8();
    // the app's onError logs it; a websocket layer that cannot build its error event prints instead
    await waitFor("the websocket error to reach the app's log", () => warned.some((args) => args.includes('websocket error')));
  } finally {
    console.error = original;
    log.warn = warn;
  }
  const text = printed.map((args) => args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' '));
  assert.deepEqual(text, [], 'nothing printed to stderr by the websocket layer');
});
