// Benchmark entry: `npm run bench` (full, ~19 min on 2 cores) or `npm run bench -- --smoke` (about a minute,
// for CI). `--only vad,capacity,…` picks items (their ids: bench/items/index.ts). Prints the tables on stdout
// and writes bench/results/latest.json (`--out FILE` to change). Exit status 1 if an item crashed;
// targets are reported, never asserted. `--profile` runs every server under --cpu-prof (profiles in
// bench/results/profiles/, beside each capacity or burst run's load window, `load.<pid>.json`;
// summarise one with `node bench/profile.ts FILE [--per-frame]`);
// `--report FILE` prints the tables of an earlier JSON result without running anything;
// `--set section.key=value` (repeatable) adds a server setting to every capacity and burst run.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setServerOverride } from './capacity.ts';
import type { BenchItem, PlanOptions, RunContext } from './item.ts';
import { ITEMS } from './items/index.ts';
import { evaluateTargets, Progress, renderReport, writeJson, type BenchResults } from './report.ts';
import { REPO_ROOT, setServerProfileDir, systemBusySeconds } from './server.ts';

interface Flags extends PlanOptions {
  only: BenchItem[];
  out: string;
  profile: boolean;
  /** Print the tables of an earlier JSON result instead of running. */
  report: string | null;
  /** `--set` server settings. */
  set: string[];
}

function usage(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
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
  const ids = values.only ? values.only.split(',').map((s) => s.trim()) : ITEMS.map((i) => i.id);
  const unknown = ids.filter((id) => !ITEMS.some((i) => i.id === id));
  if (unknown.length > 0) usage(`unknown --only item(s): ${unknown.join(', ')}; the items:\n${ITEMS.map((i) => `  ${i.id.padEnd(10)} ${i.title}`).join('\n')}`);
  const streams = values.streams ? values.streams.split(',').map(Number) : null;
  if (streams?.some((n) => !Number.isInteger(n) || n < 1)) usage(`--streams wants a comma-separated list of stream counts, got ${values.streams}`);
  try {
    for (const setting of values.set) setServerOverride(setting);
  } catch (err) {
    usage((err as Error).message);
  }
  const repeat = values.repeat === undefined ? null : Number(values.repeat);
  if (repeat !== null && (!Number.isInteger(repeat) || repeat < 1)) usage(`--repeat wants a whole number of runs per capacity point, got ${values.repeat}`);
  return {
    smoke: values.smoke,
    streams,
    repeat,
    only: ITEMS.filter((i) => ids.includes(i.id)),
    out: values.out,
    profile: values.profile,
    report: values.report ?? null,
    set: values.set,
  };
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const flags = parseFlags();
  if (flags.report) {
    const earlier = JSON.parse(readFileSync(flags.report, 'utf8')) as BenchResults;
    process.stdout.write(renderReport({ ...earlier, targets: evaluateTargets(earlier, ITEMS) }, ITEMS));
    return;
  }
  if (flags.profile) setServerProfileDir(fileURLToPath(new URL('results/profiles/', import.meta.url)));
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
      only: flags.only.map((i) => i.id),
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
  const plans = new Map(flags.only.map((item) => [item, item.plan(flags)]));
  let steps = 0;
  for (const [item, plan] of plans) steps += await item.steps(plan);
  const progress = new Progress(steps);

  for (const [item, plan] of plans) {
    const ctx: RunContext = {
      step: (label) => progress.step(label),
      tick: (label) => progress.tick(label),
      selected: (id) => flags.only.some((i) => i.id === id),
      earlier: results,
      fail: (message) => results.errors.push({ item: item.id, message }),
    };
    try {
      results[item.id] = await item.run(plan, ctx);
    } catch (err) {
      results.errors.push({ item: item.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  }

  progress.stop();
  results.meta.durationSeconds = (performance.now() - started) / 1000;
  results.targets = evaluateTargets(results, ITEMS);
  process.stdout.write(renderReport(results, ITEMS));
  writeJson(flags.out, results);
  process.stdout.write(`\nwrote ${flags.out}\n`);
  process.exitCode = results.errors.length > 0 ? 1 : 0;
}

await main();
