// Item 11: the task wrapper's own worker pool (src/task-pool.ts) against Piscina, which it
// replaced, on the same jobs: batches of jobs submitted at once to 2 threads, each pool as the
// service ran it (docs/performance.md, "Model jobs pipelined to their threads"). The jobs cost
// nothing (what is measured is the hand-out: a message each way per job, and the main thread's
// work around it) or a short fixed time. The pools take turns within every rep, so that drift and
// other load fall on both; medians over reps, with the range. Skipped when piscina is missing.
import type { Piscina as PiscinaPool } from 'piscina';
import { ThreadPool } from '../../src/task-pool.ts';
import type { BenchItem, Target } from '../item.ts';
import type { PoolJob } from '../pool-job.ts';
import { systemBusySeconds } from '../server.ts';
import { median } from '../stats.ts';
import { num, ratio, type Table } from '../table.ts';

interface Plan {
  /** Jobs per batch (all submitted at once). */
  jobs: number;
  threads: number;
  /** Busy time of a job, µs: 0 = the pool's own cost alone. */
  spinUs: number[];
  /** Measured batches per pool and job kind (after WARM_UP_BATCHES). */
  reps: number;
}

const WARM_UP_BATCHES = 5;
const JOB_MODULE = new URL('../pool-job.ts', import.meta.url);
const TASK_WORKER = new URL('../../src/task-worker.ts', import.meta.url);

interface Contender {
  name: string;
  description: string;
  /** The ratio's baseline (Piscina as the service ran it). */
  baseline?: true;
  /** The pool the service runs now (its ratio is the target). */
  ours?: true;
}

const CONTENDERS: Contender[] = [
  { name: 'own pool', description: 'src/task-pool.ts as the model pools run it (pipeline: a thread holds several short jobs)', ours: true },
  { name: 'own pool, one at a time', description: 'src/task-pool.ts as the VAD pool runs it (pipeline off: one job per thread at a time)' },
  { name: 'piscina', description: 'Piscina as the service ran it before (min = max threads, idleTimeout Infinity, recordTiming off)', baseline: true },
  { name: 'piscina ×4', description: 'the same with concurrentTasksPerWorker 4' },
];

interface Batch {
  wallMs: number;
  /** This process, every thread (the pool's threads included). */
  cpuMs: number;
  /** The main thread alone: what the hand-out costs the event loop. */
  mainCpuMs: number;
  otherCores: number;
}

export interface PoolRun {
  pool: string;
  spinUs: number;
  batches: Batch[];
  wallMs: number;
  cpuMs: number;
  mainCpuMs: number;
  otherCores: number;
}

export interface PoolResults {
  /** Why nothing was measured (piscina not installed), or null. */
  skipped: string | null;
  jobs: number;
  threads: number;
  reps: number;
  contenders: Contender[];
  runs: PoolRun[];
}

type RunBatch = (jobs: PoolJob[]) => Promise<unknown>;
interface OpenPool {
  run: RunBatch;
  close(): Promise<void>;
}

function ownPool(threads: number, pipeline: boolean, onCrash: (err: unknown) => void): OpenPool {
  const pool = new ThreadPool<PoolJob, number>({ entry: TASK_WORKER, module: JOB_MODULE, threads, pipeline, onCrashBetweenJobs: onCrash });
  return { run: (jobs) => Promise.all(jobs.map((j) => pool.run(j))), close: () => pool.destroy() };
}

function piscinaPool(Piscina: typeof PiscinaPool, threads: number, concurrentTasksPerWorker: number): OpenPool {
  const pool = new Piscina<PoolJob, number>({
    filename: JOB_MODULE.href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    recordTiming: false,
    concurrentTasksPerWorker,
  });
  return { run: (jobs) => Promise.all(jobs.map((j) => pool.run(j))), close: () => pool.destroy() };
}

async function measureBatch(run: RunBatch, jobs: PoolJob[]): Promise<Batch> {
  const busy0 = systemBusySeconds();
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const t0 = performance.now();
  await run(jobs);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  // Other processes: the machine's busy time less this process's.
  const otherCores = Math.max(0, (systemBusySeconds() - busy0 - cpuMs / 1000) / (wallMs / 1000));
  return { wallMs, cpuMs, mainCpuMs: (main.user + main.system) / 1000, otherCores };
}

async function importPiscina(): Promise<typeof PiscinaPool | string> {
  try {
    return (await import('piscina')).Piscina;
  } catch (err) {
    return `piscina is not installed (npm install; it is a devDependency): ${err instanceof Error ? err.message : String(err)}`;
  }
}

export const pool: BenchItem<Plan, PoolResults> = {
  id: 'pool',
  title: '11 pool: the task pool (src/task-pool.ts) against Piscina on the same jobs, 2 threads',
  plan: ({ smoke }) => ({ jobs: 500, threads: 2, spinUs: [0, 200], reps: smoke ? 5 : 21 }),
  steps: (plan) => plan.spinUs.length,

  async run(plan, ctx) {
    const Piscina = await importPiscina();
    const base = { jobs: plan.jobs, threads: plan.threads, reps: plan.reps, contenders: CONTENDERS };
    if (typeof Piscina === 'string') return { ...base, skipped: Piscina, runs: [] };
    const onCrash = (err: unknown) => ctx.fail(`a task-pool thread died between jobs: ${String(err)}`);
    const pools: OpenPool[] = [
      ownPool(plan.threads, true, onCrash),
      ownPool(plan.threads, false, onCrash),
      piscinaPool(Piscina, plan.threads, 1),
      piscinaPool(Piscina, plan.threads, 4),
    ];
    const runs: PoolRun[] = [];
    try {
      for (const spinUs of plan.spinUs) {
        ctx.step(`pool: ${plan.jobs} jobs of ${spinUs} µs, ${pools.length} pools × ${plan.reps} reps`);
        const jobs: PoolJob[] = Array.from({ length: plan.jobs }, () => ({ spinUs }));
        for (const p of pools) for (let i = 0; i < WARM_UP_BATCHES; i++) await p.run(jobs);
        const batches: Batch[][] = pools.map(() => []);
        for (let rep = 0; rep < plan.reps; rep++) {
          // Each rep starts with another pool, so that none always follows the same one.
          for (let k = 0; k < pools.length; k++) {
            const i = (rep + k) % pools.length;
            batches[i].push(await measureBatch(pools[i].run, jobs));
          }
        }
        CONTENDERS.forEach((c, i) => {
          const of = (pick: (b: Batch) => number) => median(batches[i].map(pick)) ?? NaN;
          runs.push({ pool: c.name, spinUs, batches: batches[i], wallMs: of((b) => b.wallMs), cpuMs: of((b) => b.cpuMs), mainCpuMs: of((b) => b.mainCpuMs), otherCores: of((b) => b.otherCores) });
        });
      }
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
    return { ...base, skipped: null, runs };
  },

  render(r) {
    const title = `11. Worker pools: ${r.jobs} jobs submitted at once to ${r.threads} threads, the task pool against Piscina (which it replaced), median of ${r.reps} batches`;
    if (r.skipped !== null) return [{ title, headers: [], rows: [], notes: [`skipped: ${r.skipped}`] }];
    const baseline = CONTENDERS.find((c) => c.baseline)!.name;
    const range = (xs: number[]) => `${num(Math.min(...xs), 1)}–${num(Math.max(...xs), 1)}`;
    const rows = r.runs.map((run) => {
      const base = r.runs.find((x) => x.pool === baseline && x.spinUs === run.spinUs);
      return [
        run.spinUs === 0 ? 'zero-cost' : `${run.spinUs} µs`,
        `${run.pool}${run.pool === baseline ? ' (baseline)' : ''}`,
        num(run.wallMs, 1),
        range(run.batches.map((b) => b.wallMs)),
        base ? ratio(run.wallMs / base.wallMs) : '–',
        num(run.cpuMs, 1),
        base ? ratio(run.cpuMs / base.cpuMs) : '–',
        num(run.mainCpuMs, 1),
        base ? ratio(run.mainCpuMs / base.mainCpuMs) : '–',
        num((run.mainCpuMs * 1000) / r.jobs, 1),
        num(run.otherCores, 2),
      ];
    });
    const table: Table = {
      title,
      headers: ['jobs', 'pool', 'wall ms', 'wall range', 'vs piscina', 'CPU ms', 'vs piscina', 'main CPU ms', 'vs piscina', 'main µs/job', 'other cores'],
      rows,
      notes: [
        `Per batch of ${r.jobs}: wall = first submitted → last answered; CPU = this process, every thread; main = the main thread alone`,
        '(process.threadCpuUsage): what handing the jobs out and taking the answers back costs the event loop. The pools take turns',
        'within every rep; vs piscina = this median / that of Piscina as the service ran it (< 1: the task pool is cheaper).',
        ...r.contenders.map((c) => `${c.name}: ${c.description}`),
      ],
    };
    return [table];
  },

  targets(r) {
    if (r.skipped !== null) return [{ item: 'pool', target: 'own pool ≤ Piscina', measured: 'skipped (piscina missing)', met: null }];
    const ours = CONTENDERS.find((c) => c.ours)!.name;
    const baseline = CONTENDERS.find((c) => c.baseline)!.name;
    const out: Target[] = [];
    for (const spinUs of [...new Set(r.runs.map((x) => x.spinUs))]) {
      const own = r.runs.find((x) => x.pool === ours && x.spinUs === spinUs);
      const base = r.runs.find((x) => x.pool === baseline && x.spinUs === spinUs);
      if (!own || !base) continue;
      const wall = own.wallMs / base.wallMs;
      const cpu = own.cpuMs / base.cpuMs;
      out.push({
        item: `pool ${spinUs === 0 ? 'zero-cost' : `${spinUs} µs`} jobs`,
        target: `own pool ≤ Piscina per ${r.jobs} jobs: wall and CPU`,
        measured: `wall ${ratio(wall)} (${num(own.wallMs, 1)} vs ${num(base.wallMs, 1)} ms), CPU ${ratio(cpu)} (${num(own.cpuMs, 1)} vs ${num(base.cpuMs, 1)} ms)`,
        met: wall <= 1 && cpu <= 1,
      });
    }
    return out;
  },
};
