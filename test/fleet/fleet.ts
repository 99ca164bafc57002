// A fleet on 127.0.0.1: three service instances started with the production command, the shipped
// HAProxy config in front of them, and the shipped Prometheus config scraping each instance.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupGone, launch, type Launched } from '../helpers/launch.ts';
import { HAProxy, haproxyEnv, type ServerStat } from './haproxy.ts';
import { freePort, startFleetPrometheus, type PrometheusServer } from '../helpers/prometheus-server.ts';

export const FLEET_SIZE = 3;

export interface Instance {
  /** The HAProxy server name and the `pod` label of its series: streamer-1 … */
  readonly name: string;
  readonly launched: Launched;
  readonly url: string;
}

export interface Fleet {
  readonly instances: Instance[];
  readonly haproxy: HAProxy;
  readonly prometheus: PrometheusServer;
  /** A websocket route through HAProxy. */
  ws(route: 'simple' | 'segmented'): string;
  /**
   * Starts instance `index` again on its port (HAProxy's server line finds it there) once its process
   * exited, and puts the new one in `instances`; resolves when it reports ready. stop() stops it too.
   */
  relaunch(index: number): Promise<Instance>;
  /** Stops every process it started (safe to call twice, and after a failed start). */
  stop(): Promise<void>;
}

/**
 * The labels each target gets in the test's streamer-targets.yml: the ones Kubernetes discovery puts
 * on a pod's series (deploy/kubernetes/monitoring/podmonitor.yaml), so that the KEDA and HPA queries of
 * deploy/kubernetes run unchanged against this fleet.
 */
export const targetLabels = (name: string) => ({ namespace: 'streamer', pod: name });

/** The production command (`npm start` runs the same `node src/main.ts`), so that signals reach the server itself. */
const PRODUCTION = (configFile: string): [string, string[]] => [process.execPath, ['src/main.ts', '--config', configFile]];

/**
 * Why the fleet tests cannot run here (haproxy or prometheus missing), for `test(…, { skip })`; in CI,
 * where .ci/run installs both from Debian, a missing tool is an error instead.
 */
export function missingTools(): string | false {
  const missing = ['haproxy', 'prometheus'].filter((tool) => {
    try {
      execFileSync(tool, [tool === 'haproxy' ? '-v' : '--version'], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return false;
  if (process.env.CI) throw new Error(`${missing.join(' and ')} must be installed in CI (.ci/run installs them from Debian)`);
  return `${missing.join(' and ')} not installed (apt-get install ${missing.join(' ')})`;
}

/** Every server in rotation: UP, its last health check a 200. */
export const allUp = (servers: Map<string, ServerStat>) => servers.size === FLEET_SIZE && [...servers.values()].every((v) => v.status === 'UP' && v.checkStatus === 'L7OK');

export async function startFleet(config: object): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'streamer-fleet-'));
  const launched: Launched[] = [];
  let haproxy: HAProxy | undefined;
  let prometheus: PrometheusServer | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const l of launched) l.kill();
    await Promise.all([haproxy?.stop(), prometheus?.stop(), ...launched.map((l) => groupGone(l.child.pid!))]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const results = await Promise.allSettled(Array.from({ length: FLEET_SIZE }, () => launch(PRODUCTION, config)));
    for (const r of results) if (r.status === 'fulfilled') launched.push(r.value);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw new Error(`a fleet instance did not start: ${String(failed.reason)}`);

    const instances = launched.map((l, i) => ({ name: `streamer-${i + 1}`, launched: l, url: `http://127.0.0.1:${l.port}` }));
    const lbPort = await freePort();
    const socket = join(dir, 'haproxy.sock');
    haproxy = new HAProxy(haproxyEnv(instances.map((i) => `127.0.0.1:${i.launched.port}`), `127.0.0.1:${lbPort}`, socket), socket);
    prometheus = await startFleetPrometheus(
      dir,
      instances.map((i) => ({ targets: [`127.0.0.1:${i.launched.port}`], labels: targetLabels(i.name) })),
    );
    await haproxy.waitFor('every server UP after its health checks', allUp);
    const relaunch = async (index: number) => {
      const old = instances[index];
      if (stopped) throw new Error(`the fleet was stopped: ${old.name} is not relaunched`);
      if (old.launched.child.exitCode === null && old.launched.child.signalCode === null) throw new Error(`${old.name} is still running: stop it before relaunching it`);
      const l = await launch(PRODUCTION, config, { env: { PORT: String(old.launched.port) } });
      launched.push(l);
      instances[index] = { name: old.name, launched: l, url: old.url };
      return instances[index];
    };
    return {
      instances,
      haproxy,
      prometheus,
      ws: (route) => `ws://127.0.0.1:${lbPort}/api/v1/${route}`,
      relaunch,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
