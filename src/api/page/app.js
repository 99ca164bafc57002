// The live page: microphone → AudioWorklet (native-rate mono Float32) → websocket to
// /api/v1/segmented as f32 little-endian PCM, ~50 ms per binary frame, with interim results.
// Shows voice activity, segments (the model's text, keyword detections or sample count) and errors
// as they arrive, and model RTF and active streams read from /metrics every 2 s. When the server
// goes away (going_away), the stream moves to a new connection without a gap, and the log says so.
// Plain modern JS, served as is (no build step).

const CHUNK_SECONDS = 0.05;
const STATS_INTERVAL_MS = 2000;
const MAX_SEGMENTS = 200;
const STOP_TIMEOUT_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;
/** Moving after going_away: connection attempts with a backoff doubling from 100 ms to 2 s, until the deadline. */
const MOVE_CONNECT_TIMEOUT_MS = 10000;
const MOVE_CONFIRM_TIMEOUT_MS = 2000;
const MOVE_BACKOFF_FIRST_MS = 100;
const MOVE_BACKOFF_MAX_MS = 2000;

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
  const s = {
    state: 'starting',
    ctx: null,
    mic: null,
    node: null,
    rate: 0,
    samplesSent: 0,
    stopTimer: 0,
    endText: '',
    /** Every connection that carried the stream, in order; `leg` is the one the audio goes to. */
    legs: [],
    leg: null,
    /** Index of the connection whose events are shown as they come; later ones wait until it ended. */
    showing: 0,
    /** A move in progress (a promise), the move's wish to hold the audio at the next move point, the audio held. */
    moving: null,
    holdWanted: null,
    held: null,
    stopRequested: null,
    requestStop: null,
  };
  s.stopRequested = new Promise((resolve) => (s.requestStop = resolve));
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
    setState(s, 'Connecting…');
    const leg = await openLeg(s, CONNECT_TIMEOUT_MS);
    if (s.state !== 'starting') {
      leg.ws.close();
      return teardown(s);
    }
    adopt(s, leg);
  } catch (err) {
    teardown(s);
    throw err;
  }

  s.leg.ws.send(JSON.stringify(startRequest(s)));
  s.node.port.onmessage = (event) => {
    const msg = event.data;
    if (msg.type !== 'samples') return;
    send(s, msg.samples);
    ui.level.value = Math.min(1, msg.peak);
  };
  // Audio flows only once `start` is sent, so the stream's time 0 is the first sample sent. The node
  // outputs silence; it is connected to the destination only so that the graph pulls it.
  s.ctx.createMediaStreamSource(s.mic).connect(s.node).connect(s.ctx.destination);
  if (s.ctx.state !== 'running') await s.ctx.resume();
  s.state = 'streaming';
  setState(s, `Streaming (${s.rate} Hz)`);
  setActivity('inactive', 'Listening: no speech');
}

function startRequest(s) {
  return { request: 'start', format: { channels: 1, sample_rate: s.rate, bit_depth: 32, is_float: true }, interim_results: true };
}

/** A new websocket (one leg of the stream); rejects when it cannot open within `timeoutMs`. */
function openLeg(s, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/segmented${query}`);
    ws.binaryType = 'arraybuffer';
    const leg = { ws, timeOffset: 0, events: [], shown: 0, ended: false, adopted: false, notice: null, moveTried: false, awaitingConfirm: false, onConfirm: null, onGone: null };
    let opened = false;
    const timer = setTimeout(() => ws.close(), timeoutMs);
    ws.onopen = () => {
      opened = true;
      clearTimeout(timer);
      resolve(leg);
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      let ev;
      try {
        ev = JSON.parse(event.data);
      } catch (err) {
        showError(`Bad message from the service: ${err.message}`);
        return;
      }
      receive(s, leg, ev);
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      if (!opened) {
        reject(new Error('Could not connect to the service (if it needs a token, open this page with ?token=…).'));
        return;
      }
      leg.ended = true;
      leg.onGone?.(event.code);
      if (leg.adopted) legClosed(s, leg, event);
    };
  });
}

/** The leg now carries the stream: the audio goes to it, its events are shown in turn. */
function adopt(s, leg) {
  leg.adopted = true;
  s.legs.push(leg);
  s.leg = leg;
  showEvents(s);
}

function send(s, samples) {
  if (s.state === 'stopped') return;
  if (s.held) {
    s.held.push(samples); // a move is in progress: for the connection that ends up with the stream
    return;
  }
  if (s.holdWanted) {
    // Hold at the next move point: the blocks before it go to the old connection, the rest waits.
    const step = moveStepFrames(s.rate);
    const head = Math.ceil(s.samplesSent / step) * step - s.samplesSent;
    if (head < samples.length) {
      if (head > 0) sendNow(s, samples.subarray(0, head));
      s.held = [samples.subarray(head)];
      const hold = s.holdWanted;
      s.holdWanted = null;
      hold(s.samplesSent);
      return;
    }
  }
  sendNow(s, samples);
}

function sendNow(s, samples) {
  const ws = s.leg?.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(littleEndian ? samples : toLittleEndian(samples));
  s.samplesSent += samples.length;
  ui.sent.textContent = `${(s.samplesSent / s.rate).toFixed(1)} s of audio sent at ${s.rate} Hz`;
  ui.sent.dataset.samples = String(s.samplesSent);
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
  s.requestStop();
  setState(s, 'Finishing: waiting for the last results…');
  if (wasStarting || !s.leg) {
    teardown(s);
    return;
  }
  // A move in flight settles first, so that the audio it holds goes to the connection that has the stream.
  await s.moving;
  // Send the partial block the worklet still holds, then stop; the server answers every result,
  // then stream_end, and closes the socket.
  await flushWorklet(s);
  stopAudio(s);
  const { ws } = s.leg;
  ws.send(JSON.stringify({ request: 'stop', disconnect: true }));
  s.stopTimer = setTimeout(() => ws.close(1000, 'stop timed out'), STOP_TIMEOUT_MS);
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

function legClosed(s, leg, event) {
  showEvents(s);
  if (leg === s.leg) return onClosed(s, event);
  // A connection the stream moved away from: it closes after its stream_end.
  if (!leg.events.some((e) => e.type === 'stream_end')) {
    showError(`A previous connection closed (code ${event.code}) before its last results.`);
  }
}

function onClosed(s, event) {
  clearTimeout(s.stopTimer);
  if (event.code !== 1000) {
    showError(`Connection closed (code ${event.code}${event.reason ? `: ${event.reason}` : ''}).`);
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
  const ws = s.leg?.ws;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
  const ran = s.state === 'stopping' || s.state === 'streaming';
  s.state = 'stopped';
  s.requestStop?.();
  if (session === s) session = null;
  setState(s, s.endText || (ran ? 'Disconnected' : 'Idle'));
  setActivity('idle', 'Not listening');
}

// ---- moving to another instance ----
// On going_away the page moves the stream as docs/protocol.md recommends: a new connection to the
// same address (the load balancer picks a ready instance), `start` with time_offset = the audio sent,
// confirmed by the ack of a keepalive sent after it, then `stop` on the old connection. The
// microphone's audio is held meanwhile (a round trip) and goes to whichever connection has the stream.

function maybeMove(s) {
  const from = s.leg;
  if (s.state !== 'streaming' || s.moving || !from?.notice || from.moveTried) return;
  from.moveTried = true;
  s.moving = move(s, from)
    .catch((err) => showError(`Moving the stream failed: ${err.message}`))
    .finally(() => {
      s.moving = null;
      maybeMove(s); // the new connection may have had its own notice already
    });
}

async function move(s, from) {
  const { deadlineMs, receivedAt } = from.notice;
  const deadline = receivedAt + deadlineMs;
  const notice = `Server going away (deadline ${deadlineMs} ms)`;
  let last = 'none';
  for (let k = 0; ; k++) {
    if (s.state !== 'streaming') return;
    if (from.ws.readyState !== WebSocket.OPEN) {
      log(`${notice}: could not move the stream before the server closed it (last attempt: ${last}).`);
      return;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      log(`${notice}: could not move the stream (last attempt: ${last}); it goes on until the server closes it.`);
      return;
    }
    let next = null;
    try {
      next = await openLeg(s, Math.min(MOVE_CONNECT_TIMEOUT_MS, left));
      if (s.state !== 'streaming') {
        next.ws.close();
        return;
      }
      const at = await holdAudio(s);
      try {
        if (from.ws.readyState !== WebSocket.OPEN) throw new Error('the server closed the stream');
        next.timeOffset = at / s.rate;
        next.awaitingConfirm = true;
        next.ws.send(JSON.stringify({ ...startRequest(s), time_offset: next.timeOffset }));
        next.ws.send(JSON.stringify({ request: 'keepalive' }));
        await confirmed(next, Math.min(MOVE_CONFIRM_TIMEOUT_MS, left));
        from.ws.send(JSON.stringify({ request: 'stop', disconnect: true }));
        adopt(s, next);
      } finally {
        releaseAudio(s);
      }
      log(`${notice}: moved the stream at ${next.timeOffset.toFixed(2)} s to a new connection.`);
      return;
    } catch (err) {
      if (next && !next.adopted) next.ws.close();
      last = err.message;
    }
    const backoff = Math.min(MOVE_BACKOFF_MAX_MS, MOVE_BACKOFF_FIRST_MS * 2 ** k) * (0.5 + Math.random() / 2);
    await Promise.race([new Promise((r) => setTimeout(r, Math.min(backoff, Math.max(0, deadline - Date.now())))), s.stopRequested]);
  }
}

/** Resolves with the samples sent once the audio is held at a move point (the next microphone block). */
function holdAudio(s) {
  return new Promise((resolve) => (s.holdWanted = resolve));
}

function releaseAudio(s) {
  const blocks = s.held ?? [];
  s.held = null;
  for (const b of blocks) sendNow(s, b);
}

/** The keepalive sent after `start` is answered only once the start was taken (messages are handled in order). */
function confirmed(leg, timeoutMs) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      leg.onConfirm = null;
      leg.onGone = null;
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the new connection did not confirm the stream within ${Math.round(timeoutMs)} ms`));
    }, timeoutMs);
    leg.onConfirm = () => {
      done();
      resolve();
    };
    leg.onGone = (code) => {
      done();
      const error = leg.events.find((e) => e.type === 'error');
      reject(new Error(error ? `the new connection refused the stream: ${error.message} (${error.code})` : `the new connection closed (${code})`));
    };
  });
}

/** The fewest samples that make whole 32 ms VAD windows at this rate (1536 at 48 kHz, 7056 at 44.1 kHz), else 1. */
function moveStepFrames(rate) {
  for (let windows = 1; windows <= 5; windows++) {
    const frames = (rate * windows * 512) / 16000;
    if (Number.isInteger(frames)) return frames;
  }
  return 1;
}

// ---- events ----

function receive(s, leg, ev) {
  if (leg.awaitingConfirm && ev.type === 'ack' && ev.request === 'keepalive') {
    leg.awaitingConfirm = false; // the page's own probe: not shown
    leg.onConfirm?.();
    return;
  }
  leg.events.push(ev);
  if (ev.type === 'stream_end') leg.ended = true;
  if (ev.type === 'going_away' && !leg.notice) {
    leg.notice = { deadlineMs: ev.deadline_ms, receivedAt: Date.now() };
    maybeMove(s);
  }
  showEvents(s);
}

/** Shows events connection after connection: a new connection's wait until the previous one ended. */
function showEvents(s) {
  for (;;) {
    const leg = s.legs[s.showing];
    if (!leg) return;
    while (leg.shown < leg.events.length) onEvent(s, leg, leg.events[leg.shown++]);
    if (!leg.ended || s.showing === s.legs.length - 1) return;
    s.showing++;
  }
}

function onEvent(s, leg, ev) {
  switch (ev.type) {
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
    case 'stream_end': {
      if (leg !== s.leg) break; // a connection the stream moved away from
      const d = ev.channel_durations?.[0];
      s.endText = `Stream ended${typeof d === 'number' ? ` after ${secs(leg.timeOffset + d)} of audio` : ''}`;
      setState(s, s.endText);
      break;
    }
    default: // going_away is handled on arrival; events this page does not know are ignored, as the protocol asks
  }
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

/** Prometheus text exposition → [{ name, labels, value }]. */
function parseExposition(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function sum(series, name, labels) {
  let total = 0;
  for (const s of series) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
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

/** A line in the connection log (moves to another instance). */
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
