// Benchmark entry: `npm run bench` (full, ~19 min on 2 cores) or `npm run bench -- --smoke` (about a minute,
// for CI). `--only vad,capacity,burst,telemetry,metrics,simple,whisper,keywords,offload,fleet,resume` picks items. Prints the tables on stdout
// and writes bench/results/latest.json (`--out FILE` to change). Exit status 1 if an item crashed;
// targets are reported, never asserted. `--profile` runs every server under --cpu-prof (profiles in
// bench/results/profiles/, summarise one with `node bench/profile.ts FILE`);
// `--report FILE` prints the tables of an earlier JSON result without running anything;
// `--set section.key=value` (repeatable) adds a server setting to every capacity and burst run.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBurst, type BurstOptions } from './burst.ts';
import { capacityHeadline, capacityRun, setServerOverride, telemetryComparison, type CapacityRun, type CapacityRunOptions } from './capacity.ts';
import { renderAtStreams, type MetricsPoint } from './render.ts';
import { evaluateTargets, Progress, renderReport, writeJson, type BenchResults } from './report.ts';
import { runFleet, type FleetOptions } from './fleet.ts';
import { runOffload, type OffloadOptions } from './offload.ts';
import { runResume, type ResumeOptions } from './resume.ts';
import { REPO_ROOT, setServerNodeArgs, systemBusySeconds } from './server.ts';
import { runKeywords, type KeywordsOptions } from './keywords.ts';
import { runSimple } from './simple.ts';
import { runVad, type VadOptions } from './vad.ts';
import { findBenchModels, runWhisper, type WhisperOptions } from './whisper.ts';

const ITEMS = ['vad', 'capacity', 'burst', 'telemetry', 'metrics', 'simple', 'whisper', 'keywords', 'offload', 'fleet', 'resume'] as const;
type Item = (typeof ITEMS)[number];

interface Plan {
  vad: Omit<VadOptions, 'onStep'>;
  capacityNs: number[];
  /** Runs per N: the headline N must pass every one (runs on this machine vary a lot near the limit). */
  capacityRepeats: number;
  capacityDurationS: number;
  staggerMs: number;
  /** Item 2b: the capacity run with every stream in phase (bursts of endpoints). */
  burst: Omit<BurstOptions, 'onStep' | 'onTick'>;
  drainTimeoutS: number;
  telemetryN: number;
  telemetryDurationS: number;
  telemetryPairs: number;
  /** Points of item 4 (0 streams is always measured too); also sampled in capacity runs at these N. */
  metricsNs: number[];
  /** Audio each held stream sends before /metrics is sampled. */
  metricsAudioS: number;
  renderSamples: number;
  simple: { streams: number; perStreamS: number; warmUp: boolean };
  /** Item 6: only runs when a Whisper model is present (none in CI: skipped at once). */
  whisper: Omit<WhisperOptions, 'onStep'>;
  /** Item 7: the keywords backend (real models, always present). */
  keywords: Omit<KeywordsOptions, 'onStep'>;
  /** Item 8: the event loop while work runs on workers vs here, and VAD workers' overlap. */
  offload: Omit<OffloadOptions, 'onStep'>;
  /** Item 9: a rolling restart of three instances behind HAProxy (skipped without haproxy or prometheus). */
  fleet: Omit<FleetOptions, 'onStep'>;
  /** Item 10: streams cut once in their speech and resumed, against the same streams uncut. */
  resume: Omit<ResumeOptions, 'onStep'>;
}

const FULL: Plan = {
  vad: { audioSeconds: 60, reps: 3, streams: [1, 8, 32, 128], concurrentBudgetSeconds: 480, minPerStreamSeconds: 2 },
  capacityNs: [50, 100, 200, 300, 400, 500, 600],
  capacityRepeats: 2,
  capacityDurationS: 20,
  staggerMs: 1000,
  burst: { streams: [10, 300, 500, 600], repeats: 2, durationS: 20, drainTimeoutS: 15 },
  drainTimeoutS: 15,
  telemetryN: 100,
  telemetryDurationS: 15,
  telemetryPairs: 3,
  metricsNs: [100, 500],
  metricsAudioS: 2,
  renderSamples: 5,
  simple: { streams: 4, perStreamS: 60, warmUp: true },
  whisper: { reps: 3, threads: [1, 2], budgetSeconds: 120 },
  keywords: { audioSeconds: 60, chunkSeconds: [0.02, 0.1, 0.5, 2], capacityNs: [10, 20, 40, 60, 80], capacityDurationS: 20, staggerMs: 1000, drainTimeoutS: 15 },
  offload: { reps: 3, vadChannels: 512, vadWindows: 40 },
  fleet: { streams: 12, audioSeconds: 40, restartAtS: [8, 18, 28], drainMs: 10_000 },
  resume: { streams: 20, audioSeconds: 30, cutBetween: [0.3, 0.75], staggerMs: 1000 },
};

const SMOKE: Plan = {
  vad: { audioSeconds: 5, reps: 1, streams: [1, 8, 32, 128], concurrentBudgetSeconds: 10, minPerStreamSeconds: 0.5 },
  capacityNs: [5],
  capacityRepeats: 1,
  capacityDurationS: 5,
  staggerMs: 500,
  burst: { streams: [5], repeats: 1, durationS: 4, drainTimeoutS: 10 },
  drainTimeoutS: 10,
  telemetryN: 5,
  telemetryDurationS: 3,
  telemetryPairs: 1,
  metricsNs: [5],
  metricsAudioS: 1,
  renderSamples: 1,
  simple: { streams: 2, perStreamS: 5, warmUp: false },
  whisper: { reps: 1, threads: [1, 2], budgetSeconds: 10 },
  keywords: { audioSeconds: 3, chunkSeconds: [0.1], capacityNs: [2], capacityDurationS: 3, staggerMs: 200, drainTimeoutS: 10 },
  offload: { reps: 1, vadChannels: 64, vadWindows: 10 },
  fleet: { streams: 3, audioSeconds: 10, restartAtS: [3], drainMs: 10_000 },
  resume: { streams: 2, audioSeconds: 6, cutBetween: [0.3, 0.75], staggerMs: 200 },
};

interface Flags {
  smoke: boolean;
  only: Item[];
  out: string;
  profile: boolean;
  streams: number[] | null;
  repeat: number | null;
  /** Print the tables of an earlier JSON result instead of running. */
  report: string | null;
  /** `--set` server settings. */
  set: string[];
}

function parseFlags(): Flags {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      streams: { type: 'string' },
      repeat: { type: 'string' },
      report: { type: 'string' },
      only: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: fileURLToPath(new URL('results/latest.json', import.meta.url)) },
    },
  });
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...ITEMS];
  const unknown = only.filter((s) => !(ITEMS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    process.stderr.write(`unknown --only item(s): ${unknown.join(', ')} (expected ${ITEMS.join(', ')})\n`);
    process.exit(2);
  }
  const streams = values.streams ? values.streams.split(',').map(Number) : null;
  if (streams?.some((n) => !Number.isInteger(n) || n < 1)) {
    process.stderr.write(`--streams wants a comma-separated list of stream counts, got ${values.streams}\n`);
    process.exit(2);
  }
  try {
    for (const setting of values.set) setServerOverride(setting);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const repeat = values.repeat === undefined ? null : Number(values.repeat);
  if (repeat !== null && (!Number.isInteger(repeat) || repeat < 1)) {
    process.stderr.write(`--repeat wants a whole number of runs per capacity point, got ${values.repeat}\n`);
    process.exit(2);
  }
  return { smoke: values.smoke, only: only as Item[], out: values.out, profile: values.profile, streams, repeat, report: values.report ?? null, set: values.set };
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function stepCount(plan: Plan, only: Item[], whisperModels: number): number {
  let n = 0;
  if (only.includes('vad')) n += 5 * plan.vad.reps + plan.vad.streams.length * plan.vad.reps; // five single-stream contenders
  if (only.includes('capacity')) n += plan.capacityNs.length * plan.capacityRepeats;
  if (only.includes('burst')) n += plan.burst.streams.length * plan.burst.repeats;
  if (only.includes('telemetry')) n += 2 * plan.telemetryPairs;
  if (only.includes('metrics')) n += 1 + plan.metricsNs.length;
  if (only.includes('simple')) n += 3;
  if (only.includes('whisper')) n += whisperModels * plan.whisper.threads.length;
  if (only.includes('keywords')) n += 2 + plan.keywords.chunkSeconds.length + 2 * plan.keywords.capacityNs.length;
  if (only.includes('offload')) n += 4;
  if (only.includes('fleet')) n += 1 + plan.fleet.restartAtS.length;
  if (only.includes('resume')) n += 2;
  return n;
}

async function main(): Promise<void> {
  const flags = parseFlags();
  if (flags.report) {
    const earlier = JSON.parse(readFileSync(flags.report, 'utf8')) as BenchResults;
    process.stdout.write(renderReport({ ...earlier, targets: evaluateTargets(earlier) }));
    return;
  }
  const plan = { ...(flags.smoke ? SMOKE : FULL) };
  if (flags.streams) plan.capacityNs = flags.streams;
  if (flags.repeat) plan.capacityRepeats = flags.repeat;
  plan.burst = { ...plan.burst, ...(flags.streams ? { streams: flags.streams } : {}), ...(flags.repeat ? { repeats: flags.repeat } : {}) };
  if (flags.profile) setServerNodeArgs(['--cpu-prof', '--cpu-prof-dir', fileURLToPath(new URL('results/profiles/', import.meta.url))]);
  // Other load on the machine skews every number: measure it for a second before starting.
  const busy0 = systemBusySeconds();
  await new Promise((r) => setTimeout(r, 1000));
  const otherCoresAtStart = systemBusySeconds() - busy0;
  if (otherCoresAtStart > 0.2) process.stderr.write(`warning: other processes are using ${otherCoresAtStart.toFixed(2)} cores; results will be skewed\n`);
  const started = performance.now();
  const results: BenchResults = {
    meta: {
      startedAt: new Date().toISOString(),
      durationSeconds: 0,
      smoke: flags.smoke,
      only: flags.only,
      node: process.versions.node,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? '?',
      otherCoresAtStart,
      commit: git(['rev-parse', 'HEAD']),
      dirty: ((s) => (s === null ? null : s.length > 0))(git(['status', '--porcelain', '--untracked-files=no'])),
      ...(flags.set.length > 0 ? { serverSettings: flags.set } : {}),
    },
    targets: [],
    errors: [],
  };
  const whisperModels = flags.only.includes('whisper') ? await findBenchModels() : { models: [], incomplete: [] };
  const progress = new Progress(stepCount(plan, flags.only, whisperModels.models.length));
  const attempt = async (item: Item, work: () => Promise<void>) => {
    if (!flags.only.includes(item)) return;
    try {
      await work();
    } catch (err) {
      results.errors.push({ item, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  };

  const metricsPoints: MetricsPoint[] = [];
  const wantMetrics = flags.only.includes('metrics');
  const runOptions = (streams: number, durationS: number): CapacityRunOptions => ({
    streams,
    durationS,
    staggerMs: plan.staggerMs,
    drainTimeoutS: plan.drainTimeoutS,
    telemetry: true,
    renderSamplesLoaded: wantMetrics && plan.metricsNs.includes(streams) ? plan.renderSamples : 0,
    backlogEveryMs: 2000,
    onTick: (label) => progress.tick(label),
  });
  const collectRender = (run: CapacityRun) => {
    if (run.renderLoaded) metricsPoints.push({ streams: run.streams, load: 'real-time', render: run.renderLoaded });
  };

  await attempt('vad', async () => {
    results.vad = await runVad({ ...plan.vad, onStep: (label) => progress.step(label) });
  });

  await attempt('capacity', async () => {
    const runs: CapacityRun[] = [];
    for (const n of plan.capacityNs) {
      for (let k = 1; k <= plan.capacityRepeats; k++) {
        progress.step(`capacity N=${n}${plan.capacityRepeats > 1 ? ` run ${k}/${plan.capacityRepeats}` : ''}`);
        const run = await capacityRun(runOptions(n, plan.capacityDurationS));
        if (k === 1) collectRender(run);
        runs.push(run);
      }
    }
    results.capacity = { runs, headlineStreams: capacityHeadline(runs) };
  });

  await attempt('burst', async () => {
    results.burst = await runBurst({ ...plan.burst, onStep: (label) => progress.step(label), onTick: (label) => progress.tick(label) });
  });

  await attempt('telemetry', async () => {
    const base = runOptions(plan.telemetryN, plan.telemetryDurationS);
    results.telemetry = await telemetryComparison(base, plan.telemetryPairs, (label) => progress.step(label));
  });

  await attempt('metrics', async () => {
    const held = await renderAtStreams({
      points: plan.metricsNs,
      samples: plan.renderSamples,
      audioS: plan.metricsAudioS,
      staggerPerStreamMs: 20,
      onStep: (label) => progress.step(label),
    });
    const order = { idle: 0, held: 1, 'real-time': 2 };
    results.metrics = { points: [...held, ...metricsPoints].sort((a, b) => order[a.load] - order[b.load] || a.streams - b.streams) };
  });

  await attempt('simple', async () => {
    results.simple = await runSimple({ ...plan.simple, onStep: (label) => progress.step(label) });
  });

  await attempt('whisper', async () => {
    results.whisper = await runWhisper({ ...plan.whisper, onStep: (label) => progress.step(label) }, whisperModels);
    const failed = results.whisper.models.filter((m) => m.error !== null);
    if (failed.length > 0) throw new Error(failed.map((m) => `${m.name} (${m.dir}): ${m.error}`).join('; '));
  });

  await attempt('keywords', async () => {
    results.keywords = await runKeywords({ ...plan.keywords, onStep: (label) => progress.step(label) });
  });

  await attempt('offload', async () => {
    results.offload = await runOffload({ ...plan.offload, onStep: (label) => progress.step(label) });
  });

  await attempt('fleet', async () => {
    results.fleet = await runFleet({ ...plan.fleet, onStep: (label) => progress.step(label) });
  });

  await attempt('resume', async () => {
    results.resume = await runResume({ ...plan.resume, onStep: (label) => progress.step(label) });
  });

  progress.stop();
  results.meta.durationSeconds = (performance.now() - started) / 1000;
  results.targets = evaluateTargets(results);
  process.stdout.write(renderReport(results));
  writeJson(flags.out, results);
  process.stdout.write(`\nwrote ${flags.out}\n`);
  process.exitCode = results.errors.length > 0 ? 1 : 0;
}

await main();
