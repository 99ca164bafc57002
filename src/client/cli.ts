// Command-line client: streams a WAV file to the service and prints every server event as a JSON line.
import cliProgress from 'cli-progress';
import { parseFlags, runCli, UsageError } from '../cli.ts';
import { describeStats, STATS_INTERVAL_BOUNDS } from './stats-line.ts';
import { ConnectError, describeError, describeRefusal, newTraceparent, redactAddr, streamAudio, type StreamResult } from './stream-client.ts';
import { bytesPerSample, readWav } from './wav.ts';

const DEFAULT_ADDR = 'ws://127.0.0.1:8080/api/v1/segmented';
const DEFAULT_CHUNK = 256;
const DEFAULT_MAX_REPLAY_S = 60;
const DEFAULT_STATS_MS = 1000;
const TOKEN_ENV = 'STREAMER_TOKEN';

/** Exit statuses; the usage text and the README list them. */
const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3 } as const;

const USAGE = `Usage: npm run -s client -- --input <file.wav> [options]

Streams a WAV file (16-bit integer or 32-bit float PCM, any rate and channel count)
to the streaming service and prints every server event as one JSON line on stdout.

Options:
  -i, --input <path>       WAV file to send (required)
  -a, --addr <url>         websocket endpoint (default ${DEFAULT_ADDR})
  -t, --token <token>      bearer token for a service with auth on (default: $${TOKEN_ENV})
      --real-time          pace the audio at its real-time rate
      --interim-results    ask for interim segments (segmented mode)
      --chunk-size <n>     samples per channel in each binary frame (default ${DEFAULT_CHUNK})
      --max-replay <s>     audio kept to send again after a lost connection (default ${DEFAULT_MAX_REPLAY_S})
      --no-reconnect       neither move nor resume (see below): one connection, whatever happens to it
      --stats [ms]         ask the server for the stream's live stats every ms milliseconds
                           (default ${DEFAULT_STATS_MS}; ${STATS_INTERVAL_BOUNDS.min} to ${STATS_INTERVAL_BOUNDS.max}) and print each as one line on stderr
                           (not on stdout), e.g.
                             streamer-client: stats 12.34 s: lag 0.05 s, model RTF 0.031, speaking
                           the stream's time (end of the audio the server received), how far its
                           processing is behind that audio, the model's real-time factor on this
                           stream since the previous line ("no model run" when none), and on the
                           segmented route whether the VAD hears speech (docs/protocol.md, "stats")
  -h, --help               show this help

Server going away: a server that drains (a rolling restart, a scale-down) tells its streams
with a going_away event. The client then moves the stream to a new connection to the same
address (the load balancer picks a ready instance): the new stream takes over from the old
one's last committed point, the audio from there is sent again (a sentence in progress is
recomputed whole, not split), what it repeats is dropped, and the old connection is closed.
It prints one line on stderr:
  streamer-client: server going away (deadline 30000 ms): moved the stream at 12.34 s to a new connection (1.52 s sent again)
Printed events stay on one timeline, each final segment once; only the last connection prints
a stream_end. When no new connection takes the stream before the deadline, the stream stays
where it is until the server closes it (1001), and the client says so (exit 1).

Connection lost: when the connection drops (an instance killed, a network that goes away) or
stalls (nothing from the server for 10 s, a keepalive probe included), the client resumes the
stream on a new connection from the server's last committed point, sends the audio from there
again, and drops what the server repeats, so that every final segment is printed once. It keeps
at most --max-replay seconds of audio for this: audio older than that is not sent again, and the
line says how much was lost. It retries for 30 s, then gives up (exit 1). One line on stderr:
  streamer-client: connection lost (dropped (1006)): resumed at 12.34 s on a new connection (1.52 s sent again)

Auth: when the service's operator configured tokens (auth.tokens in its config or STREAMER_TOKENS
in its environment), every stream needs one of them. Ask the operator for one and give it with
--token or the environment variable ${TOKEN_ENV} (--token wins); it is sent as the header
"Authorization: Bearer <token>". Over ws:// the token travels in clear: use wss:// beyond a trusted
network. Without a valid token the server refuses the connection with HTTP 401 (unauthorized).

Exit status:
  ${EXIT.ok}  the server closed the connection normally (1000) after the stream's stream_end
  ${EXIT.failed}  the file could not be read, the server could not be reached, the connection closed
     abnormally and could not be resumed (the code and reason are printed), or the stream could
     not move when its server went away
  ${EXIT.usage}  usage error
  ${EXIT.refused}  the server refused the connection with an HTTP status instead of a websocket, e.g.
     401: a missing or wrong token; 503: the service is not ready (the status and the
     server's message are printed)
`;

interface CliArgs {
  input: string;
  addr: string;
  realTime: boolean;
  interimResults: boolean;
  chunkSize: number;
  maxReplay: number;
  reconnect: boolean;
  token?: string;
  /** Ask for `stats` this often (ms); off when absent. */
  statsMs?: number;
}

function parse(argv: string[]): CliArgs | 'help' {
  const { values } = parseFlags({
    args: withOptionalValue(argv, '--stats', String(DEFAULT_STATS_MS)),
    strict: true,
    allowPositionals: false,
    allowNegative: true,
    options: {
      input: { type: 'string', short: 'i' },
      addr: { type: 'string', short: 'a', default: DEFAULT_ADDR },
      token: { type: 'string', short: 't' },
      'real-time': { type: 'boolean', default: false },
      'interim-results': { type: 'boolean', default: false },
      'chunk-size': { type: 'string', default: String(DEFAULT_CHUNK) },
      'max-replay': { type: 'string', default: String(DEFAULT_MAX_REPLAY_S) },
      reconnect: { type: 'boolean', default: true },
      stats: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (!values.input) throw new UsageError('missing required option --input');
  const chunkText = values['chunk-size'];
  const chunkSize = Number(chunkText);
  if (!/^\d+$/.test(chunkText) || !Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new UsageError(`--chunk-size must be a positive integer (samples per channel), got '${chunkText}'`);
  }
  const maxReplay = Number(values['max-replay']);
  if (!(maxReplay > 0) || !Number.isFinite(maxReplay)) throw new UsageError(`--max-replay must be a positive number of seconds, got '${values['max-replay']}'`);
  if (values.token !== undefined && values.token.trim() === '') throw new UsageError('--token must not be empty');
  const token = values.token?.trim() ?? (process.env[TOKEN_ENV]?.trim() || undefined);
  const statsMs = values.stats === undefined ? undefined : Number(values.stats);
  if (statsMs !== undefined && (!/^\d+$/.test(values.stats!) || statsMs < STATS_INTERVAL_BOUNDS.min || statsMs > STATS_INTERVAL_BOUNDS.max)) {
    throw new UsageError(`--stats must be a whole number of milliseconds from ${STATS_INTERVAL_BOUNDS.min} to ${STATS_INTERVAL_BOUNDS.max}, got '${values.stats}'`);
  }
  return {
    input: values.input,
    token,
    addr: values.addr,
    realTime: values['real-time'],
    interimResults: values['interim-results'],
    chunkSize,
    maxReplay,
    reconnect: values.reconnect,
    statsMs,
  };
}

/** `flag` may stand alone: then it gets `value` (parseArgs has no options with an optional value). */
function withOptionalValue(argv: string[], flag: string, value: string): string[] {
  return argv.flatMap((arg, i) => (arg === flag && (i + 1 >= argv.length || argv[i + 1].startsWith('-')) ? [arg, value] : [arg]));
}

/** One line on stderr, prefixed with the tool's name so that it stands out from other output. */
function fail(message: string): void {
  process.stderr.write(`streamer-client: ${message}\n`);
}

async function main(args: CliArgs): Promise<number> {
  let wav;
  try {
    wav = readWav(args.input);
  } catch (err) {
    fail(describeError(err));
    return EXIT.failed;
  }
  const { format, pcm, durationSeconds } = wav;
  const frameBytes = args.chunkSize * format.channels * bytesPerSample(format);

  // Progress on stderr only when it is a terminal. If stdout is a terminal too (the same one, in practice),
  // event lines go through the bar's logger, printed above the bar, so they do not tear it.
  const bars = process.stderr.isTTY
    ? new cliProgress.MultiBar(
        {
          stream: process.stderr,
          format: 'sending |{bar}| {value}/{total} s',
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bar = bars?.create(round1(durationSeconds), 0);
  const printLine = (line: string) => {
    if (bars?.isActive && process.stdout.isTTY) {
      bars.log(line);
      bars.update(); // flush now: events often arrive just before the bar is stopped
    } else {
      process.stdout.write(line);
    }
  };
  // A note on stderr while streaming: above the bar when there is one.
  const note = (message: string) => {
    if (bars?.isActive) {
      bars.log(`streamer-client: ${message}\n`);
      bars.update();
    } else {
      fail(message);
    }
  };

  // The client starts the trace: the server's stream span becomes a child of this traceparent.
  const traceparent = newTraceparent();
  process.stderr.write(`trace_id ${traceparent.split('-')[1]}\n`);
  try {
    const result = await streamAudio({
      traceId: traceparent,
      addr: args.addr,
      headers: args.token ? { authorization: `Bearer ${args.token}` } : undefined,
      format,
      pcm,
      chunkBytes: frameBytes,
      realTime: args.realTime,
      interimResults: args.interimResults,
      reconnect: args.reconnect,
      maxReplaySeconds: args.maxReplay,
      statsIntervalMs: args.statsMs,
      onResume: (r) => note(`connection lost (${r.reason}): resumed at ${r.atSeconds.toFixed(2)} s on a new connection (${r.replayedSeconds.toFixed(2)} s sent again${r.gapSeconds > 0 ? `; ${r.gapSeconds.toFixed(2)} s older than --max-replay could not be, and is missing` : ''})`),
      onEvent: (e) => (e.type === 'stats' ? note(`stats ${describeStats(e)}`) : printLine(`${JSON.stringify(e)}\n`)),
      onProgress: (sent) => bar?.update(round1(sent)),
      onMove: (m) => note(`server going away (deadline ${m.deadlineMs} ms): moved the stream at ${m.atSeconds.toFixed(2)} s to a new connection (${m.replayedSeconds.toFixed(2)} s sent again)`),
      // A real-time stream takes as long as the audio; leave room for processing on top.
      timeoutMs: Math.max(120_000, (args.realTime ? durationSeconds * 1000 : 0) + 120_000),
    });
    bars?.stop();
    const problem = streamProblem(result, args.addr, durationSeconds);
    if (!problem) return EXIT.ok;
    fail(problem);
    return EXIT.failed;
  } catch (err) {
    bars?.stop();
    if (err instanceof ConnectError && err.refusal) {
      fail(`server refused the connection: ${describeRefusal(err.refusal)}${refusalHint(err.refusal.status, args)}`);
      return EXIT.refused;
    }
    fail(describeError(err));
    return EXIT.failed;
  }
}

/** Why a finished stream is not a success, in one line, or nothing when it is one. */
function streamProblem(result: StreamResult, addr: string, totalSeconds: number): string | undefined {
  const failure = result.moveFailure;
  const reason = result.closeReason ? `: ${result.closeReason}` : '';
  if (result.closeCode !== 1000 && failure) {
    return (
      `server going away (deadline ${failure.deadlineMs} ms): could not move the stream: ${failure.reason}; ` +
      `the server closed it with code ${result.closeCode}${reason} after ${result.sentSeconds.toFixed(2)} of ${totalSeconds.toFixed(2)} s of audio`
    );
  }
  const lost = result.resumeFailure;
  if (lost) return `connection lost (${lost.reason}) at ${lost.lostAtSeconds.toFixed(2)} s: could not resume the stream: ${lost.why}`;
  if (result.closeCode !== 1000) return `connection to ${redactAddr(addr)} closed with code ${result.closeCode}${reason}`;
  // A connection left for another (a move or a resume) has no stream_end: its results came on the next one.
  const leftFor = new Set([...result.moves, ...result.resumes].map((t) => t.from));
  const cut = result.connections.findIndex((c, i) => c.channelDurations === undefined && !leftFor.has(i));
  if (cut >= 0) {
    const c = result.connections[cut];
    return `connection ${cut + 1} of ${result.connections.length} to ${redactAddr(addr)} closed with code ${c.closeCode} before its stream_end: its last results are missing`;
  }
  return undefined;
}

/** What to do about a refusal, when the status says it. */
function refusalHint(status: number, args: CliArgs): string {
  if (status === 401 || status === 403) {
    return args.token || /[?&]token=/.test(args.addr)
      ? ' (the token given was not accepted: check it with the operator)'
      : ` (give the service's token with --token or ${TOKEN_ENV})`;
  }
  if (status === 503) return ' (the service is not ready or is shutting down: retry later)';
  return '';
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

await runCli(USAGE, parse, main);
