// Items 2–4: one capacity run = a fresh server process + the load client (another process) with N
// real-time segmented streams. Server CPU comes from /proc (all its threads), event-loop delay and
// utilization from two /metrics scrapes around the load, RSS from /proc sampled every 500 ms.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latencyBreakdown, type LatencyBreakdown } from './breakdown.ts';
import type { LoadReport } from './load-client.ts';
import { eventLoopUtilization, quantileBound, sampleRender, scrape, sumOf, type RenderSamples, type Sample } from './metrics.ts';
import { REPO_ROOT, ZERO_MODEL, serverProfileDir, startServer, systemBusySeconds, type ServerHandle } from './server.ts';
import { cpuSecondsSince, median } from './stats.ts';

/** The headline's bound: p99 lag of final results (raw, what the user sees). */
export const LAG_TARGET_S = 0.5;
export const EVENT_LOOP_TARGET_S = 0.05;

export interface CapacityRunOptions {
  streams: number;
  durationS: number;
  staggerMs: number;
  drainTimeoutS: number;
  telemetry: boolean;
  /** Paired /health + /metrics samples in the middle of the load (what a scraper sees then). */
  renderSamplesLoaded: number;
  /** Read stage backlogs from /metrics this often during the load (0: never). Telemetry only. */
  backlogEveryMs: number;
  /** Route the streams use (default segmented). */
  route?: 'simple' | 'segmented';
  /** The server's `model` config (default ZERO_MODEL). */
  model?: Record<string, unknown>;
  /** Every stream hears the fixture from the same phase (the burst scenario; default: spread phases). */
  inPhase?: boolean;
  /** The run passes with p99 lag below this (default LAG_TARGET_S). */
  lagTargetS?: number;
  onTick?: (label: string) => void;
}

export interface ServerStats {
  cpuSeconds: number;
  /** Server CPU seconds per second of audio received (all threads). */
  cpuPerAudioSecond: number;
  /** cpuSeconds / the load's wall time: cores kept busy. */
  cores: number;
  /** The main thread's CPU (the event loop's work) per frame received, in µs. */
  mainUsPerFrame: number;
  rssIdleMb: number | null;
  rssPeakMb: number | null;
  /** Upper bound of the bucket holding the p99 of eventloop_delay_seconds during the load. */
  eventLoopP99S: number | null;
  eventLoopSamples: number;
  /** Event-loop utilization during the load (nodejs_eventloop_time_total). */
  eventLoopUtilization: number | null;
  /** Largest stage_backlog_seconds seen per stage (summed over streams), seconds of audio. */
  backlogMaxS: Record<string, number>;
  warnings: number;
  lastWarnings: string[];
  /** CPU used meanwhile by processes other than the server, the load client and the benchmark, in cores. */
  otherCores: number;
}

export interface CapacityRun {
  streams: number;
  durationS: number;
  telemetry: boolean;
  client: LoadReport;
  server: ServerStats;
  renderLoaded: RenderSamples | null;
  /** Final-result latency by phase, from the server's /metrics (null without telemetry). */
  breakdown?: LatencyBreakdown | null;
  /** p99 lag < 0.5 s (or lagTargetS), every stream completed, every expected final received, no errors. */
  ok: boolean;
  /** What went wrong or what saturated, in words. */
  notes: string[];
}

/** Server config settings every capacity and burst run adds (`npm run bench -- --set vad.graph=original`). */
const overrides: Record<string, Record<string, unknown>> = {};

/** `section.key=value` (value parsed as JSON when it parses, else a string), for side-by-side runs. */
export function setServerOverride(setting: string): void {
  const m = /^([a-z_]+)\.([a-z_]+)=(.*)$/.exec(setting);
  if (!m) throw new Error(`--set wants section.key=value (e.g. vad.graph=original), got ${setting}`);
  let value: unknown = m[3];
  try {
    value = JSON.parse(m[3]);
  } catch {
    // a bare string
  }
  (overrides[m[1]] ??= {})[m[2]] = value;
}

export function capacityConfig(maxStreams: number, telemetry: boolean, model: Record<string, unknown> = ZERO_MODEL): Record<string, unknown> {
  const config: Record<string, Record<string, unknown>> = {
    model,
    limits: { max_streams: Math.max(600, maxStreams + 50) },
    shutdown: { drain_timeout_ms: 2000 },
    telemetry: { enabled: telemetry },
  };
  for (const [section, settings] of Object.entries(overrides)) config[section] = { ...config[section], ...settings };
  return config;
}

export interface LoadClientProcess {
  /** The client's report, once it has exited. */
  readonly report: Promise<LoadReport>;
  /** --hold: resolves with the number of streams holding once every stream got there (or failed). */
  readonly holding: Promise<number>;
  /** --hold: close the client's stdin, which stops the held streams. */
  release(): void;
}

/** Starts bench/load-client.ts in its own process. */
export function startLoadClient(args: string[], timeoutMs: number): LoadClientProcess {
  const child = spawn(process.execPath, ['bench/load-client.ts', ...args], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onHolding: (n: number) => void = () => {};
  const holding = new Promise<number>((resolve) => (onHolding = resolve));
  child.stdin.on('error', () => {}); // the client may be gone already when we close its stdin
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-4000);
    const m = /^holding (\d+)$/m.exec(err);
    if (m) onHolding(Number(m[1]));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const report = new Promise<LoadReport>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      onHolding(0);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`load client failed (${signal ?? code}): ${err.trim() || out.trim()}`));
        return;
      }
      resolve(JSON.parse(line) as LoadReport);
    });
  });
  return { report, holding, release: () => child.stdin.end() };
}

/** Runs the load client to the end and returns its report. */
export function runLoadClient(args: string[], timeoutMs: number): Promise<LoadReport> {
  const client = startLoadClient(args, timeoutMs);
  client.release(); // stdin closed at once: nothing waits on it unless --hold
  return client.report;
}

const mb = (bytes: number | null) => (bytes === null ? null : bytes / 2 ** 20);

async function safeScrape(server: ServerHandle): Promise<Sample[] | null> {
  try {
    return (await scrape(server.url)).samples;
  } catch {
    return null;
  }
}

/** CLOCK_MONOTONIC in µs: the clock of a V8 .cpuprofile's timestamps. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Under --profile: the load's window on the profile's clock (the client's first connection attempt →
 * its exit, its own start-up left out) and the frames sent in it, beside the server's profile
 * (`load.<pid>.json`), for `bench/profile.ts --per-frame`.
 */
function writeLoadWindow(pid: number, opts: CapacityRunOptions, spawnedUs: number, client: LoadReport): void {
  const dir = serverProfileDir();
  if (dir === null) return;
  const toUs = monotonicUs();
  const fromUs = Math.max(spawnedUs, Math.round(toUs - client.wallSeconds * 1e6));
  const window = { streams: opts.streams, inPhase: opts.inPhase ?? false, fromUs, toUs, audioSecondsSent: client.audioSecondsSent, frames: client.framesSent ?? 0 };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `load.${pid}.json`), `${JSON.stringify(window)}\n`);
}

/** The headline: the largest N whose every run passed (null when none did). */
export function capacityHeadline(runs: CapacityRun[]): number | null {
  const passed = [...new Set(runs.map((r) => r.streams))].filter((n) => runs.every((r) => r.streams !== n || r.ok));
  return passed.length > 0 ? Math.max(...passed) : null;
}

export async function capacityRun(opts: CapacityRunOptions): Promise<CapacityRun> {
  const server = await startServer(capacityConfig(opts.streams, opts.telemetry, opts.model));
  try {
    const rssIdle = server.rssBytes();
    let rssPeak = rssIdle ?? 0;
    const backlogMaxS: Record<string, number> = {};
    let renderLoaded: RenderSamples | null = null;
    const pending: Promise<unknown>[] = [];

    const before = opts.telemetry ? await safeScrape(server) : null;
    const cpu0 = server.cpuSeconds();
    const main0 = server.mainThreadCpuSeconds();
    const busy0 = systemBusySeconds();
    const self0 = process.cpuUsage();
    const started = performance.now();
    const rssTimer = setInterval(() => {
      rssPeak = Math.max(rssPeak, server.rssBytes() ?? 0);
      opts.onTick?.(`capacity N=${opts.streams}${opts.telemetry ? '' : ' (telemetry off)'} ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }, 500);
    const backlogTimer =
      opts.telemetry && opts.backlogEveryMs > 0
        ? setInterval(() => {
            pending.push(
              safeScrape(server).then((samples) => {
                for (const s of samples ?? []) {
                  if (s.name !== 'stage_backlog_seconds') continue;
                  const stage = s.labels.pipeline ?? '?';
                  backlogMaxS[stage] = Math.max(backlogMaxS[stage] ?? 0, s.value);
                }
              }),
            );
          }, opts.backlogEveryMs)
        : undefined;
    // In the middle of the load (client start-up ~1 s, the stagger, half the audio).
    const renderTimer =
      opts.telemetry && opts.renderSamplesLoaded > 0
        ? setTimeout(
            () => {
              pending.push(
                sampleRender(server.url, opts.renderSamplesLoaded).then(
                  (r) => (renderLoaded = r),
                  () => undefined,
                ),
              );
            },
            1000 + opts.staggerMs + (opts.durationS * 1000) / 2,
          )
        : undefined;

    const args = ['--url', server.ws(opts.route ?? 'segmented'), '--streams', String(opts.streams), '--duration', String(opts.durationS)];
    args.push('--stagger-ms', String(opts.staggerMs), '--drain-timeout', String(opts.drainTimeoutS));
    if (opts.inPhase) args.push('--in-phase');
    let client: LoadReport;
    const loadFromUs = monotonicUs();
    try {
      client = await runLoadClient(args, (opts.durationS + opts.drainTimeoutS + 60) * 1000 + opts.staggerMs);
    } finally {
      clearInterval(rssTimer);
      clearInterval(backlogTimer);
      clearTimeout(renderTimer);
    }
    const cpuSeconds = server.cpuSeconds() - cpu0;
    const mainCpuSeconds = server.mainThreadCpuSeconds() - main0;
    const wall = (performance.now() - started) / 1000;
    writeLoadWindow(server.pid, opts, loadFromUs, client);
    const otherCpu = systemBusySeconds() - busy0 - cpuSeconds - client.clientCpuSeconds - cpuSecondsSince(self0);
    await Promise.all(pending);
    const after = opts.telemetry ? await safeScrape(server) : null;
    const delay = before && after ? quantileBound(before, after, 'eventloop_delay_seconds', 0.99) : null;

    const stats: ServerStats = {
      cpuSeconds,
      cpuPerAudioSecond: cpuSeconds / Math.max(1e-9, client.audioSecondsSent),
      cores: cpuSeconds / client.wallSeconds,
      mainUsPerFrame: (mainCpuSeconds * 1e6) / Math.max(1, client.framesSent ?? 0),
      rssIdleMb: mb(rssIdle),
      rssPeakMb: mb(rssPeak),
      eventLoopP99S: delay?.bound ?? null,
      eventLoopSamples: delay?.count ?? 0,
      eventLoopUtilization: before && after ? eventLoopUtilization(before, after) : null,
      backlogMaxS,
      warnings: server.warnings.count,
      lastWarnings: server.warnings.last,
      otherCores: Math.max(0, otherCpu / wall),
    };
    return {
      streams: opts.streams,
      durationS: opts.durationS,
      telemetry: opts.telemetry,
      client,
      server: stats,
      renderLoaded,
      breakdown: before && after ? latencyBreakdown(before, after) : null,
      ...verdict(opts.streams, client, stats, after, opts.lagTargetS ?? LAG_TARGET_S),
    };
  } finally {
    await server.stop();
  }
}

/** Whether the run met the lag bound, and what saturated if not. */
function verdict(streams: number, c: LoadReport, s: ServerStats, after: Sample[] | null, lagTargetS: number): { ok: boolean; notes: string[] } {
  const notes: string[] = [];
  const errors = Object.entries(c.errors).map(([code, n]) => `${code}×${n}`);
  if (c.connectFailures > 0) {
    const why = Object.entries(c.connectErrors).map(([m, n]) => `${n}× "${m}"`);
    notes.push(`${c.connectFailures} of ${streams} connections failed (${why.join(', ')})`);
  }
  if (c.refused > 0) notes.push(`${c.refused} streams refused`);
  if (errors.length > 0) notes.push(`errors: ${errors.join(', ')}`);
  if (c.completed < c.opened) notes.push(`${c.opened - c.completed} of ${c.opened} opened streams did not complete in time`);
  if (c.missingFinals > 0) notes.push(`${c.missingFinals} of ${c.expectedFinals} finals missing (not answered in time)`);
  const p99 = c.lagP99InclMissing;
  if (p99 === null || p99 >= lagTargetS) notes.push(`p99 lag ${p99 === null ? '> drain timeout' : `${p99.toFixed(2)} s`} ≥ ${lagTargetS} s`);
  if (s.eventLoopUtilization !== null && s.eventLoopUtilization > 0.9) {
    notes.push(`server event loop saturated (utilization ${(s.eventLoopUtilization * 100).toFixed(0)} %)`);
  }
  if (s.cores > 1.7) notes.push(`server uses ${s.cores.toFixed(2)} of the machine's cores`);
  // Decoding and VAD backlogs are normally under a frame plus a window (~0.13 s) per stream: half a
  // second means behind. The model's counts whole segments in flight (~2 s each), so only a backlog
  // well beyond one segment per stream means the model is behind.
  for (const [stage, seconds] of Object.entries(s.backlogMaxS)) {
    const perStream = seconds / streams;
    if (perStream > (stage === 'model' ? 5 : 0.5)) notes.push(`${stage} fell behind (up to ${perStream.toFixed(1)} s of audio per stream waiting)`);
  }
  const lateness = c.sendLatenessMs.p99 ?? 0;
  if (lateness > 50 || (c.clientEventLoopDelayMs.p99 ?? 0) > 50) {
    notes.push(`load client itself late (send p99 ${lateness.toFixed(0)} ms, loop p99 ${(c.clientEventLoopDelayMs.p99 ?? 0).toFixed(0)} ms)`);
  }
  if (s.otherCores > 0.2) notes.push(`other processes used ${s.otherCores.toFixed(2)} cores meanwhile: numbers skewed`);
  if (after && sumOf(after, 'task_panics_total') > 0) notes.push(`${sumOf(after, 'task_panics_total')} task panics`);
  const ok = c.completed === streams && c.missingFinals === 0 && errors.length === 0 && p99 !== null && p99 < lagTargetS;
  return { ok, notes };
}

export interface TelemetryComparison {
  streams: number;
  durationS: number;
  on: CapacityRun[];
  off: CapacityRun[];
  /** Medians of server CPU per audio second. */
  onCpuPerAudioSecond: number;
  offCpuPerAudioSecond: number;
  /** on / off − 1 of each pair (runs back to back), and their median: the headline. */
  pairOverheads: number[];
  overhead: number;
}

/** Item 3: the same load with telemetry on and off, alternating, `pairs` times each. */
export async function telemetryComparison(
  base: Omit<CapacityRunOptions, 'telemetry'>,
  pairs: number,
  onRun?: (label: string) => void,
): Promise<TelemetryComparison> {
  const on: CapacityRun[] = [];
  const off: CapacityRun[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate the order between pairs so that drift does not favour one side.
    const order = i % 2 === 0 ? [true, false] : [false, true];
    for (const telemetry of order) {
      onRun?.(`telemetry ${telemetry ? 'on' : 'off'}, N=${base.streams} (pair ${i + 1}/${pairs})`);
      const run = await capacityRun({ ...base, telemetry, renderSamplesLoaded: 0, backlogEveryMs: 0 });
      (telemetry ? on : off).push(run);
    }
  }
  const onCpu = median(on.map((r) => r.server.cpuPerAudioSecond)) ?? NaN;
  const offCpu = median(off.map((r) => r.server.cpuPerAudioSecond)) ?? NaN;
  const pairOverheads = on.map((r, i) => r.server.cpuPerAudioSecond / off[i].server.cpuPerAudioSecond - 1);
  return {
    streams: base.streams,
    durationS: base.durationS,
    on,
    off,
    onCpuPerAudioSecond: onCpu,
    offCpuPerAudioSecond: offCpu,
    pairOverheads,
    overhead: median(pairOverheads) ?? NaN,
  };
}
