// The live page: microphone → AudioWorklet (native-rate mono Float32) → websocket to
// /api/v1/segmented as f32 little-endian PCM, ~50 ms per binary frame, with interim results.
// Shows voice activity, segments (the model's text, keyword detections or sample count) and errors
// as they arrive, and model RTF and active streams read from /metrics every 2 s. Plain modern JS,
// served as is (no build step).

const CHUNK_SECONDS = 0.05;
const STATS_INTERVAL_MS = 2000;
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
  ui.sent.textContent = '';
  const s = { state: 'starting', ws: null, ctx: null, mic: null, node: null, samplesSent: 0, rate: 0, stopTimer: 0, endText: '' };
  session = s;
  setState(s, 'Asking for the microphone…');
  try {
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
    s.ws = await connect(s);
  } catch (err) {
    teardown(s);
    throw err;
  }
  if (s.state !== 'starting') return teardown(s); // stopped while connecting

  s.ws.send(JSON.stringify({
    request: 'start',
    format: { channels: 1, sample_rate: s.rate, bit_depth: 32, is_float: true },
    interim_results: true,
  }));
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

function connect(s) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/segmented${query}`);
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.onopen = () => {
      opened = true;
      resolve(ws);
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      try {
        onEvent(s, JSON.parse(event.data));
      } catch (err) {
        showError(`Bad message from the service: ${err.message}`);
      }
    };
    ws.onclose = (event) => {
      if (!opened) {
        reject(new Error('Could not connect to the service (if it needs a token, open this page with ?token=…).'));
        return;
      }
      onClosed(s, event);
    };
  });
}

function send(s, samples) {
  if (!s.ws || s.ws.readyState !== WebSocket.OPEN || s.state === 'stopped') return;
  s.ws.send(littleEndian ? samples : toLittleEndian(samples));
  s.samplesSent += samples.length;
  ui.sent.textContent = `${(s.samplesSent / s.rate).toFixed(1)} s of audio sent at ${s.rate} Hz`;
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
  if (wasStarting || !s.ws) {
    teardown(s);
    return;
  }
  // Send the partial block the worklet still holds, then stop; the server answers every result,
  // then stream_end, and closes the socket.
  await flushWorklet(s);
  stopAudio(s);
  s.ws.send(JSON.stringify({ request: 'stop', disconnect: true }));
  s.stopTimer = setTimeout(() => s.ws.close(1000, 'stop timed out'), STOP_TIMEOUT_MS);
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
  if (s.ws && s.ws.readyState <= WebSocket.OPEN) s.ws.close();
  const ran = s.state === 'stopping' || s.state === 'streaming';
  s.state = 'stopped';
  if (session === s) session = null;
  setState(s, s.endText || (ran ? 'Disconnected' : 'Idle'));
  setActivity('idle', 'Not listening');
}

// ---- events ----

function onEvent(s, ev) {
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
      const d = ev.channel_durations?.[0];
      s.endText = `Stream ended${typeof d === 'number' ? ` after ${secs(d)} of audio` : ''}`;
      setState(s, s.endText);
      break;
    }
    default: // events this page does not know are ignored, as the protocol asks
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
