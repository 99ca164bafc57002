// Starts the service the way an operator does (a launcher command in its own process group, on
// 127.0.0.1 with a free port), reads its JSON log lines, and checks that it left nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../../', import.meta.url).pathname;

export interface LogEntry {
  msg?: string;
  [field: string]: unknown;
}

export interface Launched {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every line the launcher wrote on stdout and stderr so far. */
  readonly logs: string[];
  /** The JSON log lines so far (npm's own lines are skipped). */
  entries(): LogEntry[];
  /** The launcher's exit status (null when a signal killed it). */
  readonly exitCode: Promise<number | null>;
  /** Kills whatever is left of the process group (for `finally`). */
  kill(): void;
}

export function writeConfig(config: object): string {
  const file = join(tmpdir(), `streamer-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

export interface LaunchOptions {
  /** Working directory (default: the repository). */
  cwd?: string;
  /** Added to the environment (HOST, PORT and LOG_LEVEL are set for tests unless given here). */
  env?: NodeJS.ProcessEnv;
  /** The environment is `env` alone, nothing inherited or added (a container's). */
  exactEnv?: boolean;
  /** Wait until it reports ready (default); false: resolve as soon as it listens (a test of its warm-up). */
  ready?: boolean;
}

/** Runs `command(configFile)` and resolves once the service listens and reports ready. */
export async function launch(command: (configFile: string) => [string, string[]], config: object, options: LaunchOptions = {}): Promise<Launched> {
  const [file, args] = command(writeConfig(config));
  const child = spawn(file, args, {
    cwd: options.cwd ?? root,
    detached: true, // its own process group, as a terminal or a supervisor gives it
    env: options.exactEnv ? options.env : { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const parsed: LogEntry[] = [];
  const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stderr }).on('line', (line) => logs.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(line);
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as LogEntry;
      parsed.push(entry);
      if (entry.msg === 'listening') resolve(Number(new URL(entry.address as string).port));
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening:\n${logs.join('\n')}`)));
  });
  const launched: Launched = {
    child,
    port,
    logs,
    entries: () => parsed,
    exitCode,
    kill: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
  try {
    if (options.ready ?? true) await waitReady(port);
  } catch (err) {
    // Never leave a process behind: the caller gets no handle to stop it.
    launched.kill();
    await groupGone(child.pid!).catch(() => undefined);
    throw new Error(`${(err as Error).message}:\n${logs.join('\n')}`, { cause: err });
  }
  return launched;
}

export async function waitReady(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/ready`).catch(() => null);
    if (r?.status === 200) return;
    await sleep(50);
  }
  throw new Error(`not ready within ${timeoutMs} ms`);
}

/** Resolves once no process of the group `pgid` is left; rejects after `timeoutMs`. */
export async function groupGone(pgid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw e;
    }
    if (Date.now() > deadline) throw new Error(`process group ${pgid} still has processes after ${timeoutMs} ms`);
    await sleep(50);
  }
}
