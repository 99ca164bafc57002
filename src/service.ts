// Assembles the service from a config: shared stages (VAD session, model workers), the HTTP and
// websocket server, start-up warm-up and graceful shutdown. main.ts and the tests both use it.
import { serve, type ServerType } from '@hono/node-server';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Admission } from './api/admission.ts';
import { createApp } from './api/app.ts';
import type { Config } from './config.ts';
import { serviceContext, type ServiceContext } from './context.ts';
import { log } from './log.ts';
import { loadModel } from './model/index.ts';
import type { PipelineOptions } from './pipeline/stream.ts';
import { createTelemetry, noopTelemetry } from './telemetry/telemetry.ts';
import { startRuntimeMetrics } from './telemetry/runtime.ts';
import { installTracing, shutdownTracing } from './telemetry/tracing.ts';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { SileroVad, vadModelPath } from './vad/silero.ts';
import { TASK_NAMES } from './task.ts';
import { KNOWN_LABELS } from './known-labels.ts';

// package.json is one level above src/ and dist/ alike (a JSON import would pull it into the build).
const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** After the streams, how long releasing the workers and flushing telemetry may take. */
export const RELEASE_MS = 5_000;

/**
 * The hard bound of a shutdown: drain deadline + finish time + release time. Past it the process
 * exits whatever is still pending (main.ts).
 */
export function shutdownBoundMs(shutdown: Config['shutdown'], drainMs = shutdown.drain_timeout_ms): number {
  return drainMs + shutdown.finish_timeout_ms + RELEASE_MS;
}

export interface Service {
  /** e.g. http://127.0.0.1:43121 */
  readonly url: string;
  readonly port: number;
  /** Resolves once warm-up is done and the service reports ready. */
  readonly warm: Promise<void>;
  /**
   * Stops taking new connections and streams, lets running streams finish up to the drain
   * deadline, closes what is left with 1001 and releases every resource.
   */
  shutdown(drainMs?: number): Promise<void>;
}

export interface ServiceOptions {
  /** Export spans here instead of by the OTEL_* environment (tests). */
  spanExporter?: SpanExporter;
}

/** The shared VAD as the config sets it up (the benchmark loads it the same way). */
export function loadVad(vad: Config['vad'], service: ServiceContext): Promise<SileroVad> {
  return SileroVad.load(service, vadModelPath(vad.graph), { maxBatch: vad.max_batch, maxWaitMs: vad.batch_wait_ms, workers: vad.workers });
}

/** The service could not start (a model missing, the port taken…): the message says which and why. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Starts listening; rejects with the server's error (e.g. EADDRINUSE) instead of it being thrown as an event. */
function listen(fetch: Parameters<typeof serve>[0]['fetch'], hostname: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, () => {
      server.off('error', reject);
      resolve(server);
    });
    server.once('error', reject);
  });
}

/** The config as logged: of the tokens only how many there are (`auth: "off"` without any). */
/** The pipeline's settings, from the config's snake_case sections. */
function pipelineOptions(config: Config): PipelineOptions {
  const { pipeline: p, vad } = config;
  return {
    simple: { maxInflight: p.simple_max_inflight, minChunkMs: p.simple_min_chunk_ms, maxChunkMs: p.simple_max_chunk_ms },
    segmenter: {
      threshold: vad.threshold,
      minSilenceMs: vad.min_silence_ms,
      speechPadMs: vad.speech_pad_ms,
      minSpeechMs: vad.min_speech_ms,
      interimIntervalMs: vad.interim_interval_ms,
    },
  };
}

function loggedConfig(config: Config) {
  const { tokens, ...auth } = config.auth;
  return { ...config, auth: tokens.length === 0 ? 'off' : { ...auth, token_count: tokens.length } };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export async function startService(config: Config, options: ServiceOptions = {}): Promise<Service> {
  installTracing({ serviceName: 'streamer', serviceVersion: packageJson.version, exporter: options.spanExporter });
  // Everything this service counts lives in its own context: nothing is shared with another
  // service in the same process.
  const telemetry = config.telemetry.enabled
    ? createTelemetry({ serviceName: 'streamer', serviceVersion: packageJson.version, labels: KNOWN_LABELS })
    : noopTelemetry(TASK_NAMES);
  const service = serviceContext(telemetry);
  const runtime = telemetry.meterProvider ? startRuntimeMetrics(telemetry.meterProvider) : null;
  // Whatever was started before a failure is released, so that the process can exit cleanly.
  const release: (() => unknown)[] = [() => runtime?.stop(), () => telemetry.shutdown()];
  const fail = async (what: string, err: unknown): Promise<never> => {
    await Promise.allSettled(release.map((r) => Promise.resolve().then(r)));
    throw new StartupError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  };
  const [vadLoad, modelLoad] = await Promise.allSettled([loadVad(config.vad, service), loadModel(config.model, service)]);
  if (vadLoad.status === 'fulfilled') release.push(() => vadLoad.value.close());
  if (modelLoad.status === 'fulfilled') release.push(() => modelLoad.value.close());
  if (vadLoad.status === 'rejected') return fail('cannot load the VAD model', vadLoad.reason);
  if (modelLoad.status === 'rejected') return fail(`cannot load the ${config.model.backend} model`, modelLoad.reason);
  const [vad, model] = [vadLoad.value, modelLoad.value];
  const { limits } = config;
  const admission = new Admission(
    { maxStreams: limits.max_streams, maxConnections: limits.max_connections ?? 2 * limits.max_streams, saturationSeconds: limits.saturation_backlog_seconds },
    telemetry.backlog,
  );
  const { app, injectWebSocket, sessions, heartbeat } = createApp({ service, config, pipeline: pipelineOptions(config), model, vad, admission });

  let server: ServerType;
  try {
    server = await listen(app.fetch, config.host, config.port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'address in use' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : code === 'EACCES' ? 'permission denied' : err;
    return fail(`cannot listen on ${config.host}:${config.port}`, why);
  }
  injectWebSocket(server);
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  log.info({ address: `http://${config.host}:${port}`, node: process.version, version: packageJson.version, config: loggedConfig(config) }, 'listening');

  const warm = model.warmup().then(
    () => {
      admission.warm = true;
      // A service told to stop during its warm-up never becomes ready: the log must not say it did.
      log.info({ model: model.name }, admission.draining ? 'model warmed up; not ready: draining' : 'model warmed up; ready');
    },
    (err: unknown) => {
      // Shutdown closes the model under a warm-up still running: that is no failure of the model.
      if (!admission.draining) throw err;
      log.info({ model: model.name }, 'model warm-up cancelled: shutting down');
    },
  );

  let stopping: Promise<void> | null = null;
  const shutdown = (drainMs = config.shutdown.drain_timeout_ms) =>
    (stopping ??= (async () => {
      // Keep listening while draining: probes must see /api/v1/ready answer 503, and a new stream is
      // refused with `shutting_down` rather than a refused connection. The listener closes at the end.
      admission.draining = true;
      log.info({ active_streams: admission.active, drain_ms: drainMs }, 'draining');
      // Every running stream learns how long it has: a client can move it to another instance.
      for (const s of sessions) s.goingAway(drainMs);
      await Promise.race([admission.idle(), sleep(drainMs)]);
      // Streams still running at the deadline are finished (final results, stream_end), then closed
      // with 1001; a pipeline that cannot finish within the finish time is cut off.
      const finishing = Promise.all([...sessions].map((s) => s.drain())).then(() => true);
      const finished = await Promise.race([finishing, sleep(config.shutdown.finish_timeout_ms).then(() => false)]);
      if (!finished) log.warn({ active_streams: admission.active, finish_timeout_ms: config.shutdown.finish_timeout_ms }, 'streams did not finish in time: closed with 1001 without their stream_end');
      for (const s of sessions) s.shutdown();
      heartbeat.stop();
      server.close();
      (server as Server).closeAllConnections();
      // Closing the model also ends a warm-up that never finished (its jobs are rejected).
      await Promise.all([model.close(), vad.close()]);
      await warm.catch(() => undefined);
      runtime?.stop();
      await telemetry.shutdown();
      await shutdownTracing();
      log.info('stopped');
    })());

  return { url: `http://${host}:${port}`, port, warm, shutdown };
}
