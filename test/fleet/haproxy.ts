// HAProxy as shipped (deploy/haproxy/haproxy.cfg, addresses from the environment) and its stats socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const HAPROXY_CFG = new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url).pathname;

/** One backend server's line of `show stat`. */
export interface ServerStat {
  /** UP, DOWN, or a transition such as "UP 1/2" (one failed check of the two that take it down). */
  status: string;
  /** Connections open now and in total (health checks not included). */
  scur: number;
  stot: number;
  checkStatus: string;
}

/** The environment the shipped cfg reads. */
export function haproxyEnv(servers: string[], listen: string, socket?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { STREAMER_LISTEN: listen };
  if (socket) env.STREAMER_HAPROXY_SOCKET = socket;
  servers.forEach((address, i) => (env[`STREAMER_${i + 1}`] = address));
  return env;
}

export class HAProxy {
  readonly child: ChildProcess;
  readonly socket: string;
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(env: NodeJS.ProcessEnv, socket: string) {
    this.socket = socket;
    // -db: foreground, no daemon, so that the test owns the process.
    this.child = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.child.stdout!, this.child.stderr!]) stream.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Sends one command to the stats socket and returns its whole answer. */
  command(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const conn = createConnection(this.socket);
      let out = '';
      conn.on('connect', () => conn.end(`${cmd}\n`));
      conn.on('data', (d: Buffer) => (out += d.toString()));
      conn.on('end', () => resolve(out));
      conn.on('error', reject);
    });
  }

  /** The servers of backend `streamer`, by name (streamer-1 …). */
  async servers(): Promise<Map<string, ServerStat>> {
    const [header, ...rows] = (await this.command('show stat')).trim().split('\n');
    const cols = header.replace(/^# /, '').split(',');
    const at = (row: string[], name: string) => row[cols.indexOf(name)];
    const out = new Map<string, ServerStat>();
    for (const row of rows.map((r) => r.split(','))) {
      if (at(row, 'pxname') !== 'streamer' || ['FRONTEND', 'BACKEND'].includes(at(row, 'svname'))) continue;
      out.set(at(row, 'svname'), { status: at(row, 'status'), scur: Number(at(row, 'scur')), stot: Number(at(row, 'stot')), checkStatus: at(row, 'check_status') });
    }
    return out;
  }

  /** Resolves once `predicate` holds for the servers; rejects after `timeoutMs` with what they were. */
  async waitFor(what: string, predicate: (servers: Map<string, ServerStat>) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer on the stats socket';
    for (;;) {
      const servers = await this.servers().catch((e: Error) => e);
      if (!(servers instanceof Error)) {
        if (predicate(servers)) return;
        last = JSON.stringify(Object.fromEntries(servers));
      } else last = servers.message;
      if (this.child.exitCode !== null) throw new Error(`HAProxy exited with ${this.child.exitCode} before ${what}:\n${this.output.join('')}`);
      if (Date.now() > deadline) throw new Error(`HAProxy: ${what} not reached within ${timeoutMs} ms; last: ${last}\n${this.output.join('')}`);
      await sleep(25);
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}
