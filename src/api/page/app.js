// The live page: microphone → AudioWorklet (native-rate mono Float32) → websocket to
// /api/v1/segmented as f32 little-endian PCM, ~50 ms per binary frame, with interim results.
// Shows voice activity, segments (the model's text, keyword detections or sample count) and errors
// as they arrive, the stream's own live stats (lag, model RTF, speech; its `stats` events, every
// second), and model RTF and active streams read from /metrics every 2 s. The stream is the
// client's own (src/client/moving-stream.ts, served under /page/lib/): when the server goes away it
// moves to a new connection, and when the connection is lost it resumes on a new one from the last
// committed point, sending the audio from there again; the log says so.
// Plain modern JS, served as is (no build step).
import { connectWebSocket } from '/page/lib/browser-connection.js';
import { MovingStream } from '/page/lib/moving-stream.js';
import { LivePcm } from '/page/lib/pcm-source.js';
import { describeStats } from '/page/lib/stats-line.js';
import { parseExposition, sumOf as sum } from '/page/lib/exposition.js';

const CHUNK_SECONDS = 0.05;
const STATS_INTERVAL_MS = 2000;
/** The stream's own `stats` (start.stats_interval_ms). */
const STREAM_STATS_MS = 1000;
const MAX_SEGMENTS = 200;
const STOP_TIMEOUT_MS = 15000;

const $ = (id) => document.getElementById(id);
const ui = {
  toggle: $('toggle'),
  status: $('status'),
  activity: $('activity'),
  activityText: $('activity-text'),
  level: $('level'),
  segments: $('segments'),
  empty: $('empty'),
  errors: $('errors'),
  rtf: $('rtf'),
  streams: $('active-streams'),
  statsNote: $('stats-note'),
  sent: $('sent'),
  streamStats: $('stream-stats'),
  log: $('log'),
};

// ?token=… is passed on to the websocket (browsers cannot set headers there) and, as a bearer
// header, to /metrics (which needs it when auth.protect_metrics is on).
const query = location.search;
const token = new URLSearchParams(query).get('token');
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The running session, or null when idle. */
let session = null;

ui.toggle.addEventListener('click', () => {
  if (session) stop(session).catch(fail);
  else start().catch(fail);
});

// ---- streaming ----

async function start() {
  clearErrors();
  clearSegments();
  clearLog();
  ui.sent.textContent = '';
  ui.streamStats.textContent = '';
  const s = {
    state: 'starting',
    ctx: null,
    mic: null,
    node: null,
    rate: 0,
    /** The microphone's audio, kept for a resume until the stream no longer needs it. */
    source: new LivePcm(),
    samples: 0,
    /** Where the connection carrying the stream took it over (its time_offset). */
    offset: 0,
    abort: new AbortController(),
    stopTimer: 0,
    endText: '',
  };
  session = s;
  setState(s, 'Asking for the microphone…');
  try {
    // Browsers offer the microphone only to secure pages: without HTTPS (or localhost) there is no
    // navigator.mediaDevices at all, and the bare TypeError would say nothing useful.
    if (!globalThis.isSecureContext || !navigator.mediaDevices) throw new Error(INSECURE_PAGE);
    s.mic = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    if (s.state !== 'starting') return teardown(s);
    s.ctx = new AudioContext(); // the native rate: no resampling in the browser, the server does it
    s.rate = s.ctx.sampleRate;
    await s.ctx.audioWorklet.addModule('/page/worklet.js');
    s.node = new AudioWorkletNode(s.ctx, 'pcm-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: 'explicit',
      channelInterpretation: 'speakers',
      processorOptions: { frames: Math.round(s.rate * CHUNK_SECONDS) },
    });
  } catch (err) {
    teardown(s);
    throw err;
  }
  if (s.state !== 'starting') return teardown(s);

  setState(s, 'Connecting…');
  const stream = new MovingStream(
    {
      addr: `${location.origin.replace(/^http/, 'ws')}/api/v1/segmented${query}`,
      format: { channels: 1, sample_rate: s.rate, bit_depth: 32, is_float: true },
      interimResults: true,
      statsIntervalMs: STREAM_STATS_MS,
      source: s.source,
      connect: connectWebSocket,
      chunkBytes: 4 * Math.round(s.rate * CHUNK_SECONDS),
      onEvent: (ev) => onEvent(s, ev),
      onMove: (m) => {
        s.offset = m.atSeconds;
        log(`Server going away (deadline ${m.deadlineMs} ms): moved the stream at ${m.atSeconds.toFixed(2)} s to a new connection (${m.replayedSeconds.toFixed(2)} s of audio sent again).`);
      },
      onMoveFailed: (f) => log(`Server going away (deadline ${f.deadlineMs} ms): could not move the stream (${f.reason}); it goes on until the server closes it.`),
      onResume: (r) => {
        s.offset = r.atSeconds;
        const gap = r.gapSeconds > 0 ? `; ${r.gapSeconds.toFixed(2)} s of audio older than the replay buffer were lost` : '';
        log(`Connection ${r.reason}: resumed the stream at ${r.atSeconds.toFixed(2)} s on a new connection after ${Math.round(r.tookMs)} ms (${r.replayedSeconds.toFixed(2)} s of audio sent again${gap}).`);
      },
    },
    s.abort.signal,
  );
  // The microphone's audio is kept from the first block on and goes out once the stream started, so
  // the stream's time 0 is the first sample captured. The node outputs silence; it is connected to
  // the destination only so that the graph pulls it.
  s.node.port.onmessage = (event) => {
    const msg = event.data;
    if (msg.type !== 'samples' || s.source.ended) return;
    capture(s, msg.samples);
    ui.level.value = Math.min(1, msg.peak);
  };
  s.ctx.createMediaStreamSource(s.mic).connect(s.node).connect(s.ctx.destination);
  if (s.ctx.state !== 'running') await s.ctx.resume();
  stream.run().then(
    (result) => finished(s, result),
    (err) => {
      fail(s.state === 'starting' ? new Error(`Could not connect to the service (${err.message}; if it needs a token, open this page with ?token=…).`) : err);
    },
  );
}

function capture(s, samples) {
  s.source.append(new Uint8Array(littleEndian ? samples.buffer : toLittleEndian(samples)));
  s.samples += samples.length;
  ui.sent.textContent = `${(s.samples / s.rate).toFixed(1)} s of audio streamed at ${s.rate} Hz`;
  ui.sent.dataset.samples = String(s.samples);
  ui.sent.dataset.rate = String(s.rate);
}

function toLittleEndian(samples) {
  const view = new DataView(new ArrayBuffer(samples.length * 4));
  samples.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return view.buffer;
}

async function stop(s) {
  if (s.state === 'stopping' || s.state === 'stopped') return;
  const wasStarting = s.state === 'starting';
  s.state = 'stopping';
  setState(s, 'Finishing: waiting for the last results…');
  if (wasStarting) {
    teardown(s);
    return;
  }
  // The partial block the worklet still holds is the stream's last audio; then the stream sends stop,
  // and the server answers every result, then stream_end, and closes the socket.
  await flushWorklet(s);
  stopAudio(s);
  s.source.end();
  s.stopTimer = setTimeout(() => s.abort.abort(), STOP_TIMEOUT_MS);
}

function flushWorklet(s) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 500);
    const previous = s.node.port.onmessage;
    s.node.port.onmessage = (event) => {
      if (event.data.type === 'flushed') {
        clearTimeout(timer);
        resolve();
      } else previous(event);
    };
    s.node.port.postMessage('flush');
  });
}

/** The stream is over: every connection closed. */
function finished(s, result) {
  clearTimeout(s.stopTimer);
  if (result.resumeFailure) {
    const f = result.resumeFailure;
    showError(`The connection was ${f.reason} at ${f.lostAtSeconds.toFixed(2)} s and the stream could not be resumed: ${f.why}.`);
  } else if (result.closeCode !== 1000) {
    showError(`Connection closed (code ${result.closeCode}${result.closeReason ? `: ${result.closeReason}` : ''}).`);
  }
  teardown(s);
}

function stopAudio(s) {
  s.mic?.getTracks().forEach((t) => t.stop());
  if (s.node) s.node.port.onmessage = null;
  s.node?.disconnect();
  if (s.ctx && s.ctx.state !== 'closed') s.ctx.close().catch(() => {});
  ui.level.value = 0;
}

function teardown(s) {
  stopAudio(s);
  if (!s.source.ended) s.source.end();
  s.abort.abort();
  const ran = s.state === 'stopping' || s.state === 'streaming';
  s.state = 'stopped';
  if (session === s) session = null;
  setState(s, s.endText || (ran ? 'Disconnected' : 'Idle'));
  setActivity('idle', 'Not listening');
}

// ---- events ----

/** The stream's events, connection after connection on one timeline (moves and resumes included). */
function onEvent(s, ev) {
  switch (ev.type) {
    case 'started':
      if (s.state !== 'starting') break; // a new connection took the stream over
      s.state = 'streaming';
      setState(s, `Streaming (${s.rate} Hz)`);
      setActivity('inactive', 'Listening: no speech');
      break;
    case 'active':
      setActivity('active', `Speech since ${secs(ev.time)}`);
      break;
    case 'inactive':
      setActivity('inactive', `Listening: last speech ended at ${secs(ev.time)}`);
      break;
    case 'segment':
      showSegment(ev);
      break;
    case 'error':
      showError(ev.channel === undefined ? `${ev.message} (${ev.code})` : `Channel ${ev.channel}: ${ev.message}`);
      break;
    case 'stats':
      showStreamStats(ev);
      break;
    case 'stream_end': {
      const d = ev.channel_durations?.[0];
      s.endText = `Stream ended${typeof d === 'number' ? ` after ${secs(s.offset + d)} of audio` : ''}`;
      setState(s, s.endText);
      break;
    }
    default: // going_away and committed are the stream's own; events this page does not know are ignored, as the protocol asks
  }
}

/** The stream's own figures, as the server measured them (docs/protocol.md, `stats`). */
function showStreamStats(ev) {
  const el = ui.streamStats;
  el.textContent = `Your stream at ${describeStats(ev)}`;
  el.title = `backlog: ${Object.entries(ev.backlog_seconds).map(([stage, s]) => `${stage} ${s.toFixed(3)} s`).join(', ')}; ${ev.model_runs} model runs since the last update`;
  el.dataset.time = String(ev.time);
  el.dataset.lag = String(ev.lag_seconds);
  el.dataset.rtf = ev.model_rtf === null ? '' : String(ev.model_rtf);
  el.dataset.speaking = String(ev.vad?.speaking.some(Boolean) ?? false);
}

/** The interim segment on screen (greyed), replaced by the next interim or by its final. */
let interim = null;

function showSegment(ev) {
  const final = ev.is_final !== false;
  if (interim) interim.remove();
  const li = document.createElement('li');
  li.className = final ? 'segment final' : 'segment interim';
  li.dataset.final = String(final);
  li.dataset.start = String(ev.start_time);
  li.dataset.end = String(ev.end_time);

  const time = document.createElement('span');
  time.className = 'time';
  time.textContent = `${ev.start_time.toFixed(2)}–${ev.end_time.toFixed(2)} s`;
  const body = document.createElement('span');
  body.className = 'body';
  if (typeof ev.text === 'string') body.textContent = ev.text;
  else if (Array.isArray(ev.keywords)) showKeywords(li, body, ev.keywords);
  else if (typeof ev.count === 'number') body.textContent = `${ev.count.toLocaleString('en')} samples`;
  li.append(time, body);
  if (!final) {
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = 'in progress';
    li.append(tag);
    li.setAttribute('aria-hidden', 'true'); // announce finals only, not every interim update
  }
  ui.segments.prepend(li);
  interim = final ? null : li;
  while (ui.segments.children.length > MAX_SEGMENTS) ui.segments.lastElementChild.remove();
  ui.empty.hidden = true;
}

/** The keywords backend's detections: each keyword, when it fired and its score; or that there was none. */
function showKeywords(li, body, keywords) {
  li.dataset.keywords = keywords.map((k) => k.keyword).join(' ');
  if (keywords.length === 0) {
    body.textContent = 'no keyword';
    return;
  }
  for (const k of keywords) {
    const mark = document.createElement('mark');
    mark.className = 'keyword';
    mark.textContent = `${k.keyword} at ${k.time.toFixed(2)} s (score ${k.score.toFixed(2)})`;
    body.append(mark, ' ');
  }
}

function clearSegments() {
  ui.segments.replaceChildren();
  interim = null;
  ui.empty.hidden = false;
}

// ---- stats from /metrics ----

async function refreshStats() {
  if (document.hidden) return;
  try {
    const res = await fetch('/metrics', { cache: 'no-store', headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
    const series = parseExposition(await res.text());
    const processing = sum(series, 'processing_duration_seconds_sum', { pipeline: 'model' });
    const media = sum(series, 'media_duration_seconds_sum', { pipeline: 'model' });
    ui.rtf.textContent = media > 0 ? (processing / media).toFixed(3) : '–';
    ui.rtf.title = media > 0 ? `${processing.toFixed(2)} s of processing for ${media.toFixed(2)} s of audio` : 'no model work yet';
    ui.streams.textContent = String(sum(series, 'active_streams', {}));
    ui.statsNote.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    ui.statsNote.textContent = `Stats unavailable: ${err.message}`;
  }
}

// ---- view helpers ----

function setState(s, text) {
  ui.status.textContent = text;
  const busy = s.state === 'starting' || s.state === 'streaming';
  ui.toggle.textContent = s.state === 'stopping' ? 'Stopping…' : busy ? 'Stop' : 'Start';
  ui.toggle.disabled = s.state === 'stopping';
  ui.toggle.classList.toggle('running', busy);
}

function setActivity(state, text) {
  ui.activity.dataset.state = state;
  ui.activityText.textContent = text;
}

function showError(text) {
  const p = document.createElement('p');
  p.textContent = text;
  ui.errors.append(p);
}

function clearErrors() {
  ui.errors.replaceChildren();
}

/** A line in the connection log (moves and resumes). */
function log(text) {
  const li = document.createElement('li');
  li.textContent = text;
  ui.log.append(li);
}

function clearLog() {
  ui.log.replaceChildren();
}

const INSECURE_PAGE =
  `The microphone needs a secure page, and ${location.origin} is not one: open this page over HTTPS ` +
  '(behind a TLS ingress or proxy) or on this machine as http://localhost. The streaming API itself works over plain ws://.';

function fail(err) {
  const name = err?.name;
  if (name === 'NotAllowedError') showError('Microphone access was denied.');
  else if (name === 'NotFoundError') showError('No microphone was found.');
  else showError(err?.message ?? String(err));
  if (session) teardown(session);
}

const secs = (t) => `${Number(t).toFixed(2)} s`;

refreshStats();
setInterval(refreshStats, STATS_INTERVAL_MS);
