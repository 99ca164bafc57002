// The conformance suite: docs/protocol.md walked section by section, one case per promise, each
// checked with a bare websocket client (raw-client.ts) against the real service. A case names the
// section it checks and, in `covers`, the error codes and close codes it shows; the last test
// fails when a code of the document's tables is shown by no case, or a case cites a section the
// document does not have. Change the document, and this suite tells what the server does not keep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, test } from 'node:test';
import { microseconds } from '../../src/audio/format.ts';
import { AudioStream } from '../../src/pipeline/stream.ts';
import { scrape } from '../helpers/prometheus.ts';
import { speechFixture, startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawClient, type Received } from './raw-client.ts';
import { LIMITS, server, stopServers, TOKEN, type ServerName } from './services.ts';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const fixture = speechFixture();
/** s16 mono 16 kHz: 32,000 bytes per second. */
const S16 = { channels: 1, sample_rate: 16000, bit_depth: 16, is_float: false };
const BPS = 32_000;
const speech = (from: number, to: number) => fixture.pcm.subarray(Math.round(from * 16000) * 2, Math.round(to * 16000) * 2);
const [REGION_A, REGION_B] = fixture.regions;
const start = (extra: object = {}, format: object = S16) => ({ request: 'start', format, ...extra });

interface Ctx {
  service: TestService;
  /** A connection to one of the websocket routes of the case's server. */
  open: (route: 'simple' | 'segmented', headers?: Record<string, string>) => Promise<RawClient>;
}

interface Case {
  /** The section of docs/protocol.md (its heading's anchor). */
  section: string;
  promise: string;
  server?: ServerName;
  /** Error codes (`error:<code>`) and close codes (`close:<n>`) this case shows. */
  covers?: string[];
  run: (ctx: Ctx) => Promise<void>;
}

const segments = (c: RawClient) => c.events.filter((e) => e.type === 'segment');
const finals = (c: RawClient) => segments(c).filter((e) => e.is_final === true);
const codes = (c: RawClient) => c.events.filter((e) => e.type === 'error').map((e) => e.code);
/** Types from the first `started` on, interims and finals told apart. */
const flow = (c: RawClient) => c.events.map((e) => (e.type === 'segment' && e.is_final !== undefined ? (e.is_final ? 'final' : 'interim') : e.type));

/** A whole stream on a new connection: `start`, the audio, `stop` with disconnect; resolves once the server closed it. */
async function whole(connection: Promise<RawClient>, startRequest: object, pcm: Uint8Array, frameBytes?: number): Promise<RawClient> {
  const c = await connection;
  c.send(startRequest);
  c.sendAudio(pcm, frameBytes);
  c.send({ request: 'stop', disconnect: true });
  await c.close();
  return c;
}

/** Waits until everything sent before this call was handled: messages are handled in order. */
async function handled(c: RawClient): Promise<void> {
  const acks = c.events.filter((e) => e.type === 'ack' && e.request === 'keepalive').length;
  c.send({ request: 'keepalive' });
  await c.next('ack', (e) => e.request === 'keepalive' && c.events.filter((x) => x.type === 'ack' && x.request === 'keepalive').indexOf(e) === acks);
}

const CASES: Case[] = [
  // ── Routes ──────────────────────────────────────────────────────────────────────────────
  {
    section: 'routes',
    promise: 'health answers {"status":"healthy"}; ready answers 200 while streams are accepted; /metrics is the Prometheus text exposition',
    async run({ service }) {
      const health = await fetch(`${service.url}/api/v1/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'healthy' });
      const ready = await fetch(`${service.url}/api/v1/ready`);
      assert.equal(ready.status, 200);
      const metrics = await fetch(`${service.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await metrics.text(), /^# (HELP|TYPE) /m);
    },
  },
  {
    section: 'routes',
    promise: 'with tokens configured, an upgrade without one is refused: HTTP 401, WWW-Authenticate: Bearer, the unauthorized JSON body; a bearer header or ?token= is let in',
    server: 'auth',
    covers: ['error:unauthorized'],
    async run({ service, open }) {
      const refused = await refusedUpgrade(service.ws('segmented'));
      assert.equal(refused.status, 401);
      assert.equal(refused.headers['www-authenticate'], 'Bearer');
      assert.deepEqual(JSON.parse(refused.body), { type: 'error', code: 'unauthorized', message: 'a valid bearer token is required' });
      for (const c of [await open('simple', { authorization: `Bearer ${TOKEN}` }), await RawClient.open(`${service.ws('simple')}?token=${TOKEN}`)]) {
        c.send(start());
        await c.next('started');
        c.hangUp();
      }
    },
  },

  {
    section: 'routes',
    promise: 'past limits.max_connections an upgrade is refused with HTTP 503, Retry-After and too_many_connections; readiness is 503 at the limit; a closed connection frees its slot',
    server: 'fewConnections',
    covers: ['error:too_many_connections'],
    async run({ service, open }) {
      const held = [await open('simple'), await open('segmented'), await open('simple')];
      await waitFor('the connections to be counted', async () => (await fetch(`${service.url}/api/v1/ready`)).status === 503);
      const refused = await refusedUpgrade(service.ws('segmented'));
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers['retry-after']) > 0, 'Retry-After in seconds');
      const body = JSON.parse(refused.body) as Received;
      assert.equal(body.type, 'error');
      assert.equal(body.code, 'too_many_connections');
      assert.match(String(body.message), /limit of 3 connections/);
      held[0].send(start());
      await held[0].next('started'); // the held connections are unaffected
      held[1].hangUp();
      await held[1].close();
      const again = await open('simple');
      again.send(start());
      await again.next('started');
    },
  },

  // ── A session ───────────────────────────────────────────────────────────────────────────
  {
    section: 'a-session',
    promise: 'the example exchange: started, active, interims, inactive, final, stream_end, close 1000',
    covers: ['close:1000'],
    async run({ open }) {
      const c = await whole(open('segmented'), start({ interim_results: true }), speech(0, REGION_A.end + 0.6));
      assert.equal((await c.closed).code, 1000);
      const kinds = flow(c);
      assert.equal(kinds[0], 'started');
      assert.equal(kinds[1], 'active');
      assert.ok(kinds.slice(2, -3).length >= 1 && kinds.slice(2, -3).every((k) => k === 'interim'), kinds.join(' '));
      assert.deepEqual(kinds.slice(-3), ['inactive', 'final', 'stream_end']);
    },
  },

  // ── Client → server ─────────────────────────────────────────────────────────────────────
  {
    section: 'client--server',
    promise: 'fields a request does not define are ignored',
    async run({ open }) {
      const c = await open('simple');
      c.send({ ...start({ future: { nested: [1] } }, { ...S16, endianness: 'little' }) });
      c.sendAudio(speech(0, 0.5));
      c.send({ request: 'stop', disconnect: true, reason: 'done' });
      assert.equal((await c.close()).code, 1000);
      assert.deepEqual(codes(c), []);
      assert.deepEqual((c.events.at(-1) as Received).channel_durations, [0.5]);
    },
  },
  {
    section: 'errors',
    promise: 'a text frame that is not JSON: invalid_json, and the stream goes on',
    covers: ['error:invalid_json'],
    async run({ open }) {
      const c = await open('simple');
      c.send(start());
      c.sendAudio(speech(0, 0.25));
      c.send('{"request":');
      c.sendAudio(speech(0.25, 0.5));
      c.send({ request: 'stop', disconnect: true });
      assert.equal((await c.close()).code, 1000);
      assert.deepEqual(codes(c), ['invalid_json']);
      assert.deepEqual((c.events.at(-1) as Received).channel_durations, [0.5]);
    },
  },
  {
    section: 'errors',
    promise: 'JSON that names no known request: unknown_request saying what was wrong, and the stream goes on',
    covers: ['error:unknown_request'],
    async run({ open }) {
      const c = await open('simple');
      c.send(start());
      for (const text of ['{"hello":1}', '[1,2]', '"start"', '{"request":"pause"}']) c.send(text);
      await handled(c);
      const messages = c.events.filter((e) => e.type === 'error').map((e) => String(e.message));
      assert.equal(messages.length, 4);
      assert.match(messages[0], /no "request" field/);
      assert.match(messages[1], /not an array/);
      assert.match(messages[2], /not a string/);
      assert.match(messages[3], /unknown request "pause"/);
      assert.ok(c.events.every((e) => e.type !== 'error' || e.code === 'unknown_request'));
      assert.ok(c.isOpen);
      c.hangUp();
    },
  },

  // ── start ───────────────────────────────────────────────────────────────────────────────
  {
    section: 'start',
    promise: 'started comes first, with a stream id; every stream of a connection gets its own',
    async run({ open }) {
      const c = await open('simple');
      c.send(start());
      c.sendAudio(speech(0, 0.2));
      c.send(start());
      c.send({ request: 'stop', disconnect: true });
      await c.close();
      assert.equal(c.types()[0], 'started');
      assert.deepEqual(c.types().slice(c.types().indexOf('stream_end')), ['stream_end', 'started', 'stream_end']);
      const ids = c.events.filter((e) => e.type === 'started').map((e) => e.stream_id);
      assert.ok(ids.every((id) => typeof id === 'string' && id.length >= 16), JSON.stringify(ids));
      assert.notEqual(ids[0], ids[1]);
    },
  },
  {
    section: 'start',
    promise: 'a start with a required field missing or mistyped: invalid_request, close 1008',
    covers: ['error:invalid_request', 'close:1008'],
    async run({ open }) {
      for (const bad of [{ request: 'start' }, start({}, { ...S16, is_float: undefined }), start({}, { ...S16, channels: '1' }), start({ interim_results: 'yes' })]) {
        const c = await open('segmented');
        c.send(bad);
        assert.equal((await c.close()).code, 1008);
        assert.deepEqual(codes(c), ['invalid_request']);
        assert.match(String(c.events[0].message), /^invalid start request: /);
      }
    },
  },
  {
    section: 'start',
    promise: 'channels 1 to limits.max_channels, sample_rate an integer 8000–192000, s16 or f32 only: anything else is unsupported_format, close 1008',
    server: 'limits',
    covers: ['error:unsupported_format'],
    async run({ open }) {
      const unsupported = [
        { ...S16, channels: LIMITS.max_channels + 1 },
        { ...S16, channels: 0 },
        { ...S16, sample_rate: 7999 },
        { ...S16, sample_rate: 192_001 },
        { ...S16, sample_rate: 16000.5 },
        { ...S16, bit_depth: 24 },
        { ...S16, is_float: true },
        { ...S16, bit_depth: 32 },
      ];
      for (const format of unsupported) {
        const c = await open('segmented');
        c.send(start({}, format));
        assert.equal((await c.close()).code, 1008, JSON.stringify(format));
        assert.deepEqual(codes(c), ['unsupported_format'], JSON.stringify(format));
      }
      for (const format of [{ ...S16, channels: LIMITS.max_channels, sample_rate: 8000 }, { channels: 1, sample_rate: 192_000, bit_depth: 32, is_float: true }]) {
        const c = await open('simple');
        c.send(start({}, format));
        await c.next('started');
        c.hangUp();
      }
    },
  },
  {
    section: 'start',
    promise: 'a trace_id that is not a W3C traceparent is ignored: the stream runs; a valid one is taken',
    async run({ open }) {
      for (const trace_id of ['not-a-traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']) {
        const c = await whole(open('simple'), start({ trace_id }), speech(0, 0.25));
        assert.equal((await c.closed).code, 1000);
        assert.deepEqual(codes(c), [], trace_id);
        assert.deepEqual([...new Set(c.types())], ['started', 'segment', 'stream_end']);
      }
    },
  },
  {
    section: 'start',
    promise: 'time_offset shifts every reported time; stream_end keeps the stream’s own durations',
    async run({ open }) {
      const times = async (offset: number) => {
        const c = await whole(open('segmented'), start({ time_offset: offset }), speech(0, REGION_A.end + 0.6));
        return c;
      };
      const [plain, shifted] = [await times(0), await times(100)];
      const timesOf = (c: RawClient) => c.events.flatMap((e) => [e.time, e.start_time, e.end_time].filter((t): t is number => typeof t === 'number'));
      assert.deepEqual(
        timesOf(shifted),
        timesOf(plain).map((t) => Math.round((t + 100) * 1e6) / 1e6),
      );
      assert.deepEqual(shifted.events.at(-1)?.channel_durations, plain.events.at(-1)?.channel_durations);
    },
  },
  {
    section: 'start',
    promise: 'vad tuning applies to that stream only: a min_speech_ms longer than the speech drops it',
    async run({ open }) {
      const c = await whole(open('segmented'), start({ vad: { min_speech_ms: 10_000 } }), speech(0, REGION_A.end + 0.6));
      assert.deepEqual(c.types(), ['started', 'stream_end']);
      const d = await whole(open('segmented'), start(), speech(0, REGION_A.end + 0.6));
      assert.equal(finals(d).length, 1);
    },
  },
  {
    section: 'start',
    promise: 'stats_interval_ms is an integer from 250 to 60000: anything else is invalid_request naming the field, close 1008; the bounds are taken',
    covers: ['error:invalid_request', 'close:1008'],
    async run({ open }) {
      for (const bad of [249, 60_001, 0, -250, 500.5, '1000', null, true]) {
        const c = await open('segmented');
        c.send(start({ stats_interval_ms: bad }));
        assert.equal((await c.close()).code, 1008, JSON.stringify(bad));
        assert.deepEqual(codes(c), ['invalid_request'], JSON.stringify(bad));
        assert.match(String(c.events[0].message), /^invalid start request: stats_interval_ms: /, JSON.stringify(bad));
      }
      for (const ok of [250, 60_000]) {
        const c = await open('simple');
        c.send(start({ stats_interval_ms: ok }));
        await c.next('started');
        c.hangUp();
      }
    },
  },
  {
    section: 'start',
    promise: 'a start while a stream runs ends it like a stop (its results and stream_end first), then a new stream begins',
    async run({ open }) {
      const c = await open('segmented');
      c.send(start());
      c.sendAudio(speech(0, 2));
      c.send(start());
      c.sendAudio(speech(0, 0.5));
      c.send({ request: 'stop', disconnect: true });
      await c.close();
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'stream_end', 'started', 'stream_end']);
      assert.deepEqual(c.events[4].channel_durations, [2]);
    },
  },
  {
    section: 'start',
    promise: 'an invalid or unsupported start while a stream runs: that stream’s results and stream_end first, then the error, then close 1008',
    async run({ open }) {
      for (const [bad, code] of [
        [start({}, { ...S16, bit_depth: 24 }), 'unsupported_format'],
        [start({}, { ...S16, channels: 'two' }), 'invalid_request'],
      ] as const) {
        const c = await open('segmented');
        c.send(start());
        c.sendAudio(speech(0, 2));
        c.send(bad);
        assert.equal((await c.close()).code, 1008);
        assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'stream_end', 'error']);
        assert.equal(c.events.at(-1)?.code, code);
      }
    },
  },

  {
    section: 'routes',
    promise: 'a connection that does not start a stream within limits.start_timeout_ms is closed: start_timeout, 1008; one that started is not',
    server: 'limits',
    covers: ['error:start_timeout'],
    async run({ open }) {
      const idle = await open('segmented');
      idle.send({ request: 'keepalive' }); // talking is not starting
      const started = await open('segmented');
      started.send(start());
      started.send({ request: 'stop' });
      await started.next('stream_end');
      assert.equal((await idle.close()).code, 1008);
      assert.deepEqual(idle.events, [{ type: 'ack', request: 'keepalive' }, { type: 'error', code: 'start_timeout', message: `no start request within ${LIMITS.start_timeout_ms / 1000} s of connecting` }]);
      // The one that started is left alone until its idle timeout, later than the start timeout.
      assert.equal((await started.close()).code, 1008);
      assert.deepEqual(started.types(), ['started', 'stream_end', 'error']);
      assert.equal(started.events.at(-1)?.code, 'idle_timeout');
    },
  },

  // ── Audio ───────────────────────────────────────────────────────────────────────────────
  {
    section: 'audio',
    promise: 'frames may end anywhere, even inside a sample: 1-byte frames give exactly what whole frames give',
    async run({ open }) {
      const run = (frameBytes: number) => whole(open('simple'), start(), speech(1, 1.1), frameBytes);
      const [frames, bytes] = [await run(3200), await run(1)];
      const samples = (c: RawClient) => segments(c).reduce((n, s) => n + (s.count as number), 0);
      assert.equal(samples(bytes), 1600);
      assert.equal(samples(frames), 1600);
      assert.deepEqual(bytes.events.at(-1), frames.events.at(-1));
    },
  },
  {
    section: 'audio',
    promise: 'bytes left over when the stream ends are not dropped silently: incomplete_sample names them, just before stream_end',
    covers: ['error:incomplete_sample'],
    async run({ open }) {
      const c = await open('simple');
      c.send(start({}, { ...S16, channels: 2 }));
      c.send(fixture.pcm.subarray(0, 3203)); // 800 whole stereo frames and 3 bytes
      c.send({ request: 'stop' });
      await c.next('stream_end');
      assert.deepEqual(c.types().slice(-2), ['error', 'stream_end']);
      const error = c.events.at(-2) as Received;
      assert.equal(error.code, 'incomplete_sample');
      assert.equal(error.channel, undefined);
      assert.match(String(error.message), /3 bytes/);
      assert.deepEqual(c.events.at(-1)?.channel_durations, [0.05, 0.05]);
      await handled(c); // the connection goes on
      c.hangUp();
    },
  },
  {
    section: 'audio',
    promise: 'each channel is processed on its own and reported with its 0-based channel',
    async run({ open }) {
      const mono = speech(0, REGION_A.end + 0.6);
      const stereo = new Uint8Array(mono.length * 2);
      for (let i = 0; i < mono.length; i += 2) stereo.set(mono.subarray(i, i + 2), 2 * i + 2); // channel 0 silent, channel 1 speech
      const c = await whole(open('segmented'), start({}, { ...S16, channels: 2 }), stereo);
      const about = c.events.filter((e) => 'channel' in e);
      assert.ok(about.length >= 3);
      assert.ok(about.every((e) => e.channel === 1), JSON.stringify(about));
    },
  },

  // ── stop ────────────────────────────────────────────────────────────────────────────────
  {
    section: 'stop',
    promise: 'stop without disconnect keeps the connection; the next audio starts a new stream with the same format and options, its own started, and time_offset 0',
    async run({ open }) {
      const c = await open('segmented');
      c.send(start({ time_offset: 100, interim_results: true }));
      c.sendAudio(speech(0, 0.5));
      c.send({ request: 'stop' });
      await c.next('stream_end');
      c.sendAudio(speech(0, REGION_A.end + 0.6));
      c.send({ request: 'stop', disconnect: true });
      assert.equal((await c.close()).code, 1000);
      const second = c.events.slice(c.events.findIndex((e) => e.type === 'stream_end') + 1);
      assert.equal(second[0].type, 'started');
      const active = second.find((e) => e.type === 'active') as Received;
      assert.ok(Math.abs((active.time as number) - REGION_A.start) < 0.15, `the second stream's timeline starts at 0: active at ${String(active.time)}`);
      assert.ok(second.some((e) => e.type === 'segment' && e.is_final === false), 'interim_results carried over');
      assert.deepEqual(second.at(-1)?.channel_durations, [microseconds(Math.round((REGION_A.end + 0.6) * 16000) / 16000)]);
    },
  },
  {
    section: 'stop',
    promise: 'stop when no stream runs: no_active_stream, the connection stays; with disconnect: no_active_stream, then close 1000',
    covers: ['error:no_active_stream'],
    async run({ open }) {
      const c = await open('segmented');
      c.send({ request: 'stop' });
      await handled(c);
      assert.deepEqual(codes(c), ['no_active_stream']);
      const d = await open('segmented');
      d.send({ request: 'stop', disconnect: true });
      assert.equal((await d.close()).code, 1000);
      assert.deepEqual(d.types(), ['error']);
      assert.equal(d.events[0].code, 'no_active_stream');
      const e = await open('segmented');
      e.send(start());
      e.send({ request: 'stop' });
      e.send({ request: 'stop', disconnect: true });
      assert.equal((await e.close()).code, 1000);
      assert.deepEqual(e.types(), ['started', 'stream_end', 'error'], 'a stopped stream is not running');
      c.hangUp();
    },
  },

  // ── finalize and keepalive ──────────────────────────────────────────────────────────────
  {
    section: 'finalize-and-keepalive',
    promise: 'finalize closes the speech in progress (inactive, final) before its ack, and the stream goes on',
    async run({ open }) {
      const c = await open('segmented');
      c.send(start());
      c.sendAudio(speech(0, 2));
      c.send({ request: 'finalize' });
      await c.next('ack');
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'ack']);
      assert.equal(c.events[2].time, 2);
      c.sendAudio(speech(2, fixture.duration));
      c.send({ request: 'stop', disconnect: true });
      await c.close();
      assert.equal(finals(c).length, 3, 'the rest of the stream: the rest of the first speech, and the second');
    },
  },
  {
    section: 'finalize-and-keepalive',
    promise: 'on the simple route finalize sends the queued audio to the model: its segment comes before the ack',
    async run({ open }) {
      const c = await open('simple');
      c.send(start());
      c.sendAudio(speech(0, 0.3));
      c.send({ request: 'finalize' });
      await c.next('ack');
      const seg = segments(c);
      assert.equal(seg.at(-1)?.end_time, 0.3);
      assert.equal(c.types().at(-1), 'ack');
      c.hangUp();
    },
  },
  {
    section: 'finalize-and-keepalive',
    promise: 'finalize and keepalive are acked with or without a running stream',
    async run({ open }) {
      const c = await open('segmented');
      c.send({ request: 'finalize' });
      c.send({ request: 'keepalive' });
      await c.next('ack', (e) => e.request === 'keepalive');
      assert.deepEqual(c.events, [{ type: 'ack', request: 'finalize' }, { type: 'ack', request: 'keepalive' }]);
      c.hangUp();
    },
  },

  // ── How a stream ends ───────────────────────────────────────────────────────────────────
  {
    section: 'how-a-stream-ends',
    promise: 'idle timeout with speech in progress: its inactive and final, stream_end, then idle_timeout and close 1008',
    server: 'limits',
    covers: ['error:idle_timeout'],
    async run({ open }) {
      const c = await open('segmented');
      c.send(start());
      c.sendAudio(speech(0, REGION_A.end + 0.6)); // a whole segment
      c.sendAudio(speech(REGION_B.start - 0.3, REGION_B.start + 1)); // and speech again, then nothing
      assert.equal((await c.close(LIMITS.idle_timeout_ms + 15_000)).code, 1008);
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'active', 'inactive', 'final', 'stream_end', 'error']);
      assert.equal(c.events.at(-1)?.code, 'idle_timeout');
    },
  },
  {
    section: 'how-a-stream-ends',
    promise: 'a frame over max_frame_bytes after speech: the final of the speech so far, stream_end, then frame_too_large and close 1009; that frame is not audio',
    server: 'limits',
    covers: ['error:frame_too_large', 'close:1009'],
    async run({ open }) {
      const c = await open('segmented');
      c.send(start());
      c.sendAudio(speech(0, 2));
      c.send(new Uint8Array(LIMITS.max_frame_bytes + 2));
      assert.equal((await c.close()).code, 1009);
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'stream_end', 'error']);
      assert.deepEqual(c.events[4].channel_durations, [2]);
      assert.equal(c.events.at(-1)?.code, 'frame_too_large');
    },
  },
  {
    section: 'how-a-stream-ends',
    promise: 'a text frame over max_text_bytes mid-stream: stream_end, then frame_too_large and close 1009',
    server: 'limits',
    async run({ open }) {
      const c = await open('simple');
      c.send(start());
      c.sendAudio(speech(0, 0.5));
      c.send(JSON.stringify({ request: 'keepalive', pad: 'x'.repeat(LIMITS.max_text_bytes) }));
      assert.equal((await c.close()).code, 1009);
      assert.deepEqual(c.types().slice(-2), ['stream_end', 'error']);
      assert.deepEqual(c.events.at(-2)?.channel_durations, [0.5]);
    },
  },
  {
    section: 'how-a-stream-ends',
    promise: 'more audio than max_stream_seconds: everything received is answered, stream_end, then stream_too_long and close 1008',
    server: 'limits',
    covers: ['error:stream_too_long'],
    async run({ open }) {
      const c = await open('simple');
      c.send(start());
      c.sendAudio(fixture.pcm.subarray(0, (LIMITS.max_stream_seconds + 1) * BPS));
      assert.equal((await c.close()).code, 1008);
      assert.deepEqual(c.types().slice(-2), ['stream_end', 'error']);
      const duration = (c.events.at(-2)?.channel_durations as number[])[0];
      assert.ok(duration > LIMITS.max_stream_seconds);
      assert.equal(segments(c).at(-1)?.end_time, duration, 'every sample received was answered');
      assert.equal(c.events.at(-1)?.code, 'stream_too_long');
    },
  },
  {
    section: 'how-a-stream-ends',
    promise: 'a client that does not read its events is ended with slow_consumer and dropped',
    server: 'slowReader',
    covers: ['error:slow_consumer'],
    async run({ service, open }) {
      const before = (await scrape(service.url)).value('protocol_errors_total', { code: 'slow_consumer' });
      const c = await open('simple');
      c.stopReading();
      // Loopback's socket buffers take tens of MB of unread acks before the server's own queue grows:
      // the flood goes on until the server cuts the client off.
      for (let i = 0; i < 4_000_000 && c.isOpen; i += 1000) {
        for (let j = 0; j < 1000; j++) c.send({ request: 'keepalive' });
        await new Promise((r) => setImmediate(r));
      }
      await c.close(20_000);
      const after = (await scrape(service.url)).value('protocol_errors_total', { code: 'slow_consumer' });
      assert.equal(after - before, 1);
    },
  },
  {
    section: 'how-a-stream-ends',
    promise: 'a session that crashes: internal_error without a channel, close 1011',
    covers: ['error:internal_error', 'close:1011'],
    async run() {
      const service = await startTestService();
      try {
        const c = await RawClient.open(service.ws('simple'));
        const restore = sabotageStreamOpening();
        try {
          c.send(start());
          assert.equal((await c.close()).code, 1011);
        } finally {
          restore();
        }
        assert.deepEqual(c.events, [{ type: 'error', code: 'internal_error', message: 'internal server error' }]);
      } finally {
        await service.shutdown(0);
      }
    },
  },

  // ── Server → client ─────────────────────────────────────────────────────────────────────
  {
    section: 'server--client',
    promise: 'times are rounded to the microsecond, also after a time_offset',
    async run({ open }) {
      const c = await whole(open('segmented'), start({ time_offset: 5.1, interim_results: true }), speech(0, fixture.duration));
      const times = c.events.flatMap((e) => [e.time, e.start_time, e.end_time, ...((e.channel_durations as number[] | undefined) ?? [])].filter((t): t is number => typeof t === 'number'));
      assert.ok(times.length >= 8);
      for (const t of times) assert.equal(t, Math.round(t * 1e6) / 1e6, `${t} has more than six decimals`);
    },
  },
  {
    section: 'server--client',
    promise: 'segmented route: per speech stretch active, inactive, exactly one final whose times are those of active and inactive',
    async run({ open }) {
      const c = await whole(open('segmented'), start(), fixture.pcm);
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'active', 'inactive', 'final', 'stream_end']);
      for (const i of [1, 4]) {
        const [active, inactive, final] = c.events.slice(i, i + 3);
        assert.equal(final.start_time, active.time);
        assert.equal(final.end_time, inactive.time);
        assert.equal(typeof final.count, 'number', 'the model output is in the segment');
      }
    },
  },
  {
    section: 'server--client',
    promise: 'segmented route: audio that ends inside speech is closed at its end time',
    async run({ open }) {
      const c = await whole(open('segmented'), start(), speech(0, 2.5));
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'final', 'stream_end']);
      assert.equal(c.events[2].time, 2.5);
    },
  },
  {
    section: 'server--client',
    promise: 'simple route: segments tile the audio, no gap and no overlap, without is_final',
    async run({ open }) {
      const c = await whole(open('simple'), start(), speech(0, 3), 1000);
      const seg = segments(c);
      assert.equal(seg[0].start_time, 0);
      for (let i = 1; i < seg.length; i++) assert.equal(seg[i].start_time, seg[i - 1].end_time);
      assert.equal(seg.at(-1)?.end_time, 3);
      assert.ok(seg.every((s) => !('is_final' in s)));
    },
  },
  {
    section: 'server--client',
    promise: 'simple route: a chunk goes once chunk_ms is waiting (20 ms frames give ~4 segments a second), none longer than the maximum; finalize and stop send what waits, however short',
    async run({ open }) {
      const c = await open('simple');
      c.send(start({ chunk_ms: 300 }));
      for (let t = 0; t < 1.5; t += 0.02) c.send(speech(t, t + 0.02)); // 75 frames of 20 ms
      c.send({ request: 'finalize' });
      await c.next('ack');
      c.sendAudio(speech(1.5, 5.5), BPS * 4); // one 4 s frame: cut at the maximum (2 s)
      c.send({ request: 'stop', disconnect: true });
      await c.close();
      const lengths = segments(c).map((e) => Math.round(((e.end_time as number) - (e.start_time as number)) * 1000));
      const acked = c.events.findIndex((e) => e.type === 'ack');
      const before = c.events.slice(0, acked).filter((e) => e.type === 'segment').length;
      assert.ok(lengths.slice(0, before - 1).every((ms) => ms >= 300), `chunks before the finalize: ${lengths.join(' ')} ms`);
      assert.ok(before <= 6, `${before} segments for 1.5 s of 20 ms frames, not 75`);
      assert.ok(lengths.every((ms) => ms <= 2000), `none over 2 s: ${lengths.join(' ')}`);
      assert.equal(lengths.reduce((a, b) => a + b, 0), 5500, 'the chunks tile the audio');
    },
  },
  {
    section: 'server--client',
    promise: 'segmented route, interim_results: interims start at active.time and end exactly 0.5 s, 1 s, 1.5 s… after it, covering all the audio so far',
    async run({ open }) {
      const c = await whole(open('segmented'), start({ interim_results: true }), fixture.pcm);
      let active = 0;
      let k = 0;
      for (const e of c.events) {
        if (e.type === 'active') [active, k] = [e.time as number, 0];
        if (e.type !== 'segment' || e.is_final !== false) continue;
        k++;
        assert.equal(e.start_time, active);
        assert.equal(Math.round(((e.end_time as number) - active) * 1e6), k * 500_000, `interim ${k} of the segment at ${active}`);
        assert.equal(e.count, Math.round(((e.end_time as number) - active) * 16000));
      }
      assert.ok(segments(c).filter((e) => e.is_final === false).length >= 6);
    },
  },
  {
    section: 'server--client',
    promise: 'every segment gets exactly one final result or one error for its channel (model_failure), and stream_end comes',
    server: 'failingModel',
    covers: ['error:model_failure'],
    async run({ open }) {
      const c = await whole(open('segmented'), start(), fixture.pcm);
      assert.equal((await c.closed).code, 1000);
      assert.deepEqual(flow(c), ['started', 'active', 'inactive', 'error', 'active', 'inactive', 'error', 'stream_end']);
      for (const e of c.events.filter((x) => x.type === 'error')) assert.deepEqual([e.code, e.channel], ['model_failure', 0]);
    },
  },
  {
    section: 'errors',
    promise: 'a crash in a channel’s processing: internal_error with the channel, message "internal server error", and the stream goes on',
    server: 'crashingModel',
    async run({ open }) {
      const c = await whole(open('segmented'), start(), fixture.pcm);
      assert.equal((await c.closed).code, 1000);
      const errors = c.events.filter((e) => e.type === 'error');
      assert.equal(errors.length, 2);
      for (const e of errors) assert.deepEqual(e, { type: 'error', message: 'internal server error', code: 'internal_error', channel: 0 });
    },
  },

  {
    section: 'stats',
    promise: 'with stats_interval_ms, stats come while the stream runs and once more right before stream_end (its audio_received is the channel duration, time adds time_offset); vad.speaking on the segmented route only; none without it',
    async run({ open }) {
      for (const route of ['segmented', 'simple'] as const) {
        const c = await open(route);
        c.send(start({ stats_interval_ms: 250, time_offset: 10 }));
        await c.next('stats'); // the interval passes while the stream runs, audio or not
        c.sendAudio(speech(0, 1.5));
        c.send({ request: 'stop', disconnect: true });
        await c.close();
        const stats = c.all.filter((e) => e.type === 'stats');
        const last = c.all.at(-2)!;
        assert.equal(last.type, 'stats');
        assert.equal(c.all.at(-1)?.type, 'stream_end');
        assert.equal(last.audio_received, 1.5);
        assert.equal(last.time, 11.5);
        const keys = ['type', 'time', 'audio_received', 'backlog_seconds', 'lag_seconds', 'model_runs', 'model_audio_seconds', 'model_processing_seconds', 'model_rtf'];
        for (const s of stats) assert.deepEqual(Object.keys(s), route === 'segmented' ? [...keys, 'vad'] : keys, route);
        assert.deepEqual(stats[0].model_rtf, null, 'no model run before any audio');
        assert.ok(stats.reduce((n, s) => n + (s.model_runs as number), 0) >= 1);
      }
      const plain = await whole(open('segmented'), start(), speech(0, 1.5));
      assert.ok(!plain.all.some((e) => e.type === 'stats'));
    },
  },

  // ── Errors ──────────────────────────────────────────────────────────────────────────────
  {
    section: 'errors',
    promise: 'audio before any start: audio_before_start, close 1008',
    covers: ['error:audio_before_start'],
    async run({ open }) {
      const c = await open('segmented');
      c.send(speech(0, 0.1));
      assert.equal((await c.close()).code, 1008);
      assert.deepEqual(codes(c), ['audio_before_start']);
    },
  },
  {
    section: 'errors',
    promise: 'at the stream limit a new stream is refused: too_many_streams, close 1013; the running one is untouched',
    server: 'oneStream',
    covers: ['error:too_many_streams', 'close:1013'],
    async run({ open }) {
      const first = await open('simple');
      first.send(start());
      await first.next('started');
      const second = await open('simple');
      second.send(start());
      assert.equal((await second.close()).code, 1013);
      assert.deepEqual(second.types(), ['error']);
      assert.equal(second.events[0].code, 'too_many_streams');
      first.sendAudio(speech(0, 0.5));
      first.send({ request: 'stop', disconnect: true });
      assert.equal((await first.close()).code, 1000);
    },
  },

  // ── Resuming after a lost connection ─────────────────────────────────────────────────────
  {
    section: 'resuming-after-a-lost-connection',
    promise: 'committed: never decreases, on the stream’s timeline, on the VAD window grid, the least of the channels; after committed T nothing about audio before T comes',
    async run({ open }) {
      const mono = speech(0, fixture.duration);
      const stereo = new Uint8Array(mono.length * 2); // channel 1 is channel 0 half a second later
      const lag = 0.5 * 16000 * 2;
      for (let i = 0; i < mono.length; i += 2) {
        stereo.set(mono.subarray(i, i + 2), 2 * i);
        if (i >= lag) stereo.set(mono.subarray(i - lag, i - lag + 2), 2 * i + 2);
      }
      for (const [route, format, pcm] of [
        ['segmented', { ...S16, channels: 2 }, stereo],
        ['simple', S16, mono],
      ] as const) {
        const c = await open(route);
        c.send(start({ time_offset: 100, interim_results: true }, format));
        await paced(c, pcm, format.channels * 2 * 16000, 4); // four times real time: 2 s, several committed points
        c.send({ request: 'stop', disconnect: true });
        await c.close();
        const commits = assertCommitted(c.all, 100, fixture.duration);
        assert.ok(commits.length >= 2, `${route}: ${commits.length} committed events`);
        if (route === 'segmented') {
          for (const t of commits) assert.equal(Math.round((t - 100) * 16000) % 512, 0, `${t} is on the 32 ms grid`);
          // channel 1's second speech ends at 7.5 s: nothing after it is committed before its final
          assert.ok(commits.at(-1)! <= 100 + fixture.duration);
        }
      }
    },
  },
  {
    section: 'resuming-after-a-lost-connection',
    promise: 'in silence the committed point advances about every half second of audio, at most two committed events a second',
    async run({ open }) {
      const c = await open('segmented');
      c.send(start());
      const started = performance.now();
      await paced(c, new Uint8Array(1.6 * BPS), BPS); // 1.6 s of digital silence, in real time
      const elapsed = (performance.now() - started) / 1000;
      await handled(c);
      const commits = assertCommitted(c.all, 0, 1.6);
      assert.ok(commits.length >= 2, `committed ${JSON.stringify(commits)} in 1.6 s of silence`);
      assert.ok(commits.length <= Math.ceil(elapsed * 2) + 1, `${commits.length} committed events in ${elapsed.toFixed(2)} s`);
      assert.ok(commits.at(-1)! >= 0.9, `committed reached ${commits.at(-1)} of 1.6 s of silence`);
      c.hangUp();
    },
  },
  {
    section: 'resuming-after-a-lost-connection',
    promise: 'a client that loses its connection and resumes from T (time_offset T, resumed: true, the audio from T) gets every final once, within 64 ms of an uninterrupted run; the resume is counted',
    async run({ service, open }) {
      const reference = await whole(open('segmented'), start(), fixture.pcm);
      const resumesBefore = (await scrape(service.url)).value('stream_resumes_total', { route: 'segmented' });

      const lost = await open('segmented');
      lost.send(start());
      lost.sendAudio(speech(0, REGION_B.start + 0.5)); // cut inside the second speech region
      const committed = await lost.next('committed', (e) => (e.time as number) > REGION_A.end);
      await handled(lost);
      lost.terminate();
      const T = Math.max(...lost.all.filter((e) => e.type === 'committed').map((e) => e.time as number));
      assert.ok(T >= (committed.time as number) && T < REGION_B.start, `T = ${T}`);

      const resumed = await whole(open('segmented'), start({ time_offset: T, resumed: true }), speech(T, fixture.duration));
      assert.equal((await resumed.closed).code, 1000);
      const kept = finals(lost).filter((f) => (f.end_time as number) <= T);
      const got = [...kept, ...finals(resumed).filter((f) => (f.start_time as number) >= T)];
      const want = finals(reference);
      assert.equal(got.length, want.length, `finals: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
      got.forEach((f, i) => {
        for (const edge of ['start_time', 'end_time'] as const) assert.ok(Math.abs((f[edge] as number) - (want[i][edge] as number)) <= 0.064, `final ${i} ${edge}: ${String(f[edge])} vs ${String(want[i][edge])}`);
      });
      assert.equal((await scrape(service.url)).value('stream_resumes_total', { route: 'segmented' }) - resumesBefore, 1);
    },
  },

  // ── Moving a stream ─────────────────────────────────────────────────────────────────────
  {
    section: 'moving-a-stream-to-another-instance',
    promise: 'draining: going_away to each running stream, 503 on ready, shutting_down (1013) for a new stream; at the deadline the stream is finished (stream_end) and closed with 1001',
    covers: ['error:shutting_down', 'close:1001'],
    async run() {
      const service = await startTestService({ shutdown: { drain_timeout_ms: 1500 } });
      const c = await RawClient.open(service.ws('segmented'));
      c.send(start());
      c.sendAudio(speech(0, 2));
      await handled(c);
      const stopping = service.shutdown();
      assert.deepEqual(await c.next('going_away'), { type: 'going_away', deadline_ms: 1500 });
      assert.equal((await fetch(`${service.url}/api/v1/ready`)).status, 503);
      const late = await RawClient.open(service.ws('segmented'));
      late.send(start());
      assert.equal((await late.close()).code, 1013);
      assert.equal(late.events[0].code, 'shutting_down');
      assert.equal((await c.close()).code, 1001);
      assert.deepEqual(
        flow(c).filter((t) => t !== 'ack' && t !== 'going_away'),
        ['started', 'active', 'inactive', 'final', 'stream_end'],
      );
      assert.ok(c.types().indexOf('going_away') < c.types().indexOf('inactive'), 'going_away came while the stream ran');
      await stopping;
    },
  },

  // ── Close codes ─────────────────────────────────────────────────────────────────────────
  {
    section: 'close-codes',
    promise: 'below the protocol: a text frame that is not UTF-8 is closed with 1007 and no event',
    covers: ['close:1007'],
    async run({ service }) {
      const ws = new (await import('ws')).default(service.ws('segmented'));
      await new Promise((r) => ws.once('open', r));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
      assert.equal(await closed, 1007);
    },
  },
];

/** Sends `pcm` (`bytesPerSecond`) in 50 ms frames, `speed` times faster than real time. */
async function paced(c: RawClient, pcm: Uint8Array, bytesPerSecond: number, speed = 1): Promise<void> {
  const frame = bytesPerSecond / 20;
  const began = performance.now();
  for (let i = 0; i < pcm.length; i += frame) {
    c.send(pcm.subarray(i, Math.min(pcm.length, i + frame)));
    const due = began + ((i + frame) / bytesPerSecond / speed) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
}

/**
 * Checks the committed points among `all` (a stream's events in order, from `offset` on, `duration`
 * seconds long): each later than the one before and within the stream, and nothing after one of
 * them is about audio before it. Returns their times.
 */
function assertCommitted(all: Received[], offset: number, duration: number): number[] {
  let committed = offset;
  const times: number[] = [];
  for (const e of all) {
    if (e.type === 'committed') {
      const t = e.time as number;
      assert.ok(t > committed, `committed ${t} after ${committed}: it only advances`);
      assert.ok(t <= offset + duration + 1e-6, `committed ${t} beyond the stream's audio`);
      committed = t;
      times.push(t);
    }
    for (const field of ['time', 'start_time'] as const) {
      if (typeof e[field] === 'number') assert.ok((e[field]) >= committed, `${JSON.stringify(e)} after committed ${committed}`);
    }
  }
  return times;
}

/** Status, headers and body of an upgrade the server refuses. */
function refusedUpgrade(url: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = httpRequest(url.replace(/^ws/, 'http'), { headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': key } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('upgrade', () => reject(new Error('the upgrade was accepted')));
    req.on('error', reject);
    req.end();
  });
}

/** Makes the next stream fail to open (a fault no client can cause), then puts things back. */
function sabotageStreamOpening(): () => void {
  const original = AudioStream.open.bind(AudioStream);
  AudioStream.open = () => Promise.reject(new Error('sabotaged by the conformance suite'));
  return () => {
    AudioStream.open = original;
  };
}

after(() => stopServers());

for (const c of CASES) {
  test(`§${c.section}: ${c.promise}`, async () => {
    const service = await server(c.server ?? 'default');
    const opened: RawClient[] = [];
    const open = async (route: 'simple' | 'segmented', headers?: Record<string, string>) => {
      const client = await RawClient.open(service.ws(route), headers);
      opened.push(client);
      return client;
    };
    try {
      await c.run({ service, open });
      for (const client of opened) assert.deepEqual(client.malformed, [], 'every server frame is a JSON object with a type');
    } finally {
      for (const client of opened) client.terminate();
    }
    // No case leaves a stream behind on a shared server.
    await waitFor('active_streams back to 0', async () => (await scrape(service.url)).sum('active_streams') === 0);
  });
}

/** The anchors of the document's headings, as GitHub makes them. */
function anchors(markdown: string): Set<string> {
  const slug = (h: string) => h.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
  return new Set([...markdown.matchAll(/^#{2,4} (.+)$/gm)].map((m) => slug(m[1].replace(/`/g, ''))));
}

/** The rows' first cells of the table whose header row starts with `header`. */
function tableKeys(markdown: string, header: string): string[] {
  const table = markdown.slice(markdown.indexOf(header));
  return table
    .slice(0, table.indexOf('\n\n'))
    .split('\n')
    .slice(2)
    .map((row) => row.split('|')[1].trim().replace(/`/g, ''));
}

test('every error code and close code of the document is shown by a case, and every case cites a section the document has', () => {
  const sections = anchors(doc);
  for (const c of CASES) assert.ok(sections.has(c.section), `no section #${c.section} in docs/protocol.md (case: ${c.promise})`);
  const covered = new Set(CASES.flatMap((c) => c.covers ?? []));
  const documented = [...tableKeys(doc, '| code | when | then |').map((k) => `error:${k}`), ...tableKeys(doc, '| code | meaning |').map((k) => `close:${k}`)];
  assert.ok(documented.length >= 20, `found ${documented.length} codes in the tables`);
  assert.deepEqual(
    documented.filter((k) => !covered.has(k)),
    [],
    'codes of the document no case shows',
  );
});
