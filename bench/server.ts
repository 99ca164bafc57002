// Starts the service as its own process (`node src/main.ts --config FILE`), waits for
// it to listen and report ready, and samples its CPU time and memory from /proc.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The simulated model made negligible, so that capacity measures the service around it. */
/**
 * The simulated model at zero cost. The model stage's cost is the model's (see README: Whisper);
 * capacity and throughput measure the service around it: transport, decoding, VAD, telemetry and
 * the hand-offs to the model workers.
 */
export const ZERO_MODEL = { delay: 0, constant_factor: 0, jitter: 0, warmup_penalty: 0 };

let clockTicks: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, almost always 100). */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process, all threads, in seconds. */
export function processCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** utime + stime of a process's main thread (its event loop: the thread whose id is the pid), in seconds. */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clkTck();
}

/**
 * Busy CPU seconds of the whole machine (every core: user, nice, system, irq, softirq, steal) from
 * /proc/stat. Minus what the benchmark's own processes used, it shows other load on the machine.
 */
export function systemBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / clkTck();
}

/** A /proc/<pid>/status field in bytes (VmRSS, VmHWM), or null when unreadable. */
export function processMemoryBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface ServerHandle {
  readonly pid: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  ws(route: 'simple' | 'segmented'): string;
  cpuSeconds(): number;
  /** The main thread's alone (the event loop; no worker, onnxruntime or GC helper thread). */
  mainThreadCpuSeconds(): number;
  rssBytes(): number | null;
  /** Log lines at warn level or above so far, and the last few of them. */
  readonly warnings: { count: number; last: string[] };
  /** SIGTERM (drain), SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function waitReady(url: string, deadline: number, exited: () => boolean): Promise<void> {
  while (Date.now() < deadline) {
    if (exited()) throw new Error('server exited before it was ready');
    try {
      const res = await fetch(`${url}/api/v1/ready`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not accepting connections yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${url} not ready in time`);
}

/** Extra node flags for every server started from now on (e.g. --cpu-prof). */
let serverNodeArgs: string[] = [];
export function setServerNodeArgs(args: string[]): void {
  serverNodeArgs = args;
}

let profileDir: string | null = null;
/** Every server from now on runs under --cpu-prof, its profiles in `dir`. */
export function setServerProfileDir(dir: string): void {
  profileDir = dir;
  setServerNodeArgs(['--cpu-prof', '--cpu-prof-dir', dir]);
}
/** Where the servers' CPU profiles go (null: not profiled). */
export function serverProfileDir(): string | null {
  return profileDir;
}

/** Starts a server with `config` (merged over host/port/log level from the environment). */
export async function startServer(config: Record<string, unknown>, startTimeoutMs = 60_000): Promise<ServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'streamer-bench-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' };
  delete env.STREAMER_CONFIG;
  delete env.STREAMER_TOKENS;
  const child = spawn(process.execPath, [...serverNodeArgs, 'src/main.ts', '--config', file], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const warnings = { count: 0, last: [] as string[] };
  let stderrTail = '';
  child.stderr.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-4000);
  });

  const listening = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let entry: { msg?: string; address?: string; level?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'listening' && entry.address) resolve(entry.address.replace('0.0.0.0', '127.0.0.1'));
      if ((entry.level ?? 0) >= 40) {
        warnings.count++;
        warnings.last = [...warnings.last.slice(-4), line.slice(0, 500)];
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening: ${stderrTail}`)));
  });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('server did not listen in time')), startTimeoutMs).unref());

  let url: string;
  try {
    url = await Promise.race([listening, timeout]);
    await waitReady(url, Date.now() + startTimeoutMs, () => child.exitCode !== null);
  } catch (err) {
    child.kill('SIGKILL');
    await waitExit(child);
    cleanup();
    throw err;
  }
  const pid = child.pid!;
  return {
    pid,
    url,
    ws: (route) => `${url.replace(/^http/, 'ws')}/api/v1/${route}`,
    cpuSeconds: () => processCpuSeconds(pid),
    mainThreadCpuSeconds: () => mainThreadCpuSeconds(pid),
    rssBytes: () => processMemoryBytes(pid, 'VmRSS'),
    warnings,
    async stop(timeoutMs = 15_000) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await waitExit(child);
      clearTimeout(timer);
      cleanup();
      return code;
    },
  };
}
